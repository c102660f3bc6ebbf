import type { ScenarioReport } from '../lib/results.js';
import { TARGETS, verdict } from '../lib/targets.js';
import { loadSettings, type BenchSettings } from './settings.js';
import { measureIotRpc } from './systems.js';

/** Latency under normal load: a fixed call rate, by default half the maximum measured first. */
export async function fixedRate(s: BenchSettings): Promise<ScenarioReport> {
  let maximum: number | undefined;
  let rate = s.rate;
  if (rate === undefined) {
    maximum = (await measureIotRpc(loadSettings(s), s.transport)).callsPerSecond;
    rate = Math.max(1, Math.round(maximum / 2));
  }
  const result = await measureIotRpc(loadSettings(s, rate), s.transport);
  const met = result.latencyMs.p99 <= TARGETS.p99AtHalfRateMs;
  return {
    scenario: 'fixed-rate',
    settings: { devices: s.devices, rate, seconds: s.seconds, warmup: s.warmup, transport: s.transport },
    figures: { rate, maximum, result },
    rows: [
      ...(maximum === undefined ? [] : [{ figure: 'measured maximum calls/s', value: maximum, includes: `closed loop, ${s.concurrency} in flight` }]),
      { figure: 'offered rate calls/s', value: rate, includes: 'calls started per second, whatever the answers (open loop)' },
      { figure: 'completed calls/s', value: result.callsPerSecond, includes: 'in the window' },
      { figure: 'failed calls', value: result.failed, includes: 'errors and timeouts in the window', target: '0', verdict: verdict(result.failed === 0) },
      { figure: 'latency p50 / p95 / max ms', value: `${result.latencyMs.p50} / ${result.latencyMs.p95} / ${result.latencyMs.max}`, includes: 'call() to answer' },
      { figure: 'latency p99 ms', value: result.latencyMs.p99, includes: 'call() to answer', target: `≤ ${TARGETS.p99AtHalfRateMs}`, verdict: verdict(met) },
      { figure: 'server CPU µs per call', value: result.cpuMicrosPerCall, includes: 'iot-rpc server process with its caller' },
    ],
  };
}
