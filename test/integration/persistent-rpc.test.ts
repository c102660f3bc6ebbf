import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RawMqttClient } from '../support/raw-mqtt.js';
import { USERS, answerRequests, connectDevice, startTestServer, until, type TestServer } from '../support/server.js';

let t: TestServer;
let admin: string;
let customer: string;
let otherTenant: string;
const devices: MqttClient[] = [];
beforeAll(async () => {
  t = await startTestServer();
  [admin, customer, otherTenant] = await Promise.all([t.login(USERS.tenant), t.login(USERS.customer), t.login(USERS.otherTenant)]);
});
afterEach(() => {
  for (const device of devices.splice(0)) device.end(true);
});
afterAll(() => t.close());

interface Stored {
  id: string;
  status: string;
  response: unknown;
  request: { method: string; oneway: boolean; retries: number; timeout: number };
  additionalInfo: unknown;
  deviceId: string;
}

const get = async (path: string, token = admin) => fetch(`${t.httpUrl}${path}`, { headers: { 'x-authorization': `Bearer ${token}` } });
const stored = async (rpcId: string, token = admin) => (await (await get(`/api/rpc/persistent/${rpcId}`, token)).json()) as Stored;
const submit = async (body: Record<string, unknown>, kind = 'twoway', device = 'dev-plain', token = admin) => {
  const res = await t.post(`/api/rpc/${kind}/${device}`, { persistent: true, ...body }, token);
  expect(res.status).toBe(200);
  return ((await res.json()) as { rpcId: string }).rpcId;
};

