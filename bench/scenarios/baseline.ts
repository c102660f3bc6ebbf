import type { ScenarioReport } from '../lib/results.js';
import { loadSettings, type BenchSettings } from './settings.js';
import { INCLUDES, MEASURE, type SystemName } from './systems.js';
import { throughputRows } from './throughput-rows.js';

/** One baseline alone: `limit`, `aedes` or `mosquitto`. */
export async function baseline(system: Exclude<SystemName, 'iot-rpc'>, s: BenchSettings): Promise<ScenarioReport> {
  const result = await MEASURE[system](loadSettings(s));
  if (result === undefined) {
    throw new Error(`${system} is not installed here (Debian: apt-get install ${system})`);
  }
  return {
    scenario: system,
    settings: { devices: s.devices, concurrency: s.concurrency, seconds: s.seconds, warmup: s.warmup },
    figures: { [system]: result },
    rows: throughputRows(system, result, INCLUDES[system]),
  };
}
