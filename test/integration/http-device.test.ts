import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallEvent } from '../../src/index.js';
import { startTestServer, until, type TestServer } from '../support/server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
  t.server.handle('add', (params) => (params as { a: number; b: number }).a + (params as { a: number; b: number }).b);
  t.server.handle('whoami', (_params, device) => ({ id: device.id, name: device.name }));
});
afterAll(() => t.close());

const poll = (token: string, timeout?: number, signal?: AbortSignal) =>
  fetch(`${t.httpUrl}/api/v1/${token}/rpc${timeout === undefined ? '' : `?timeout=${timeout}`}`, { signal });
const post = (path: string, body: string) => fetch(`${t.httpUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

describe('HTTP device API', () => {
  it('twoway - a long-poll receives the call and the device answers it with POST /rpc/{id}', async () => {
    const call = t.server.call('dev-a', { method: 'getTemp', params: { unit: 'C' }, timeout: 5000 });
    const res = await poll('TOKEN_A', 2000);
    expect(res.status).toBe(200);
    const request = (await res.json()) as { id: number; method: string; params: unknown };
    expect(request).toEqual({ id: expect.any(Number), method: 'getTemp', params: { unit: 'C' } });
    const answer = await post(`/api/v1/TOKEN_A/rpc/${request.id}`, JSON.stringify({ temp: 21.5 }));
    expect(answer.status).toBe(200);
    await expect(call).resolves.toEqual({ temp: 21.5 });
  });

  it('a persistent call to an HTTP device: delivered by a poll, answered by a later POST, stored SUCCESSFUL and sent once', async () => {
    const token = await t.login({ email: 'admin@tenant-a.test', password: 'tenant-pass' });
    const accepted = await t.post('/api/rpc/twoway/dev-plain', { method: 'stored', params: { n: 1 }, persistent: true, timeout: 10_000 }, token);
    const { rpcId } = (await accepted.json()) as { rpcId: string };
    const request = (await (await poll('TOKEN_PLAIN', 2000)).json()) as { id: number; method: string };
    expect(request.method).toBe('stored');
    // The poll has ended; the device takes its time before it answers.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await post(`/api/v1/TOKEN_PLAIN/rpc/${request.id}`, '{"done":true}')).status).toBe(200);
    const status = async () => ((await (await fetch(`${t.httpUrl}/api/rpc/persistent/${rpcId}`, { headers: { 'x-authorization': `Bearer ${token}` } })).json()) as { status: string; response: unknown });
    await expect.poll(async () => (await status()).status).toBe('SUCCESSFUL');
    expect((await status()).response).toEqual({ done: true });
    expect((await poll('TOKEN_PLAIN', 300)).status).toBe(408); // not sent again
  });

  it('a poll that is open when the call starts gets it at once', async () => {
    const pending = poll('TOKEN_A', 5000);
    await until(() => t.server.devices.state('dev-a') === 'subscribed');
    const call = t.server.call('dev-a', { method: 'late', timeout: 5000 });
    const request = (await (await pending).json()) as { id: number };
    await post(`/api/v1/TOKEN_A/rpc/${request.id}`, '"ok"');
    await expect(call).resolves.toBe('ok');
    await until(() => t.server.devices.state('dev-a') === 'offline');
  });

  it('oneway - done when the poll response is written', async () => {
    const pending = poll('TOKEN_A', 2000);
    await until(() => t.server.devices.state('dev-a') === 'subscribed');
    await expect(t.server.call('dev-a', { method: 'blink', oneway: true, timeout: 5000 })).resolves.toBeUndefined();
    expect(((await (await pending).json()) as { method: string }).method).toBe('blink');
  });

  it('one call per poll, in order', async () => {
    const first = t.server.call('dev-a', { method: 'first', timeout: 5000 });
    const second = t.server.call('dev-a', { method: 'second', timeout: 5000 });
    const a = (await (await poll('TOKEN_A', 1000)).json()) as { id: number; method: string };
    const b = (await (await poll('TOKEN_A', 1000)).json()) as { id: number; method: string };
    expect([a.method, b.method]).toEqual(['first', 'second']);
    await post(`/api/v1/TOKEN_A/rpc/${a.id}`, '1');
    await post(`/api/v1/TOKEN_A/rpc/${b.id}`, '2');
    await expect(Promise.all([first, second])).resolves.toEqual([1, 2]);
  });

  it('a written but unanswered call fails as delivered, no reply', async () => {
    const call = t.server.call('dev-a', { method: 'ignored', timeout: 400 });
    expect((await poll('TOKEN_A', 1000)).status).toBe(200);
    await expect(call).rejects.toMatchObject({ code: 'IOT_ERR_NO_REPLY_DELIVERED' });
  });

  it('nothing before the poll timeout answers 408 with an empty body', async () => {
    const res = await poll('TOKEN_PLAIN', 150);
    expect(res.status).toBe(408);
    expect(await res.text()).toBe('');
    expect(t.server.devices.state('dev-plain')).toBe('offline');
  });

  it('a device that hangs up mid-poll loses nothing: the next poll gets the call', async () => {
    const statuses: string[] = [];
    const onCall = (e: CallEvent) => e.deviceId === 'dev-plain' && statuses.push(e.status);
    t.server.on('call', onCall);
    try {
      const controller = new AbortController();
      const abandoned = poll('TOKEN_PLAIN', 5000, controller.signal).catch(() => 'aborted');
      await until(() => t.server.devices.state('dev-plain') === 'subscribed');
      controller.abort();
      expect(await abandoned).toBe('aborted');
      await until(() => t.server.devices.state('dev-plain') === 'offline');
      const call = t.server.call('dev-plain', { method: 'kept', timeout: 5000 });
      const request = (await (await poll('TOKEN_PLAIN', 2000)).json()) as { id: number; method: string };
      expect(request.method).toBe('kept');
      await post(`/api/v1/TOKEN_PLAIN/rpc/${request.id}`, '{"kept":true}');
      await expect(call).resolves.toEqual({ kept: true });
      expect(statuses).toEqual(['queued', 'delivered', 'replied']);
    } finally {
      t.server.off('call', onCall);
    }
  });

  it('client-side RPC is answered by the handlers, with the calling device', async () => {
    const sum = await post('/api/v1/TOKEN_A/rpc', JSON.stringify({ method: 'add', params: { a: 2, b: 40 } }));
    expect(sum.status).toBe(200);
    expect(await sum.json()).toBe(42);
    expect(await (await post('/api/v1/TOKEN_A/rpc', JSON.stringify({ method: 'whoami' }))).json()).toEqual({ id: 'dev-a', name: 'Device A' });
    expect(await (await post('/api/v1/TOKEN_A/rpc', JSON.stringify({ method: 'nope' }))).json()).toEqual({ error: 'Unknown method: nope' });
  });

  it('bad input: 401 bad token, 400 bad timeout / id / body, 404 unknown call, 413 too large', async () => {
    expect((await poll('WRONG', 100)).status).toBe(401);
    expect((await post('/api/v1/WRONG/rpc', '{}')).status).toBe(401);
    expect((await post('/api/v1/WRONG/rpc/1', '{}')).status).toBe(401);
    expect((await poll('TOKEN_A', 0)).status).toBe(400);
    expect((await poll('TOKEN_A', 300_001)).status).toBe(400);
    expect((await fetch(`${t.httpUrl}/api/v1/TOKEN_A/rpc?timeout=soon`)).status).toBe(400);
    expect((await post('/api/v1/TOKEN_A/rpc/abc', '{}')).status).toBe(400);
    expect((await post('/api/v1/TOKEN_A/rpc', 'not json')).status).toBe(400);
    expect((await post('/api/v1/TOKEN_A/rpc', '[1]')).status).toBe(400);
    const unknown = await post('/api/v1/TOKEN_A/rpc/999999', '{}');
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { code: string }).code).toBe('IOT_ERR_NOT_FOUND');
    expect((await post('/api/v1/TOKEN_A/rpc', JSON.stringify({ method: 'add', params: 'x'.repeat(70_000) }))).status).toBe(413);
  });

  it('a reply that is not JSON fails the call with 406', async () => {
    const call = t.server.call('dev-a', { method: 'x', timeout: 3000 }).then(() => 'resolved', (error: unknown) => error);
    const request = (await (await poll('TOKEN_A', 1000)).json()) as { id: number };
    await post(`/api/v1/TOKEN_A/rpc/${request.id}`, 'OK!');
    expect(await call).toMatchObject({ code: 'IOT_ERR_REPLY_NOT_JSON', status: 406 });
  });
});
