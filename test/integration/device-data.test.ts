/**
 * ThingsBoard's device data API beside RPC, with clients nobody here wrote: telemetry and attributes over MQTT
 * (the `mqtt` package, 3.1.1 and 5) and HTTP (fetch), attribute requests, shared attributes set by the application
 * and pushed to the device, the library's events and latest values, and the limits.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AttributesEvent, TelemetryEvent } from '../../src/index.js';
import { AppSocketClient } from '../support/app-socket-client.js';
import { USERS, connectDevice, startTestServer, until, type TestServer } from '../support/server.js';

let t: TestServer;
const clients: MqttClient[] = [];
beforeAll(async () => {
  t = await startTestServer({ limits: { maxDataKeysPerDevice: 20, maxDataValueBytes: 64 } });
});
afterEach(() => {
  for (const client of clients.splice(0)) client.end(true);
});
afterAll(() => t.close());

/** Publishes at QoS 1 and resolves with the PUBACK's reason code (0 on MQTT 3.1.1, which has none). */
function publishAcked(client: MqttClient, topic: string, payload: string): Promise<number> {
  return new Promise((resolve, reject) => {
    client.publish(topic, payload, { qos: 1 }, (error, packet) => {
      const reasonCode = (packet as { reasonCode?: number } | undefined)?.reasonCode;
      if (error !== undefined && error !== null && reasonCode === undefined) reject(error);
      else resolve(reasonCode ?? 0);
    });
  });
}

function nextMessage(client: MqttClient, topicPrefix: string): Promise<{ topic: string; payload: unknown }> {
  return new Promise((resolve) => {
    const onMessage = (topic: string, payload: Buffer) => {
      if (!topic.startsWith(topicPrefix)) return;
      client.off('message', onMessage);
      resolve({ topic, payload: JSON.parse(payload.toString()) });
    };
    client.on('message', onMessage);
  });
}

