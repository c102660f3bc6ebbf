import { DeviceDataError } from './device-data-payload.js';
import type { AttributeScope, LatestValues } from './latest-values.js';

/** Which attributes a device asks for: ThingsBoard's comma-separated `clientKeys` and `sharedKeys`; absent = all. */
export interface AttributesRequest {
  readonly clientKeys?: readonly string[];
  readonly sharedKeys?: readonly string[];
}

function keyList(value: unknown, name: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new DeviceDataError(`"${name}" must be a comma-separated string of keys`);
  return value.split(',').map((key) => key.trim()).filter((key) => key.length > 0);
}

/** The JSON body of an attribute request (MQTT, CoAP) or the query of one (HTTP). */
export function parseAttributesRequest(payload: unknown): AttributesRequest {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw new DeviceDataError('expected a JSON object {"clientKeys","sharedKeys"}');
  const { clientKeys, sharedKeys } = payload as Record<string, unknown>;
  const request: { clientKeys?: string[]; sharedKeys?: string[] } = {};
  const client = keyList(clientKeys, 'clientKeys');
  const shared = keyList(sharedKeys, 'sharedKeys');
  if (client !== undefined) request.clientKeys = client;
  if (shared !== undefined) request.sharedKeys = shared;
  return request;
}

/**
 * ThingsBoard's answer: `{"client":{…},"shared":{…}}` with the keys asked for that have values. Asking for only one
 * scope answers only that one; asking for neither answers both, whole.
 */
export function attributesAnswer(data: LatestValues, deviceId: string, request: AttributesRequest): { client?: Record<string, unknown>; shared?: Record<string, unknown> } {
  const both = request.clientKeys === undefined && request.sharedKeys === undefined;
  const scope = (name: AttributeScope, keys: readonly string[] | undefined) => Object.fromEntries([...data.attributes(deviceId, name, keys)].map(([key, { value }]) => [key, value]));
  const answer: { client?: Record<string, unknown>; shared?: Record<string, unknown> } = {};
  if (both || request.clientKeys !== undefined) answer.client = scope('client', request.clientKeys);
  if (both || request.sharedKeys !== undefined) answer.shared = scope('shared', request.sharedKeys);
  return answer;
}
