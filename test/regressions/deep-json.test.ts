import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connectDevice, startTestServer, USERS, type TestServer } from '../support/server.js';
import { coapRequest } from '../support/coap-client.js';

// Issue 9, finding 3: a persistent call with 30,000-deep params was accepted; afterwards the device's call list and
// a GET of the call answered 500 "Maximum call stack size exceeded" for everyone.

const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;

let t: TestServer;
let admin: string;
beforeAll(async () => {
  t = await startTestServer();
  admin = await t.login(USERS.tenant);
});
afterAll(() => t.close());

describe('JSON nested deeper than limits.maxJsonDepth (32) is refused at the door', () => {
  it('REST: a persistent call with 30,000-deep params or additionalInfo gets 400, and the device list still answers', async () => {
    for (const field of ['params', 'additionalInfo']) {
      const body = `{"method":"m","persistent":true,"${field}":${deep(30_000)}}`;
      const res = await t.post('/api/rpc/twoway/dev-plain', body, admin);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { message: string }).message).toContain('nested deeper than 32 levels');
    }
    const list = await fetch(`${t.httpUrl}/api/rpc/persistent/device/dev-plain?pageSize=10&page=0`, { headers: { 'x-authorization': `Bearer ${admin}` } });
    expect(list.status).toBe(200);
  });

  it('REST: 32 levels are fine, 33 are not', async () => {
    const ok = await t.post('/api/rpc/oneway/dev-plain', `{"method":"m","persistent":true,"params":${deep(31)}}`, admin);
    expect(ok.status).toBe(200);
    const tooDeep = await t.post('/api/rpc/oneway/dev-plain', `{"method":"m","persistent":true,"params":${deep(32)}}`, admin);
    expect(tooDeep.status).toBe(400);
  });

  it('WebSocket API: a frame nested too deep gets an error frame, and the socket keeps serving', async () => {
    const ws = new WebSocket(`${t.httpUrl.replace('http', 'ws')}/api/ws?token=${admin}`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const frames: Array<{ cmdId: unknown; error?: { status: number; message: string }; result?: unknown }> = [];
    ws.on('message', (data) => frames.push(JSON.parse(data.toString())));
    ws.send(`{"cmdId":1,"type":"rpc","deviceId":"dev-plain","method":"m","params":${deep(5000)}}`);
    ws.send(JSON.stringify({ cmdId: 2, type: 'subscribe', deviceId: 'dev-plain' }));
    await expect.poll(() => frames.length).toBeGreaterThanOrEqual(2);
    expect(frames[0]!.error).toMatchObject({ status: 400 });
    expect(frames[0]!.error!.message).toContain('nested deeper than 32 levels');
    expect(frames[1]).toMatchObject({ cmdId: 2, result: expect.anything() });
    ws.close();
  });

  it('HTTP device: a client-side call nested too deep gets 400', async () => {
    const res = await fetch(`${t.httpUrl}/api/v1/TOKEN_PLAIN/rpc`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: `{"method":"m","params":${deep(100)}}` });
    expect(res.status).toBe(400);
  });

  it('MQTT: a client-side call nested too deep is answered with an error, and the session stays', async () => {
    const device = await connectDevice(t.mqttUrl, 'TOKEN_A');
    const answers: string[] = [];
    device.on('message', (_topic, payload) => answers.push(payload.toString()));
    await device.subscribeAsync('v1/devices/me/rpc/response/+');
    await device.publishAsync('v1/devices/me/rpc/request/1', `{"method":"m","params":${deep(1000)}}`, { qos: 1 });
    await expect.poll(() => answers.length).toBe(1);
    expect(JSON.parse(answers[0]!)).toEqual({ error: 'Invalid request: JSON nested deeper than 32 levels' });
    expect(device.connected).toBe(true);
    device.end(true);
  });

  it('CoAP: a client-side call nested too deep gets 4.00', async () => {
    const answer = await coapRequest(t.coapPort, '/api/v1/TOKEN_A/rpc', { payload: `{"method":"m","params":${deep(500)}}` });
    expect(answer.code).toBe('4.00');
    expect(answer.payload).toContain('nested deeper than 32 levels');
  });

  it('a device reply nested too deep answers its caller 406, and the device can go on answering', async () => {
    const device = await connectDevice(t.mqttUrl, 'TOKEN_A');
    let n = 0;
    device.on('message', (topic) => {
      const reply = n++ === 0 ? deep(10_000) : '{"ok":true}';
      device.publish(topic.replace('request', 'response'), reply);
    });
    await device.subscribeAsync('v1/devices/me/rpc/request/+', { qos: 1 });
    const first = await t.post('/api/rpc/twoway/dev-a', { method: 'm', timeout: 5000 }, admin);
    expect(first.status).toBe(406);
    expect(((await first.json()) as { message: string }).message).toContain('nested deeper than 32 levels');
    const second = await t.post('/api/rpc/twoway/dev-a', { method: 'm', timeout: 5000 }, admin);
    expect(await second.json()).toEqual({ ok: true });
    device.end(true);
  });
});
