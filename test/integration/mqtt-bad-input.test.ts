import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { answerRequests, connectDevice, startTestServer, type TestServer } from '../support/server.js';
import { RawMqttClient } from '../support/raw-mqtt.js';

let t: TestServer;
const raws: RawMqttClient[] = [];
beforeAll(async () => {
  t = await startTestServer();
});
afterEach(() => {
  for (const raw of raws.splice(0)) raw.end();
});
afterAll(() => t.close());

const open = async (version: 4 | 5 = 4) => {
  const raw = await RawMqttClient.open(t.mqttPort, version);
  raws.push(raw);
  return raw;
};
const connected = async (token: string, version: 4 | 5 = 4, keepalive = 60) => {
  const raw = await RawMqttClient.connected(t.mqttPort, token, version, keepalive);
  raws.push(raw);
  return raw;
};

/** After each abuse, a well-behaved device on another connection still gets its calls. */
async function serverStillServes(): Promise<void> {
  const device = await connectDevice(t.mqttUrl, 'TOKEN_PLAIN');
  try {
    await answerRequests(device, () => ({ alive: true }));
    await expect(t.server.call('dev-plain', { method: 'ping', timeout: 2000 })).resolves.toEqual({ alive: true });
  } finally {
    device.end(true);
  }
}

describe('MQTT bad input', () => {
  it('a packet before CONNECT closes the connection', async () => {
    const raw = await open();
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v1/devices/me/rpc/request/+', qos: 1 }] });
    await raw.closedByServer();
    await serverStillServes();
  });

  it('an unsupported protocol level is answered CONNACK 0x01, then closed [MQTT-3.1.2-2]', async () => {
    const raw = await open();
    // CONNECT, protocol name MQTT, level 6
    raw.write([0x10, 0x0d, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x06, 0x02, 0x00, 0x3c, 0x00, 0x01, 0x61]);
    const connack = (await raw.next('connack')) as { returnCode?: number };
    expect(connack.returnCode).toBe(1);
    await raw.closedByServer();
  });

  it("a request over an MQTT 5 device's Maximum Packet Size fails the call, not the session", async () => {
    const raw = await RawMqttClient.open(t.mqttPort, 5);
    raws.push(raw);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'small', clean: true, keepalive: 60, username: 'TOKEN_A', properties: { maximumPacketSize: 200 } });
    await raw.next('connack');
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v1/devices/me/rpc/request/+', qos: 0 }] });
    await raw.next('suback');
    await expect(t.server.call('dev-a', { method: 'big', params: 'x'.repeat(500), timeout: 2000 })).rejects.toMatchObject({
      code: 'IOT_ERR_PAYLOAD_TOO_LARGE',
      message: expect.stringContaining('Maximum Packet Size (200)'),
    });
    const small = t.server.call('dev-a', { method: 'small', timeout: 2000 });
    const request = (await raw.next('publish')) as { topic: string };
    raw.send({ cmd: 'publish', topic: request.topic.replace('request', 'response'), payload: '"fits"', qos: 0, dup: false, retain: false });
    await expect(small).resolves.toBe('fits');
  });

  it('a second CONNECT closes the connection [MQTT-3.1.0-2]', async () => {
    const raw = await connected('TOKEN_A');
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'again', clean: true, keepalive: 60, username: 'TOKEN_A' });
    await raw.closedByServer();
  });

  it('a remaining length over four bytes is malformed and closes the connection', async () => {
    const raw = await connected('TOKEN_A');
    raw.write([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]);
    await raw.closedByServer();
    await serverStillServes();
  });

  it('reserved header flags that are wrong close the connection [MQTT-2.2.2-2]', async () => {
    const raw = await connected('TOKEN_A');
    raw.write([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00]); // SUBSCRIBE with flags 0000
    await raw.closedByServer();
  });

  it('a packet declared over the size limit is refused from its header alone; MQTT 5 is told why', async () => {
    const raw = await connected('TOKEN_A', 5);
    raw.write([0x30, 0x80, 0x80, 0x08]); // PUBLISH declaring 128 KiB, body never sent
    const disconnect = (await raw.next('disconnect')) as { reasonCode?: number };
    expect(disconnect.reasonCode).toBe(0x95);
    await raw.closedByServer();
    await serverStillServes();
  });

  it('CONNACK of MQTT 5 announces the maximum packet size and QoS', async () => {
    const raw = await RawMqttClient.open(t.mqttPort, 5);
    raws.push(raw);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: '', clean: true, keepalive: 60, username: 'TOKEN_A' });
    const connack = (await raw.next('connack')) as { reasonCode: number; properties: Record<string, unknown> };
    expect(connack.reasonCode).toBe(0);
    expect(connack.properties).toMatchObject({ maximumPacketSize: 65536, maximumQoS: 1, assignedClientIdentifier: 'iot-rpc-dev-a' });
  });

  it('PUBLISH to a topic this server does not serve is acknowledged and the session goes on', async () => {
    const raw = await connected('TOKEN_A');
    raw.send({ cmd: 'publish', topic: 'v1/devices/me/telemetry', payload: '{"t":1}', qos: 1, messageId: 7, dup: false, retain: false });
    expect(((await raw.next('puback')) as { messageId: number }).messageId).toBe(7);
    raw.send({ cmd: 'pingreq' });
    await raw.next('pingresp');
    expect(raw.closed).toBe(false);
  });

  it('PUBLISH with a wildcard in its topic closes the connection [MQTT-3.3.2-2]', async () => {
    const raw = await connected('TOKEN_A');
    raw.send({ cmd: 'publish', topic: 'v1/devices/me/rpc/response/+', payload: '{}', qos: 0, dup: false, retain: false });
    await raw.closedByServer();
  });

  it('PUBLISH at QoS 2 is refused (Maximum QoS 1)', async () => {
    const raw = await connected('TOKEN_A', 5);
    raw.send({ cmd: 'publish', topic: 'v1/devices/me/rpc/response/1', payload: '{}', qos: 2, messageId: 3, dup: false, retain: false });
    expect(((await raw.next('disconnect')) as { reasonCode?: number }).reasonCode).toBe(0x9b);
    await raw.closedByServer();
  });

  it('an invalid topic filter is refused in SUBACK (0x80 in 3.1.1, 0x8F in 5)', async () => {
    for (const version of [4, 5] as const) {
      const raw = await connected('TOKEN_A', version);
      raw.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'v1/devices/#/x', qos: 0 }, { topic: 'v1/devices/me/rpc/request/+', qos: 1 }] });
      const suback = (await raw.next('suback')) as { granted: number[] };
      expect(suback.granted).toEqual([version === 5 ? 0x8f : 0x80, 1]);
      raw.end();
    }
  });

  it('a reply that is not JSON fails the call with IOT_ERR_REPLY_NOT_JSON, and the session goes on', async () => {
    const raw = await connected('TOKEN_A');
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v1/devices/me/rpc/request/+', qos: 0 }] });
    await raw.next('suback');
    const call = t.server.call('dev-a', { method: 'x', timeout: 2000 });
    const request = (await raw.next('publish')) as { topic: string };
    raw.send({ cmd: 'publish', topic: request.topic.replace('request', 'response'), payload: '<xml/>', qos: 0, dup: false, retain: false });
    await expect(call).rejects.toMatchObject({ code: 'IOT_ERR_REPLY_NOT_JSON', status: 406 });
    raw.send({ cmd: 'pingreq' });
    await raw.next('pingresp');
  });
});

