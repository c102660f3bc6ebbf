/**
 * iot-rpc under test, embedded as an application would: the caller runs in
 * this process and calls `server.call()` (library API). With --http it also
 * serves the REST API for the rpc-rest scenario.
 */
import { readFileSync } from 'node:fs';
import { createRpcServer } from '../../src/index.js';
import { argument, serveCommands } from '../lib/child.js';
import { runLoad, type LoadOptions } from '../lib/load.js';
import { CALL_TIMEOUT_MS, METHOD, PARAMS, TOKEN_PREFIX } from '../lib/payload.js';
import { round } from '../lib/stats.js';

const deviceCount = Number(argument('devices'));
const ids = Array.from({ length: deviceCount }, (_, i) => `d${i}`);
const server = createRpcServer({
  config: {
    jwt: { secret: 'benchmark-secret-benchmark-secret-0123456789' },
    tenants: [{ id: 'bench', name: 'Benchmark' }],
    users: [{ email: 'admin@bench.local', password: 'bench', role: 'TENANT_ADMIN', tenantId: 'bench' }],
    devices: ids.map((id, i) => ({ id, name: id, tenantId: 'bench', accessToken: `${TOKEN_PREFIX}${i}` })),
    rpc: { maxPendingPerDevice: 100_000 },
  },
  host: '127.0.0.1',
  httpPort: argument('http', 'false') === 'true' || argument('transport', 'mqtt') === 'http' ? 0 : null,
  mqttPort: 0,
  coapPort: argument('transport', 'mqtt') === 'coap' ? 0 : null,
  logger: false,
  redis: argument('redis', '') || undefined,
  nodeId: argument('node-id', '') || undefined,
});
const addresses = await server.listen();

/** RLIMIT_NOFILE of this process: one socket per connected device. */
function openFilesLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line === undefined ? NaN : Number(line.split(/\s{2,}/)[1]);
  return Number.isFinite(soft) ? soft : Infinity;
}

function memory(): { heapUsedBytes: number; rssBytes: number } {
  globalThis.gc?.();
  globalThis.gc?.();
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsedBytes: heapUsed, rssBytes: rss };
}

serveCommands(
  { mqttPort: addresses.mqttPort, httpPort: addresses.httpPort, coapPort: addresses.coapPort },
  async (command) => {
    switch (command.type) {
      case 'load':
        return runLoad((i) => server.call(ids[i]!, { method: METHOD, params: PARAMS, timeout: CALL_TIMEOUT_MS }), command as unknown as LoadOptions);
      case 'memory':
        return memory();
      case 'fd-limit':
        return openFilesLimit();
      case 'subscribed':
        return ids.filter((id) => server.devices.state(id) === 'subscribed').length;
      case 'cpu-window': {
        // CPU of this process while another process drives the REST API.
        await new Promise((r) => setTimeout(r, Number(command.warmupMs)));
        const start = process.cpuUsage();
        await new Promise((r) => setTimeout(r, Number(command.durationMs)));
        const cpu = process.cpuUsage(start);
        return { cpuMicros: round(cpu.user + cpu.system, 0), ...process.memoryUsage() };
      }
      default:
        throw new Error(`unknown command ${String(command.type)}`);
    }
  },
  () => server.close(),
);
