import type { LoadResult } from '../lib/load.js';
import { findMosquitto } from '../lib/mosquitto.js';
import type { Row, ScenarioReport } from '../lib/results.js';
import { median, round } from '../lib/stats.js';
import { TARGETS, verdict } from '../lib/targets.js';
import { loadSettings, type BenchSettings } from './settings.js';
import { INCLUDES, MEASURE, type SystemName } from './systems.js';

interface Medians {
  callsPerSecond: number;
  cpuMicrosPerCall: number;
  p50: number;
  p99: number;
  /** The largest latency of all rounds. */
  max: number;
  /** Failed calls in all rounds. */
  failed: number;
  brokerCpuMicrosPerCall?: number;
}

/** Each system's medians over its rounds. */
function mediansBySystem(systems: readonly SystemName[], runs: Record<string, LoadResult[]>): Record<SystemName, Medians> {
  return Object.fromEntries(
    systems.map((name) => {
      const list = runs[name]!;
      const medians: Medians = {
        callsPerSecond: median(list.map((r) => r.callsPerSecond)),
        cpuMicrosPerCall: median(list.map((r) => r.cpuMicrosPerCall)),
        p50: median(list.map((r) => r.latencyMs.p50)),
        p99: median(list.map((r) => r.latencyMs.p99)),
        max: Math.max(...list.map((r) => r.latencyMs.max)),
        failed: list.reduce((sum, r) => sum + r.failed, 0),
        ...(list[0]?.brokerCpuMicrosPerCall === undefined ? {} : { brokerCpuMicrosPerCall: median(list.map((r) => r.brokerCpuMicrosPerCall!)) }),
      };
      return [name, medians];
    }),
  ) as Record<SystemName, Medians>;
}

/** compare's fixed offered rate when --rate is not given: the rate the issue figures are quoted at. */
export const DEFAULT_COMPARE_RATE = 8000;

/**
 * iot-rpc and the baselines in alternation, several rounds, so that a noisy
 * machine slows all of them alike; medians and ratios. Each round measures
 * every system closed-loop (calls/s) and at one fixed offered rate (CPU µs per
 * call under the same load for all: at saturation a slow server's writes look
 * dearer than they are).
 */
export async function compare(s: BenchSettings): Promise<ScenarioReport> {
  const systems: SystemName[] = ['iot-rpc', 'limit', 'aedes'];
  if (findMosquitto() !== undefined) systems.push('mosquitto');
  const rate = s.rate ?? DEFAULT_COMPARE_RATE;
  const runs: Record<string, LoadResult[]> = Object.fromEntries(systems.map((name) => [name, []]));
  const fixedRuns: Record<string, LoadResult[]> = Object.fromEntries(systems.map((name) => [name, []]));
  for (let roundIndex = 0; roundIndex < s.rounds; roundIndex++) {
    const order = systems.map((_, i) => systems[(i + roundIndex) % systems.length]!);
    for (const name of order) {
      const result = await MEASURE[name](loadSettings(s));
      if (result !== undefined) runs[name]!.push(result);
      console.log(`round ${roundIndex + 1}/${s.rounds} ${name}: ${result?.callsPerSecond ?? '-'} calls/s`);
      const fixed = await MEASURE[name](loadSettings(s, rate));
      if (fixed !== undefined) fixedRuns[name]!.push(fixed);
      console.log(`round ${roundIndex + 1}/${s.rounds} ${name} at ${rate} calls/s: ${fixed?.cpuMicrosPerCall ?? '-'} µs CPU per call, p99 ${fixed?.latencyMs.p99 ?? '-'} ms`);
    }
  }
  const medians = mediansBySystem(systems, runs);
  const rows: Row[] = [];
  for (const name of systems) {
    const m = medians[name];
    rows.push({
      figure: `${name}: calls/s · CPU µs/call · p50/p99 ms`,
      value: `${m.callsPerSecond} · ${m.cpuMicrosPerCall}${m.brokerCpuMicrosPerCall === undefined ? '' : ` (+ broker ${m.brokerCpuMicrosPerCall})`} · ${m.p50}/${m.p99}`,
      includes: `median of ${runs[name]!.length} rounds, ${m.failed} failed in all; ${INCLUDES[name]}`,
    });
  }
  const fixedMedians = mediansBySystem(systems, fixedRuns);
  for (const name of systems) {
    const m = fixedMedians[name];
    rows.push({
      figure: `${name} at ${rate} calls/s: CPU µs/call · p50/p99/max ms · failed`,
      value: `${m.cpuMicrosPerCall}${m.brokerCpuMicrosPerCall === undefined ? '' : ` (+ broker ${m.brokerCpuMicrosPerCall})`} · ${m.p50}/${m.p99}/${m.max} · ${m.failed}`,
      includes: `open loop, ${rate} calls/s offered, ${m.callsPerSecond} completed/s; median of ${fixedRuns[name]!.length} rounds (max: the largest); ${INCLUDES[name]}`,
    });
  }
  const iot = fixedMedians['iot-rpc'];
  rows.push({
    figure: `iot-rpc / aedes, CPU µs per call at ${rate} calls/s`,
    value: round(iot.cpuMicrosPerCall / fixedMedians.aedes.cpuMicrosPerCall, 2),
    includes: 'medians; lower is cheaper',
    target: '≤ 1',
    verdict: verdict(iot.cpuMicrosPerCall <= fixedMedians.aedes.cpuMicrosPerCall),
  });
  rows.push({
    figure: `iot-rpc at ${rate} calls/s: p99 ms · failed`,
    value: `${iot.p99} · ${iot.failed}`,
    includes: 'median p99 of the rounds; failed in all rounds',
    target: `≤ ${TARGETS.p99AtFixedRateMs} ms, 0 failed`,
    verdict: verdict(iot.p99 <= TARGETS.p99AtFixedRateMs && iot.failed === 0),
  });
  const ratio = (other: SystemName) => round(medians['iot-rpc'].callsPerSecond / medians[other].callsPerSecond, 2);
  const ratios: Record<string, number> = { limit: ratio('limit'), aedes: ratio('aedes') };
  rows.push({ figure: 'iot-rpc / limit, calls/s', value: ratios.limit!, includes: 'medians', target: `≥ ${TARGETS.callsVsLimit}`, verdict: verdict(ratios.limit! >= TARGETS.callsVsLimit) });
  rows.push({ figure: 'iot-rpc / aedes, calls/s', value: ratios.aedes!, includes: 'medians', target: `≥ ${TARGETS.callsVsAedes}`, verdict: verdict(ratios.aedes! >= TARGETS.callsVsAedes) });
  if (systems.includes('mosquitto')) {
    ratios.mosquitto = ratio('mosquitto');
    rows.push({ figure: 'iot-rpc / mosquitto, calls/s', value: ratios.mosquitto, includes: 'medians; the mosquitto caller is an MQTT.js client in its own process' });
  } else {
    rows.push({ figure: 'iot-rpc / mosquitto', value: 'not run', includes: 'mosquitto is not installed (apt-get install mosquitto)' });
  }
  return {
    scenario: 'compare',
    settings: { devices: s.devices, concurrency: s.concurrency, seconds: s.seconds, warmup: s.warmup, rounds: s.rounds, rate },
    figures: { medians, ratios, runs, fixedRate: { rate, medians: fixedMedians, runs: fixedRuns } },
    rows,
  };
}