describe('MQTT 5 Receive Maximum', () => {
  it('no more unacknowledged requests go out than the device allows; each PUBACK lets the next one go', async () => {
    const raw = await RawMqttClient.open(t.mqttPort, 5);
    raws.push(raw);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clientId: 'rm', clean: true, keepalive: 60, username: 'TOKEN_A', properties: { receiveMaximum: 2 } });
    await raw.next('connack');
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v1/devices/me/rpc/request/+', qos: 1 }] });
    await raw.next('suback');
    const calls = [1, 2, 3].map((n) => t.server.call('dev-a', { method: `m${n}`, oneway: true, timeout: 3000 }));
    const first = (await raw.next('publish')) as { messageId: number };
    const second = (await raw.next('publish')) as { messageId: number };
    await expect(raw.next('publish', 300)).rejects.toThrow(/no publish/);
    raw.send({ cmd: 'puback', messageId: first.messageId, reasonCode: 0 });
    const third = (await raw.next('publish')) as { messageId: number; payload: Buffer };
    expect(JSON.parse(third.payload.toString()).method).toBe('m3');
    raw.send({ cmd: 'puback', messageId: second.messageId, reasonCode: 0 });
    raw.send({ cmd: 'puback', messageId: third.messageId, reasonCode: 0 });
    await expect(Promise.all(calls)).resolves.toEqual([undefined, undefined, undefined]);
  });
});

