import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRpcServer, type RpcServer } from '../../src/index.js';
import { RawMqttClient } from '../support/raw-mqtt.js';
import { startRedis, type RedisProcess } from '../support/redis.js';
import { USERS, answerRequests, connectDevice, testConfig } from '../support/server.js';

// Two engines in this process on one real redis-server: the router's edge cases, observed from Redis's own counters.
let redis: RedisProcess;
let a: RpcServer;
let b: RpcServer;
let mqttA: string;
let mqttB: string;
let portA: number;
let httpB: number;
let tokenB: string;
beforeAll(async () => {
  redis = await startRedis();
  const start = async (nodeId: string) => {
    const server = createRpcServer({ config: testConfig({ cluster: { leaseMs: 3000 } }), httpPort: 0, mqttPort: 0, coapPort: null, logger: false, redis: redis.url, nodeId });
    const { mqttPort, httpPort } = await server.listen();
    return { server, mqtt: `mqtt://127.0.0.1:${mqttPort}`, port: mqttPort!, http: httpPort! };
  };
  const first = await start('route-a');
  a = first.server;
  mqttA = first.mqtt;
  portA = first.port;
  const second = await start('route-b');
  b = second.server;
  mqttB = second.mqtt;
  httpB = second.http;
  const login = await fetch(`http://127.0.0.1:${httpB}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: USERS.otherTenant.email, password: USERS.otherTenant.password }) });
  tokenB = ((await login.json()) as { token: string }).token;
});
afterAll(async () => {
  await a.close();
  await b.close();
  await redis.stop();
});

async function publishCount(client: Redis): Promise<number> {
  const stats = await client.info('commandstats');
  return Number(/cmdstat_publish:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

describe('routing through the session directory', () => {
  it('a stale entry naming a live node without the session: the call waits for the device, without bouncing between nodes', async () => {
    const client = new Redis(redis.url);
    try {
      await client.set('iotrpc:dir:{d:dev-plain}', 'route-a', 'PX', 60_000);
      const before = await publishCount(client);
      const started = Date.now();
      await expect(b.call('dev-plain', { method: 'nobody', timeout: 2000 })).rejects.toMatchObject({ code: 'IOT_ERR_DEVICE_OFFLINE' });
      expect(Date.now() - started).toBeLessThan(2000 + 1000);
      // One forward, its `moved`, and a few housekeeping messages: not thousands of round trips.
      expect((await publishCount(client)) - before).toBeLessThan(20);
      expect(await client.get('iotrpc:dir:{d:dev-plain}')).toBeNull();
    } finally {
      client.disconnect();
    }
  });

  it('withdrawing a routed call (AbortSignal) answers IOT_ERR_CALL_DELETED and the device never answers it', async () => {
    const device = await connectDevice(mqttA, 'TOKEN_PLAIN');
    try {
      const seen = await answerRequests(device, () => undefined);
      await new Promise((resolve) => setTimeout(resolve, 150));
      const controller = new AbortController();
      const call = b.call('dev-plain', { method: 'withdrawn', timeout: 10_000, signal: controller.signal });
      await expect.poll(() => seen.length).toBe(1);
      const outcomes: string[] = [];
      a.on('call', (e) => e.method === 'withdrawn' && outcomes.push(e.status));
      controller.abort();
      await expect(call).rejects.toMatchObject({ code: 'IOT_ERR_CALL_DELETED' });
      await expect.poll(() => outcomes).toContain('deleted');
    } finally {
      device.end(true);
    }
  });

  it('library onStatus is told the statuses of a call that runs on another node', async () => {
    const device = await connectDevice(mqttA, 'TOKEN_A');
    try {
      await answerRequests(device, () => ({ ok: 1 }));
      await new Promise((resolve) => setTimeout(resolve, 150));
      const statuses: string[] = [];
      await expect(b.call('dev-a', { method: 'statuses', onStatus: (s) => statuses.push(s) })).resolves.toEqual({ ok: 1 });
      expect(statuses).toEqual(['queued', 'sent', 'delivered', 'replied']);
    } finally {
      device.end(true);
    }
  });

  it('stored calls follow their device to another node and go out oldest first, those it had been sent first', async () => {
    // On node A the device receives two calls and never acknowledges them (SENT); a third waits (QUEUED).
    const raw = await RawMqttClient.connected(portA, 'TOKEN_B');
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v1/devices/me/rpc/request/+', qos: 1 }] });
    await raw.next('suback');
    await new Promise((resolve) => setTimeout(resolve, 150));
    const store = (method: string) =>
      fetch(`http://127.0.0.1:${httpB}/api/rpc/twoway/dev-b`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-authorization': `Bearer ${tokenB}` },
        body: JSON.stringify({ method, persistent: true, timeout: 30_000, expirationTime: Date.now() + 60_000 }),
      });
    expect((await store('first')).status).toBe(200);
    await raw.next('publish');
    expect((await store('second')).status).toBe(200);
    await raw.next('publish');
    raw.end();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await store('third')).status).toBe(200);
    // The device comes back on node B: all three, in the order they were made.
    const device = await connectDevice(mqttB, 'TOKEN_B');
    try {
      const seen = await answerRequests(device, () => ({ ok: true }));
      await expect.poll(() => seen.length, { timeout: 5000 }).toBeGreaterThanOrEqual(3);
      expect(seen.slice(0, 3).map((s) => s.method)).toEqual(['first', 'second', 'third']);
    } finally {
      device.end(true);
    }
  });

  it('a device in the store that this node has not heard of yet (its message still on the way) is found there, not 404', async () => {
    const client = new Redis(redis.url);
    try {
      const device = { id: 'only-in-store', name: 'Only in store', type: 'default', tenantId: 'tenant-b', customerId: null, accessToken: 'TOKEN_ONLY_IN_STORE', gateway: false, gatewayId: null, createdTime: Date.now() };
      // Written as another node would, but without the change message.
      await client.hset('iotrpc:{registry}:devices', device.id, JSON.stringify(device));
      expect(b.devices.get(device.id)).toBeUndefined();
      await expect(b.call(device.id, { method: 'x', timeout: 200 })).rejects.toMatchObject({ code: 'IOT_ERR_DEVICE_OFFLINE' });
      expect(b.devices.get(device.id)).toMatchObject({ name: 'Only in store' });
      const res = await fetch(`http://127.0.0.1:${httpB}/api/device/${device.id}`, { headers: { 'x-authorization': `Bearer ${tokenB}` } });
      expect(res.status).toBe(200);
    } finally {
      client.disconnect();
    }
  });
});
