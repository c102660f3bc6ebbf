import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice, startTestServer, USERS, type TestServer } from '../support/server.js';

// Issue 9, findings 2 and 9: a deleted device left its persistent calls QUEUED; another tenant that then made a
// device with the same id could list them and its device received them, while the first tenant got 404 for its own
// call. A client could choose device ids, and learn from 409 which ids other tenants hold.

let t: TestServer;
let tenantA: string;
let tenantB: string;
beforeAll(async () => {
  t = await startTestServer();
  tenantA = await t.login(USERS.tenant);
  tenantB = await t.login(USERS.otherTenant);
});
afterAll(() => t.close());

const get = (path: string, token: string) => fetch(`${t.httpUrl}${path}`, { headers: { 'x-authorization': `Bearer ${token}` } });
const del = (path: string, token: string) => fetch(`${t.httpUrl}${path}`, { method: 'DELETE', headers: { 'x-authorization': `Bearer ${token}` } });

describe('persistent calls stay with the tenant that made them', () => {
  it('deleting a device ends its unfinished calls DELETED; a device of another tenant with the same id gets none of them', async () => {
    const created = (await (await t.post('/api/device', { name: 'Short-lived A' }, tenantA)).json()) as { id: { id: string } };
    const deviceId = created.id.id;
    const accepted = await t.post(`/api/rpc/oneway/${deviceId}`, { method: 'secret', params: { pin: 1234 }, persistent: true, timeout: 60_000 }, tenantA);
    const { rpcId } = (await accepted.json()) as { rpcId: string };
    expect((await del(`/api/device/${deviceId}`, tenantA)).status).toBe(200);
    const afterDelete = await get(`/api/rpc/persistent/${rpcId}`, tenantA);
    expect(afterDelete.status).toBe(200);
    expect(((await afterDelete.json()) as { status: string }).status).toBe('DELETED');

    // An embedding application gives the freed id to a device of tenant B.
    await t.server.devices.add({ id: deviceId, name: 'Reused id B', tenantId: 'tenant-b', accessToken: 'TOKEN_REUSED_B' });
    const listed = (await (await get(`/api/rpc/persistent/device/${deviceId}?pageSize=10&page=0`, tenantB)).json()) as { data: unknown[]; totalElements: number };
    expect(listed).toMatchObject({ data: [], totalElements: 0 });
    expect((await get(`/api/rpc/persistent/${rpcId}`, tenantB)).status).toBe(404);
    const received: string[] = [];
    const device = await connectDevice(t.mqttUrl, 'TOKEN_REUSED_B');
    device.on('message', (_topic, payload) => received.push(payload.toString()));
    await device.subscribeAsync('v1/devices/me/rpc/request/+', { qos: 1 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(received).toEqual([]);
    device.end(true);

    // Tenant A still reads its own call, until retention.
    const again = await get(`/api/rpc/persistent/${rpcId}`, tenantA);
    expect(again.status).toBe(200);
    expect(((await again.json()) as { request: { params: unknown } }).request.params).toEqual({ pin: 1234 });
  });
});

describe('device ids are the server\'s', () => {
  it('REST device creation makes a UUID and refuses an id chosen by the client', async () => {
    const made = await t.post('/api/device', { name: 'Server-named' }, tenantA);
    expect(made.status).toBe(200);
    expect(((await made.json()) as { id: { id: string } }).id.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    // dev-b is tenant B's: tenant A must not learn that from the answer.
    const chosen = await t.post('/api/device', { id: 'dev-b', name: 'Probe' }, tenantA);
    expect(chosen.status).toBe(400);
    expect(((await chosen.json()) as { message: string }).message).toContain('device ids are made by the server');
    const fresh = await t.post('/api/device', { id: 'never-used-anywhere', name: 'Probe 2' }, tenantA);
    expect(fresh.status).toBe(400);
  });

  it('an access token another tenant holds is refused without saying whose it is', async () => {
    const res = await t.post('/api/device', { name: 'Token probe', accessToken: 'TOKEN_B' }, tenantA);
    expect(res.status).toBe(409);
    const { message } = (await res.json()) as { message: string };
    expect(message).not.toMatch(/tenant|dev-b|Device B/i);
  });
});
