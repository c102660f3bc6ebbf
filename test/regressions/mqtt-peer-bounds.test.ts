import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRpcServer, type RpcServer } from '../../src/index.js';
import { RawMqttClient } from '../support/raw-mqtt.js';
import { testConfig } from '../support/server.js';

// Issue 9, findings 4 and 6: a device that never read its socket was "delivered" 3,000 one-way calls of 60 KB
// (+326 MB), answers to its client-side calls piled up (+105 MB), one connection held 3,000 filters of 20 KB (+99 MB);
// a SUBSCRIBE with no filter got DISCONNECT 0x80 and an error-level log line with a stack.

const WRITE_MARK = 256 * 1024;
const logLines: Array<{ level: number; msg: string }> = [];
let server: RpcServer;
let mqttPort: number;

beforeAll(async () => {
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
      done();
    },
  });
  server = createRpcServer({
    config: testConfig({ limits: { maxWriteBufferBytes: WRITE_MARK, maxSubscriptionsPerConnection: 10, maxTopicFilterBytes: 256, maxMqttConnections: 30 } }),
    host: '127.0.0.1',
    httpPort: 0,
    mqttPort: 0,
    coapPort: 0,
    logger: pino({ level: 'debug' }, stream),
  });
  server.handle('echo', (params) => params);
  ({ mqttPort } = (await server.listen()) as { mqttPort: number });
});
afterAll(() => server.close());

const errorLines = () => logLines.filter((line) => line.level >= 50);

