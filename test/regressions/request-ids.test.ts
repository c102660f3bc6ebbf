import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IPublishPacket } from 'mqtt-packet';
import { RawMqttClient } from '../support/raw-mqtt.js';
import { connectDevice, startTestServer, until, type TestServer } from '../support/server.js';

// Issue 9, finding 1: request ids restarted at 1 whenever the server held nothing of a device, so a late or
// repeated reply answered the next call, which had the same id.

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t.close());

const poll = (token: string, timeout = 2000) => fetch(`${t.httpUrl}/api/v1/${token}/rpc?timeout=${timeout}`);
const postReply = (token: string, id: number, body: unknown) =>
  fetch(`${t.httpUrl}/api/v1/${token}/rpc/${id}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

describe('request ids never repeat while a reply could still arrive', () => {
  it('HTTP: three calls polled one after another get three ids, and a repeated reply POST answers none of the later calls', async () => {
    const ids: number[] = [];
    const answers: unknown[] = [];
    for (let n = 0; n < 3; n++) {
      const call = t.server.call('dev-plain', { method: 'step', params: { n }, timeout: 5000 });
      const request = (await (await poll('TOKEN_PLAIN')).json()) as { id: number };
      ids.push(request.id);
      if (n === 0) {
        expect((await postReply('TOKEN_PLAIN', request.id, { n })).status).toBe(200);
        answers.push(await call);
        continue;
      }
      // The device retries its first reply (say its POST timed out): it must not answer this call.
      expect((await postReply('TOKEN_PLAIN', ids[0]!, { n: 0 })).status).toBe(404);
      expect((await postReply('TOKEN_PLAIN', request.id, { n })).status).toBe(200);
      answers.push(await call);
    }
    expect(new Set(ids).size).toBe(3);
    expect(answers).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
  });

  it('MQTT: a late reply to a timed-out call, sent after the device reconnected, answers nothing else', async () => {
    const first = await connectDevice(t.mqttUrl, 'TOKEN_A');
    const requests: Array<{ topic: string; params: unknown }> = [];
    first.on('message', (topic, payload) => requests.push({ topic, params: (JSON.parse(payload.toString()) as { params: unknown }).params }));
    await first.subscribeAsync('v1/devices/me/rpc/request/+', { qos: 1 });
    const timedOut = t.server.call('dev-a', { method: 'slow', params: { call: 'first' }, expirationTime: Date.now() + 300 }).catch((e: { code: string }) => e.code);
    await until(() => requests.length === 1);
    expect(await timedOut).toBe('IOT_ERR_NO_REPLY_DELIVERED');
    const lateTopic = requests[0]!.topic.replace('request', 'response');
    first.end(true);
    await until(() => t.server.devices.state('dev-a') === 'offline');

    const second = await connectDevice(t.mqttUrl, 'TOKEN_A');
    second.on('message', (topic, payload) => requests.push({ topic, params: (JSON.parse(payload.toString()) as { params: unknown }).params }));
    await second.subscribeAsync('v1/devices/me/rpc/request/+', { qos: 1 });
    const next = t.server.call('dev-a', { method: 'next', params: { call: 'second' }, timeout: 5000 });
    await until(() => requests.length === 2);
    expect(requests[1]!.topic).not.toBe(requests[0]!.topic);
    await second.publishAsync(lateTopic, JSON.stringify({ answer: 'for the first call' }), { qos: 1 });
    await second.publishAsync(requests[1]!.topic.replace('request', 'response'), JSON.stringify({ answer: 'for the second call' }), { qos: 1 });
    await expect(next).resolves.toEqual({ answer: 'for the second call' });
    second.end(true);
  });

  it('MQTT 5: a reply whose Correlation Data is not the call\'s own is an orphan', async () => {
    const device = await RawMqttClient.connected(t.mqttPort, 'TOKEN_A', 5);
    device.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v1/devices/me/rpc/request/+', qos: 0 }] });
    await device.next('suback');
    const call = t.server.call('dev-a', { method: 'm', timeout: 5000 });
    const request = (await device.next('publish')) as IPublishPacket;
    const correlationData = request.properties!.correlationData!;
    const responseTopic = request.properties!.responseTopic!;
    device.send({ cmd: 'publish', topic: responseTopic, payload: '"forged"', qos: 1, messageId: 2, dup: false, retain: false, properties: { correlationData: Buffer.from('someone-else') } });
    expect(((await device.next('puback')) as { reasonCode?: number }).reasonCode).toBe(0x10);
    device.send({ cmd: 'publish', topic: responseTopic, payload: '"mine"', qos: 1, messageId: 3, dup: false, retain: false, properties: { correlationData } });
    expect(((await device.next('puback')) as { reasonCode?: number }).reasonCode).toBe(0);
    await expect(call).resolves.toBe('mine');
    device.end();
  });

  it('a persistent call sent again answers a late reply to its earlier attempt, and only that call', async () => {
    const token = await t.login({ email: 'admin@tenant-a.test', password: 'tenant-pass' });
    const first = await RawMqttClient.connected(t.mqttPort, 'TOKEN_A', 4);
    first.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v1/devices/me/rpc/request/+', qos: 1 }] });
    await first.next('suback');
    const accepted = await t.post('/api/rpc/twoway/dev-a', { method: 'stored', params: { n: 1 }, persistent: true, timeout: 10_000 }, token);
    const { rpcId } = (await accepted.json()) as { rpcId: string };
    const firstAttempt = (await first.next('publish')) as IPublishPacket;
    // The connection drops before the PUBACK: the next session gets the call again, as a new attempt with a new id.
    first.end();
    await until(() => t.server.devices.state('dev-a') === 'offline');
    const second = await RawMqttClient.connected(t.mqttPort, 'TOKEN_A', 4);
    second.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v1/devices/me/rpc/request/+', qos: 1 }] });
    await second.next('suback');
    const secondAttempt = (await second.next('publish')) as IPublishPacket;
    expect(secondAttempt.topic).not.toBe(firstAttempt.topic);
    second.send({ cmd: 'puback', messageId: secondAttempt.messageId! });
    const other = t.server.call('dev-a', { method: 'other', expirationTime: Date.now() + 1500 }).catch((e: { code: string }) => e.code);
    const otherRequest = (await second.next('publish')) as IPublishPacket;
    second.send({ cmd: 'puback', messageId: otherRequest.messageId! });
    second.send({ cmd: 'publish', topic: firstAttempt.topic.replace('request', 'response'), payload: '{"from":"first attempt"}', qos: 0, dup: false, retain: false });
    const read = async () => (await (await fetch(`${t.httpUrl}/api/rpc/persistent/${rpcId}`, { headers: { 'x-authorization': `Bearer ${token}` } })).json()) as { status: string; response: unknown };
    await expect.poll(async () => (await read()).status).toBe('SUCCESSFUL');
    expect((await read()).response).toEqual({ from: 'first attempt' });
    expect(await other).toBe('IOT_ERR_NO_REPLY_DELIVERED');
    second.end();
  });
});
