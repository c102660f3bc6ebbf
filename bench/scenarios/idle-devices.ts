import { startProcess, type BenchProcess } from '../lib/processes.js';
import type { Row, ScenarioReport } from '../lib/results.js';
import { TARGETS, verdict } from '../lib/targets.js';
import type { BenchSettings } from './settings.js';

/** Devices per fleet process, each fleet on its own loopback source address (under one address's ~28k ephemeral ports). */
const DEVICES_PER_FLEET = 12_500;
/** Descriptors a server process needs besides one per device. */
const SPARE_DESCRIPTORS = 200;

interface IdleStep {
  devices: number;
  /** Why this size was not measured on this machine, if it was not. */
  skipped?: string;
  subscribed: number;
  connectSeconds: number;
  heapBytesPerDevice: number;
  rssBytesPerDevice: number;
}

async function step(size: number): Promise<IdleStep> {
  const server = await startProcess('iot-rpc-server', ['--devices', String(size)], { heapMb: 8192 });
  const fleets: BenchProcess[] = [];
  try {
    const fdLimit = await server.request<number>({ type: 'fd-limit' });
    if (size + SPARE_DESCRIPTORS > fdLimit) {
      const skipped = `not measurable here: the server process may open ${fdLimit} files (ulimit -n, hard limit ${fdLimit} could not be raised) and needs one socket per device`;
      return { devices: size, skipped, subscribed: 0, connectSeconds: NaN, heapBytesPerDevice: NaN, rssBytesPerDevice: NaN };
    }
    const before = await server.request<{ heapUsedBytes: number; rssBytes: number }>({ type: 'memory' });
    const started = performance.now();
    const starting: Promise<BenchProcess>[] = [];
    for (let first = 0, k = 0; first < size; first += DEVICES_PER_FLEET, k++) {
      const count = Math.min(DEVICES_PER_FLEET, size - first);
      const sources = `127.0.${k + 1}.1`;
      starting.push(
        startProcess(
          'device-fleet',
          ['--server', `127.0.0.1:${server.ready.mqttPort as number}`, '--devices', String(count), '--first-index', String(first), '--idle', 'true', '--source-addresses', sources],
          { heapMb: 8192, readyTimeoutMs: 900_000 },
        ),
      );
    }
    const settled = await Promise.allSettled(starting);
    for (const s of settled) if (s.status === 'fulfilled') fleets.push(s.value);
    const failure = settled.find((s) => s.status === 'rejected');
    if (failure !== undefined) throw (failure as PromiseRejectedResult).reason;
    const connectSeconds = (performance.now() - started) / 1000;
    const subscribed = await server.request<number>({ type: 'subscribed' });
    const after = await server.request<{ heapUsedBytes: number; rssBytes: number }>({ type: 'memory' });
    return {
      devices: size,
      subscribed,
      connectSeconds: Number(connectSeconds.toFixed(2)),
      heapBytesPerDevice: Math.round((after.heapUsedBytes - before.heapUsedBytes) / size),
      rssBytesPerDevice: Math.round((after.rssBytes - before.rssBytes) / size),
    };
  } finally {
    await Promise.all(fleets.map((f) => f.stop()));
    await server.stop();
  }
}

/** Heap and RSS per connected idle MQTT device (subscribed to RPC, QoS 1), and the time to connect them all. */
export async function idleDevices(s: BenchSettings): Promise<ScenarioReport> {
  const steps: IdleStep[] = [];
  for (const size of s.sizes) steps.push(await step(size));
  const rows: Row[] = [];
  for (const r of steps) {
    if (r.skipped !== undefined) {
      rows.push({ figure: `${r.devices} devices`, value: 'not measured', includes: r.skipped });
      continue;
    }
    rows.push(
      { figure: `${r.devices} devices: subscribed`, value: r.subscribed, includes: 'sessions the server counts as subscribed after connecting', target: String(r.devices), verdict: verdict(r.subscribed === r.devices) },
      { figure: `${r.devices} devices: connect time s`, value: r.connectSeconds, includes: 'fleet start to every device subscribed (MQTT.js, 200 at a time per fleet process)' },
      { figure: `${r.devices} devices: heap per device B`, value: r.heapBytesPerDevice, includes: 'server heap after GC, minus before, divided by devices', target: `≤ ${TARGETS.heapPerIdleDeviceBytes}`, verdict: verdict(r.heapBytesPerDevice <= TARGETS.heapPerIdleDeviceBytes) },
      { figure: `${r.devices} devices: RSS per device B`, value: r.rssBytesPerDevice, includes: 'server RSS (heap, sockets, buffers), minus before, divided by devices', target: `≤ ${TARGETS.rssPerIdleDeviceBytes}`, verdict: verdict(r.rssBytesPerDevice <= TARGETS.rssPerIdleDeviceBytes) },
    );
  }
  const largest = steps.reduce((max, r) => (r.subscribed === r.devices ? Math.max(max, r.devices) : max), 0);
  rows.push({ figure: 'idle devices on one node', value: largest, includes: 'largest step with every device subscribed', target: `≥ ${TARGETS.idleDevicesOnOneNode}`, verdict: verdict(largest >= TARGETS.idleDevicesOnOneNode) });
  return { scenario: 'idle-devices', settings: { sizes: s.sizes }, figures: { steps }, rows };
}
