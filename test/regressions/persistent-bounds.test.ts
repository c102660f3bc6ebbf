import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, USERS, type TestServer } from '../support/server.js';

// Issue 9, finding 4: a customer user could store 2,000 persistent calls of 60 KB for one offline device (+87 MB,
// kept for up to 24.8 days).

let t: TestServer;
let customer: string;
let admin: string;
beforeAll(async () => {
  t = await startTestServer({ rpc: { maxPersistentPerDevice: 5 } });
  customer = await t.login(USERS.customer);
  admin = await t.login(USERS.tenant);
});
afterAll(() => t.close());

const store = (token: string, params: unknown) => t.post('/api/rpc/oneway/dev-a', { method: 'later', params, persistent: true, timeout: 60_000 }, token);

describe('what callers can make the store hold for one device is bounded', () => {
  it('unfinished persistent calls per device: the one over rpc.maxPersistentPerDevice gets 429, and a slot frees when one ends', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await store(customer, { i });
      expect(res.status).toBe(200);
      ids.push(((await res.json()) as { rpcId: string }).rpcId);
    }
    const over = await store(customer, { i: 5 });
    expect(over.status).toBe(429);
    expect(await over.json()).toMatchObject({ code: 'IOT_ERR_TOO_MANY_PERSISTENT' });
    const deleted = await fetch(`${t.httpUrl}/api/rpc/persistent/${ids[0]}`, { method: 'DELETE', headers: { 'x-authorization': `Bearer ${admin}` } });
    expect(deleted.status).toBe(200);
    expect((await store(customer, { i: 6 })).status).toBe(200);
  });

  it('a call whose params and additionalInfo are over rpc.maxPersistentCallBytes (16 KiB) gets 413', async () => {
    const res = await t.post('/api/rpc/oneway/dev-plain', { method: 'big', params: { blob: 'x'.repeat(20_000) }, persistent: true }, admin);
    expect(res.status).toBe(413);
    const info = await t.post('/api/rpc/oneway/dev-plain', { method: 'big', params: {}, additionalInfo: 'y'.repeat(17_000), persistent: true }, admin);
    expect(info.status).toBe(413);
  });
});
