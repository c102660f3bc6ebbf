import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USERS, answerRequests, connectDevice, startTestServer, type TestServer } from '../support/server.js';

let t: TestServer;
let admin: string;
let customer: string;
let sysadmin: string;
let otherTenant: string;

beforeAll(async () => {
  t = await startTestServer();
  [admin, customer, sysadmin, otherTenant] = await Promise.all([t.login(USERS.tenant), t.login(USERS.customer), t.login(USERS.sysadmin), t.login(USERS.otherTenant)]);
});
afterAll(() => t.close());

const get = (path: string, token: string) => fetch(`${t.httpUrl}${path}`, { headers: { 'x-authorization': `Bearer ${token}` } });
const del = (path: string, token: string) => fetch(`${t.httpUrl}${path}`, { method: 'DELETE', headers: { 'x-authorization': `Bearer ${token}` } });

describe('device management', () => {
  it('a tenant admin creates a device that can connect with its token at once', async () => {
    const res = await t.post('/api/device?accessToken=NEW_TOKEN_1', { name: 'Boiler 1', type: 'boiler', customerId: 'customer-a' }, admin);
    expect(res.status).toBe(200);
    const device = (await res.json()) as { id: string; name: string; tenantId: string; customerId: string; accessToken: string; state: string };
    expect(device).toMatchObject({ name: 'Boiler 1', type: 'boiler', tenantId: 'tenant-a', customerId: 'customer-a', accessToken: 'NEW_TOKEN_1', state: 'offline' });
    const client = await connectDevice(t.mqttUrl, 'NEW_TOKEN_1');
    try {
      await answerRequests(client, () => ({ on: true }));
      const call = await t.post(`/api/rpc/twoway/${device.id}`, { method: 'on' }, customer);
      expect(call.status).toBe(200);
      expect(await call.json()).toEqual({ on: true });
      const seen = (await (await get(`/api/device/${device.id}`, customer)).json()) as { state: string; accessToken?: string };
      expect(seen.state).toBe('subscribed');
      expect(seen.accessToken).toBeUndefined();
    } finally {
      client.end(true);
    }
  });

  it('a generated access token is returned when none is given', async () => {
    const res = await t.post('/api/device', { name: 'Boiler 2' }, admin);
    const device = (await res.json()) as { accessToken: string; customerId: null };
    expect(device.accessToken.length).toBeGreaterThanOrEqual(20);
    expect(device.customerId).toBeNull();
  });

  it('a duplicate name in the tenant answers 409', async () => {
    const res = await t.post('/api/device', { name: 'Device A' }, admin);
    expect(res.status).toBe(409);
    expect(((await res.json()) as { code: string }).code).toBe('IOT_ERR_CONFLICT');
  });

  it('a customer of another tenant answers 400', async () => {
    const res = await t.post('/api/device', { name: 'Stray', customerId: 'no-such-customer' }, admin);
    expect(res.status).toBe(400);
  });

  it('a device without a name answers 400', async () => {
    expect((await t.post('/api/device', { type: 'x' }, admin)).status).toBe(400);
  });

  it('customer users and system admins may not create devices (403)', async () => {
    expect((await t.post('/api/device', { name: 'Nope' }, customer)).status).toBe(403);
    expect((await t.post('/api/device', { name: 'Nope' }, sysadmin)).status).toBe(403);
  });

  it('GET a device: 200 for its tenant admin and its customer, 404 for another tenant', async () => {
    expect((await get('/api/device/dev-a', admin)).status).toBe(200);
    expect((await get('/api/device/dev-a', customer)).status).toBe(200);
    expect((await get('/api/device/dev-a', otherTenant)).status).toBe(404);
    expect((await get('/api/device/dev-plain', customer)).status).toBe(403);
    expect((await get('/api/device/none', admin)).status).toBe(404);
  });

  it('lists the tenant devices a page at a time', async () => {
    const first = (await (await get('/api/tenant/devices?pageSize=2&page=0', admin)).json()) as { data: Array<{ name: string }>; totalElements: number; totalPages: number; hasNext: boolean };
    expect(first.data).toHaveLength(2);
    expect(first.hasNext).toBe(true);
    expect(first.totalPages).toBe(Math.ceil(first.totalElements / 2));
    const all = (await (await get(`/api/tenant/devices?pageSize=100&page=0`, admin)).json()) as { data: Array<{ name: string; tenantId: string }> };
    expect(all.data.every((d) => d.tenantId === 'tenant-a')).toBe(true);
    expect(all.data.map((d) => d.name)).toContain('Device A');
    expect(all.data.map((d) => d.name)).not.toContain('Device B');
    expect((await get('/api/tenant/devices?pageSize=0', admin)).status).toBe(400);
    expect((await get('/api/tenant/devices?pageSize=10', customer)).status).toBe(403);
  });

  it('deleting a device closes its session and fails its pending calls', async () => {
    const created = (await (await t.post('/api/device', { name: 'Doomed', accessToken: 'DOOMED' }, admin)).json()) as { id: string };
    const client = await connectDevice(t.mqttUrl, 'DOOMED');
    await answerRequests(client, () => undefined);
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const pending = t.post(`/api/rpc/twoway/${created.id}`, { method: 'wait' }, admin);
    await new Promise((r) => setTimeout(r, 100));
    expect((await del(`/api/device/${created.id}`, customer)).status).toBe(403);
    expect((await del(`/api/device/${created.id}`, admin)).status).toBe(200);
    const res = await pending;
    expect(res.status).toBe(410);
    expect(((await res.json()) as { code: string }).code).toBe('IOT_ERR_DEVICE_REMOVED');
    await closed;
    expect((await get(`/api/device/${created.id}`, admin)).status).toBe(404);
    const again = await connectDevice(t.mqttUrl, 'DOOMED').then(
      () => 'accepted',
      (error: { code?: number }) => error.code,
    );
    expect(again).toBe(5);
  });
});
