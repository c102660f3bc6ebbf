import { summarize, round, type LatencySummary } from './stats.js';

/** What every server-under-test process reports for one measured window. */
export interface LoadResult {
  calls: number;
  failed: number;
  seconds: number;
  callsPerSecond: number;
  latencyMs: LatencySummary;
  /** CPU of the process that ran the window (server and caller), per completed call. */
  cpuMicrosPerCall: number;
  heapUsedBytes: number;
  rssBytes: number;
  /** CPU of a separate broker process over the same window, per completed call (mosquitto). */
  brokerCpuMicrosPerCall?: number;
}

export interface LoadOptions {
  /** Devices 0..devices-1 are called in turn. */
  devices: number;
  warmupMs: number;
  durationMs: number;
  /** Closed loop: this many calls in flight. */
  concurrency?: number;
  /** Open loop: this many calls started per second, whatever the answers. */
  rate?: number;
}

/** Reads another process's CPU time in µs (a broker's), sampled at the window's edges. */
export type CpuProbe = () => number;

export type CallDevice = (device: number) => Promise<unknown>;

/**
 * Drives `call` for warm-up then a measured window; the calls that complete
 * inside the window count. Closed loop (a fixed number in flight) measures
 * throughput; open loop (a fixed rate) measures latency under normal load.
 */
export async function runLoad(call: CallDevice, options: LoadOptions, brokerCpu?: CpuProbe): Promise<LoadResult> {
  const latencies: number[] = [];
  let measuring = false;
  let completed = 0;
  let failed = 0;
  let running = true;
  let next = 0;
  const one = async () => {
    const device = next++ % options.devices;
    const started = performance.now();
    try {
      await call(device);
      if (measuring) {
        completed++;
        latencies.push(performance.now() - started);
      }
    } catch {
      if (measuring) failed++;
    }
  };
  const inFlight: Promise<void>[] = [];
  if (options.rate !== undefined) {
    const interval = 1000 / options.rate;
    const began = performance.now();
    let issued = 0;
    const pending = new Set<Promise<void>>();
    const tick = () => {
      if (!running) return;
      const due = Math.floor((performance.now() - began) / interval);
      for (; issued < due; issued++) {
        const p = one();
        pending.add(p);
        void p.finally(() => pending.delete(p));
      }
      setTimeout(tick, 1);
    };
    tick();
    inFlight.push(
      (async () => {
        while (running) await new Promise((r) => setTimeout(r, 50));
        await Promise.all(pending);
      })(),
    );
  } else {
    const worker = async () => {
      while (running) await one();
    };
    for (let i = 0; i < (options.concurrency ?? 1); i++) inFlight.push(worker());
  }
  await new Promise((r) => setTimeout(r, options.warmupMs));
  measuring = true;
  const cpuStart = process.cpuUsage();
  const brokerStart = brokerCpu?.();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, options.durationMs));
  measuring = false;
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  const brokerMicros = brokerStart === undefined ? undefined : brokerCpu!() - brokerStart;
  running = false;
  await Promise.all(inFlight);
  const memory = process.memoryUsage();
  return {
    calls: completed,
    failed,
    seconds: round(seconds),
    callsPerSecond: Math.round(completed / seconds),
    latencyMs: summarize(latencies),
    cpuMicrosPerCall: completed === 0 ? NaN : round((cpu.user + cpu.system) / completed, 1),
    heapUsedBytes: memory.heapUsed,
    rssBytes: memory.rss,
    ...(brokerMicros === undefined || completed === 0 ? {} : { brokerCpuMicrosPerCall: round(brokerMicros / completed, 1) }),
  };
}
