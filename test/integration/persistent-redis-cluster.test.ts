import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRpcServer } from '../../src/index.js';
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
});
