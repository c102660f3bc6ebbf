import type { IClientOptions, MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CallEvent, SessionEvent } from '../../src/index.js';
import { answerRequests, connectDevice, startTestServer, until, type TestServer } from '../support/server.js';

let t: TestServer;
const clients: MqttClient[] = [];
beforeAll(async () => {
  t = await startTestServer();
  t.server.handle('add', (params) => {
    const { a, b } = params as { a: number; b: number };
    return { sum: a + b };
  });
  t.server.handle('whoami', (_params, device) => device);
  t.server.handle('explode', () => {
    throw new Error('handler exploded');
  });
});
afterEach(() => {
  for (const client of clients.splice(0)) client.end(true);
});
afterAll(() => t.close());

const variants = [
  { name: 'MQTT 3.1.1 over TCP', protocolVersion: 4, ws: false },
  { name: 'MQTT 5 over TCP', protocolVersion: 5, ws: false },
  { name: 'MQTT 3.1.1 over WebSocket', protocolVersion: 4, ws: true },
  { name: 'MQTT 5 over WebSocket', protocolVersion: 5, ws: true },
] as const;

for (const variant of variants) {
  describe(variant.name, () => {
    const connect = async (token: string, options: IClientOptions = {}) => {
      const client = await connectDevice(variant.ws ? t.wsUrl : t.mqttUrl, token, { protocolVersion: variant.protocolVersion, ...options });
      clients.push(client);
      return client;
    };

    it('twoway - a device reply resolves call() with the parsed JSON', async () => {
      const device = await connect('TOKEN_A');
      await answerRequests(device, (method, params) => ({ method, params, answeredBy: variant.name }));
      await expect(t.server.call('dev-a', { method: 'getTemp', params: { unit: 'C' } })).resolves.toEqual({
        method: 'getTemp',
        params: { unit: 'C' },
        answeredBy: variant.name,
      });
    });

    it('twoway - short v2 topics carry the same calls', async () => {
      const device = await connect('TOKEN_A');
      const seen = await answerRequests(device, () => 42, { style: 'v2' });
      await expect(t.server.call('dev-a', { method: 'answer' })).resolves.toBe(42);
      expect(seen[0]!.topic).toMatch(/^v2\/r\/req\/\d+$/);
    });

    it('oneway - resolves once the device acknowledged (QoS 1) and it got the request', async () => {
      const device = await connect('TOKEN_A');
      const seen = await answerRequests(device, () => undefined, { qos: 1 });
      await expect(t.server.call('dev-a', { method: 'blink', params: { times: 3 }, oneway: true })).resolves.toBeUndefined();
      await until(() => seen.length === 1);
      expect(seen[0]).toMatchObject({ method: 'blink', params: { times: 3 } });
    });

    it('requests arrive with the QoS granted on the subscription', async () => {
      const device = await connect('TOKEN_A');
      const qos: number[] = [];
      device.on('packetreceive', (packet) => {
        if (packet.cmd === 'publish') qos.push(packet.qos);
      });
      await answerRequests(device, () => ({}), { qos: 0 });
      await t.server.call('dev-a', { method: 'q0' });
      expect(qos).toEqual([0]);
    });

    it('request ids are integers that differ for concurrent calls', async () => {
      const device = await connect('TOKEN_A');
      const seen = await answerRequests(device, (_m, params) => params);
      const results = await Promise.all([1, 2, 3, 4, 5].map((n) => t.server.call('dev-a', { method: 'n', params: n })));
      expect(results).toEqual([1, 2, 3, 4, 5]);
      const ids = seen.map((s) => Number(s.topic.split('/').pop()));
      expect(new Set(ids).size).toBe(5);
      expect(ids.every(Number.isInteger)).toBe(true);
    });

    it('client-side RPC is answered by the registered handler, with the calling device', async () => {
      const device = await connect('TOKEN_A');
      await device.subscribeAsync('v1/devices/me/rpc/response/+');
      const answers = new Map<string, unknown>();
      device.on('message', (topic, payload) => answers.set(topic, JSON.parse(payload.toString())));
      device.publish('v1/devices/me/rpc/request/1', JSON.stringify({ method: 'add', params: { a: 2, b: 3 } }));
      device.publish('v1/devices/me/rpc/request/2', JSON.stringify({ method: 'whoami' }));
      device.publish('v1/devices/me/rpc/request/3', JSON.stringify({ method: 'nope', params: {} }));
      device.publish('v1/devices/me/rpc/request/4', JSON.stringify({ method: 'explode' }));
      device.publish('v1/devices/me/rpc/request/5', 'not json');
      await until(() => answers.size === 5);
      expect(answers.get('v1/devices/me/rpc/response/1')).toEqual({ sum: 5 });
      expect(answers.get('v1/devices/me/rpc/response/2')).toMatchObject({ id: 'dev-a', name: 'Device A', tenantId: 'tenant-a', customerId: 'customer-a' });
      expect(answers.get('v1/devices/me/rpc/response/3')).toEqual({ error: 'Unknown method: nope' });
      expect(answers.get('v1/devices/me/rpc/response/4')).toEqual({ error: 'handler exploded' });
      expect(answers.get('v1/devices/me/rpc/response/5')).toMatchObject({ error: expect.stringContaining('Invalid request') });
    });

    it('client-side RPC on v2 is answered on v2/r/res/{id} even without a subscription to it', async () => {
      const device = await connect('TOKEN_A');
      const answer = new Promise<[string, unknown]>((resolve) => device.on('message', (topic, payload) => resolve([topic, JSON.parse(payload.toString())])));
      device.publish('v2/r/req/9', JSON.stringify({ method: 'getCurrentTime', params: {} }));
      const [topic, time] = await answer;
      expect(topic).toBe('v2/r/res/9');
      expect(Math.abs((time as number) - Date.now())).toBeLessThan(5000);
    });

    it('bad token is refused with CONNACK not authorized; empty token with bad username', async () => {
      const url = variant.ws ? t.wsUrl : t.mqttUrl;
      const refusal = (token: string) =>
        connectDevice(url, token, { protocolVersion: variant.protocolVersion }).then(
          (client) => {
            clients.push(client);
            return 'accepted';
          },
          (error: { code?: number }) => error.code,
        );
      const v5 = variant.protocolVersion === 5;
      expect(await refusal('WRONG')).toBe(v5 ? 0x87 : 5);
      expect(await refusal('')).toBe(v5 ? 0x86 : 4);
    });

    it('a second connection for the same device replaces the first (takeover)', async () => {
      const first = await connect('TOKEN_A');
      await answerRequests(first, () => ({ who: 'first' }));
      const firstClosed = new Promise<void>((resolve) => first.once('close', () => resolve()));
      const second = await connect('TOKEN_A');
      await firstClosed;
      await answerRequests(second, () => ({ who: 'second' }));
      await expect(t.server.call('dev-a', { method: 'who' })).resolves.toEqual({ who: 'second' });
    });

    it('unsubscribing makes the device connected-but-not-subscribed', async () => {
      const device = await connect('TOKEN_A');
      await answerRequests(device, () => 'x');
      expect(t.server.devices.state('dev-a')).toBe('subscribed');
      await device.unsubscribeAsync('v1/devices/me/rpc/request/+');
      expect(t.server.devices.state('dev-a')).toBe('connected');
      await expect(t.server.call('dev-a', { method: 'x', timeout: 200 })).rejects.toMatchObject({ code: 'IOT_ERR_NOT_SUBSCRIBED' });
    });

    it('a call made before the device subscribes is delivered when it does', async () => {
      const pending = t.server.call('dev-a', { method: 'early', params: { n: 1 }, timeout: 5000 });
      const device = await connect('TOKEN_A');
      await answerRequests(device, (_m, params) => params);
      await expect(pending).resolves.toEqual({ n: 1 });
    });

    it('session and call lifecycle events are emitted', async () => {
      const sessions: SessionEvent[] = [];
      const calls: CallEvent[] = [];
      const onSession = (e: SessionEvent) => e.deviceId === 'dev-plain' && sessions.push(e);
      const onCall = (e: CallEvent) => e.deviceId === 'dev-plain' && calls.push(e);
      t.server.on('session', onSession).on('call', onCall);
      try {
        const device = await connect('TOKEN_PLAIN');
        await answerRequests(device, () => ({ ok: true }), { delayMs: 50 });
        await t.server.call('dev-plain', { method: 'e' });
        device.end(true);
        await until(() => sessions.some((s) => s.state === 'disconnected'));
      } finally {
        t.server.off('session', onSession).off('call', onCall);
      }
      expect(sessions.map((s) => s.state)).toEqual(['connected', 'subscribed', 'disconnected']);
      expect(sessions[0]!.transport).toBe(variant.ws ? 'mqtt-ws' : 'mqtt');
      expect(calls.map((c) => c.status)).toEqual(['queued', 'sent', 'delivered', 'replied']);
    });
  });
}