describe('persistent calls', () => {
  it('answer {rpcId} at once, wait QUEUED for an offline device, and end SUCCESSFUL with its reply', async () => {
    const rpcId = await submit({ method: 'setMode', params: { mode: 'eco' }, timeout: 10_000, additionalInfo: { note: 'night' } });
    expect(await stored(rpcId)).toMatchObject({ id: rpcId, status: 'QUEUED', deviceId: 'dev-plain', additionalInfo: { note: 'night' }, request: { method: 'setMode', retries: 5 } });
    const device = await connectDevice(t.mqttUrl, 'TOKEN_PLAIN');
    devices.push(device);
    await answerRequests(device, (_m, params) => ({ applied: params }));
    await expect.poll(async () => (await stored(rpcId)).status, { timeout: 3000 }).toBe('SUCCESSFUL');
    expect((await stored(rpcId)).response).toEqual({ applied: { mode: 'eco' } });
  });

  it('a call DELIVERED to a device that then reconnects without answering is sent again on its new connection, and its reply counts', async () => {
    const rpcId = await submit({ method: 'again', timeout: 10_000, expirationTime: Date.now() + 30_000 });
    const first = await connectDevice(t.mqttUrl, 'TOKEN_PLAIN');
    const firstSeen = await answerRequests(first, () => undefined); // PUBACKs (DELIVERED), never answers
    await expect.poll(async () => (await stored(rpcId)).status).toBe('DELIVERED');
    expect(firstSeen.map((r) => r.method)).toEqual(['again']);
    first.end(true);
    await until(() => t.server.devices.state('dev-plain') === 'offline');
    const second = await connectDevice(t.mqttUrl, 'TOKEN_PLAIN');
    devices.push(second);
    const secondSeen = await answerRequests(second, () => ({ second: true }));
    await expect.poll(async () => (await stored(rpcId)).status, { timeout: 5000 }).toBe('SUCCESSFUL');
    expect(secondSeen.map((r) => r.method)).toEqual(['again']);
    expect(await stored(rpcId)).toMatchObject({ response: { second: true } });
  });

  it('one-way persistent calls end DELIVERED on the PUBACK', async () => {
    const device = await connectDevice(t.mqttUrl, 'TOKEN_PLAIN');
    devices.push(device);
    await answerRequests(device, () => undefined);
    const rpcId = await submit({ method: 'reboot' }, 'oneway');
    await expect.poll(async () => (await stored(rpcId)).status, { timeout: 3000 }).toBe('DELIVERED');
  });

  it('a reply with an error fails the call', async () => {
    const device = await connectDevice(t.mqttUrl, 'TOKEN_PLAIN');
    devices.push(device);
    await answerRequests(device, () => ({ error: 'pump jammed' }));
    const rpcId = await submit({ method: 'pump' });
    await expect.poll(async () => (await stored(rpcId)).status, { timeout: 3000 }).toBe('FAILED');
    expect((await stored(rpcId)).response).toEqual({ error: 'pump jammed' });
  });

  it('a call whose expirationTime passes while the device is away ends EXPIRED', async () => {
    const rpcId = await submit({ method: 'late', expirationTime: Date.now() + 300 });
    await expect.poll(async () => (await stored(rpcId)).status, { timeout: 3000 }).toBe('EXPIRED');
  });

  it('DELETE withdraws a queued call (TENANT_ADMIN only); the device never gets it, and the record is gone (404)', async () => {
    const rpcId = await submit({ method: 'withdrawn', timeout: 10_000 });
    const forbidden = await fetch(`${t.httpUrl}/api/rpc/persistent/${rpcId}`, { method: 'DELETE', headers: { 'x-authorization': `Bearer ${customer}` } });
    expect(forbidden.status).toBe(403);
    const res = await fetch(`${t.httpUrl}/api/rpc/persistent/${rpcId}`, { method: 'DELETE', headers: { 'x-authorization': `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Stored).status).toBe('DELETED');
    const device = await connectDevice(t.mqttUrl, 'TOKEN_PLAIN');
    devices.push(device);
    const seen = await answerRequests(device, () => ({}));
    await new Promise((r) => setTimeout(r, 200));
    expect(seen.map((s) => s.method)).not.toContain('withdrawn');
    const gone = await fetch(`${t.httpUrl}/api/rpc/persistent/${rpcId}`, { headers: { 'x-authorization': `Bearer ${admin}` } });
    expect(gone.status).toBe(404);
  });

  it('DELETE of a finished call removes it as ThingsBoard does, its status not rewritten: 200 with the call as it ended, then 404', async () => {
    const device = await connectDevice(t.mqttUrl, 'TOKEN_PLAIN');
    devices.push(device);
    await answerRequests(device, () => ({ done: true }));
    const rpcId = await submit({ method: 'finished', timeout: 10_000 });
    await expect.poll(async () => (await stored(rpcId)).status, { timeout: 3000 }).toBe('SUCCESSFUL');
    const res = await fetch(`${t.httpUrl}/api/rpc/persistent/${rpcId}`, { method: 'DELETE', headers: { 'x-authorization': `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Stored).status).toBe('SUCCESSFUL');
    expect((await fetch(`${t.httpUrl}/api/rpc/persistent/${rpcId}`, { headers: { 'x-authorization': `Bearer ${admin}` } })).status).toBe(404);
    const again = await fetch(`${t.httpUrl}/api/rpc/persistent/${rpcId}`, { method: 'DELETE', headers: { 'x-authorization': `Bearer ${admin}` } });
    expect(again.status).toBe(404);
  });

  it('an expirationTime more than 24.8 days ahead is refused with 400', async () => {
    const res = await t.post('/api/rpc/twoway/dev-plain', { method: 'far', persistent: true, expirationTime: Date.now() + 30 * 86_400_000 }, admin);
    expect(res.status).toBe(400);
  });

  it('a repeated requestUUID is the same call', async () => {
    const requestUUID = '9a4c1b8e-2f3d-4e5a-8b6c-7d8e9f0a1b2c';
    const first = await submit({ method: 'once', requestUUID, timeout: 10_000 });
    const second = await submit({ method: 'once', requestUUID, timeout: 10_000 });
    expect(second).toBe(first);
  });

  it('access: another tenant gets 404, another customer 403, a customer user sees its own device calls', async () => {
    const rpcId = await submit({ method: 'mine', timeout: 10_000 }, 'twoway', 'dev-a', customer);
    expect((await get(`/api/rpc/persistent/${rpcId}`, customer)).status).toBe(200);
    expect((await get(`/api/rpc/persistent/${rpcId}`, otherTenant)).status).toBe(404);
    const otherCustomer = await t.login(USERS.otherCustomer);
    expect((await get(`/api/rpc/persistent/${rpcId}`, otherCustomer)).status).toBe(403);
    expect((await get('/api/rpc/persistent/00000000-0000-0000-0000-000000000000')).status).toBe(404);
    expect((await get('/api/rpc/persistent/device/dev-b')).status).toBe(404);
  });

  it('lists a device calls a page at a time, filtered by status and sorted', async () => {
    const ids: string[] = [];
    for (const n of [1, 2, 3]) ids.push(await submit({ method: `list${n}`, timeout: 10_000 }, 'twoway', 'dev-a'));
    const page = (await (await get('/api/rpc/persistent/device/dev-a?pageSize=2&page=0&rpcStatus=QUEUED&sortProperty=createdTime&sortOrder=ASC')).json()) as {
      data: Stored[];
      totalElements: number;
      totalPages: number;
      hasNext: boolean;
    };
    expect(page.data).toHaveLength(2);
    expect(page.totalElements).toBeGreaterThanOrEqual(3);
    expect(page.hasNext).toBe(true);
    expect(page.data.every((c) => c.status === 'QUEUED')).toBe(true);
    const newestFirst = (await (await get('/api/rpc/persistent/device/dev-a?pageSize=100&sortOrder=DESC')).json()) as { data: Stored[] };
    expect(newestFirst.data.findIndex((c) => c.id === ids[2])).toBeLessThan(newestFirst.data.findIndex((c) => c.id === ids[0]));
    expect((await get('/api/rpc/persistent/device/dev-a?rpcStatus=LOST')).status).toBe(400);
  });
});

describe('persistent calls: delivery attempts (fake clock)', () => {
  let clocked: TestServer;
  let token: string;
  beforeAll(async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], shouldAdvanceTime: true });
    clocked = await startTestServer();
    token = await clocked.login(USERS.tenant);
  });
  afterAll(async () => {
    await clocked.close();
    vi.useRealTimers();
  });

  it('an attempt not acknowledged within timeout is TIMEOUT and retried; with no retries left the call FAILED', async () => {
    const raw = await RawMqttClient.connected(clocked.mqttPort, 'TOKEN_PLAIN');
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v1/devices/me/rpc/request/+', qos: 1 }] });
    await raw.next('suback');
    const res = await clocked.post('/api/rpc/twoway/dev-plain', { method: 'unacked', persistent: true, timeout: 5000, retries: 1, expirationTime: Date.now() + 60_000 }, token);
    const { rpcId } = (await res.json()) as { rpcId: string };
    const status = async () => ((await (await fetch(`${clocked.httpUrl}/api/rpc/persistent/${rpcId}`, { headers: { 'x-authorization': `Bearer ${token}` } })).json()) as Stored).status;
    await raw.next('publish');
    expect(await status()).toBe('SENT');
    vi.advanceTimersByTime(5_100);
    await raw.next('publish'); // the retry
    expect(['QUEUED', 'SENT']).toContain(await status());
    vi.advanceTimersByTime(5_100);
    await expect.poll(status, { timeout: 3000 }).toBe('FAILED');
    raw.end();
  });
});

