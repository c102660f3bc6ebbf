import type { AttributeScope } from './latest-values.js';

/** What a device's values are kept under: its telemetry, its client attributes, its shared attributes. */
export type ValueKind = 'telemetry' | AttributeScope;

export interface LatestValue {
  readonly ts: number;
  readonly value: unknown;
}

/** One key's new value, with its JSON (its size is what the limits count). */
export interface ValueWrite {
  readonly key: string;
  readonly ts: number;
  readonly value: unknown;
  /** `value` as JSON. */
  readonly json: string;
}

export interface DeviceDataLimits {
  /** Telemetry keys and attribute keys a device may hold together (limits.maxDataKeysPerDevice). */
  readonly maxKeysPerDevice: number;
  /** The largest value, as JSON (limits.maxDataValueBytes). */
  readonly maxValueBytes: number;
  /** All of a device's values together, as JSON (limits.maxDataBytesPerDevice). */
  readonly maxBytesPerDevice: number;
}

/**
 * Where the latest values live: this process's memory (MemoryValuesStore), or Redis in a cluster
 * (RedisValuesStore), so that any node reads what a device sent to another. A write is taken whole or refused
 * whole (DeviceDataError `limit`, counting every written value as if it replaced the one held); a telemetry value
 * older than the one held is not written. A store that cannot be reached refuses with DeviceDataError `unavailable`.
 */
export interface DeviceValuesStore {
  write(deviceId: string, kind: ValueKind, writes: readonly ValueWrite[]): Promise<void>;
  /** The values of `keys` that are held (every key when none is named). */
  read(deviceId: string, kind: ValueKind, keys?: readonly string[]): Promise<Map<string, LatestValue>>;
  /** The device was deleted: its values go with it. */
  remove(deviceId: string): Promise<void>;
  close?(): Promise<void>;
}

export const keyLimitMessage = (max: number, held: number, added: number) =>
  `a device may hold at most ${max} telemetry and attribute keys (it holds ${held}; this message adds ${added})`;
export const byteLimitMessage = (max: number, bytes: number) => `a device may hold at most ${max} bytes of values as JSON (this message would make ${bytes})`;
