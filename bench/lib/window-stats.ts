import { summarize, round, type LatencySummary } from './stats.js';

/** One kind of call (e.g. `mqtt`, `rest-twoway`) over one sampling window. */
export interface KindSample {
  calls: number;
  failed: number;
  latencyMs: LatencySummary;
}

/** What a caller did since the previous sample. */
export interface WindowSample {
  seconds: number;
  calls: number;
  failed: number;
  callsPerSecond: number;
  /** Over the kinds that wait for an answer (not one-way calls, which end once handed over). */
  p50Ms: number;
  p99Ms: number;
  byKind: Record<string, KindSample>;
  /** Failures by reason (the error code, or the message's start). */
  errors: Record<string, number>;
  /** Calls not started because this many were already in flight (the server fell behind). */
  skipped: number;
}

/**
 * Latencies and failures by kind of call, handed out and reset once per
 * sampling window, so a long run is seen as it goes rather than as one sum.
 */
export class WindowRecorder {
  #latencies = new Map<string, number[]>();
  #failed = new Map<string, number>();
  #errors: Record<string, number> = {};
  #skipped = 0;
  #since = performance.now();

  /** @param notTimed kinds left out of the window's p50/p99 (one-way calls) */
  constructor(readonly notTimed: ReadonlySet<string> = new Set()) {}

  record(kind: string, ms: number): void {
    let list = this.#latencies.get(kind);
    if (list === undefined) this.#latencies.set(kind, (list = []));
    list.push(ms);
  }

  fail(kind: string, error: unknown): void {
    this.#failed.set(kind, (this.#failed.get(kind) ?? 0) + 1);
    const reason = reasonOf(error);
    this.#errors[reason] = (this.#errors[reason] ?? 0) + 1;
  }

  skip(): void {
    this.#skipped++;
  }

  take(): WindowSample {
    const now = performance.now();
    const seconds = (now - this.#since) / 1000;
    const byKind: Record<string, KindSample> = {};
    const timed: number[] = [];
    let calls = 0;
    let failed = 0;
    for (const kind of new Set([...this.#latencies.keys(), ...this.#failed.keys()])) {
      const latencies = this.#latencies.get(kind) ?? [];
      const kindFailed = this.#failed.get(kind) ?? 0;
      byKind[kind] = { calls: latencies.length, failed: kindFailed, latencyMs: summarize(latencies) };
      calls += latencies.length;
      failed += kindFailed;
      if (!this.notTimed.has(kind)) for (const ms of latencies) timed.push(ms);
    }
    const overall = summarize(timed);
    const sample: WindowSample = {
      seconds: round(seconds),
      calls,
      failed,
      callsPerSecond: seconds > 0 ? Math.round(calls / seconds) : 0,
      p50Ms: overall.p50,
      p99Ms: overall.p99,
      byKind,
      errors: this.#errors,
      skipped: this.#skipped,
    };
    this.#latencies = new Map();
    this.#failed = new Map();
    this.#errors = {};
    this.#skipped = 0;
    this.#since = now;
    return sample;
  }
}

function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  const message = error instanceof Error ? error.message : String(error);
  return message.slice(0, 80);
}