for (const protocolVersion of [4, 5] as const) {
  describe(`MQTT ${protocolVersion === 4 ? '3.1.1' : '5'}`, () => {
    const connect = async (token: string) => {
      const client = await connectDevice(t.mqttUrl, token, { protocolVersion });
      clients.push(client);
      return client;
    };

    it('telemetry in each ThingsBoard shape is acknowledged 0x00, told to the application and kept as latest values', async () => {
      const device = await connect('TOKEN_A');
      const events: TelemetryEvent[] = [];
      const listener = (event: TelemetryEvent) => events.push(event);
      t.server.deviceData.on('telemetry', listener);
      try {
        expect(await publishAcked(device, 'v1/devices/me/telemetry', JSON.stringify({ temperature: 21.5 }))).toBe(0);
        expect(await publishAcked(device, 'v1/devices/me/telemetry', JSON.stringify({ ts: 1_700_000_000_000, values: { humidity: 40 } }))).toBe(0);
        expect(await publishAcked(device, 'v1/devices/me/telemetry', JSON.stringify([{ ts: 1_700_000_000_001, values: { humidity: 41 } }, { ts: 1_600_000_000_000, values: { humidity: 1 } }]))).toBe(0);
        await until(() => events.length === 3);
      } finally {
        t.server.deviceData.off('telemetry', listener);
      }
      expect(events.map((e) => e.device.id)).toEqual(['dev-a', 'dev-a', 'dev-a']);
      expect(events[1]!.entries).toEqual([{ ts: 1_700_000_000_000, values: { humidity: 40 } }]);
      const latest = await t.server.deviceData.telemetry('dev-a', ['temperature', 'humidity']);
      expect(latest.get('temperature')!.value).toBe(21.5);
      // The newest ts wins, not the last message.
      expect(latest.get('humidity')).toEqual({ ts: 1_700_000_000_001, value: 41 });
    });

    it('client attributes are kept; an attribute request is answered on …/attributes/response/{id} with client and shared values', async () => {
      await t.server.setSharedAttributes('dev-plain', { targetTemperature: 19 });
      const device = await connect('TOKEN_PLAIN');
      await device.subscribeAsync('v1/devices/me/attributes/response/+');
      const events: AttributesEvent[] = [];
      const listener = (event: AttributesEvent) => events.push(event);
      t.server.deviceData.on('attributes', listener);
      try {
        expect(await publishAcked(device, 'v1/devices/me/attributes', JSON.stringify({ firmware: '1.2.3', model: 'X' }))).toBe(0);
      } finally {
        t.server.deviceData.off('attributes', listener);
      }
      expect(events).toMatchObject([{ device: { id: 'dev-plain' }, scope: 'client', values: { firmware: '1.2.3', model: 'X' } }]);
      const answered = nextMessage(device, 'v1/devices/me/attributes/response/');
      expect(await publishAcked(device, 'v1/devices/me/attributes/request/7', JSON.stringify({ clientKeys: 'firmware,missing', sharedKeys: 'targetTemperature' }))).toBe(0);
      expect(await answered).toEqual({ topic: 'v1/devices/me/attributes/response/7', payload: { client: { firmware: '1.2.3' }, shared: { targetTemperature: 19 } } });
    });

    it('shared attributes the application sets are pushed on v1/devices/me/attributes to a subscribed device', async () => {
      const device = await connect('TOKEN_PLAIN');
      await device.subscribeAsync('v1/devices/me/attributes');
      const pushed = nextMessage(device, 'v1/devices/me/attributes');
      await t.server.setSharedAttributes('dev-plain', { led: 'on' });
      expect(await pushed).toEqual({ topic: 'v1/devices/me/attributes', payload: { led: 'on' } });
      expect((await t.server.deviceData.attributes('dev-plain', 'shared', ['led'])).get('led')!.value).toBe('on');
      // After UNSUBSCRIBE nothing more is pushed; a wildcard filter takes the topic as well.
      await device.unsubscribeAsync('v1/devices/me/attributes');
      const heard: string[] = [];
      device.on('message', (topic) => heard.push(topic));
      await t.server.setSharedAttributes('dev-plain', { led: 'off' });
      await device.subscribeAsync('v1/devices/me/#');
      const again = nextMessage(device, 'v1/devices/me/attributes');
      await t.server.setSharedAttributes('dev-plain', { led: 'blink' });
      expect(await again).toEqual({ topic: 'v1/devices/me/attributes', payload: { led: 'blink' } });
      expect(heard).toEqual(['v1/devices/me/attributes']);
    });

    it('a bad payload or one past the limits is refused (MQTT 5: 0x99 / 0x97), nothing of it kept, and the session stays', async () => {
      const device = await connect('TOKEN_B');
      const refusedFormat = await publishAcked(device, 'v1/devices/me/telemetry', 'not json');
      const refusedShape = await publishAcked(device, 'v1/devices/me/attributes', '[1,2]');
      const tooLarge = await publishAcked(device, 'v1/devices/me/telemetry', JSON.stringify({ blob: 'x'.repeat(100) }));
      const tooMany = await publishAcked(device, 'v1/devices/me/telemetry', JSON.stringify(Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, i]))));
      expect([refusedFormat, refusedShape, tooLarge, tooMany]).toEqual(protocolVersion === 5 ? [0x99, 0x99, 0x97, 0x97] : [0, 0, 0, 0]);
      expect([...(await t.server.deviceData.telemetry('dev-b')).keys()].filter((key) => key !== 'ok')).toEqual([]);
      expect(device.connected).toBe(true);
      expect(await publishAcked(device, 'v1/devices/me/telemetry', JSON.stringify({ ok: true }))).toBe(0);
      expect((await t.server.deviceData.telemetry('dev-b')).get('ok')!.value).toBe(true);
    });
  });
}

describe('client-side getSessionLimits', () => {
  it('answers as ThingsBoard does, from the server\'s limits; an application\'s handler replaces it', async () => {
    const device = await connectDevice(t.mqttUrl, 'TOKEN_A');
    clients.push(device);
    await device.subscribeAsync('v1/devices/me/rpc/response/+');
    const ask = async (id: number) => {
      const answered = nextMessage(device, `v1/devices/me/rpc/response/${id}`);
      device.publish(`v1/devices/me/rpc/request/${id}`, JSON.stringify({ method: 'getSessionLimits', params: {} }));
      return (await answered).payload;
    };
    expect(await ask(1)).toEqual({ maxPayloadSize: 65536, maxInflightMessages: 65535, rateLimits: { messages: '0:0,', telemetryMessages: '0:0,', telemetryDataPoints: '0:0,' } });
    t.server.handle('getSessionLimits', () => ({ maxPayloadSize: 1024 }));
    expect(await ask(2)).toEqual({ maxPayloadSize: 1024 });
  });
});