describe('what one MQTT peer can make the server hold is bounded', () => {
  it('calls to a device that does not read wait in line and end with their honest error, and go out once it reads', async () => {
    const device = await RawMqttClient.connected(mqttPort, 'TOKEN_A', 4);
    device.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v1/devices/me/rpc/request/+', qos: 0 }] });
    await device.next('suback');
    device.socket.pause();
    const big = { blob: 'x'.repeat(60_000) };
    const outcomes = await Promise.all(
      Array.from({ length: 900 }, () =>
        server.call('dev-a', { method: 'fill', params: big, oneway: true, timeout: 1500 }).then(
          () => 'delivered',
          (error: { code: string }) => error.code,
        ),
      ),
    );
    const delivered = outcomes.filter((o) => o === 'delivered').length;
    // The socket's own mark plus what the kernel takes on loopback; never the 54 MB asked for.
    expect(delivered * 60_000).toBeLessThan(24 * 1024 * 1024);
    expect(new Set(outcomes.filter((o) => o !== 'delivered'))).toEqual(new Set(['IOT_ERR_STILL_QUEUED']));
    // It reads again: the line moves.
    device.socket.resume();
    await expect(server.call('dev-a', { method: 'after', oneway: true, timeout: 5000 })).resolves.toBeUndefined();
    device.end();
  });

  it('a device that sends client-side calls but reads no answers is closed as too slow', async () => {
    const device = await RawMqttClient.connected(mqttPort, 'TOKEN_PLAIN', 5);
    device.socket.pause();
    const payload = JSON.stringify({ method: 'echo', params: { blob: 'y'.repeat(4000) } });
    for (let i = 1; i <= 20_000 && !device.closed; i++) {
      device.send({ cmd: 'publish', topic: `v1/devices/me/rpc/request/${i}`, payload, qos: 0, dup: false, retain: false });
      if (i % 500 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    device.socket.resume();
    await device.closedByServer(10_000);
    expect(logLines.some((line) => line.msg.includes('too slow'))).toBe(true);
    expect(errorLines()).toEqual([]);
  });

  it('topic filters per connection and their length are capped (SUBACK 0x97 / 0x8F)', async () => {
    const device = await RawMqttClient.connected(mqttPort, 'TOKEN_A', 5);
    const filters = Array.from({ length: 12 }, (_, i) => ({ topic: `v1/devices/me/attributes/f${i}`, qos: 0 as const }));
    device.send({ cmd: 'subscribe', messageId: 1, subscriptions: [...filters, { topic: `v1/${'z'.repeat(300)}`, qos: 0 }] });
    const suback = (await device.next('suback')) as { granted: number[] };
    expect(suback.granted.slice(0, 10)).toEqual(Array(10).fill(0));
    expect(suback.granted.slice(10, 12)).toEqual([0x97, 0x97]);
    expect(suback.granted[12]).toBe(0x8f);
    device.end();
  });

  it('past limits.maxMqttConnections a CONNECT is refused, server busy (0x89; 3.1.1: 0x03), and accepted again once one closes', async () => {
    const held = await Promise.all(Array.from({ length: 30 }, () => RawMqttClient.open(mqttPort)));
    for (const version of [5, 4] as const) {
      const over = await RawMqttClient.open(mqttPort, version);
      over.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: 'over', clean: true, keepalive: 60, username: 'TOKEN_A' });
      const connack = (await over.next('connack')) as { reasonCode?: number; returnCode?: number };
      expect(version === 5 ? connack.reasonCode : connack.returnCode).toBe(version === 5 ? 0x89 : 0x03);
      await over.closedByServer();
    }
    for (const socket of held) socket.end();
    await expect.poll(async () => {
      const client = await RawMqttClient.connected(mqttPort, 'TOKEN_A', 4).catch(() => undefined);
      client?.end();
      return client !== undefined;
    }).toBe(true);
  });

  it('SUBSCRIBE or UNSUBSCRIBE with no topic filter: DISCONNECT 0x82 protocol error, logged at debug only', async () => {
    for (const packetType of [0x82, 0xa2]) {
      const before = errorLines().length;
      const device = await RawMqttClient.connected(mqttPort, 'TOKEN_A', 5);
      device.write([packetType, 0x03, 0x00, 0x01, 0x00]); // packet id 1, no properties, no filter
      const disconnect = (await device.next('disconnect')) as { reasonCode: number };
      expect(disconnect.reasonCode).toBe(0x82);
      await device.closedByServer();
      expect(errorLines().length).toBe(before);
      expect(logLines.some((line) => line.level === 20 && line.msg.includes('without a topic filter'))).toBe(true);
    }
  });

  it('a device that reads, if slowly, is never closed: its calls wait for it and it gets every one', async () => {
    // The default mark (1 MiB): requests stop at half of it, so the acks this device's replies need still fit.
    const reading = createRpcServer({ config: testConfig(), host: '127.0.0.1', httpPort: null, mqttPort: 0, coapPort: null, logger: false });
    const { mqttPort: port } = (await reading.listen()) as { mqttPort: number };
    const device = await RawMqttClient.connected(port, 'TOKEN_A', 4);
    device.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v1/devices/me/rpc/request/+', qos: 1 }] });
    await device.next('suback');
    let replies = 0;
    const answer = setInterval(() => {
      for (const packet of device.packets.splice(0)) {
        if (packet.cmd !== 'publish') continue;
        device.send({ cmd: 'puback', messageId: packet.messageId! });
        device.send({ cmd: 'publish', topic: packet.topic.replace('request', 'response'), payload: '{"ok":true}', qos: 1, messageId: (++replies % 60_000) + 1, dup: false, retain: false });
      }
    }, 5);
    // It reads in short bursts: about 2 ms in every 20.
    device.socket.pause();
    const reader = setInterval(() => {
      device.socket.resume();
      setTimeout(() => device.socket.pause(), 2);
    }, 20);
    const big = { blob: 'x'.repeat(20_000) };
    const outcomes = await Promise.all(
      Array.from({ length: 900 }, () => reading.call('dev-a', { method: 'chunk', params: big, timeout: 20_000 }).then(() => 'ok', (e: { code: string }) => e.code)),
    );
    clearInterval(reader);
    clearInterval(answer);
    expect(new Set(outcomes)).toEqual(new Set(['ok']));
    expect(device.closed).toBe(false);
    device.end();
    await reading.close();
  });
});
