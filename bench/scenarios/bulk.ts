import type { LoadResult } from '../lib/load.js';
import { startProcess } from '../lib/processes.js';
import type { ScenarioReport } from '../lib/results.js';
import { round } from '../lib/stats.js';
import { loadSettings, type BenchSettings } from './settings.js';

export interface BulkStep {
  devices: number;
  msToLastResult: number;
  cpuMicrosPerDevice: number;
  ok: number;
  failed: number;
}

/**
 * One bulk call (the library's callMany, rpc.bulkConcurrency 1000 in flight) to each of `--sizes` echo devices
 * (default 1,000 and 10,000), after a closed-loop rpc-mqtt run on the same server and devices: the time to the last
 * result, and the server's CPU per device call beside rpc-mqtt's CPU per call; each the median of --rounds (3) bulk
 * calls, each after a forced GC.
 */
export async function bulk(s: BenchSettings): Promise<ScenarioReport> {
  const largest = Math.max(...s.sizes);
  const server = await startProcess('iot-rpc-server', ['--devices', String(largest)], { heapMb: 4096 });
  try {
    const fleet = await startProcess('device-fleet', ['--server', `127.0.0.1:${server.ready.mqttPort as number}`, '--devices', String(largest)], { heapMb: 4096, readyTimeoutMs: 600_000 });
    try {
      const single = await server.request<LoadResult>({ type: 'load', ...loadSettings({ ...s, devices: largest }) });
      // Each size three times (s.rounds), the median kept: one bulk call is short, and a GC in it moves it much.
      const steps: BulkStep[] = [];
      for (const size of s.sizes) {
        const runs: BulkStep[] = [];
        for (let round = 0; round < s.rounds; round++) runs.push(await server.request<BulkStep>({ type: 'bulk', devices: size }));
        runs.sort((a, b) => a.cpuMicrosPerDevice - b.cpuMicrosPerDevice);
        steps.push({ ...runs[Math.floor(runs.length / 2)]!, ok: Math.min(...runs.map((r) => r.ok)), failed: Math.max(...runs.map((r) => r.failed)) });
      }
      const rows = [{ figure: 'rpc-mqtt CPU µs per call (same server and devices)', value: single.cpuMicrosPerCall, includes: `closed loop, ${largest} devices, concurrency ${s.concurrency}` }];
      for (const step of steps) {
        rows.push(
          { figure: `bulk ${step.devices}: time to the last result ms`, value: step.msToLastResult, includes: `callMany to ${step.devices} devices; ${step.ok} ok, ${step.failed} failed` },
          { figure: `bulk ${step.devices}: server CPU µs per device call`, value: step.cpuMicrosPerDevice, includes: 'server process with its caller, over the bulk call' },
          { figure: `bulk ${step.devices}: CPU per device call / rpc-mqtt's`, value: round(step.cpuMicrosPerDevice / single.cpuMicrosPerCall, 2), includes: 'target ≤ 1.2' },
        );
      }
      return {
        scenario: 'bulk',
        settings: { sizes: s.sizes, rounds: s.rounds, concurrency: s.concurrency, seconds: s.seconds, warmup: s.warmup },
        figures: { single, steps },
        rows,
        failures: steps.filter((step) => step.failed > 0).map((step) => `bulk ${step.devices}: ${step.failed} devices failed`),
      };
    } finally {
      await fleet.stop();
    }
  } finally {
    await server.stop();
  }
}
