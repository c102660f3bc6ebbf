import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppSocketClient } from '../support/app-socket-client.js';
import { USERS, answerRequests, connectDevice, startTestServer, type TestServer } from '../support/server.js';

let t: TestServer;
let tenantToken: string;
beforeAll(async () => {
  t = await startTestServer();
  tenantToken = await t.login(USERS.tenant);
});
afterAll(() => t.close());

describe('the WebSocket API for applications (/api/ws)', () => {
  it('a two-way call with the token in the query: the device\'s reply comes back under the cmdId', async () => {
    const device = await connectDevice(t.mqttUrl, 'TOKEN_PLAIN');
    const app = await AppSocketClient.open(t.httpUrl, tenantToken);
    try {
      await answerRequests(device, (method, params) => ({ method, params }));
      const answer = await app.command({ cmdId: 1, type: 'rpc', deviceId: 'dev-plain', method: 'getTemp', params: { unit: 'C' }, timeout: 5000 });
      expect(answer).toEqual({ cmdId: 1, result: { method: 'getTemp', params: { unit: 'C' } } });
      const oneway = await app.command({ cmdId: 'ow', type: 'rpc', deviceId: 'dev-plain', method: 'blink', oneway: true });
      expect(oneway).toEqual({ cmdId: 'ow', result: null });
      const stored = await app.command({ cmdId: 3, type: 'rpc', deviceId: 'dev-plain', method: 'later', persistent: true, timeout: 5000 });
      expect((stored.result as { rpcId: string }).rpcId).toMatch(/^[0-9a-f-]{36}$/);
    } finally {
      app.close();
      device.end(true);
    }
  });

  it('a token in a first auth frame; commands before it, bad JSON, bad frames and unknown devices get error frames', async () => {
    const app = await AppSocketClient.open(t.httpUrl);
    try {
      const early = await app.command({ cmdId: 1, type: 'rpc', deviceId: 'dev-plain', method: 'x' });
      expect(early.error).toMatchObject({ status: 401, code: 'IOT_ERR_UNAUTHORIZED' });
      const auth = await app.command({ cmdId: 'a', auth: { token: tenantToken } });
      expect(auth.result).toMatchObject({ user: USERS.tenant.email });
      app.send('{not json');
      expect((await app.next((f) => f.cmdId === null)).error).toMatchObject({ status: 400, code: 'IOT_ERR_INVALID_JSON' });
      app.send({ type: 'rpc', deviceId: 'dev-plain', method: 'x' });
      expect((await app.next((f) => f.cmdId === null)).error).toMatchObject({ code: 'IOT_ERR_BAD_REQUEST', message: expect.stringContaining('cmdId') });
      expect((await app.command({ cmdId: 2, type: 'dance' })).error).toMatchObject({ status: 400, code: 'IOT_ERR_BAD_REQUEST' });
      expect((await app.command({ cmdId: 3, type: 'rpc', deviceId: 'nope', method: 'x' })).error).toMatchObject({ status: 404, code: 'IOT_ERR_DEVICE_NOT_FOUND' });
      expect((await app.command({ cmdId: 4, type: 'rpc', deviceId: 'dev-plain', method: '' })).error).toMatchObject({ status: 400, code: 'IOT_ERR_BAD_REQUEST' });
      expect((await app.command({ cmdId: 5, type: 'rpc', deviceId: 'dev-b', method: 'x' })).error).toMatchObject({ status: 404 });
      const offline = await app.command({ cmdId: 6, type: 'rpc', deviceId: 'dev-a', method: 'x', timeout: 5000 }, 8000);
      expect(offline.error).toMatchObject({ status: 504, code: 'IOT_ERR_DEVICE_OFFLINE' });
    } finally {
      app.close();
    }
  }, 15_000);

  it('the same access rules as REST: a customer user reaches only its customer\'s devices; a bad token is refused with 401 before the upgrade', async () => {
    const customer = await AppSocketClient.open(t.httpUrl, await t.login(USERS.customer));
    try {
      expect((await customer.command({ cmdId: 1, type: 'rpc', deviceId: 'dev-plain', method: 'x' })).error).toMatchObject({ status: 403, code: 'IOT_ERR_FORBIDDEN' });
      expect((await customer.command({ cmdId: 2, type: 'subscribe', deviceId: 'dev-plain' })).error).toMatchObject({ status: 403 });
    } finally {
      customer.close();
    }
    const sysadmin = await AppSocketClient.open(t.httpUrl, await t.login(USERS.sysadmin));
    try {
      expect((await sysadmin.command({ cmdId: 1, type: 'rpc', deviceId: 'dev-a', method: 'x' })).error).toMatchObject({ status: 403 });
    } finally {
      sysadmin.close();
    }
    await expect(AppSocketClient.open(t.httpUrl, 'not-a-jwt')).rejects.toThrow('HTTP 401');
  });

  it('subscribe streams the device\'s session events and every status of every call; unsubscribe ends the stream', async () => {
    const app = await AppSocketClient.open(t.httpUrl, tenantToken);
    try {
      const sub = await app.command({ cmdId: 's1', type: 'subscribe', deviceId: 'dev-a' });
      expect(sub.result).toMatchObject({ subscribed: 'dev-a', state: 'offline' });
      const device = await connectDevice(t.mqttUrl, 'TOKEN_A');
      await answerRequests(device, () => ({ ok: true }));
      expect(await app.next((f) => f.cmdId === 's1' && f.event === 'connected')).toMatchObject({ deviceId: 'dev-a', transport: 'mqtt' });
      await app.next((f) => f.cmdId === 's1' && f.event === 'subscribed');
      await expect(t.server.call('dev-a', { method: 'watched' })).resolves.toEqual({ ok: true });
      const statuses: string[] = [];
      for (;;) {
        const f = await app.next((x) => x.cmdId === 's1' && x.event === 'call');
        const call = f.call as { method: string; status: string };
        expect(call.method).toBe('watched');
        statuses.push(call.status);
        if (call.status === 'replied') break;
      }
      // Every status it passed through, once, in order: in line, sent at once (the device is subscribed), delivered
      // (told even when the reply overtook the PUBACK), replied.
      expect(statuses).toEqual(['queued', 'sent', 'delivered', 'replied']);
      expect((await app.command({ cmdId: 's1', type: 'unsubscribe' })).result).toEqual({ unsubscribed: true });
      device.end(true);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(app.frames.filter((f) => f.event === 'disconnected')).toEqual([]);
      expect((await app.command({ cmdId: 's1', type: 'unsubscribe' })).error).toMatchObject({ code: 'IOT_ERR_NOT_FOUND' });
    } finally {
      app.close();
    }
  });

  it('closing the socket withdraws its calls under way', async () => {
    const device = await connectDevice(t.mqttUrl, 'TOKEN_PLAIN');
    const app = await AppSocketClient.open(t.httpUrl, tenantToken);
    try {
      const seen = await answerRequests(device, () => undefined);
      const outcomes: string[] = [];
      t.server.on('call', (e) => e.method === 'abandoned' && outcomes.push(e.status));
      app.send({ cmdId: 1, type: 'rpc', deviceId: 'dev-plain', method: 'abandoned', timeout: 30_000 });
      await expect.poll(() => seen.length).toBe(1);
      app.close();
      await expect.poll(() => outcomes).toContain('deleted');
    } finally {
      device.end(true);
    }
  });

  it('an auth frame followed at once by commands: they wait for it', async () => {
    const device = await connectDevice(t.mqttUrl, 'TOKEN_PLAIN');
    const app = await AppSocketClient.open(t.httpUrl);
    try {
      await answerRequests(device, () => ({ pong: true }));
      app.send({ cmdId: 'a', auth: { token: tenantToken } });
      app.send({ cmdId: 1, type: 'rpc', deviceId: 'dev-plain', method: 'ping' });
      expect(await app.next((f) => f.cmdId === 1)).toEqual({ cmdId: 1, result: { pong: true } });
    } finally {
      app.close();
      device.end(true);
    }
  });

  it('a persistent call\'s stored statuses reach subscribers with its rpcId; a deleted device ends the subscription', async () => {
    const app = await AppSocketClient.open(t.httpUrl, tenantToken);
    try {
      await app.command({ cmdId: 's', type: 'subscribe', deviceId: 'gw-1' });
      const stored = await app.command({ cmdId: 1, type: 'rpc', deviceId: 'gw-1', method: 'kept', persistent: true, timeout: 10_000 });
      const { rpcId } = stored.result as { rpcId: string };
      expect(await app.next((f) => f.cmdId === 's' && (f.call as { rpcId?: string } | undefined)?.rpcId === rpcId)).toMatchObject({ event: 'call', call: { rpcId, method: 'kept', status: 'QUEUED' } });
      const deleted = await fetch(`${t.httpUrl}/api/rpc/persistent/${rpcId}`, { method: 'DELETE', headers: { 'x-authorization': `Bearer ${tenantToken}` } });
      expect(deleted.status).toBe(200);
      expect(await app.next((f) => f.cmdId === 's' && (f.call as { status?: string } | undefined)?.status === 'DELETED')).toMatchObject({ call: { rpcId } });

      const created = await t.post('/api/device', { name: 'Short-lived', accessToken: 'TOKEN_SHORT' }, tenantToken);
      const { id } = ((await created.json()) as { id: { id: string } }).id;
      await app.command({ cmdId: 'short', type: 'subscribe', deviceId: id });
      const device = await connectDevice(t.mqttUrl, 'TOKEN_SHORT');
      await app.next((f) => f.cmdId === 'short' && f.event === 'connected');
      const removed = await fetch(`${t.httpUrl}/api/device/${id}`, { method: 'DELETE', headers: { 'x-authorization': `Bearer ${tenantToken}` } });
      expect(removed.status).toBe(200);
      expect((await app.next((f) => f.cmdId === 'short' && 'error' in f)).error).toMatchObject({ code: 'IOT_ERR_DEVICE_REMOVED' });
      expect((await app.command({ cmdId: 'short', type: 'unsubscribe' })).error).toMatchObject({ code: 'IOT_ERR_NOT_FOUND' });
      device.end(true);
    } finally {
      app.close();
    }
  });

  it('upgrade requests with a malformed target, or reset while their token is checked, leave the server running', async () => {
    const port = Number(new URL(t.httpUrl).port);
    const raw = (request: string, resetAfterMs?: number) =>
      new Promise<string>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(request);
          if (resetAfterMs !== undefined) setTimeout(() => socket.resetAndDestroy(), resetAfterMs);
        });
        let answer = '';
        socket.on('data', (chunk) => (answer += chunk.toString()));
        socket.on('close', () => resolve(answer));
        socket.on('error', () => resolve(answer));
      });
    const upgrade = (target: string) => `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
    for (const target of ['http://[', '//[/api/ws', 'http://x:notaport/', '/api/ws?token=%E0%A4%A']) await raw(upgrade(target));
    await Promise.all(Array.from({ length: 30 }, (_, i) => raw(upgrade(`/api/ws?token=${i % 2 === 0 ? tenantToken : 'bad'}`), 0)));
    const app = await AppSocketClient.open(t.httpUrl, tenantToken);
    expect((await app.command({ cmdId: 1, type: 'subscribe', deviceId: 'dev-plain' })).result).toMatchObject({ subscribed: 'dev-plain' });
    app.close();
  });

  it('subscribe and unsubscribe sent back to back: the unsubscribe wins, and no events follow', async () => {
    const app = await AppSocketClient.open(t.httpUrl, tenantToken);
    try {
      app.send({ cmdId: 'quick', type: 'subscribe', deviceId: 'dev-a' });
      app.send({ cmdId: 'quick', type: 'unsubscribe' });
      expect((await app.next((f) => f.cmdId === 'quick' && 'result' in f && 'unsubscribed' in (f.result as object))).result).toEqual({ unsubscribed: true });
      const device = await connectDevice(t.mqttUrl, 'TOKEN_A');
      await new Promise((resolve) => setTimeout(resolve, 200));
      device.end(true);
      expect(app.frames.filter((f) => f.cmdId === 'quick' && 'event' in f)).toEqual([]);
    } finally {
      app.close();
    }
  });
});
