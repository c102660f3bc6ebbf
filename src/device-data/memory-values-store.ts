import { DeviceDataError } from './device-data-payload.js';
import { byteLimitMessage, keyLimitMessage, type DeviceDataLimits, type DeviceValuesStore, type LatestValue, type ValueKind, type ValueWrite } from './device-values-store.js';

interface HeldValue extends LatestValue {
  readonly bytes: number;
}

interface DeviceValues {
  readonly telemetry: Map<string, HeldValue>;
  readonly client: Map<string, HeldValue>;
  readonly shared: Map<string, HeldValue>;
  bytes: number;
}

/** The latest values in this process's memory: one node, gone with the process. */
export class MemoryValuesStore implements DeviceValuesStore {
  readonly #devices = new Map<string, DeviceValues>();

  constructor(readonly limits: DeviceDataLimits) {}

  async write(deviceId: string, kind: ValueKind, writes: readonly ValueWrite[]): Promise<void> {
    const known = this.#devices.get(deviceId);
    const held = known?.[kind];
    let keys = known === undefined ? 0 : known.telemetry.size + known.client.size + known.shared.size;
    const heldBefore = keys;
    let bytes = known?.bytes ?? 0;
    for (const { key, json } of writes) {
      const old = held?.get(key);
      if (old === undefined) keys++;
      bytes += Buffer.byteLength(json) - (old?.bytes ?? 0);
    }
    if (keys > this.limits.maxKeysPerDevice) throw new DeviceDataError(keyLimitMessage(this.limits.maxKeysPerDevice, heldBefore, keys - heldBefore), 'limit');
    if (bytes > this.limits.maxBytesPerDevice) throw new DeviceDataError(byteLimitMessage(this.limits.maxBytesPerDevice, bytes), 'limit');
    const values = known ?? this.#create(deviceId);
    const target = values[kind];
    for (const { key, ts, value, json } of writes) {
      const old = target.get(key);
      if (kind === 'telemetry' && old !== undefined && old.ts > ts) continue;
      const size = Buffer.byteLength(json);
      values.bytes += size - (old?.bytes ?? 0);
      target.set(key, { ts, value, bytes: size });
    }
  }

  async read(deviceId: string, kind: ValueKind, keys?: readonly string[]): Promise<Map<string, LatestValue>> {
    const held = this.#devices.get(deviceId)?.[kind];
    const found = new Map<string, LatestValue>();
    if (held === undefined) return found;
    for (const key of keys ?? held.keys()) {
      const value = held.get(key);
      if (value !== undefined) found.set(key, { ts: value.ts, value: value.value });
    }
    return found;
  }

  async remove(deviceId: string): Promise<void> {
    this.#devices.delete(deviceId);
  }

  #create(deviceId: string): DeviceValues {
    const values: DeviceValues = { telemetry: new Map(), client: new Map(), shared: new Map(), bytes: 0 };
    this.#devices.set(deviceId, values);
    return values;
  }
}
