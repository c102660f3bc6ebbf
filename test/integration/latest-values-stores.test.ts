/**
 * The latest values behave the same in memory and in Redis (a cluster's store, a real redis-server): newest ts
 * wins, limits refuse a message whole, deletion forgets; and a Redis that is away is an `unavailable` refusal.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceDataLimits, DeviceValuesStore } from '../../src/device-data/device-values-store.js';
import { LatestValues } from '../../src/device-data/latest-values.js';
import { MemoryValuesStore } from '../../src/device-data/memory-values-store.js';
import { RedisValuesStore } from '../../src/device-data/redis-values-store.js';
import type { Device } from '../../src/registry/device-registry.js';
import { startRedis, type RedisProcess } from '../support/redis.js';

let redisServer: RedisProcess;
let redis: Redis;
beforeAll(async () => {
  redisServer = await startRedis();
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
});
afterAll(async () => {
  redis.disconnect();
  await redisServer.stop();
});

let deviceCount = 0;
/** A fresh device for each test, so the Redis-backed runs do not see each other's values. */
const freshDevice = () => ({ id: `d${++deviceCount}-${Date.now()}`, name: 'D' }) as Device;

const stores: Array<[string, (limits: DeviceDataLimits) => DeviceValuesStore]> = [
  ['memory', (limits) => new MemoryValuesStore(limits)],
  ['Redis', (limits) => new RedisValuesStore(redis, limits)],
];

describe.each(stores)('latest values in %s', (_name, storeOf) => {
  const latestValues = (limits: DeviceDataLimits) => new LatestValues(limits, storeOf(limits));

  it('keeps the newest value per key; a message past a limit is refused whole and changes nothing', async () => {
    const data = latestValues({ maxKeysPerDevice: 3, maxValueBytes: 10, maxBytesPerDevice: 1000 });
    const device = freshDevice();
    await data.recordTelemetry(device, [{ ts: 2, values: { a: 1 } }, { ts: 1, values: { a: 0, b: 'x' } }]);
    expect(new Map(await data.telemetry(device.id))).toEqual(
      new Map([
        ['a', { ts: 2, value: 1 }],
        ['b', { ts: 1, value: 'x' }],
      ]),
    );
    // An older message does not replace a newer value.
    await data.recordTelemetry(device, [{ ts: 1, values: { a: 'old' } }]);
    expect((await data.telemetry(device.id, ['a'])).get('a')).toEqual({ ts: 2, value: 1 });
    await expect(data.recordAttributes(device, 'client', { c: 1, d: 2 })).rejects.toMatchObject({ reason: 'limit', message: /at most 3 telemetry and attribute keys \(it holds 2; this message adds 2\)/ });
    await expect(data.recordTelemetry(device, [{ ts: 3, values: { a: 'a very long value' } }])).rejects.toThrow(/over the limit of 10/);
    expect((await data.telemetry(device.id)).get('a')).toEqual({ ts: 2, value: 1 });
    expect((await data.attributes(device.id, 'client')).size).toBe(0);
    await data.recordAttributes(device, 'client', { c: { n: [1] } });
    expect((await data.attributes(device.id, 'client', ['c'])).get('c')!.value).toEqual({ n: [1] });
    // Replacing a key it already holds adds nothing.
    await data.recordTelemetry(device, [{ ts: 4, values: { a: 5, b: 6 } }]);
    expect(await data.telemetry(device.id, ['a', 'zzz'])).toEqual(new Map([['a', { ts: 4, value: 5 }]]));
    // Scopes are apart: a shared attribute named like a telemetry key is another value.
    await expect(data.recordAttributes(device, 'shared', { a: true })).rejects.toMatchObject({ reason: 'limit' });
    await data.removeDevice(device.id);
    expect((await data.telemetry(device.id)).size).toBe(0);
    expect((await data.attributes(device.id, 'client')).size).toBe(0);
  });

  it('bounds the bytes of all a device\'s values together; replacing a value counts only the difference', async () => {
    const data = latestValues({ maxKeysPerDevice: 100, maxValueBytes: 100, maxBytesPerDevice: 25 });
    const device = freshDevice();
    await data.recordTelemetry(device, [{ ts: 1, values: { a: 'x'.repeat(8) } }]); // "xxxxxxxx": 10 bytes
    await data.recordAttributes(device, 'client', { b: 'y'.repeat(8) }); // 20
    await expect(data.recordAttributes(device, 'shared', { c: 'z'.repeat(8) })).rejects.toThrow(/at most 25 bytes/);
    await data.recordTelemetry(device, [{ ts: 2, values: { a: 'x'.repeat(11) } }]); // a: 13, total 23
    await expect(data.recordTelemetry(device, [{ ts: 3, values: { a: 'x'.repeat(14) } }])).rejects.toThrow(/would make 26/);
    expect((await data.telemetry(device.id)).get('a')!.value).toBe('x'.repeat(11));
    // Multi-byte characters count as their UTF-8 bytes.
    await expect(data.recordAttributes(device, 'client', { b: 'é'.repeat(4) })).resolves.toBeUndefined(); // 10 bytes, as before
    await expect(data.recordAttributes(device, 'client', { b: 'é'.repeat(6) })).rejects.toThrow(/would make 27/); // 14 bytes
  });

  it('events tell only what was kept', async () => {
    const data = latestValues({ maxKeysPerDevice: 1, maxValueBytes: 100, maxBytesPerDevice: 1000 });
    const device = freshDevice();
    const told: string[] = [];
    data.on('telemetry', ({ entries }) => told.push(Object.keys(entries[0]!.values).join()));
    await data.recordTelemetry(device, [{ ts: 1, values: { a: 1 } }]);
    await data.recordTelemetry(device, [{ ts: 1, values: { b: 1 } }]).catch(() => {});
    expect(told).toEqual(['a']);
  });
});

describe('latest values in a Redis that is away', () => {
  it('refuse with reason unavailable (503 on HTTP, 5.03 on CoAP, PUBACK 0x80 on MQTT 5), never a thrown crash', async () => {
    const away = new Redis('redis://127.0.0.1:1', { maxRetriesPerRequest: 0, lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null });
    away.on('error', () => {});
    const data = new LatestValues({ maxKeysPerDevice: 10, maxValueBytes: 100, maxBytesPerDevice: 1000 }, new RedisValuesStore(away, { maxKeysPerDevice: 10, maxValueBytes: 100, maxBytesPerDevice: 1000 }));
    const device = freshDevice();
    await expect(data.recordTelemetry(device, [{ ts: 1, values: { a: 1 } }])).rejects.toMatchObject({ reason: 'unavailable' });
    await expect(data.telemetry(device.id)).rejects.toMatchObject({ reason: 'unavailable' });
    away.disconnect();
  });
});
