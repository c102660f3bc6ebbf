/**
 * ThingsBoard's device data payloads (its device API): telemetry as an object of key/values, as `{"ts","values"}`,
 * or as an array of either; attributes as an object of key/values. Values are JSON values of any kind; nested
 * objects are kept whole, as ThingsBoard keeps JSON values.
 */
export interface TelemetryEntry {
  /** Epoch ms: the device's own, or the time the server received it. */
  readonly ts: number;
  readonly values: Readonly<Record<string, unknown>>;
}

import { RpcError } from '../errors.js';

export class DeviceDataError extends Error {
  /**
   * `format`: it is not what ThingsBoard takes; `limit`: well formed but past the data limits; `unavailable`: the
   * cluster's value store (Redis) could not take or give it, so nothing was kept and the sender may try again.
   */
  constructor(
    message: string,
    readonly reason: 'format' | 'limit' | 'unavailable' = 'format',
  ) {
    super(message);
  }

  /** The REST / HTTP / CoAP answer: 400 for a payload ThingsBoard refuses, 413 past the data limits, 503 unavailable. */
  toRpcError(): RpcError {
    return new RpcError(ERROR_CODES[this.reason], this.message);
  }

  /** For `.catch`: a DeviceDataError as its RpcError, anything else as it is. */
  static rethrowAsRpcError(error: unknown): never {
    throw error instanceof DeviceDataError ? error.toRpcError() : error;
  }
}

const ERROR_CODES = { format: 'IOT_ERR_BAD_REQUEST', limit: 'IOT_ERR_PAYLOAD_TOO_LARGE', unavailable: 'IOT_ERR_UNAVAILABLE' } as const;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function entryOf(item: unknown, receivedAt: number): TelemetryEntry {
  if (!isObject(item)) throw new DeviceDataError('telemetry must be a JSON object, {"ts","values"}, or an array of them');
  if ('ts' in item && 'values' in item) {
    const { ts, values } = item;
    if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) throw new DeviceDataError('telemetry "ts" must be epoch milliseconds');
    if (!isObject(values)) throw new DeviceDataError('telemetry "values" must be a JSON object');
    return { ts, values };
  }
  return { ts: receivedAt, values: item };
}

/** Telemetry in any of ThingsBoard's shapes, as entries; DeviceDataError when it is none of them. */
export function parseTelemetry(payload: unknown, receivedAt = Date.now()): TelemetryEntry[] {
  return Array.isArray(payload) ? payload.map((item) => entryOf(item, receivedAt)) : [entryOf(payload, receivedAt)];
}

/** Client attributes: a JSON object of key/values. */
export function parseAttributes(payload: unknown): Record<string, unknown> {
  if (!isObject(payload)) throw new DeviceDataError('attributes must be a JSON object of key/values');
  return payload;
}
