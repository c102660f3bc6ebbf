/**
 * iot-rpc for the peer-bounds scenario: MQTT and the REST API, one tenant with a tenant admin, devices `b0`…
 * (tokens `bounds-token-0`…) and an `echo` client-side handler. Commands: `memory` (RSS and heap after a GC) and
 * `oneway-burst` (the application sends `count` one-way calls of `bytes` each to a device; their outcomes).
 */
import { createRpcServer } from '../../src/index.js';
import { argument, serveCommands } from '../lib/child.js';

const deviceCount = Number(argument('devices', '4'));
const server = createRpcServer({
  config: {
    jwt: { secret: 'bounds-secret-bounds-secret-bounds-0123456789' },
    tenants: [{ id: 'bounds', name: 'Bounds' }],
    users: [{ email: 'admin@bounds.local', password: 'bounds', role: 'TENANT_ADMIN', tenantId: 'bounds' }],
    devices: Array.from({ length: deviceCount }, (_, i) => ({ id: `b${i}`, name: `b${i}`, tenantId: 'bounds', accessToken: `bounds-token-${i}` })),
    rpc: { maxPendingPerDevice: 100_000 },
  },
  host: '127.0.0.1',
  httpPort: 0,
  mqttPort: 0,
  coapPort: null,
  logger: false,
});
server.handle('echo', (params) => params);
const addresses = await server.listen();

function memory(): { rssBytes: number; heapUsedBytes: number } {
  globalThis.gc?.();
  globalThis.gc?.();
  const { rss, heapUsed } = process.memoryUsage();
  return { rssBytes: rss, heapUsedBytes: heapUsed };
}

serveCommands(
  { mqttPort: addresses.mqttPort, httpPort: addresses.httpPort },
  async (command) => {
    switch (command.type) {
      case 'memory':
        return memory();
      case 'oneway-burst': {
        const params = { blob: 'x'.repeat(Number(command.bytes)) };
        const outcomes = await Promise.all(
          Array.from({ length: Number(command.count) }, () =>
            server.call(String(command.deviceId), { method: 'fill', params, oneway: true, timeout: Number(command.timeoutMs) }).then(
              () => 'delivered',
              (error: { code?: string }) => error.code ?? 'error',
            ),
          ),
        );
        const counts: Record<string, number> = {};
        for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
        return { counts, afterCalls: memory() };
      }
      default:
        throw new Error(`unknown command ${String(command.type)}`);
    }
  },
  () => server.close(),
);
