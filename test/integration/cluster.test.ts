import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppSocketClient } from '../support/app-socket-client.js';
import { EngineProcess, writeTestConfig } from '../support/cluster.js';
import { startRedis, type RedisProcess } from '../support/redis.js';
import { USERS, answerRequests, connectDevice, until } from '../support/server.js';

// Three `iot-rpc serve` processes and one redis-server, all real, on free ports.
let redis: RedisProcess;
let nodes: EngineProcess[];
let token: string;
beforeAll(async () => {
  redis = await startRedis();
  const config = writeTestConfig();
  nodes = [];
  for (const id of ['node-1', 'node-2', 'node-3']) nodes.push(await EngineProcess.start(id, redis.url, config));
  token = await nodes[0]!.login();
}, 60_000);
afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()));
  await redis.stop();
});

const [n1, n2, n3] = [0, 1, 2].map((i) => () => nodes[i]!);
const rpc = (node: EngineProcess, deviceId: string, body: Record<string, unknown>) => node.request('POST', `/api/rpc/twoway/${deviceId}`, token, body);
const stored = async (node: EngineProcess, rpcId: string) => (await (await node.request('GET', `/api/rpc/persistent/${rpcId}`, token)).json()) as { status: string; response: unknown };
/** Waits until the directory names the node that holds the device's session (it is written as the device connects). */
async function settle(deviceId: string, node: string): Promise<void> {
  const client = new Redis(redis.url);
  try {
    await expect.poll(() => client.get(`iotrpc:dir:{d:${deviceId}}`), { timeout: 5000, interval: 20 }).toBe(node);
  } finally {
    client.disconnect();
  }
}

