import type { LoadResult } from '../lib/load.js';
import type { Row, ScenarioReport } from '../lib/results.js';
import { DEVICE_TRANSPORTS, loadSettings, type BenchSettings } from './settings.js';
import { measureIotRpc } from './systems.js';

/** The same two-way load to devices on MQTT, CoAP (observe, CON) and HTTP (long-poll), one after another. */
export async function transports(s: BenchSettings): Promise<ScenarioReport> {
  const figures: Record<string, LoadResult> = {};
  const rows: Row[] = [];
  for (const transport of DEVICE_TRANSPORTS) {
    const result = await measureIotRpc(loadSettings(s), transport);
    figures[transport] = result;
    rows.push({
      figure: `${transport}: calls/s · p50/p99 ms · CPU µs/call`,
      value: `${result.callsPerSecond} · ${result.latencyMs.p50}/${result.latencyMs.p99} · ${result.cpuMicrosPerCall}`,
      includes: `${result.failed} failed; iot-rpc server process with its caller (library call()); ${
        transport === 'mqtt' ? 'QoS 1 requests, PUBACK marks delivered' : transport === 'coap' ? 'CON notifications, ACK marks delivered, replies by CON POST' : 'one call per long-poll, replies by POST'
      }`,
    });
  }
  return {
    scenario: 'transports',
    settings: { devices: s.devices, concurrency: s.concurrency, seconds: s.seconds, warmup: s.warmup },
    figures,
    rows,
  };
}
