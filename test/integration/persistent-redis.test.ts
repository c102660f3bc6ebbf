import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRpcServer, type RpcServer } from '../../src/index.js';
import { RawMqttClient } from '../support/raw-mqtt.js';
import { freePort, startRedis, type RedisProcess } from '../support/redis.js';
import { USERS, answerRequests, connectDevice, testConfig, until } from '../support/server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
let redis: RedisProcess;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.stop());

async function node(redisUrl = redis.url): Promise<{ server: RpcServer; http: string; mqtt: string; mqttPort: number }> {
  const server = createRpcServer({ config: testConfig(), httpPort: 0, mqttPort: 0, coapPort: null, logger: false, redis: redisUrl });
  const a = await server.listen();
  return { server, http: `http://127.0.0.1:${a.httpPort}`, mqtt: `mqtt://127.0.0.1:${a.mqttPort}`, mqttPort: a.mqttPort! };
}

async function login(http: string): Promise<string> {
  const res = await fetch(`${http}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: USERS.tenant.email, password: USERS.tenant.password }) });
  return ((await res.json()) as { token: string }).token;
}

const persistent = async (http: string, token: string, body: Record<string, unknown>) => {
  const res = await fetch(`${http}/api/rpc/twoway/dev-plain`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-authorization': `Bearer ${token}` }, body: JSON.stringify({ persistent: true, timeout: 30_000, ...body }) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { rpcId: string }).rpcId;
};
const status = async (http: string, token: string, rpcId: string) =>
  (await (await fetch(`${http}/api/rpc/persistent/${rpcId}`, { headers: { 'x-authorization': `Bearer ${token}` } })).json()) as { status: string; response: unknown };

describe('persistent calls in Redis', () => {
  it('a queued call survives a restart of the server and is delivered by the next one', async () => {
    const first = await node();
    const rpcId = await persistent(first.http, await login(first.http), { method: 'afterRestart', params: { n: 1 }, expirationTime: Date.now() + 60_000 });
    await first.server.close();
    const second = await node();
    try {
      const token = await login(second.http);
      expect((await status(second.http, token, rpcId)).status).toBe('QUEUED');
      const device = await connectDevice(second.mqtt, 'TOKEN_PLAIN');
      await answerRequests(device, (_m, params) => ({ got: params }));
      await expect.poll(async () => (await status(second.http, token, rpcId)).status, { timeout: 5000 }).toBe('SUCCESSFUL');
      expect((await status(second.http, token, rpcId)).response).toEqual({ got: { n: 1 } });
      device.end(true);
    } finally {
      await second.server.close();
    }
  });

  it('DELETE removes a call from Redis: a queued one after it is withdrawn, a finished one as it is; both 404 afterwards, on a restarted server too', async () => {
    const first = await node();
    const token = await login(first.http);
    const del = (http: string, rpcId: string) => fetch(`${http}/api/rpc/persistent/${rpcId}`, { method: 'DELETE', headers: { 'x-authorization': `Bearer ${token}` } });
    const queued = await persistent(first.http, token, { method: 'neverSent', expirationTime: Date.now() + 60_000 });
    const done = await persistent(first.http, token, { method: 'finished', expirationTime: Date.now() + 60_000 });
    const device = await connectDevice(first.mqtt, 'TOKEN_PLAIN');
    await answerRequests(device, (method) => (method === 'finished' ? { ok: 1 } : undefined));
    await expect.poll(async () => (await status(first.http, token, done)).status, { timeout: 5000 }).toBe('SUCCESSFUL');
    device.end(true);
    expect(((await (await del(first.http, done)).json()) as { status: string }).status).toBe('SUCCESSFUL');
    await first.server.close();
    const second = await node();
    try {
      expect(((await (await del(second.http, queued)).json()) as { status: string }).status).toBe('DELETED');
      for (const rpcId of [queued, done]) {
        expect((await fetch(`${second.http}/api/rpc/persistent/${rpcId}`, { headers: { 'x-authorization': `Bearer ${token}` } })).status).toBe(404);
      }
      const list = (await (await fetch(`${second.http}/api/rpc/persistent/device/dev-plain?pageSize=100&page=0`, { headers: { 'x-authorization': `Bearer ${token}` } })).json()) as { data: Array<{ id: { id: string } } | { rpcId?: string }> };
      expect(JSON.stringify(list.data)).not.toContain(queued);
      expect(JSON.stringify(list.data)).not.toContain(done);
    } finally {
      await second.server.close();
    }
  });

  it('with Redis unreachable, a persistent call is refused with 503 and a clear code; plain calls go on', async () => {
    const own = await startRedis();
    const { server, http, mqtt } = await node(own.url);
    try {
      const token = await login(http);
      const device = await connectDevice(mqtt, 'TOKEN_PLAIN');
      await answerRequests(device, () => ({ plain: true }));
      await own.stop();
      const res = await fetch(`${http}/api/rpc/twoway/dev-plain`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-authorization': `Bearer ${token}` }, body: JSON.stringify({ method: 'x', persistent: true }) });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { code: string }).code).toBe('IOT_ERR_UNAVAILABLE');
      await expect(server.call('dev-plain', { method: 'plain' })).resolves.toEqual({ plain: true });
      const lookup = await fetch(`${http}/api/rpc/persistent/00000000-0000-0000-0000-000000000000`, { headers: { 'x-authorization': `Bearer ${token}` } });
      expect(lookup.status).toBe(503);
      device.end(true);
    } finally {
      await server.close();
    }
  });

  it('Redis going away mid-delivery: the call finishes once Redis is back, without a restart', async () => {
    let own = await startRedis();
    const { server, http, mqtt } = await node(own.url);
    try {
      const token = await login(http);
      const device = await connectDevice(mqtt, 'TOKEN_PLAIN');
      // The device answers 1.5 s after the request arrives: by then Redis is gone, and the reply cannot be written.
      const seen = await answerRequests(device, () => ({ through: 'outage' }), { delayMs: 1500 });
      const rpcId = await persistent(http, token, { method: 'outage', expirationTime: Date.now() + 60_000 });
      await until(() => seen.length >= 1, 5000);
      await own.stop();
      await new Promise((resolve) => setTimeout(resolve, 2500));
      own = await own.restart();
      await expect.poll(async () => (await status(http, token, rpcId)).status, { timeout: 15_000, interval: 200 }).toBe('SUCCESSFUL');
      expect((await status(http, token, rpcId)).response).toEqual({ through: 'outage' });
      device.end(true);
    } finally {
      await server.close();
      await own.stop();
    }
  }, 30_000);

  it('the same requestUUID sent twice at once is one call, delivered once', async () => {
    const n = await node();
    try {
      const token = await login(n.http);
      const body = { method: 'twice', requestUUID: '5f0e6d7c-8b9a-4a1b-9c2d-3e4f5a6b7c8d', expirationTime: Date.now() + 60_000 };
      const [a, b] = await Promise.all([persistent(n.http, token, body), persistent(n.http, token, body)]);
      expect(b).toBe(a);
      const device = await connectDevice(n.mqtt, 'TOKEN_PLAIN');
      const seen = await answerRequests(device, () => ({ ok: true }));
      await expect.poll(async () => (await status(n.http, token, a)).status, { timeout: 5000 }).toBe('SUCCESSFUL');
      await new Promise((r) => setTimeout(r, 100));
      expect(seen.filter((s) => s.method === 'twice')).toHaveLength(1);
      device.end(true);
    } finally {
      await n.server.close();
    }
  });

  it('kill -9 while a call is SENT: the next process re-queues it and the device gets it again', async () => {
    const [httpPort, mqttPort] = [await freePort(), await freePort()];
    const start = (): ChildProcess =>
      spawn(process.execPath, ['dist/cli.js', 'serve', '--config', 'examples/demo.json', '--host', '127.0.0.1', '--http-port', String(httpPort), '--mqtt-port', String(mqttPort), '--coap-port', '0', '--redis', redis.url], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const ready = (child: ChildProcess) => new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (chunk) => {
        out += chunk;
        if (out.includes('iot-rpc listening')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
    });
    const http = `http://127.0.0.1:${httpPort}`;
    const first = start();
    await ready(first);
    const loginAs = async () => ((await (await fetch(`${http}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'tenant@iot-rpc.local', password: 'tenant' }) })).json()) as { token: string }).token;
    let token = await loginAs();
    const raw = await RawMqttClient.connected(mqttPort, 'PUMP_7_TOKEN');
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v1/devices/me/rpc/request/+', qos: 1 }] });
    await raw.next('suback');
    const res = await fetch(`${http}/api/rpc/twoway/pump-7`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-authorization': `Bearer ${token}` }, body: JSON.stringify({ method: 'survive', persistent: true, timeout: 30_000, expirationTime: Date.now() + 60_000 }) });
    const { rpcId } = (await res.json()) as { rpcId: string };
    await raw.next('publish'); // received, never acknowledged
    await expect.poll(async () => ((await (await fetch(`${http}/api/rpc/persistent/${rpcId}`, { headers: { 'x-authorization': `Bearer ${token}` } })).json()) as { status: string }).status).toBe('SENT');
    first.kill('SIGKILL');
    await new Promise((resolve) => first.once('exit', resolve));
    raw.end();
    const second = start();
    try {
      await ready(second);
      token = await loginAs();
      const device = await connectDevice(`mqtt://127.0.0.1:${mqttPort}`, 'PUMP_7_TOKEN');
      const seen = await answerRequests(device, () => ({ survived: true }));
      await expect
        .poll(async () => ((await (await fetch(`${http}/api/rpc/persistent/${rpcId}`, { headers: { 'x-authorization': `Bearer ${token}` } })).json()) as { status: string }).status, { timeout: 5000 })
        .toBe('SUCCESSFUL');
      expect(seen.map((s) => s.method)).toEqual(['survive']);
      device.end(true);
    } finally {
      second.kill('SIGKILL');
    }
  }, 30_000);
});
