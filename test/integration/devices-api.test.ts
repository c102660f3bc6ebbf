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
    const device = (await res.json()) as { id: { id: string }; name: string; accessToken: string; state: string };
    expect(device).toMatchObject({
      name: 'Boiler 1',
      type: 'boiler',
      tenantId: { entityType: 'TENANT', id: 'tenant-a' },
      customerId: { entityType: 'CUSTOMER', id: 'customer-a' },
      accessToken: 'NEW_TOKEN_1',
      state: 'offline',
    });
    const client = await connectDevice(t.mqttUrl, 'NEW_TOKEN_1');
    try {
      await answerRequests(client, () => ({ on: true }));
      const call = await t.post(`/api/rpc/twoway/${device.id.id}`, { method: 'on' }, customer);
      expect(call.status).toBe(200);
      expect(await call.json()).toEqual({ on: true });
      const seen = (await (await get(`/api/device/${device.id.id}`, customer)).json()) as { state: string; accessToken?: string };
      expect(seen.state).toBe('subscribed');
      expect(seen.accessToken).toBeUndefined();
    } finally {
      client.end(true);
    }
  });

  it('a generated access token is returned when none is given', async () => {
    const res = await t.post('/api/device', { name: 'Boiler 2' }, admin);
    const device = (await res.json()) as { accessToken: string; customerId: { id: string } };
    expect(device.accessToken.length).toBeGreaterThanOrEqual(20);
    // ThingsBoard's null customer id: no customer.
    expect(device.customerId).toEqual({ entityType: 'CUSTOMER', id: '13814000-1dd2-11b2-8080-808080808080' });
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

  it('serves devices in ThingsBoard\'s Device JSON, field by field; takes a customer as ThingsBoard sends it', async () => {
    const device = (await (await get('/api/device/dev-a', admin)).json()) as Record<string, unknown>;
    // ThingsBoard's Device: id, createdTime, tenantId, customerId, name, type, label, deviceProfileId, additionalInfo.
    expect(device.id).toEqual({ entityType: 'DEVICE', id: 'dev-a' });
    expect(device.createdTime).toEqual(expect.any(Number));
    expect(device.tenantId).toEqual({ entityType: 'TENANT', id: 'tenant-a' });
    expect(device.customerId).toEqual({ entityType: 'CUSTOMER', id: 'customer-a' });
    expect(device.name).toBe('Device A');
    expect(device.type).toEqual(expect.any(String));
    expect(device).toHaveProperty('label', null);
    expect(device.deviceProfileId).toEqual({ entityType: 'DEVICE_PROFILE', id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(device.additionalInfo).toEqual({ gateway: false });
    expect(device.state).toEqual(expect.any(String)); // iot-rpc's own, beside ThingsBoard's fields
    // textSearch, as ThingsBoard has it: names containing the text, any case.
    const searched = (await (await get('/api/tenant/devices?pageSize=100&page=0&textSearch=PLAIN', admin)).json()) as { data: Array<{ name: string }>; totalElements: number };
    expect(searched.data.map((d) => d.name)).toEqual(['Device Plain']);
    expect(searched.totalElements).toBe(1);
    const profiles = new Set(((await (await get('/api/tenant/devices?pageSize=100&page=0', admin)).json()) as { data: Array<{ deviceProfileId: { id: string } }> }).data.map((d) => d.deviceProfileId.id));
    expect(profiles.size).toBe(1);
    const made = await t.post('/api/device', { name: 'TB Style', type: 'default', customerId: { entityType: 'CUSTOMER', id: 'customer-b' }, deviceProfileId: { entityType: 'DEVICE_PROFILE', id: [...profiles][0] } }, admin);
    expect(made.status).toBe(200);
    expect(((await made.json()) as { customerId: unknown }).customerId).toEqual({ entityType: 'CUSTOMER', id: 'customer-b' });
    // label and additionalInfo are kept as given, and read back.
    const labelled = (await (await t.post('/api/device', { name: 'TB Labelled', label: 'Boiler room', additionalInfo: { description: 'second floor', gateway: false } }, admin)).json()) as { id: { id: string } };
    const readBack = (await (await get(`/api/device/${labelled.id.id}`, admin)).json()) as Record<string, unknown>;
    expect(readBack.label).toBe('Boiler room');
    expect(readBack.additionalInfo).toEqual({ description: 'second floor', gateway: false });
    const unassigned = await t.post('/api/device', { name: 'TB Unassigned', customerId: { entityType: 'CUSTOMER', id: '13814000-1dd2-11b2-8080-808080808080' } }, admin);
    expect(((await unassigned.json()) as { id: { id: string } }).id.id).toBe(t.server.devices.list('tenant-a', 1000).data.find((d) => d.name === 'TB Unassigned' && d.customerId === null)!.id);
  });

  it('GET /api/customer/{customerId}/devices pages a customer\'s devices for its users and its tenant\'s admins only', async () => {
    const page = (await (await get('/api/customer/customer-a/devices?pageSize=100&page=0', customer)).json()) as { data: Array<{ name: string; customerId: { id: string } }>; totalElements: number };
    expect(page.data.map((d) => d.name)).toContain('Device A');
    expect(page.data.every((d) => d.customerId.id === 'customer-a')).toBe(true);
    expect((await get('/api/customer/customer-a/devices?pageSize=10&page=0', admin)).status).toBe(200);
    expect((await get('/api/customer/customer-b/devices?pageSize=10&page=0', customer)).status).toBe(403);
    expect((await get('/api/customer/customer-a/devices?pageSize=10&page=0', otherTenant)).status).toBe(403);
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
    const all = (await (await get(`/api/tenant/devices?pageSize=100&page=0`, admin)).json()) as { data: Array<{ name: string; tenantId: { id: string } }> };
    expect(all.data.every((d) => d.tenantId.id === 'tenant-a')).toBe(true);
    expect(all.data.map((d) => d.name)).toContain('Device A');
    expect(all.data.map((d) => d.name)).not.toContain('Device B');
    expect((await get('/api/tenant/devices?pageSize=0', admin)).status).toBe(400);
    expect((await get('/api/tenant/devices?pageSize=10', customer)).status).toBe(403);
  });

  it('deleting a device closes its session and fails its pending calls', async () => {
    const created = ((await (await t.post('/api/device', { name: 'Doomed', accessToken: 'DOOMED' }, admin)).json()) as { id: { id: string } }).id;
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