describe('delivery states seen from a device that does not acknowledge', () => {
  it('sent but never acknowledged: the deadline answers IOT_ERR_NO_REPLY_SENT (legacy 408)', async () => {
    const raw = await connected('TOKEN_A');
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v1/devices/me/rpc/request/+', qos: 1 }] });
    await raw.next('suback');
    const token = await t.login({ email: 'user@customer-a.test', password: 'customer-pass' });
    const res = await t.post('/api/plugins/rpc/twoway/dev-a', { method: 'x', expirationTime: Date.now() + 300 }, token);
    expect(res.status).toBe(408);
    expect(((await res.json()) as { code: string }).code).toBe('IOT_ERR_NO_REPLY_SENT');
    expect((await raw.next('publish')).cmd).toBe('publish');
  });

  it('disconnect while sent: the call goes back in line and reaches the next session', async () => {
    const first = await connected('TOKEN_A');
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v1/devices/me/rpc/request/+', qos: 1 }] });
    await first.next('suback');
    const call = t.server.call('dev-a', { method: 'survive', params: { n: 7 }, timeout: 5000 });
    const firstRequest = (await first.next('publish')) as { topic: string };
    first.end();
    const device = await connectDevice(t.mqttUrl, 'TOKEN_A');
    try {
      const seen = await answerRequests(device, (_m, params) => params);
      await expect(call).resolves.toEqual({ n: 7 });
      expect(seen[0]!.topic).toBe(firstRequest.topic);
    } finally {
      device.end(true);
    }
  });
});

describe('keep-alive (fake clock)', () => {
  let clocked: TestServer;
  beforeAll(async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], shouldAdvanceTime: true });
    clocked = await startTestServer();
  });
  afterAll(async () => {
    await clocked.close();
    vi.useRealTimers();
  });

  it('a silent connection is closed after 1.5 × its keep-alive; MQTT 5 hears reason 0x8D', async () => {
    const raw = await RawMqttClient.connected(clocked.mqttPort, 'TOKEN_A', 5, 10);
    raws.push(raw);
    vi.advanceTimersByTime(14_000);
    await new Promise((r) => setImmediate(r));
    expect(raw.closed).toBe(false);
    vi.advanceTimersByTime(1_100);
    expect(((await raw.next('disconnect')) as { reasonCode?: number }).reasonCode).toBe(0x8d);
    await raw.closedByServer();
  });

  it('PINGREQ within the interval keeps the connection open', async () => {
    const raw = await RawMqttClient.connected(clocked.mqttPort, 'TOKEN_PLAIN', 4, 10);
    raws.push(raw);
    for (let i = 0; i < 3; i++) {
      vi.advanceTimersByTime(9_000);
      raw.send({ cmd: 'pingreq' });
      await raw.next('pingresp');
    }
    expect(raw.closed).toBe(false);
  });

  it('random garbage ends every such connection (at once, or when CONNECT never completes) and nothing else', async () => {
    const garbage: RawMqttClient[] = [];
    for (let round = 0; round < 50; round++) {
      const raw = await RawMqttClient.open(clocked.mqttPort);
      raws.push(raw);
      garbage.push(raw);
      const bytes = Array.from({ length: 64 }, (_, i) => (i * 7919 + round * 104729) % 256);
      raw.write(bytes);
      raw.write(bytes);
    }
    vi.advanceTimersByTime(10_100);
    for (const raw of garbage) await raw.closedByServer();
    const device = await connectDevice(clocked.mqttUrl, 'TOKEN_PLAIN');
    try {
      await answerRequests(device, () => ({ alive: true }));
      await expect(clocked.server.call('dev-plain', { method: 'ping', timeout: 2000 })).resolves.toEqual({ alive: true });
    } finally {
      device.end(true);
    }
  });

  it('a device the server closed for keep-alive is offline at once, even if it never closes its side', async () => {
    const raw = await RawMqttClient.connected(clocked.mqttPort, 'TOKEN_A', 4, 10);
    raws.push(raw);
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v1/devices/me/rpc/request/+', qos: 1 }] });
    await raw.next('suback');
    expect(clocked.server.devices.state('dev-a')).toBe('subscribed');
    vi.advanceTimersByTime(15_100);
    await raw.closedByServer();
    expect(clocked.server.devices.state('dev-a')).toBe('offline');
    await expect(clocked.server.call('dev-a', { method: 'x', timeout: 50 })).rejects.toMatchObject({ code: 'IOT_ERR_DEVICE_OFFLINE' });
  });

  it('a socket that never sends CONNECT is closed after 10 s', async () => {
    const raw = await RawMqttClient.open(clocked.mqttPort);
    raws.push(raw);
    vi.advanceTimersByTime(10_100);
    await raw.closedByServer();
  });
});
