import type { ScenarioReport } from '../lib/results.js';
import { loadSettings, type BenchSettings } from './settings.js';
import { INCLUDES, measureIotRpc } from './systems.js';
import { throughputRows } from './throughput-rows.js';

/** Two-way calls through the library API to N devices (MQTT, or --transport coap|http) at concurrency C. */
export async function rpcMqtt(s: BenchSettings): Promise<ScenarioReport> {
  const result = await measureIotRpc(loadSettings(s), s.transport);
  return {
    scenario: s.transport === 'mqtt' ? 'rpc-mqtt' : `rpc-${s.transport}`,
    settings: { devices: s.devices, concurrency: s.concurrency, seconds: s.seconds, warmup: s.warmup, transport: s.transport },
    figures: { 'iot-rpc': result },
    rows: throughputRows('iot-rpc', result, `${INCLUDES['iot-rpc']}; devices on ${s.transport}`),
  };
}
