import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRpcServer } from '../../src/index.js';
import { EngineProcess, writeTestConfig } from '../support/cluster.js';
import { startRedisCluster, type RedisClusterProcess } from '../support/redis.js';
import { USERS, answerRequests, connectDevice, testConfig } from '../support/server.js';

let cluster: RedisClusterProcess;
beforeAll(async () => {
  cluster = await startRedisCluster();
}, 60_000);
afterAll(() => cluster.stop());

describe('persistent calls in a three-master Redis Cluster', () => {
  it('calls for devices spread over the slots are stored, listed, survive a restart and are delivered', async () => {
    const start = async () => {
      const server = createRpcServer({ config: testConfig(), httpPort: 0, mqttPort: 0, coapPort: null, logger: false, redis: cluster.urls });
      const a = await server.listen();
      const http = `http://127.0.0.1:${a.httpPort}`;
      const login = await fetch(`${http}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: USERS.tenant.email, password: USERS.tenant.password }) });
      const { token } = (await login.json()) as { token: string };
      const headers = { 'content-type': 'application/json', 'x-authorization': `Bearer ${token}` };
      return { server, http, headers, mqtt: `mqtt://127.0.0.1:${a.mqttPort}` };
    };
    const first = await start();
    const ids: Record<string, string[]> = { 'dev-a': [], 'dev-plain': [] };
    for (const device of Object.keys(ids)) {
      for (const n of [1, 2, 3]) {
        const res = await fetch(`${first.http}/api/rpc/twoway/${device}`, { method: 'POST', headers: first.headers, body: JSON.stringify({ method: `m${n}`, params: { n }, persistent: true, timeout: 30_000, expirationTime: Date.now() + 60_000 }) });
        expect(res.status).toBe(200);
        ids[device]!.push(((await res.json()) as { rpcId: string }).rpcId);
      }
    }
    const listed = (await (await fetch(`${first.http}/api/rpc/persistent/device/dev-a?pageSize=10&sortOrder=ASC`, { headers: first.headers })).json()) as { data: Array<{ id: string; status: string }>; totalElements: number };
    expect(listed.data.map((c) => c.id)).toEqual(ids['dev-a']);
    expect(listed.data.every((c) => c.status === 'QUEUED')).toBe(true);
    await first.server.close();

    const second = await start();
    try {
      for (const [device, token] of [['dev-a', 'TOKEN_A'], ['dev-plain', 'TOKEN_PLAIN']] as const) {
        const client = await connectDevice(second.mqtt, token);
        await answerRequests(client, (method) => ({ done: method, by: device }));
        for (const id of ids[device]!) {
          await expect
            .poll(async () => ((await (await fetch(`${second.http}/api/rpc/persistent/${id}`, { headers: second.headers })).json()) as { status: string }).status, { timeout: 5000 })
            .toBe('SUCCESSFUL');
        }
        client.end(true);
      }
      const done = (await (await fetch(`${second.http}/api/rpc/persistent/device/dev-plain?rpcStatus=SUCCESSFUL&pageSize=10&sortOrder=ASC`, { headers: second.headers })).json()) as { data: Array<{ response: unknown }> };
      expect(done.data.map((c) => c.response)).toEqual([1, 2, 3].map((n) => ({ done: `m${n}`, by: 'dev-plain' })));
    } finally {
      await second.server.close();
    }
  }, 60_000);

  it('three engine processes route over the Redis Cluster (sharded pub/sub): calls, stored calls and new devices reach every node', async () => {
    const config = writeTestConfig();
    const nodes = [await EngineProcess.start('rc-1', cluster.urls, config), await EngineProcess.start('rc-2', cluster.urls, config), await EngineProcess.start('rc-3', cluster.urls, config)];
    const [n1, n2, n3] = nodes as [EngineProcess, EngineProcess, EngineProcess];
    try {
      const token = await n1.login();
      const device = await connectDevice(n3.mqtt, 'TOKEN_PLAIN');
      await answerRequests(device, (method, params) => ({ on: 'rc-3', method, params }));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const res = await n1.request('POST', '/api/rpc/twoway/dev-plain', token, { method: 'acrossShards', params: [1, 2] });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ on: 'rc-3', method: 'acrossShards', params: [1, 2] });
      device.end(true);

      const stored = await n2.request('POST', '/api/rpc/twoway/dev-a', token, { method: 'waits', persistent: true, timeout: 10_000, expirationTime: Date.now() + 60_000 });
      const { rpcId } = (await stored.json()) as { rpcId: string };
      const created = await n1.request('POST', '/api/device', token, { name: 'Sharded', accessToken: 'TOKEN_SHARDED' });
      const { id } = ((await created.json()) as { id: { id: string } }).id;
      const a = await connectDevice(n1.mqtt, 'TOKEN_A');
      const made = await connectDevice(n2.mqtt, 'TOKEN_SHARDED');
      try {
        await answerRequests(a, () => ({ delivered: 'rc-1' }));
        await answerRequests(made, () => ({ made: 'rc-2' }));
        await expect.poll(async () => ((await (await n3.request('GET', `/api/rpc/persistent/${rpcId}`, token)).json()) as { status: string }).status, { timeout: 5000 }).toBe('SUCCESSFUL');
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(await (await n3.request('POST', `/api/rpc/twoway/${id}`, token, { method: 'hello' })).json()).toEqual({ made: 'rc-2' });
      } finally {
        a.end(true);
        made.end(true);
      }
    } finally {
      await Promise.all(nodes.map((n) => n.stop()));
    }
  }, 60_000);
});