describe('MQTT 5 properties', () => {
  it('requests carry Message Expiry from the deadline and a Response Topic with Correlation Data', async () => {
    const device = await connectDevice(t.mqttUrl, 'TOKEN_A', { protocolVersion: 5 });
    clients.push(device);
    let properties: Record<string, unknown> | undefined;
    device.on('message', (topic, _payload, packet) => {
      properties = packet.properties as Record<string, unknown>;
      device.publish(packet.properties!.responseTopic!, JSON.stringify('via response topic'), { properties: { correlationData: packet.properties!.correlationData } });
    });
    await device.subscribeAsync('v1/devices/me/rpc/request/+', { qos: 1 });
    await expect(t.server.call('dev-a', { method: 'props', timeout: 30_000 })).resolves.toBe('via response topic');
    expect(properties!.messageExpiryInterval).toBeGreaterThanOrEqual(29);
    expect(properties!.messageExpiryInterval).toBeLessThanOrEqual(30);
    expect(properties!.responseTopic).toMatch(/^v1\/devices\/me\/rpc\/response\/\d+$/);
    expect(Buffer.isBuffer(properties!.correlationData)).toBe(true);
  });

  it('a client-side request with a Response Topic is answered there, with its Correlation Data', async () => {
    const device = await connectDevice(t.mqttUrl, 'TOKEN_A', { protocolVersion: 5 });
    clients.push(device);
    await device.subscribeAsync('v1/devices/me/my-replies');
    const answer = new Promise<{ topic: string; body: unknown; correlation?: Buffer }>((resolve) =>
      device.on('message', (topic, payload, packet) => resolve({ topic, body: JSON.parse(payload.toString()), correlation: packet.properties?.correlationData })),
    );
    device.publish('v1/devices/me/rpc/request/5', JSON.stringify({ method: 'add', params: { a: 1, b: 1 } }), {
      properties: { responseTopic: 'v1/devices/me/my-replies', correlationData: Buffer.from('abc') },
    });
    const { topic, body, correlation } = await answer;
    expect(topic).toBe('v1/devices/me/my-replies');
    expect(body).toEqual({ sum: 2 });
    expect(correlation?.toString()).toBe('abc');
  });

  it('SUBACK grants QoS 1 at most, refuses filters outside the device namespace and shared subscriptions', async () => {
    const device = await connectDevice(t.mqttUrl, 'TOKEN_A', { protocolVersion: 5 });
    clients.push(device);
    const suback = new Promise<number[]>((resolve) => device.on('packetreceive', (packet) => packet.cmd === 'suback' && resolve(packet.granted as number[])));
    device.subscribe({
      'v1/devices/me/rpc/request/+': { qos: 2 },
      'v1/devices/me/attributes': { qos: 1 },
      'someone/else/#': { qos: 0 },
      '$share/group/v1/devices/me/rpc/request/+': { qos: 0 },
    }, () => {});
    expect(await suback).toEqual([1, 1, 0x87, 0x9e]);
  });

  it('PUBACK says no matching subscribers for a reply to no pending call', async () => {
    const device = await connectDevice(t.mqttUrl, 'TOKEN_A', { protocolVersion: 5 });
    clients.push(device);
    const puback = new Promise<number | undefined>((resolve) => device.on('packetreceive', (packet) => packet.cmd === 'puback' && resolve(packet.reasonCode)));
    device.publish('v1/devices/me/rpc/response/999', '{}', { qos: 1 });
    expect(await puback).toBe(0x10);
  });
});