describe('a cluster of three engine processes over Redis', () => {
  it('a REST call to node 1 reaches an MQTT device on node 3 and returns its reply; errors come back with their codes', async () => {
    const device = await connectDevice(n3().mqtt, 'TOKEN_PLAIN');
    try {
      await answerRequests(device, (method, params) => (method === 'silent' ? undefined : { on: 'node-3', method, params }));
      await settle('dev-plain', 'node-3');
      const res = await rpc(n1(), 'dev-plain', { method: 'where', params: { x: 1 } });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ on: 'node-3', method: 'where', params: { x: 1 } });
      const legacy = await n2().request('POST', '/api/plugins/rpc/twoway/dev-plain', token, { method: 'legacy' });
      expect(await legacy.json()).toEqual({ on: 'node-3', method: 'legacy', params: {} });
      // The owning node's timeout error crosses Redis as data: same status, code and message.
      const silent = await rpc(n1(), 'dev-plain', { method: 'silent', timeout: 5000 });
      expect(silent.status).toBe(504);
      const body = (await silent.json()) as { code: string; message: string };
      expect(body.code).toBe('IOT_ERR_NO_REPLY_DELIVERED');
      expect(body.message).toContain('dev-plain');
      const oneway = await n2().request('POST', '/api/rpc/oneway/dev-plain', token, { method: 'fire' });
      expect(oneway.status).toBe(200);
    } finally {
      device.end(true);
    }
  }, 20_000);

  it('the WebSocket API on node 1: calls reach a device on node 3, and a subscription sees its sessions and calls made through node 2', async () => {
    const app = await AppSocketClient.open(n1().http, token);
    try {
      const sub = await app.command({ cmdId: 'watch', type: 'subscribe', deviceId: 'dev-plain' });
      expect(sub.result).toMatchObject({ subscribed: 'dev-plain' });
      const device = await connectDevice(n3().mqtt, 'TOKEN_PLAIN');
      try {
        await answerRequests(device, (method) => ({ method, on: 'node-3' }));
        expect(await app.next((f) => f.cmdId === 'watch' && f.event === 'connected')).toMatchObject({ node: 'node-3', transport: 'mqtt' });
        await app.next((f) => f.cmdId === 'watch' && f.event === 'subscribed');
        const answer = await app.command({ cmdId: 1, type: 'rpc', deviceId: 'dev-plain', method: 'overWs' });
        expect(answer).toEqual({ cmdId: 1, result: { method: 'overWs', on: 'node-3' } });
        await settle('dev-plain', 'node-3');
        expect(await (await rpc(n2(), 'dev-plain', { method: 'viaNode2' })).json()).toEqual({ method: 'viaNode2', on: 'node-3' });
        const replied = await app.next((f) => f.cmdId === 'watch' && f.event === 'call' && (f.call as { method: string; status: string }).method === 'viaNode2' && (f.call as { status: string }).status === 'replied');
        expect(replied).toMatchObject({ deviceId: 'dev-plain', node: 'node-3' });
      } finally {
        device.end(true);
      }
      expect(await app.next((f) => f.cmdId === 'watch' && f.event === 'disconnected')).toMatchObject({ node: 'node-3' });
    } finally {
      app.close();
    }
  }, 20_000);

  it('a call for a device that is offline everywhere waits, and reaches it when it connects to another node', async () => {
    const pending = rpc(n1(), 'dev-a', { method: 'later', timeout: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const device = await connectDevice(n2().mqtt, 'TOKEN_A');
    try {
      await answerRequests(device, (method) => ({ method, on: 'node-2' }));
      const res = await pending;
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ method: 'later', on: 'node-2' });
    } finally {
      device.end(true);
    }
  }, 20_000);

  it('a persistent call to an offline device is delivered when it connects to node 2', async () => {
    const res = await rpc(n1(), 'dev-a', { method: 'stored', params: { n: 7 }, persistent: true, timeout: 10_000, expirationTime: Date.now() + 60_000 });
    expect(res.status).toBe(200);
    const { rpcId } = (await res.json()) as { rpcId: string };
    expect((await stored(n3(), rpcId)).status).toBe('QUEUED');
    const device = await connectDevice(n2().mqtt, 'TOKEN_A');
    try {
      await answerRequests(device, (_method, params) => ({ got: params }));
      await expect.poll(async () => (await stored(n3(), rpcId)).status, { timeout: 5000 }).toBe('SUCCESSFUL');
      expect((await stored(n1(), rpcId)).response).toEqual({ got: { n: 7 } });
    } finally {
      device.end(true);
    }
  }, 20_000);

  it('a device that reconnects to another node takes its session along: the old node closes its connection', async () => {
    const first = await connectDevice(n1().mqtt, 'TOKEN_A', { reconnectPeriod: 0 });
    const closed = new Promise<void>((resolve) => first.once('close', () => resolve()));
    await settle('dev-a', 'node-1');
    const second = await connectDevice(n3().mqtt, 'TOKEN_A');
    try {
      await closed;
      await answerRequests(second, () => ({ on: 'node-3' }));
      await settle('dev-a', 'node-3');
      const res = await rpc(n2(), 'dev-a', { method: 'whereNow' });
      expect(await res.json()).toEqual({ on: 'node-3' });
    } finally {
      second.end(true);
      first.end(true);
    }
  }, 20_000);

  it('a call waiting on node 1 for a device that is connected there but not subscribed follows the device to node 3', async () => {
    const idle = await connectDevice(n1().mqtt, 'TOKEN_A', { reconnectPeriod: 0 });
    await settle('dev-a', 'node-1');
    const pending = rpc(n2(), 'dev-a', { method: 'follow', timeout: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const moved = await connectDevice(n3().mqtt, 'TOKEN_A');
    try {
      await answerRequests(moved, (method) => ({ method, on: 'node-3' }));
      const res = await pending;
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ method: 'follow', on: 'node-3' });
    } finally {
      moved.end(true);
      idle.end(true);
    }
  }, 20_000);

  it('an HTTP long-poll device on node 2: calls from node 1 and stored calls from node 3 are delivered once and answered between polls', async () => {
    const poll = async () => {
      const res = await fetch(`${n2().http}/api/v1/TOKEN_PLAIN/rpc?timeout=3000`);
      return res.status === 200 ? ((await res.json()) as { id: number; method: string }) : undefined;
    };
    const answer = (id: number, body: unknown) => fetch(`${n2().http}/api/v1/TOKEN_PLAIN/rpc/${id}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const firstPoll = poll();
    await settle('dev-plain', 'node-2');
    const plain = rpc(n1(), 'dev-plain', { method: 'overHttp', timeout: 10_000 });
    const first = await firstPoll;
    expect(first?.method).toBe('overHttp');
    await new Promise((resolve) => setTimeout(resolve, 300)); // between polls
    expect((await answer(first!.id, { via: 'http' })).status).toBe(200);
    expect(await (await plain).json()).toEqual({ via: 'http' });
    const accepted = await rpc(n3(), 'dev-plain', { method: 'storedOverHttp', persistent: true, timeout: 10_000, expirationTime: Date.now() + 60_000 });
    const { rpcId } = (await accepted.json()) as { rpcId: string };
    const second = await poll();
    expect(second?.method).toBe('storedOverHttp');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await answer(second!.id, { stored: 'http' })).status).toBe(200);
    await expect.poll(async () => (await stored(n1(), rpcId)).status, { timeout: 5000 }).toBe('SUCCESSFUL');
    expect(await poll()).toBeUndefined(); // nothing sent twice
  }, 20_000);

  it('a gateway on node 2: the sub-device it creates is known to node 1, and a REST call there reaches it through the gateway', async () => {
    const gw = await connectDevice(n2().mqtt, 'TOKEN_GW');
    try {
      gw.on('message', (topic, payload) => {
        const message = JSON.parse(payload.toString()) as { device: string; data?: { id: number; method: string } };
        if (topic === 'v1/gateway/rpc' && message.data?.method !== undefined) {
          gw.publish('v1/gateway/rpc', JSON.stringify({ device: message.device, id: message.data.id, data: { from: message.device, via: 'gw-1' } }));
        }
      });
      await gw.subscribeAsync('v1/gateway/rpc', { qos: 1 });
      await gw.publishAsync('v1/gateway/connect', JSON.stringify({ device: 'Cluster Sensor' }), { qos: 1 });
      const find = async () => {
        const page = (await (await n1().request('GET', '/api/tenant/devices?pageSize=100&page=0', token)).json()) as { data: Array<{ id: { id: string }; name: string }> };
        return page.data.find((d) => d.name === 'Cluster Sensor')?.id.id;
      };
      await expect.poll(find, { timeout: 5000 }).toBeDefined();
      await settle((await find())!, 'node-2');
      const res = await rpc(n1(), (await find())!, { method: 'read' });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ from: 'Cluster Sensor', via: 'gw-1' });
    } finally {
      gw.end(true);
    }
  }, 20_000);

  it('device data from any node: telemetry sent to node 3 is read on nodes 1 and 2, and shared attributes set on node 1 reach an MQTT device on node 3 and an HTTP long-poll on node 2', async () => {
    const device = await connectDevice(n3().mqtt, 'TOKEN_A', { protocolVersion: 5 });
    try {
      await device.subscribeAsync('v1/devices/me/attributes');
      const ts = Date.now() - 1000;
      await device.publishAsync('v1/devices/me/telemetry', JSON.stringify({ ts, values: { temperature: 22.5 } }), { qos: 1 });
      await device.publishAsync('v1/devices/me/attributes', JSON.stringify({ fw: '3.1' }), { qos: 1 });
      const latest = await n1().request('GET', '/api/plugins/telemetry/DEVICE/dev-a/values/timeseries?keys=temperature', token);
      expect(await latest.json()).toEqual({ temperature: [{ ts, value: 22.5 }] });
      const asked = await fetch(`${n2().http}/api/v1/TOKEN_A/attributes?clientKeys=fw`);
      expect(await asked.json()).toEqual({ client: { fw: '3.1' } });

      const pushed = new Promise<unknown>((resolve) => device.once('message', (topic, payload) => resolve({ topic, payload: JSON.parse(payload.toString()) })));
      const poll = fetch(`${n2().http}/api/v1/TOKEN_A/attributes/updates?timeout=10000`);
      // The poll listens once node 2 has subscribed the device's update channel.
      const client = new Redis(redis.url);
      await expect.poll(async () => ((await client.call('PUBSUB', 'NUMSUB', 'iotrpc:attribute-updates:{d:dev-a}')) as [string, number])[1], { timeout: 5000, interval: 20 }).toBe(2);
      client.disconnect();
      const set = await n1().request('POST', '/api/plugins/telemetry/dev-a/SHARED_SCOPE', token, { interval: 30 });
      expect(set.status).toBe(200);
      expect(await pushed).toEqual({ topic: 'v1/devices/me/attributes', payload: { interval: 30 } });
      const polled = await poll;
      expect(polled.status).toBe(200);
      expect(await polled.json()).toEqual({ interval: 30 });
      const shared = await n2().request('GET', '/api/plugins/telemetry/DEVICE/dev-a/values/attributes/SHARED_SCOPE', token);
      expect(((await shared.json()) as Array<{ key: string; value: unknown }>).map(({ key, value }) => ({ key, value }))).toEqual([{ key: 'interval', value: 30 }]);
    } finally {
      device.end(true);
    }
  }, 20_000);

  it('one bulk call on node 1 reaches devices spread over the three nodes, each answered by its own device', async () => {
    const spread = [await connectDevice(n1().mqtt, 'TOKEN_A'), await connectDevice(n2().mqtt, 'TOKEN_PLAIN'), await connectDevice(n3().mqtt, 'TOKEN_GW')];
    try {
      for (const [i, device] of spread.entries()) await answerRequests(device, (method) => ({ node: `node-${i + 1}`, method }));
      await settle('dev-plain', 'node-2');
      await settle('gw-1', 'node-3');
      const res = await n1().request('POST', '/api/rpc/bulk', token, { deviceIds: ['dev-a', 'dev-plain', 'gw-1', 'dev-b'], method: 'where' });
      expect(res.status).toBe(200);
      const { results, summary } = (await res.json()) as { results: Array<{ deviceId: string; status: number; response?: unknown }>; summary: unknown };
      expect(Object.fromEntries(results.map((r) => [r.deviceId, r.response ?? r.status]))).toEqual({
        'dev-a': { node: 'node-1', method: 'where' },
        'dev-plain': { node: 'node-2', method: 'where' },
        'gw-1': { node: 'node-3', method: 'where' },
        'dev-b': 404,
      });
      expect(summary).toEqual({ total: 4, ok: 3, failed: 1, byCode: { IOT_ERR_DEVICE_NOT_FOUND: 1 } });
    } finally {
      for (const device of spread) device.end(true);
    }
  }, 20_000);

  it('users are the same on every node: a refresh token issued by node 1 is honoured by node 2', async () => {
    const login = await fetch(`${n1().http}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: USERS.customer.email, password: USERS.customer.password }) });
    const { refreshToken } = (await login.json()) as { refreshToken: string };
    const refreshed = await fetch(`${n2().http}/api/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ refreshToken }) });
    expect(refreshed.status).toBe(200);
    expect(Object.keys((await refreshed.json()) as object).sort()).toEqual(['refreshToken', 'token']);
  });

  it('a device created through REST on node 1 is known to nodes 2 and 3, and its deletion too', async () => {
    const created = await n1().request('POST', '/api/device', token, { name: 'Cluster Made', accessToken: 'TOKEN_CLUSTER_MADE' });
    expect(created.status).toBe(200);
    const { id } = ((await created.json()) as { id: { id: string } }).id;
    // Right away, node 2 answers for it (it asks the store when it has not heard yet); node 3 lets it connect once it has heard.
    expect((await n2().request('GET', `/api/device/${id}`, token)).status).toBe(200);
    await expect.poll(async () => (await n3().request('GET', `/api/device/${id}`, token)).status, { timeout: 3000 }).toBe(200);
    const device = await connectDevice(n3().mqtt, 'TOKEN_CLUSTER_MADE');
    try {
      await answerRequests(device, () => ({ made: true }));
      await settle(id, 'node-3');
      expect(await (await rpc(n2(), id, { method: 'hello' })).json()).toEqual({ made: true });
      const clash = await n2().request('POST', '/api/device', token, { name: 'Cluster Made' });
      expect(clash.status).toBe(409);
      const closed = new Promise<void>((resolve) => device.once('close', () => resolve()));
      expect((await n2().request('DELETE', `/api/device/${id}`, token)).status).toBe(200);
      await closed;
      // Node 1 hears of the deletion through Redis a moment later.
      await expect.poll(async () => (await n1().request('GET', `/api/device/${id}`, token)).status, { timeout: 3000 }).toBe(404);
    } finally {
      device.end(true);
    }
  }, 20_000);
});

describe('nodes that die, and Redis that goes away', () => {
  it('kill -9 of the node holding a device mid-call: the caller is answered within its deadline + 1 s; persistent calls resume where the device reconnects', async () => {
    const spare = await EngineProcess.start('node-4', redis.url, nodes[0]!.configFile);
    const device = await connectDevice(spare.mqtt, 'TOKEN_PLAIN', { reconnectPeriod: 0 });
    try {
      const seen = await answerRequests(device, () => undefined); // receives, never answers
      await settle('dev-plain', 'node-4');
      const persistentRes = await rpc(n1(), 'dev-plain', { method: 'mustSurvive', persistent: true, timeout: 10_000, expirationTime: Date.now() + 60_000 });
      const { rpcId } = (await persistentRes.json()) as { rpcId: string };
      const started = Date.now();
      const plain = rpc(n1(), 'dev-plain', { method: 'inFlight', timeout: 8000 });
      await until(() => seen.some((s) => s.method === 'inFlight') && seen.some((s) => s.method === 'mustSurvive'), 5000);
      await spare.kill();
      const res = await plain;
      const elapsed = Date.now() - started;
      expect(elapsed).toBeLessThan(8000 + 1000);
      expect(res.status).toBe(503);
      expect(((await res.json()) as { code: string }).code).toBe('IOT_ERR_NODE_GONE');
      device.end(true);
      // The device comes back on node 2: the call its dead node had sent is sent again there.
      const back = await connectDevice(n2().mqtt, 'TOKEN_PLAIN');
      try {
        await answerRequests(back, (method) => ({ resumed: method }));
        await expect.poll(async () => (await stored(n3(), rpcId)).status, { timeout: 8000 }).toBe('SUCCESSFUL');
        expect((await stored(n1(), rpcId)).response).toEqual({ resumed: 'mustSurvive' });
      } finally {
        back.end(true);
      }
    } finally {
      device.end(true);
      await spare.kill();
    }
  }, 30_000);

  it('a restart of every node loses no persistent call', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const res = await rpc(nodes[i % 3]!, i % 2 === 0 ? 'dev-a' : 'dev-plain', { method: 'afterRestart', params: { i }, persistent: true, timeout: 10_000, expirationTime: Date.now() + 120_000 });
      ids.push(((await res.json()) as { rpcId: string }).rpcId);
    }
    for (const node of nodes) await node.kill();
    for (const node of nodes) await node.start();
    token = await n1().login();
    for (const id of ids) expect((await stored(n2(), id)).status).toBe('QUEUED');
    const a = await connectDevice(n3().mqtt, 'TOKEN_A');
    const plain = await connectDevice(n1().mqtt, 'TOKEN_PLAIN');
    try {
      await answerRequests(a, (_m, params) => ({ a: params }));
      await answerRequests(plain, (_m, params) => ({ plain: params }));
      for (const id of ids) await expect.poll(async () => (await stored(n2(), id)).status, { timeout: 8000 }).toBe('SUCCESSFUL');
    } finally {
      a.end(true);
      plain.end(true);
    }
  }, 60_000);

  it('with Redis gone (kill -9), nodes serve their own devices, answer calls for others with 503 IOT_ERR_CLUSTER_UNAVAILABLE, and route again once it is back, with every acknowledged persistent call', async () => {
    const local = await connectDevice(n1().mqtt, 'TOKEN_A');
    const remote = await connectDevice(n2().mqtt, 'TOKEN_PLAIN');
    try {
      await answerRequests(local, () => ({ on: 'node-1' }));
      await answerRequests(remote, () => ({ on: 'node-2' }));
      await settle('dev-plain', 'node-2');
      // Acknowledged by Redis just before it is killed (appendfsync always): it must be there after the restart.
      const accepted = await rpc(n3(), 'gw-1', { method: 'acknowledged', persistent: true, timeout: 10_000, expirationTime: Date.now() + 120_000 });
      const { rpcId } = (await accepted.json()) as { rpcId: string };
      const ready = async (node: EngineProcess) => {
        const res = await fetch(`${node.http}/readyz`);
        return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as { status: string; checks: Record<string, Array<{ status: string }>> } };
      };
      expect((await ready(n1())).status).toBe(200);
      await redis.kill();
      // Not ready while Redis is away (the load balancer sends the node no new traffic); still alive.
      await expect.poll(async () => (await ready(n1())).status, { timeout: 5000, interval: 50 }).toBe(503);
      const notReady = await ready(n1());
      expect(notReady.type).toBe('application/health+json');
      expect(notReady.body.status).toBe('fail');
      expect(notReady.body.checks['redis:reachable']![0]!.status).toBe('fail');
      expect(notReady.body.checks['listeners:open']![0]!.status).toBe('pass');
      expect((await fetch(`${n1().http}/livez`)).status).toBe(200);
      expect(await (await rpc(n1(), 'dev-a', { method: 'local' })).json()).toEqual({ on: 'node-1' });
      const res = await rpc(n1(), 'dev-plain', { method: 'remote' });
      expect(res.status).toBe(503);
      expect(((await res.json()) as { code: string }).code).toBe('IOT_ERR_CLUSTER_UNAVAILABLE');
      // Device data is kept in Redis: without it, a device is told its data was not kept, and may send it again.
      const telemetry = await fetch(`${n1().http}/api/v1/TOKEN_A/telemetry`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"t":1}' });
      expect(telemetry.status).toBe(503);
      expect(((await telemetry.json()) as { code: string }).code).toBe('IOT_ERR_UNAVAILABLE');
      redis = await redis.restart();
      await expect.poll(async () => (await ready(n1())).body, { timeout: 20_000, interval: 200 }).toMatchObject({ status: 'pass' });
      await expect
        .poll(async () => (await rpc(n1(), 'dev-plain', { method: 'remoteAgain', timeout: 5000 })).status, { timeout: 20_000, interval: 500 })
        .toBe(200);
      expect((await stored(n2(), rpcId)).status).toBe('QUEUED');
    } finally {
      local.end(true);
      remote.end(true);
    }
  }, 60_000);
});
