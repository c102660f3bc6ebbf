/**
 * Quick measurement for the core engine: two-way calls per second through the
 * library API `call()` to N MQTT devices (in a separate process) with C calls
 * in flight, and heap per idle connected device. Loopback only; bounded in time.
 *
 *   npx tsx bench/quick-rpc-mqtt.ts [--devices 1000] [--concurrency 1000] [--seconds 10] [--idle-devices 10000]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRpcServer, type RpcServer } from '../src/index.js';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    'idle-devices': { type: 'string', default: '10000' },
  },
});
const fleetScript = fileURLToPath(new URL('./mqtt-device-fleet.ts', import.meta.url));

function startServer(deviceCount: number): RpcServer {
  const devices = Array.from({ length: deviceCount }, (_, i) => ({ id: `d${i}`, name: `d${i}`, tenantId: 't', accessToken: `bench-${i}` }));
  return createRpcServer({
    config: { jwt: { secret: 'x'.repeat(48) }, tenants: [{ id: 't', name: 't' }], devices, rpc: { maxPendingPerDevice: 100000 } },
    httpPort: null,
    mqttPort: 0,
    logger: false,
  });
}

function startFleet(port: number, deviceCount: number, idle: boolean): Promise<ChildProcess> {
  const child = fork(fleetScript, ['--url', `mqtt://127.0.0.1:${port}`, '--devices', String(deviceCount), ...(idle ? ['--idle'] : [])], {
    execArgv: ['--import', 'tsx', '--max-old-space-size=8192'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`device fleet exited with ${code}`)));
  });
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function throughput(): Promise<void> {
  const deviceCount = Number(values.devices);
  const concurrency = Number(values.concurrency);
  const server = startServer(deviceCount);
  const { mqttPort } = await server.listen();
  const fleet = await startFleet(mqttPort!, deviceCount, false);
  let running = true;
  let measuring = false;
  let completed = 0;
  let failed = 0;
  const latencies: number[] = [];
  let next = 0;
  const worker = async () => {
    while (running) {
      const device = `d${next++ % deviceCount}`;
      const started = performance.now();
      try {
        await server.call(device, { method: 'echo', params: { n: next }, timeout: 10000 });
        if (measuring) {
          completed++;
          latencies.push(performance.now() - started);
        }
      } catch {
        if (measuring) failed++;
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  await new Promise((r) => setTimeout(r, Number(values.warmup) * 1000));
  measuring = true;
  const cpuStart = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, Number(values.seconds) * 1000));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  measuring = false;
  running = false;
  await Promise.all(workers);
  latencies.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      scenario: 'rpc-mqtt (library call(), QoS 1)',
      devices: deviceCount,
      concurrency,
      seconds: Number(elapsed.toFixed(2)),
      callsPerSecond: Math.round(completed / elapsed),
      failed,
      serverCpuMicrosPerCall: Number(((cpu.user + cpu.system) / completed).toFixed(1)),
      latencyMs: { p50: percentile(latencies, 50).toFixed(2), p95: percentile(latencies, 95).toFixed(2), p99: percentile(latencies, 99).toFixed(2) },
    }),
  );
  fleet.send({ stop: true });
  await server.close();
}

async function idleHeap(): Promise<void> {
  const deviceCount = Number(values['idle-devices']);
  const server = startServer(deviceCount);
  const { mqttPort } = await server.listen();
  const gc = globalThis.gc!;
  gc();
  gc();
  const before = process.memoryUsage();
  const t0 = performance.now();
  const fleet = await startFleet(mqttPort!, deviceCount, true);
  const connectSeconds = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 1000));
  gc();
  gc();
  const after = process.memoryUsage();
  console.log(
    JSON.stringify({
      scenario: 'idle-devices (MQTT 3.1.1, connected and subscribed to RPC, QoS 1)',
      devices: deviceCount,
      connectSeconds: Number(connectSeconds.toFixed(2)),
      heapBytesPerDevice: Math.round((after.heapUsed - before.heapUsed) / deviceCount),
      rssBytesPerDevice: Math.round((after.rss - before.rss) / deviceCount),
    }),
  );
  fleet.send({ stop: true });
  await server.close();
}

if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc (npx tsx --expose-gc bench/quick-rpc-mqtt.ts)');
  process.exit(2);
}
await throughput();
await idleHeap();
process.exit(0);