describe('persistent calls beyond the live queue', () => {
  it('more persistent calls than rpc.maxPendingPerDevice wait in the store, then all are delivered', async () => {
    const small = await startTestServer({ rpc: { defaultTimeoutMs: 10_000, ordering: 'burst', maxPendingPerDevice: 2, clientSideTimeoutMs: 60_000, ttlDays: 7 } });
    try {
      const token = await small.login(USERS.tenant);
      const ids: string[] = [];
      for (const n of [1, 2, 3, 4, 5]) {
        const res = await small.post('/api/rpc/twoway/dev-plain', { method: `m${n}`, persistent: true, expirationTime: Date.now() + 30_000 }, token);
        ids.push(((await res.json()) as { rpcId: string }).rpcId);
      }
      const statusOf = async (id: string) => ((await (await fetch(`${small.httpUrl}/api/rpc/persistent/${id}`, { headers: { 'x-authorization': `Bearer ${token}` } })).json()) as Stored).status;
      await new Promise((r) => setTimeout(r, 300));
      expect(await Promise.all(ids.map(statusOf))).toEqual(['QUEUED', 'QUEUED', 'QUEUED', 'QUEUED', 'QUEUED']);
      const device = await connectDevice(small.mqttUrl, 'TOKEN_PLAIN');
      const seen = await answerRequests(device, (method) => ({ done: method }));
      await expect.poll(async () => (await Promise.all(ids.map(statusOf))).every((s) => s === 'SUCCESSFUL'), { timeout: 15_000, interval: 200 }).toBe(true);
      expect(seen.map((s) => s.method).sort()).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
      device.end(true);
    } finally {
      await small.close();
    }
  }, 30_000);
});
