import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawMqttClient } from '../support/raw-mqtt.js';
import { connectDevice, startTestServer, type TestServer } from '../support/server.js';

// Inputs `npm run bench -- fuzz --protocol mqtt` shrank a server crash to (seed 3470895428, session 33993).

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
  t.server.handle('ping', () => 'pong');
});
afterAll(() => t.close());

describe('MQTT inputs found by the fuzzer', () => {
  it('an MQTT 5 client-side call whose Response Topic is not UTF-8 is answered on the request\'s own response topic; the server lives on', async () => {
    const raw = await RawMqttClient.open(t.mqttPort, 5);
    // CONNECT v5 (username tnbmiftoss: unknown), as the fuzzer sent it, then a PUBLISH whose Response Topic is 0x80 0x01.
    raw.write(Buffer.from('103c00044d5154540596000100000d66757a7a2d726574326579313200000a76322f722f7265712f2b000a746e626d6966746f7373000766757a7a2d3332', 'hex'));
    raw.write(Buffer.from('322a001c76312f646576696365732f6d652f7270632f726571756573742f3832b8ae05080080010074727565', 'hex'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    raw.end();
    const device = await RawMqttClient.connected(t.mqttPort, 'TOKEN_A', 5);
    // The same PUBLISH from a device that is connected: its answer goes to v1/devices/me/rpc/response/82.
    device.write(Buffer.from('322a001c76312f646576696365732f6d652f7270632f726571756573742f3832b8ae05080080010074727565', 'hex'));
    const answer = (await device.next('publish')) as { topic: string };
    expect(answer.topic).toBe('v1/devices/me/rpc/response/82');
    device.end();
    const client = await connectDevice(t.mqttUrl, 'TOKEN_PLAIN');
    const reply = new Promise<string>((resolve) => client.on('message', (_topic, payload) => resolve(payload.toString())));
    await client.subscribeAsync('v1/devices/me/rpc/response/+');
    await client.publishAsync('v1/devices/me/rpc/request/1', JSON.stringify({ method: 'ping' }));
    expect(JSON.parse(await reply)).toBe('pong');
    client.end(true);
  });
});
