import { DeviceDataError } from './device-data-payload.js';
import type { AttributeScope, LatestValue, LatestValues } from './latest-values.js';

/** Which attributes a device asks for: ThingsBoard's comma-separated `clientKeys` and `sharedKeys`; absent = all. */
export interface AttributesRequest {
  readonly clientKeys?: readonly string[];
  readonly sharedKeys?: readonly string[];
}

/** ThingsBoard's `a,b,c` key lists (attribute requests, `?keys=` of the REST latest values), blanks dropped. */
export function commaSeparatedKeys(text: string): string[] {
  return text.split(',').map((key) => key.trim()).filter((key) => key.length > 0);
}

function keyList(value: unknown, name: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new DeviceDataError(`"${name}" must be a comma-separated string of keys`);
  return commaSeparatedKeys(value);
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
export async function attributesAnswer(data: LatestValues, deviceId: string, request: AttributesRequest): Promise<AttributesAnswer> {
  const both = request.clientKeys === undefined && request.sharedKeys === undefined;
  const scope = async (name: AttributeScope, keys: readonly string[] | undefined) => valuesOf(await data.attributes(deviceId, name, keys));
  const answer: AttributesAnswer = {};
  if (both || request.clientKeys !== undefined) answer.client = await scope('client', request.clientKeys);
  if (both || request.sharedKeys !== undefined) answer.shared = await scope('shared', request.sharedKeys);
  return answer;
}

export interface AttributesAnswer {
  client?: Record<string, unknown>;
  shared?: Record<string, unknown>;
}

/** Latest values as ThingsBoard's device APIs give them: key → value, without their ts. */
export const valuesOf = (latest: ReadonlyMap<string, LatestValue>): Record<string, unknown> => Object.fromEntries([...latest].map(([key, { value }]) => [key, value]));
