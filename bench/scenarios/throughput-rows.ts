import type { LoadResult } from '../lib/load.js';
import type { Row } from '../lib/results.js';

/** The rows every closed-loop measurement shows. */
export function throughputRows(name: string, result: LoadResult, includes: string): Row[] {
  const rows: Row[] = [
    { figure: `${name} calls/s`, value: result.callsPerSecond, includes: `two-way calls completed per second in the window (${result.failed} failed)` },
    { figure: `${name} latency p50/p95/p99/max ms`, value: `${result.latencyMs.p50} / ${result.latencyMs.p95} / ${result.latencyMs.p99} / ${result.latencyMs.max}`, includes: 'call() to answer, in the caller' },
    { figure: `${name} CPU µs per call`, value: result.cpuMicrosPerCall, includes },
    { figure: `${name} heap / RSS MB`, value: `${(result.heapUsedBytes / 2 ** 20).toFixed(1)} / ${(result.rssBytes / 2 ** 20).toFixed(1)}`, includes: 'that process, at the end of the window' },
  ];
  if (result.brokerCpuMicrosPerCall !== undefined) {
    rows.push({ figure: `${name} broker CPU µs per call`, value: result.brokerCpuMicrosPerCall, includes: 'the mosquitto process over the same window' });
  }
  return rows;
}
