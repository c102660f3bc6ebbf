import { describe, expect, it } from 'vitest';
import { DeviceDataError, parseTelemetry } from '../../../src/device-data/device-data-payload.js';
import { LatestValues } from '../../../src/device-data/latest-values.js';
import type { Device } from '../../../src/registry/device-registry.js';

const device = { id: 'd1', name: 'D1' } as Device;

describe('device data', () => {
  it('reads telemetry in each of ThingsBoard\'s shapes, and refuses anything else', () => {
    expect(parseTelemetry({ a: 1 }, 5)).toEqual([{ ts: 5, values: { a: 1 } }]);
    expect(parseTelemetry({ ts: 7, values: { a: 1 } }, 5)).toEqual([{ ts: 7, values: { a: 1 } }]);
    expect(parseTelemetry([{ ts: 7, values: { a: 1 } }, { b: 2 }], 5)).toEqual([{ ts: 7, values: { a: 1 } }, { ts: 5, values: { b: 2 } }]);
    for (const bad of [1, 'x', null, [1], { ts: 'now', values: {} }, { ts: 1, values: [] }, { ts: -1, values: {} }]) {
      expect(() => parseTelemetry(bad), JSON.stringify(bad)).toThrow(DeviceDataError);
    }
  });

  it('keeps the newest value per key; a message past a limit is refused whole and changes nothing', () => {
    const data = new LatestValues({ maxKeysPerDevice: 3, maxValueBytes: 10, maxBytesPerDevice: 1000 });
    data.recordTelemetry(device, [{ ts: 2, values: { a: 1 } }, { ts: 1, values: { a: 0, b: 'x' } }]);
    expect([...data.telemetry('d1')]).toEqual([
      ['a', { ts: 2, value: 1 }],
      ['b', { ts: 1, value: 'x' }],
    ]);
    expect(() => data.recordAttributes(device, 'client', { c: 1, d: 2 })).toThrow(expect.objectContaining({ reason: 'limit' }));
    expect(() => data.recordTelemetry(device, [{ ts: 3, values: { a: 'a very long value' } }])).toThrow(/over the limit of 10/);
    expect(data.telemetry('d1').get('a')).toEqual({ ts: 2, value: 1 });
    expect(data.attributes('d1', 'client').size).toBe(0);
    data.recordAttributes(device, 'client', { c: 1 });
    // Replacing a key it already holds adds nothing.
    data.recordTelemetry(device, [{ ts: 4, values: { a: 5, b: 6 } }]);
    expect(data.telemetry('d1', ['a', 'zzz'])).toEqual(new Map([['a', { ts: 4, value: 5 }]]));
    data.removeDevice('d1');
    expect(data.telemetry('d1').size).toBe(0);
  });

  it('bounds the bytes of all a device\'s values together; replacing a value counts only the difference', () => {
    const data = new LatestValues({ maxKeysPerDevice: 100, maxValueBytes: 100, maxBytesPerDevice: 25 });
    data.recordTelemetry(device, [{ ts: 1, values: { a: 'x'.repeat(8) } }]); // "xxxxxxxx": 10 bytes
    data.recordAttributes(device, 'client', { b: 'y'.repeat(8) }); // 20
    expect(() => data.recordAttributes(device, 'shared', { c: 'z'.repeat(8) })).toThrow(/at most 25 bytes/);
    data.recordTelemetry(device, [{ ts: 2, values: { a: 'x'.repeat(11) } }]); // a: 13, total 23
    expect(() => data.recordTelemetry(device, [{ ts: 3, values: { a: 'x'.repeat(14) } }])).toThrow(/would make 26/);
    expect(data.telemetry('d1').get('a')!.value).toBe('x'.repeat(11));
  });
});
