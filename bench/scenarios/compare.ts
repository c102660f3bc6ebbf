import type { LoadResult } from '../lib/load.js';
import { findMosquitto } from '../lib/mosquitto.js';
import type { Row, ScenarioReport } from '../lib/results.js';
import { median, round } from '../lib/stats.js';
import { TARGETS, verdict } from '../lib/targets.js';
import { loadSettings, type BenchSettings } from './settings.js';
import { INCLUDES, MEASURE, type SystemName } from './systems.js';

/**
 * iot-rpc and the baselines in alternation, several rounds, so that a noisy
 * machine slows all of them alike; medians and ratios.
 */
export async function compare(s: BenchSettings): Promise<ScenarioReport> {
  const systems: SystemName[] = ['iot-rpc', 'limit', 'aedes'];
  if (findMosquitto() !== undefined) systems.push('mosquitto');
  const runs: Record<string, LoadResult[]> = Object.fromEntries(systems.map((name) => [name, []]));
  for (let roundIndex = 0; roundIndex < s.rounds; roundIndex++) {
    const order = systems.map((_, i) => systems[(i + roundIndex) % systems.length]!);
    for (const name of order) {
      const result = await MEASURE[name](loadSettings(s));
      if (result !== undefined) runs[name]!.push(result);
      console.log(`round ${roundIndex + 1}/${s.rounds} ${name}: ${result?.callsPerSecond ?? '-'} calls/s`);
    }
  }
  const medians = Object.fromEntries(
    systems.map((name) => {
      const list = runs[name]!;
      return [
        name,
        {
          callsPerSecond: median(list.map((r) => r.callsPerSecond)),
          cpuMicrosPerCall: median(list.map((r) => r.cpuMicrosPerCall)),
          p50: median(list.map((r) => r.latencyMs.p50)),
          p99: median(list.map((r) => r.latencyMs.p99)),
          failed: list.reduce((sum, r) => sum + r.failed, 0),
          ...(list[0]?.brokerCpuMicrosPerCall === undefined ? {} : { brokerCpuMicrosPerCall: median(list.map((r) => r.brokerCpuMicrosPerCall!)) }),
        },
      ];
    }),
  ) as Record<SystemName, { callsPerSecond: number; cpuMicrosPerCall: number; p50: number; p99: number; failed: number; brokerCpuMicrosPerCall?: number }>;
  const rows: Row[] = [];
  for (const name of systems) {
    const m = medians[name];
    rows.push({
      figure: `${name}: calls/s · CPU µs/call · p50/p99 ms`,
      value: `${m.callsPerSecond} · ${m.cpuMicrosPerCall}${m.brokerCpuMicrosPerCall === undefined ? '' : ` (+ broker ${m.brokerCpuMicrosPerCall})`} · ${m.p50}/${m.p99}`,
      includes: `median of ${runs[name]!.length} rounds, ${m.failed} failed in all; ${INCLUDES[name]}`,
    });
  }
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
    settings: { devices: s.devices, concurrency: s.concurrency, seconds: s.seconds, warmup: s.warmup, rounds: s.rounds },
    figures: { medians, ratios, runs },
    rows,
  };
}
