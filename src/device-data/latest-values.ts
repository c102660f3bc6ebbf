import { EventEmitter } from 'node:events';
import type { Device } from '../registry/device-registry.js';
import { DeviceDataError, parseAttributes, parseTelemetry, type TelemetryEntry } from './device-data-payload.js';
import type { DeviceDataLimits, DeviceValuesStore, LatestValue, ValueWrite } from './device-values-store.js';

export type { DeviceDataLimits, LatestValue } from './device-values-store.js';
export type AttributeScope = 'client' | 'shared';

export interface TelemetryEvent {
  readonly device: Device;
  readonly entries: readonly TelemetryEntry[];
}

export interface AttributesEvent {
  readonly device: Device;
  readonly scope: AttributeScope;
  readonly values: Readonly<Record<string, unknown>>;
}

/**
 * The latest value of each telemetry key and each attribute of each device: no history (iot-rpc is no
 * time-series database). Kept in a DeviceValuesStore (memory, or Redis in a cluster). A message that would take a
 * device past its key or byte limit, or that carries a value over the value limit, is refused whole
 * (DeviceDataError) and nothing of it is kept; what is kept is told as a `telemetry` or `attributes` event.
 */
export class LatestValues extends EventEmitter<{ telemetry: [TelemetryEvent]; attributes: [AttributesEvent] }> {
  constructor(
    readonly limits: DeviceDataLimits,
    readonly store: DeviceValuesStore,
  ) {
    super();
  }

  /** What a device sent on its telemetry or attributes topic/path, parsed and kept; rejects with DeviceDataError. */
  recordFromDevice(device: Device, kind: 'telemetry' | 'attributes', payload: unknown): Promise<void> {
    try {
      return kind === 'telemetry' ? this.recordTelemetry(device, parseTelemetry(payload)) : this.recordAttributes(device, 'client', parseAttributes(payload));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async recordTelemetry(device: Device, entries: readonly TelemetryEntry[]): Promise<void> {
    // One write per key: the newest ts of the message (of equal ones, the last).
    const newest = new Map<string, { ts: number; value: unknown }>();
    for (const { ts, values } of entries) {
      for (const [key, value] of Object.entries(values)) if ((newest.get(key)?.ts ?? -1) <= ts) newest.set(key, { ts, value });
    }
    if (newest.size === 0) return;
    await this.store.write(device.id, 'telemetry', this.#writes(newest));
    this.emit('telemetry', { device, entries });
  }

  async recordAttributes(device: Device, scope: AttributeScope, fresh: Readonly<Record<string, unknown>>, now = Date.now()): Promise<void> {
    const values = new Map(Object.entries(fresh).map(([key, value]) => [key, { ts: now, value }]));
    if (values.size > 0) await this.store.write(device.id, scope, this.#writes(values));
    this.emit('attributes', { device, scope, values: fresh });
  }

  /** The latest telemetry of `keys` (every key when none is named). */
  telemetry(deviceId: string, keys?: readonly string[]): Promise<Map<string, LatestValue>> {
    return this.store.read(deviceId, 'telemetry', keys);
  }

  attributes(deviceId: string, scope: AttributeScope, keys?: readonly string[]): Promise<Map<string, LatestValue>> {
    return this.store.read(deviceId, scope, keys);
  }

  /** The device was deleted: its values go with it. */
  removeDevice(deviceId: string): Promise<void> {
    return this.store.remove(deviceId);
  }

  #writes(values: ReadonlyMap<string, { ts: number; value: unknown }>): ValueWrite[] {
    const writes: ValueWrite[] = [];
    for (const [key, { ts, value }] of values) {
      const json = JSON.stringify(value) ?? 'null';
      const bytes = Buffer.byteLength(json);
      if (bytes > this.limits.maxValueBytes) throw new DeviceDataError(`the value of "${key.slice(0, 64)}" is ${bytes} bytes as JSON, over the limit of ${this.limits.maxValueBytes}`, 'limit');
      writes.push({ key, ts, value, json });
    }
    return writes;
  }
}