describe('HTTP', () => {
  it('POST /api/v1/{token}/telemetry and /attributes answer 200 (the SDK\'s connection test posts {}); GET /attributes answers the keys asked for', async () => {
    expect((await t.post('/api/v1/TOKEN_A/telemetry', {})).status).toBe(200);
    expect((await t.post('/api/v1/TOKEN_A/telemetry', [{ ts: 1_800_000_000_000, values: { pressure: 1013 } }])).status).toBe(200);
    expect((await t.post('/api/v1/TOKEN_A/attributes', { serial: 'A-1' })).status).toBe(200);
    expect((await t.server.deviceData.telemetry('dev-a', ['pressure'])).get('pressure')).toEqual({ ts: 1_800_000_000_000, value: 1013 });
    await t.server.setSharedAttributes('dev-a', { interval: 60 });
    const res = await fetch(`${t.httpUrl}/api/v1/TOKEN_A/attributes?clientKeys=serial&sharedKeys=interval,nothing`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ client: { serial: 'A-1' }, shared: { interval: 60 } });
  });

  it('GET /api/v1/{token}/attributes/updates long-polls: the next shared attribute update as {"key":value}, 408 when none came, 400 for a bad timeout', async () => {
    let answered = false;
    const poll = fetch(`${t.httpUrl}/api/v1/TOKEN_PLAIN/attributes/updates?timeout=10000`).finally(() => (answered = true));
    // Updates made before the poll arrived are not kept for it (as with ThingsBoard): set until one is heard.
    while (!answered) {
      await t.server.setSharedAttributes('dev-plain', { firmware: '2.1.0' });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const res = await poll;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ firmware: '2.1.0' });
    const quiet = await fetch(`${t.httpUrl}/api/v1/TOKEN_PLAIN/attributes/updates?timeout=200`);
    expect(quiet.status).toBe(408);
    expect(await quiet.text()).toBe('');
    expect((await fetch(`${t.httpUrl}/api/v1/TOKEN_PLAIN/attributes/updates?timeout=soon`)).status).toBe(400);
    expect((await fetch(`${t.httpUrl}/api/v1/NO_SUCH_TOKEN/attributes/updates`)).status).toBe(401);
  });

  it('bad input: 401 for an unknown token, 400 for JSON that is not telemetry, 413 past the limits', async () => {
    expect((await t.post('/api/v1/NO_SUCH_TOKEN/telemetry', { a: 1 })).status).toBe(401);
    const notJson = await t.post('/api/v1/TOKEN_A/telemetry', 'nope');
    expect(notJson.status).toBe(400);
    const notTelemetry = await t.post('/api/v1/TOKEN_A/telemetry', [1]);
    expect(notTelemetry.status).toBe(400);
    expect(((await notTelemetry.json()) as { message: string }).message).toMatch(/telemetry must be a JSON object/);
    expect((await t.post('/api/v1/TOKEN_A/attributes', { big: 'y'.repeat(100) })).status).toBe(413);
  });
});

describe('MQTT gateway device data', () => {
  const byName = (name: string) => t.server.devices.list('tenant-a', 1000).data.find((d) => d.name === name);

  it('gateway telemetry and attributes in ThingsBoard\'s shape are kept per device (created on first use); attribute requests and shared pushes go through v1/gateway/attributes', async () => {
    const gw = await connectDevice(t.mqttUrl, 'TOKEN_GW', { protocolVersion: 5 });
    clients.push(gw);
    await gw.subscribeAsync('v1/gateway/attributes/response');
    await gw.subscribeAsync('v1/gateway/attributes');
    expect(await publishAcked(gw, 'v1/gateway/connect', JSON.stringify({ device: 'Thermo 1', type: 'thermostat' }))).toBe(0);
    expect(byName('Thermo 1')?.type).toBe('thermostat');
    expect(await publishAcked(gw, 'v1/gateway/telemetry', JSON.stringify({ 'Thermo 1': [{ ts: 1_700_000_000_000, values: { t: 20 } }], 'Thermo 2': [{ t: 30 }] }))).toBe(0);
    expect(await publishAcked(gw, 'v1/gateway/attributes', JSON.stringify({ 'Thermo 1': { room: 'kitchen' } }))).toBe(0);
    const thermo1 = byName('Thermo 1')!;
    expect((await t.server.deviceData.telemetry(thermo1.id, ['t'])).get('t')).toEqual({ ts: 1_700_000_000_000, value: 20 });
    expect((await t.server.deviceData.telemetry(byName('Thermo 2')!.id, ['t'])).get('t')!.value).toBe(30);
    const answered = nextMessage(gw, 'v1/gateway/attributes/response');
    expect(await publishAcked(gw, 'v1/gateway/attributes/request', JSON.stringify({ id: 5, device: 'Thermo 1', client: true, key: 'room' }))).toBe(0);
    expect((await answered).payload).toEqual({ id: 5, device: 'Thermo 1', value: 'kitchen' });
    const pushed = nextMessage(gw, 'v1/gateway/attributes');
    await t.server.setSharedAttributes(thermo1.id, { setpoint: 21 });
    expect((await pushed).payload).toEqual({ device: 'Thermo 1', data: { setpoint: 21 } });
    expect(await publishAcked(gw, 'v1/gateway/telemetry', JSON.stringify({ 'Thermo 1': 'warm' }))).toBe(0x99);
    expect(gw.connected).toBe(true);
  });
});

