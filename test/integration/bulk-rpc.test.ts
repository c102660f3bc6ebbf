/**
 * Bulk calls: REST `POST /api/rpc/bulk` (fetch), the WebSocket `bulk` frame (ws) and the library's callMany, to real
 * MQTT devices (the mqtt package): mixed rights, offline and silent devices, selectors, the device limit, persistent.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BulkResult } from '../../src/index.js';
import { AppSocketClient } from '../support/app-socket-client.js';
import { USERS, answerRequests, connectDevice, startTestServer, type TestServer } from '../support/server.js';

interface BulkBody {
  results: BulkResult[];
  summary: { total: number; ok: number; failed: number; byCode: Record<string, number> };
}

let t: TestServer;
let admin: string;
const devices: MqttClient[] = [];
const echoIds: string[] = [];
beforeAll(async () => {
  const echo = Array.from({ length: 6 }, (_, i) => ({ id: `echo-${i}`, name: `Echo ${i}`, type: i < 3 ? 'thermostat' : 'valve', tenantId: 'tenant-a', customerId: i === 0 ? 'customer-a' : null, accessToken: `ECHO_${i}` }));
  const base = (await import('../support/server.js')).testConfig();
  t = await startTestServer({ devices: [...(base.devices ?? []), ...echo, { id: 'silent', name: 'Silent', tenantId: 'tenant-a', accessToken: 'SILENT' }], limits: { maxBulkDevices: 8 } } as never);
  for (const device of echo) {
    const client = await connectDevice(t.mqttUrl, device.accessToken);
    await answerRequests(client, (method, params) => ({ from: device.id, method, params }));
    devices.push(client);
    echoIds.push(device.id);
  }
  const silent = await connectDevice(t.mqttUrl, 'SILENT');
  await answerRequests(silent, () => undefined);
  devices.push(silent);
  admin = await t.login(USERS.tenant);
});
afterAll(async () => {
  for (const client of devices) client.end(true);
  await t.close();
});

const bulk = async (token: string, body: unknown) => {
  const res = await t.post('/api/rpc/bulk', body, token);
  return { status: res.status, body: (await res.json()) as BulkBody & { code?: string; message?: string } };
};
const byDevice = (results: BulkResult[]) => Object.fromEntries(results.map((r) => [r.deviceId, r]));

describe('POST /api/rpc/bulk', () => {
  it('calls every device once and answers each one\'s reply, with a summary', async () => {
    const { status, body } = await bulk(admin, { deviceIds: echoIds, method: 'ping', params: { n: 1 } });
    expect(status).toBe(200);
    expect(body.summary).toEqual({ total: 6, ok: 6, failed: 0, byCode: {} });
    for (const id of echoIds) expect(byDevice(body.results)[id]).toEqual({ deviceId: id, status: 200, response: { from: id, method: 'ping', params: { n: 1 } } });
  });

  it('mixed rights: a device of another tenant reads exactly as one that does not exist; a customer user gets 403 for the tenant\'s other devices', async () => {
    const { body } = await bulk(admin, { deviceIds: ['echo-1', 'dev-b', 'no-such-device'], method: 'ping' });
    const results = byDevice(body.results);
    expect(results['echo-1']!.status).toBe(200);
    expect(results['dev-b']).toEqual({ deviceId: 'dev-b', status: 404, error: { code: 'IOT_ERR_DEVICE_NOT_FOUND', message: expect.stringContaining('dev-b') } });
    const missing = results['no-such-device']!;
    expect({ ...missing, error: { ...missing.error!, message: missing.error!.message.replace('no-such-device', 'dev-b') }, deviceId: 'dev-b' }).toEqual(results['dev-b']);
    expect(body.summary).toEqual({ total: 3, ok: 1, failed: 2, byCode: { IOT_ERR_DEVICE_NOT_FOUND: 2 } });
    const customer = await t.login(USERS.customer);
    const asCustomer = byDevice((await bulk(customer, { deviceIds: ['echo-0', 'echo-1'], method: 'ping' })).body.results);
    expect(asCustomer['echo-0']!.status).toBe(200);
    expect(asCustomer['echo-1']).toMatchObject({ status: 403, error: { code: 'IOT_ERR_FORBIDDEN' } });
    // A selector reaches only what the caller may reach: the customer's one thermostat.
    const selected = await bulk(customer, { deviceType: 'thermostat', method: 'ping' });
    expect(selected.body.results.map((r) => r.deviceId)).toEqual(['echo-0']);
    expect((await bulk(await t.login(USERS.sysadmin), { deviceIds: ['echo-1'], method: 'ping' })).status).toBe(403);
  });

  it('selectors: deviceType and nameContains within the tenant, with deviceIds, each device once', async () => {
    const { body } = await bulk(admin, { deviceType: 'valve', nameContains: 'echo', deviceIds: ['echo-3', 'echo-0'], method: 'ping' });
    expect(body.results.map((r) => r.deviceId).sort()).toEqual(['echo-0', 'echo-3', 'echo-4', 'echo-5']);
    expect(body.summary.ok).toBe(4);
  });

  it('an offline device and a silent one fail with their own codes once the timeout has passed; the others answer', async () => {
    const started = Date.now();
    const { body } = await bulk(admin, { deviceIds: ['echo-2', 'dev-plain', 'silent'], method: 'ping', timeout: 5000 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(4900);
    const results = byDevice(body.results);
    expect(results['echo-2']!.status).toBe(200);
    expect(results['dev-plain']).toMatchObject({ status: 504, error: { code: 'IOT_ERR_DEVICE_OFFLINE' } });
    expect(results['silent']).toMatchObject({ status: 504, error: { code: 'IOT_ERR_NO_REPLY_DELIVERED' } });
    expect(body.summary.byCode).toEqual({ IOT_ERR_DEVICE_OFFLINE: 1, IOT_ERR_NO_REPLY_DELIVERED: 1 });
  }, 15_000);

  it('one-way and persistent: each device\'s result says it was handed over, or names its stored call', async () => {
    const oneway = await bulk(admin, { deviceIds: ['echo-1', 'echo-2'], method: 'fire', oneway: true });
    expect(oneway.body.results.map((r) => r.status)).toEqual([200, 200]);
    expect(oneway.body.results.every((r) => !('response' in r))).toBe(true);
    const persistent = await bulk(admin, { deviceIds: ['echo-1', 'dev-plain'], method: 'store', persistent: true, timeout: 60_000 });
    const results = byDevice(persistent.body.results);
    for (const id of ['echo-1', 'dev-plain']) {
      expect(results[id]!.rpcId).toMatch(/^[0-9a-f-]{36}$/);
      const stored = (await (await fetch(`${t.httpUrl}/api/rpc/persistent/${results[id]!.rpcId}`, { headers: { 'x-authorization': `Bearer ${admin}` } })).json()) as { status: string };
      expect(['QUEUED', 'SENT', 'DELIVERED', 'SUCCESSFUL']).toContain(stored.status);
    }
  });

  it('bad input: over limits.maxBulkDevices, no devices named, no method: 400 with a clear message', async () => {
    const over = await bulk(admin, { deviceIds: Array.from({ length: 9 }, (_, i) => `d${i}`), method: 'ping' });
    expect(over.status).toBe(400);
    expect(over.body.message).toMatch(/at most 8 devices \(limits.maxBulkDevices\); this one would reach 9/);
    const overBySelector = await bulk(admin, { nameContains: 'e', method: 'ping' });
    expect(overBySelector.status).toBe(400);
    expect((await bulk(admin, { method: 'ping' })).body.message).toMatch(/name the devices/);
    expect((await bulk(admin, { deviceIds: ['echo-1'] })).status).toBe(400);
    expect((await bulk(admin, { deviceIds: 'echo-1', method: 'ping' })).status).toBe(400);
  });
});

describe('WebSocket bulk frame', () => {
  it('streams each device\'s result as it arrives, then the summary', async () => {
    const app = await AppSocketClient.open(t.httpUrl, admin);
    try {
      app.send({ cmdId: 7, type: 'bulk', deviceIds: ['echo-1', 'echo-2', 'dev-b'], method: 'ping' });
      const done = await app.next((f) => f.cmdId === 7 && 'result' in f);
      // Every device's frame had arrived when the summary came.
      const streamed = app.frames.filter((f) => f.cmdId === 7 && f.event === 'bulkResult');
      expect(streamed.map((f) => f.deviceId).sort()).toEqual(['dev-b', 'echo-1', 'echo-2']);
      expect(streamed.find((f) => f.deviceId === 'echo-2')).toMatchObject({ status: 200, response: { from: 'echo-2' } });
      expect(done.result).toEqual({ summary: { total: 3, ok: 2, failed: 1, byCode: { IOT_ERR_DEVICE_NOT_FOUND: 1 } } });
    } finally {
      app.ws.close();
    }
  });
});

describe('library callMany', () => {
  it('awaited: every result and the summary; iterated: each result as it comes', async () => {
    const { results, summary } = await t.server.callMany(['echo-3', 'echo-4', 'nobody'], { method: 'lib', timeout: 3000 });
    expect(summary).toEqual({ total: 3, ok: 2, failed: 1, byCode: { IOT_ERR_DEVICE_NOT_FOUND: 1 } });
    expect(byDevice(results)['echo-4']!.response).toEqual({ from: 'echo-4', method: 'lib', params: {} });
    const streamed: string[] = [];
    const call = t.server.callMany(['echo-5', 'silent'], { method: 'lib', timeout: 1000 });
    for await (const result of call) streamed.push(`${result.deviceId}:${result.status}`);
    // The fast device's answer comes before the silent one's timeout.
    expect(streamed).toEqual(['echo-5:200', 'silent:504']);
    expect(call.summary.ok).toBe(1);
    expect(() => t.server.callMany(Array.from({ length: 9 }, (_, i) => `x${i}`), { method: 'm' })).toThrow(/at most 8 devices/);
  });
});
