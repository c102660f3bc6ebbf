import { describe, expect, it } from 'vitest';
import { DeviceDataError, parseTelemetry } from '../../../src/device-data/device-data-payload.js';

describe('telemetry payloads', () => {
  it('reads telemetry in each of ThingsBoard\'s shapes, and refuses anything else', () => {
    expect(parseTelemetry({ a: 1 }, 5)).toEqual([{ ts: 5, values: { a: 1 } }]);
    expect(parseTelemetry({ ts: 7, values: { a: 1 } }, 5)).toEqual([{ ts: 7, values: { a: 1 } }]);
    expect(parseTelemetry([{ ts: 7, values: { a: 1 } }, { b: 2 }], 5)).toEqual([{ ts: 7, values: { a: 1 } }, { ts: 5, values: { b: 2 } }]);
    for (const bad of [1, 'x', null, [1], { ts: 'now', values: {} }, { ts: 1, values: [] }, { ts: -1, values: {} }]) {
      expect(() => parseTelemetry(bad), JSON.stringify(bad)).toThrow(DeviceDataError);
    }
  });
});