describe('REST latest values and shared attributes', () => {
  it('serves latest telemetry and attributes in ThingsBoard\'s shapes, sets SHARED_SCOPE, and keeps the RPC access rules', async () => {
    const admin = await t.login(USERS.tenant);
    expect((await t.post('/api/v1/TOKEN_A/telemetry', { ts: 1_900_000_000_000, values: { rpm: 1200, state: 'run' } })).status).toBe(200);
    const get = (path: string, token: string) => fetch(`${t.httpUrl}${path}`, { headers: { 'x-authorization': `Bearer ${token}` } });
    const series = await get('/api/plugins/telemetry/DEVICE/dev-a/values/timeseries?keys=rpm,state,none', admin);
    expect(series.status).toBe(200);
    expect(await series.json()).toEqual({ rpm: [{ ts: 1_900_000_000_000, value: 1200 }], state: [{ ts: 1_900_000_000_000, value: 'run' }] });
    expect((await t.post('/api/plugins/telemetry/dev-a/SHARED_SCOPE', { threshold: 7 }, admin)).status).toBe(200);
    expect((await t.server.deviceData.attributes('dev-a', 'shared', ['threshold'])).get('threshold')!.value).toBe(7);
    const shared = await get('/api/plugins/telemetry/DEVICE/dev-a/values/attributes/SHARED_SCOPE?keys=threshold', admin);
    expect(await shared.json()).toEqual([{ key: 'threshold', value: 7, lastUpdateTs: expect.any(Number) }]);
    // The device's own customer may read; another customer and another tenant may not.
    const customer = await t.login(USERS.customer);
    expect((await get('/api/plugins/telemetry/DEVICE/dev-a/values/timeseries', customer)).status).toBe(200);
    const otherCustomer = await t.login(USERS.otherCustomer);
    expect((await get('/api/plugins/telemetry/DEVICE/dev-a/values/timeseries', otherCustomer)).status).toBe(403);
    const otherTenant = await t.login(USERS.otherTenant);
    expect((await get('/api/plugins/telemetry/DEVICE/dev-a/values/timeseries', otherTenant)).status).toBe(404);
    expect((await get('/api/plugins/telemetry/DEVICE/dev-a/values/timeseries', 'nope')).status).toBe(401);
    expect((await t.post('/api/plugins/telemetry/dev-a/SERVER_SCOPE', { a: 1 }, admin)).status).toBe(400);
  });
});

describe('WebSocket API device subscription', () => {
  it('streams the device\'s telemetry and attributes as events', async () => {
    const app = await AppSocketClient.open(t.httpUrl, await t.login(USERS.tenant));
    try {
      await app.command({ cmdId: 'd1', type: 'subscribe', deviceId: 'dev-plain' });
      expect((await t.post('/api/v1/TOKEN_PLAIN/telemetry', { ts: 1_950_000_000_000, values: { level: 3 } })).status).toBe(200);
      expect(await app.next((f) => f.cmdId === 'd1' && f.event === 'telemetry')).toMatchObject({ deviceId: 'dev-plain', telemetry: [{ ts: 1_950_000_000_000, values: { level: 3 } }] });
      await t.server.setSharedAttributes('dev-plain', { color: 'red' });
      expect(await app.next((f) => f.cmdId === 'd1' && f.event === 'attributes')).toMatchObject({ deviceId: 'dev-plain', attributes: { scope: 'shared', values: { color: 'red' } } });
    } finally {
      app.close();
    }
  });
});
