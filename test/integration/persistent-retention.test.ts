import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryCallStore, PersistentCalls, RedisCallStore, type CallStore, type StoredCall } from '../../src/persistence/index.js';
import { DeadlineScheduler } from '../../src/scheduling/deadline-scheduler.js';
import { startRedis, type RedisProcess } from '../support/redis.js';

// rpc.ttlDays: finished calls older than that are removed by the hourly sweep; unfinished ones never are.
let redis: RedisProcess;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.stop());

const DAY = 86_400_000;

function storedCall(deviceId: string, status: StoredCall['status'], updatedTime: number, requestUUID: string | null = null): StoredCall {
  return {
    id: crypto.randomUUID(),
    createdTime: updatedTime,
    updatedTime,
    tenantId: 't',
    deviceId,
    expirationTime: Date.now() + DAY,
    request: { method: 'm', params: {}, oneway: false, timeout: 10_000, retries: 0 },
    response: null,
    status: 'QUEUED',
    additionalInfo: null,
    requestUUID,
    attempts: 0,
    ...(status === 'QUEUED' ? {} : { status }),
  };
}

/** PersistentCalls over `store` (no deliveries: these tests read what the sweeps leave), closed afterwards. */
async function withPersistentCalls(store: CallStore, maxFinished: number, run: (store: CallStore, persistent: PersistentCalls) => Promise<void>): Promise<void> {
  const scheduler = new DeadlineScheduler();
  const persistent = new PersistentCalls({ store, scheduler, logger: pino({ level: 'silent' }), ttlDays: 7, call: () => Promise.reject(new Error('not used')), hasSession: () => false, deviceTenant: () => undefined, maxPerDevice: 1000, maxCallBytes: 16_384, maxFinished });
  try {
    await run(store, persistent);
  } finally {
    persistent.close();
    scheduler.close();
    await store.close?.();
  }
}

const STORES = [
  ['memory', () => new MemoryCallStore() as CallStore],
  ['redis', () => RedisCallStore.connect(redis.url) as CallStore],
] as const;

describe.each(STORES)('retention with the %s store', (_name, makeStore) => {
  it('the sweep removes finished calls older than rpc.ttlDays, and keeps newer and unfinished ones', async () => {
    await withPersistentCalls(makeStore(), 100_000, async (store, persistent) => {
      const now = Date.now();
      const device = `retention-${_name}`;
      const old = storedCall(device, 'QUEUED', now - 10 * DAY, crypto.randomUUID());
      const recent = storedCall(device, 'QUEUED', now - 2 * DAY);
      const waiting = storedCall(device, 'QUEUED', now - 30 * DAY);
      for (const call of [old, recent, waiting]) await store.insert(call);
      await store.update({ ...old, status: 'SUCCESSFUL', updatedTime: now - 10 * DAY });
      await store.update({ ...recent, status: 'FAILED', updatedTime: now - 2 * DAY });
      persistent.removeFinishedPastRetention(now);
      await expect.poll(async () => store.get(old.id)).toBeUndefined();
      expect(await store.byRequestUUID(device, old.requestUUID!)).toBeUndefined();
      expect((await store.get(recent.id))?.status).toBe('FAILED');
      expect((await store.get(waiting.id))?.status).toBe('QUEUED');
      const listed = await store.listByDevice(device, { tenantId: 't', pageSize: 10, page: 0, sortProperty: 'createdTime', sortOrder: 'ASC' });
      expect(listed.data.map((c) => c.id)).toEqual([waiting.id, recent.id]);
      // Five days on, the FAILED one is past retention too.
      persistent.removeFinishedPastRetention(now + 6 * DAY);
      await expect.poll(async () => store.get(recent.id)).toBeUndefined();
      expect((await store.get(waiting.id))?.status).toBe('QUEUED');
    });
  });
});

