import { EventEmitter } from 'node:events';
import type { Device } from '../registry/device-registry.js';
import { DeviceDataError, parseAttributes, parseTelemetry, type TelemetryEntry } from './device-data-payload.js';

export type AttributeScope = 'client' | 'shared';

export interface DeviceDataLimits {
  /** Telemetry keys and attribute keys a device may hold together (limits.maxDataKeysPerDevice). */
  readonly maxKeysPerDevice: number;
  /** The largest value, as JSON (limits.maxDataValueBytes). */
  readonly maxValueBytes: number;
  /** All of a device's values together, as JSON (limits.maxDataBytesPerDevice). */
  readonly maxBytesPerDevice: number;
}

export interface TelemetryEvent {
  readonly device: Device;
  readonly entries: readonly TelemetryEntry[];
}

export interface AttributesEvent {
  readonly device: Device;
  readonly scope: AttributeScope;
  readonly values: Readonly<Record<string, unknown>>;
}

export interface LatestValue {
  readonly ts: number;
  readonly value: unknown;
}

interface DeviceValues {
  readonly telemetry: Map<string, LatestValue>;
  readonly client: Map<string, LatestValue>;
  readonly shared: Map<string, LatestValue>;
  /** Bytes of each value as JSON, by `kind key`, and their sum. */
  readonly sizes: Map<string, number>;
  bytes: number;
}

type Kind = 'telemetry' | AttributeScope;
const sizeKey = (kind: Kind, key: string) => `${kind}\u0000${key}`;
const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value) ?? 'null');

/**
 * The latest value of each telemetry key and each attribute of each device, in memory: no history (iot-rpc is no
 * time-series database). A message that would take a device past its key limit, or that carries a value over the
 * byte limit, is refused whole (DeviceDataError) and nothing of it is kept.
 */
export class LatestValues extends EventEmitter<{ telemetry: [TelemetryEvent]; attributes: [AttributesEvent] }> {
  readonly #devices = new Map<string, DeviceValues>();

  constructor(readonly limits: DeviceDataLimits) {
    super();
  }

  /** What a device sent on its telemetry or attributes topic/path, parsed and kept; DeviceDataError when refused. */
  recordFromDevice(device: Device, kind: 'telemetry' | 'attributes', payload: unknown): void {
    if (kind === 'telemetry') this.recordTelemetry(device, parseTelemetry(payload));
    else this.recordAttributes(device, 'client', parseAttributes(payload));
  }

  recordTelemetry(device: Device, entries: readonly TelemetryEntry[]): void {
    const known = this.#devices.get(device.id);
    this.#check(known, entries.map((entry) => entry.values), 'telemetry');
    const values = known ?? this.#create(device.id);
    for (const { ts, values: fresh } of entries) {
      for (const [key, value] of Object.entries(fresh)) {
        const latest = values.telemetry.get(key);
        if (latest === undefined || latest.ts <= ts) this.#set(values, 'telemetry', key, { ts, value });
      }
    }
    if (entries.length > 0) this.emit('telemetry', { device, entries });
  }

  recordAttributes(device: Device, scope: AttributeScope, fresh: Readonly<Record<string, unknown>>, now = Date.now()): void {
    const known = this.#devices.get(device.id);
    this.#check(known, [fresh], scope);
    const values = known ?? this.#create(device.id);
    for (const [key, value] of Object.entries(fresh)) this.#set(values, scope, key, { ts: now, value });
    this.emit('attributes', { device, scope, values: fresh });
  }

  /** The latest telemetry of `keys` (every key when none is named). */
  telemetry(deviceId: string, keys?: readonly string[]): Map<string, LatestValue> {
    return pick(this.#devices.get(deviceId)?.telemetry, keys);
  }

  attributes(deviceId: string, scope: AttributeScope, keys?: readonly string[]): Map<string, LatestValue> {
    return pick(this.#devices.get(deviceId)?.[scope], keys);
  }

  /** The device was deleted: its values go with it. */
  removeDevice(deviceId: string): void {
    this.#devices.delete(deviceId);
  }

  #create(deviceId: string): DeviceValues {
    const values: DeviceValues = { telemetry: new Map(), client: new Map(), shared: new Map(), sizes: new Map(), bytes: 0 };
    this.#devices.set(deviceId, values);
    return values;
  }

  #set(values: DeviceValues, kind: Kind, key: string, latest: LatestValue): void {
    const bytes = jsonBytes(latest.value);
    const id = sizeKey(kind, key);
    values.bytes += bytes - (values.sizes.get(id) ?? 0);
    values.sizes.set(id, bytes);
    values[kind].set(key, latest);
  }

  /** Whether the message fits the limits once stored (the largest of several values for one key counted). */
  #check(known: DeviceValues | undefined, batches: ReadonlyArray<Readonly<Record<string, unknown>>>, kind: Kind): void {
    const { maxKeysPerDevice, maxValueBytes, maxBytesPerDevice } = this.limits;
    const held = known === undefined ? 0 : known.telemetry.size + known.client.size + known.shared.size;
    const target = kind === 'telemetry' ? known?.telemetry : known?.[kind];
    const added = new Set<string>();
    const incoming = new Map<string, number>();
    for (const batch of batches) {
      for (const [key, value] of Object.entries(batch)) {
        const bytes = jsonBytes(value);
        if (bytes > maxValueBytes) throw new DeviceDataError(`the value of "${key.slice(0, 64)}" is ${bytes} bytes as JSON, over the limit of ${maxValueBytes}`, 'limit');
        if (target?.has(key) !== true) added.add(key);
        incoming.set(key, Math.max(bytes, incoming.get(key) ?? 0));
      }
    }
    if (held + added.size > maxKeysPerDevice) throw new DeviceDataError(`a device may hold at most ${maxKeysPerDevice} telemetry and attribute keys (it holds ${held}; this message adds ${added.size})`, 'limit');
    let bytes = known?.bytes ?? 0;
    for (const [key, size] of incoming) bytes += size - (known?.sizes.get(sizeKey(kind, key)) ?? 0);
    if (bytes > maxBytesPerDevice) throw new DeviceDataError(`a device may hold at most ${maxBytesPerDevice} bytes of values as JSON (this message would make ${bytes})`, 'limit');
  }
}

function pick(values: Map<string, LatestValue> | undefined, keys: readonly string[] | undefined): Map<string, LatestValue> {
  if (values === undefined) return new Map();
  if (keys === undefined) return new Map(values);
  const picked = new Map<string, LatestValue>();
  for (const key of keys) {
    const value = values.get(key);
    if (value !== undefined) picked.set(key, value);
  }
  return picked;
}
