import type { WindowRecorder } from './window-stats.js';

/** One call to make: its kind (for the statistics) and how to make it. */
export interface Job {
  kind: string;
  run(): Promise<unknown>;
}

export interface PacedCalls {
  /** Stops starting calls; resolves once those under way have ended. */
  stop(): Promise<void>;
}

/**
 * Open loop: `rate` calls started per second, whatever the answers (as
 * load.ts's fixed rate), each recorded in `recorder` by its kind. At most
 * `maxInFlight` wait at once; past that a call is skipped and counted, so a
 * server that falls behind shows as skipped calls, not as a runner out of memory.
 */
export function startPacedCalls(rate: number, nextJob: () => Job, recorder: WindowRecorder, maxInFlight = 5000): PacedCalls {
  const interval = 1000 / rate;
  const began = performance.now();
  let issued = 0;
  let running = true;
  const pending = new Set<Promise<void>>();
  const one = async (job: Job) => {
    const started = performance.now();
    try {
      await job.run();
      recorder.record(job.kind, performance.now() - started);
    } catch (error) {
      recorder.fail(job.kind, error);
    }
  };
  const tick = () => {
    if (!running) return;
    const due = Math.floor((performance.now() - began) / interval);
    for (; issued < due; issued++) {
      if (pending.size >= maxInFlight) {
        recorder.skip();
        continue;
      }
      const p = one(nextJob());
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
    setTimeout(tick, 2);
  };
  tick();
  return {
    async stop() {
      running = false;
      await Promise.all(pending);
    },
  };
}