describe.each(STORES)('rpc.maxFinishedPersistentCalls with the %s store', (_name, makeStore) => {
  it('the finished calls that finished first go past the bound; unfinished ones never do', async () => {
    await withPersistentCalls(makeStore(), 3, async (store, persistent) => {
      // Redis keeps every test's finished calls in one set: start from none.
      await store.purgeFinishedBeyond(0);
      const now = Date.now();
      const device = `bounded-${_name}`;
      const waiting = storedCall(device, 'QUEUED', now - 60_000);
      await store.insert(waiting);
      const finished = Array.from({ length: 5 }, (_, i) => storedCall(device, 'QUEUED', now - 50_000 + i * 1000));
      for (const [i, call] of finished.entries()) {
        await store.insert(call);
        await store.update({ ...call, status: 'SUCCESSFUL', updatedTime: now - 40_000 + i * 1000 });
      }
      persistent.removeFinishedBeyondBound();
      await expect.poll(async () => (await Promise.all(finished.map((c) => store.get(c.id)))).map((c) => c?.status ?? 'gone')).toEqual(['gone', 'gone', 'SUCCESSFUL', 'SUCCESSFUL', 'SUCCESSFUL']);
      expect((await store.get(waiting.id))?.status).toBe('QUEUED');
    });
  });
});

describe('the memory store bounds its finished calls as they finish', () => {
  it('holds at most maxFinished finished calls at any time, without waiting for a sweep', async () => {
    const store = new MemoryCallStore(2);
    const calls = Array.from({ length: 4 }, (_, i) => storedCall('d', 'QUEUED', Date.now() + i));
    for (const call of calls) {
      await store.insert(call);
      await store.update({ ...call, status: 'FAILED' });
    }
    expect((await Promise.all(calls.map((c) => store.get(c.id)))).map((c) => c?.status ?? 'gone')).toEqual(['gone', 'gone', 'FAILED', 'FAILED']);
  });
});

describe('listing a device\'s calls from Redis, a page at a time', () => {
  it('pages by createdTime in both orders read only the page, and agree with a filtered listing', async () => {
    const store = RedisCallStore.connect(redis.url);
    try {
      const device = 'paged-device';
      const base = Date.now() - 60_000;
      const calls = Array.from({ length: 5 }, (_, i) => ({ ...storedCall(device, 'QUEUED', base + i * 1000), createdTime: base + i * 1000 }));
      for (const call of calls) await store.insert(call);
      const ids = calls.map((c) => c.id);
      const page = (n: number, sortOrder: 'ASC' | 'DESC') => store.listByDevice(device, { tenantId: 't', pageSize: 2, page: n, sortProperty: 'createdTime', sortOrder });
      expect((await page(0, 'ASC')).data.map((c) => c.id)).toEqual(ids.slice(0, 2));
      expect(await page(2, 'ASC')).toMatchObject({ totalElements: 5, totalPages: 3, hasNext: false });
      expect((await page(2, 'ASC')).data.map((c) => c.id)).toEqual(ids.slice(4));
      expect((await page(1, 'DESC')).data.map((c) => c.id)).toEqual([ids[2], ids[1]]);
      const filtered = await store.listByDevice(device, { tenantId: 't', pageSize: 2, page: 1, sortProperty: 'createdTime', sortOrder: 'DESC', status: 'QUEUED' });
      expect(filtered.data.map((c) => c.id)).toEqual([ids[2], ids[1]]);
      expect(filtered.totalElements).toBe(5);
    } finally {
      await store.close();
    }
  });
});

describe.each(STORES)('a device id\'s calls are listed per tenant (%s store)', (_name, makeStore) => {
  it('the calls another tenant made for the same device id are neither listed nor counted, on any page or path', async () => {
    const store = makeStore();
    try {
      const device = `shared-id-${_name}`;
      const base = Date.now() - 60_000;
      const mine = Array.from({ length: 3 }, (_, i) => ({ ...storedCall(device, 'QUEUED', base + i * 1000), createdTime: base + i * 1000 }));
      const theirs = Array.from({ length: 4 }, (_, i) => ({ ...storedCall(device, 'FAILED', base + 500 + i * 1000), createdTime: base + 500 + i * 1000, tenantId: 'other' }));
      for (const call of [...mine, ...theirs]) await store.insert(call);
      for (const query of [
        { sortProperty: 'createdTime' as const, status: undefined },
        { sortProperty: 'expirationTime' as const, status: undefined },
        { sortProperty: 'createdTime' as const, status: 'QUEUED' as const },
      ]) {
        const pages = await Promise.all([0, 1, 2, 3, 4].map((page) => store.listByDevice(device, { tenantId: 't', pageSize: 2, page, sortOrder: 'ASC', ...query })));
        expect(pages.flatMap((p) => p.data.map((c) => c.id)).sort()).toEqual(mine.map((c) => c.id).sort());
        for (const page of pages) expect(page).toMatchObject({ totalElements: 3, totalPages: 2 });
      }
    } finally {
      await store.close?.();
    }
  });
});
