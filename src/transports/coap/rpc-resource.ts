import { readUint, uintOption, type CoapMessage } from './codec.js';
import { CONTENT_FORMAT_JSON, CoapObservation } from './observation.js';
import type { Device } from '../../registry/device-registry.js';
import { RpcError } from '../../errors.js';
import { parseBoundedJson } from '../../bounded-json.js';
import { errorAnswer, type CoapAnswer } from './answer.js';
import type { CoapServer, Endpoint } from './server.js';
import { handleDataRequest } from './data-resource.js';
import { CoapAttributeObservation } from './attribute-observation.js';
import { valuesOf } from '../../device-data/attributes-request.js';
import { DeviceDataError } from '../../device-data/device-data-payload.js';

/** Options this server understands; any other critical option is refused with 4.02 (RFC 7252 §5.4.1). */
const UNDERSTOOD = new Set(['Uri-Path', 'Uri-Query', 'Uri-Host', 'Uri-Port', 'Observe', 'Content-Format', 'Accept', 'Block1', 'Block2', 'Size1', 'Size2', 'ETag', 'Max-Age', 'No-Response']);
const OPTION_NUMBERS: Record<string, number> = {
  'If-Match': 1,
  'If-None-Match': 5,
  OSCORE: 9,
  'Location-Path': 8,
  'Location-Query': 20,
  'Hop-Limit': 16,
  'Q-Block1': 19,
  'Q-Block2': 31,
  'Proxy-Uri': 35,
  'Proxy-Scheme': 39,
  'OCF-Accept-Content-Format-Version': 2049,
  'OCF-Content-Format-Version': 2053,
};
const REQUEST_ID = /^[1-9][0-9]{0,9}$/;

const badRequest = (message: string): CoapAnswer => errorAnswer(new RpcError('IOT_ERR_BAD_REQUEST', message));

function criticalUnknown(message: CoapMessage): string | undefined {
  for (const option of message.options) {
    if (typeof option.name === 'string' && UNDERSTOOD.has(option.name)) continue;
    // coap-packet names options it does not know by their number, as a number or a numeric string.
    const number = typeof option.name === 'number' ? option.name : /^\d+$/.test(option.name) ? Number(option.name) : OPTION_NUMBERS[option.name];
    if (number === undefined || number % 2 === 1) return String(option.name); // odd numbers are critical
  }
  return undefined;
}

const optionValue = (message: CoapMessage, name: string) => message.options.find((o) => o.name === name)?.value;

/**
 * `/api/v1/{token}/rpc` (SPEC.md): GET with Observe registers (0) or
 * deregisters (1); `POST …/rpc/{id}` carries the reply to call `id` (2.01,
 * 4.04 unknown); `POST …/rpc` is a client-side call, answered 2.05.
 * Answers through `answer`; returns a promise when the answer comes later.
 */
export interface RequestTarget {
  readonly device: Device;
  readonly path: readonly string[];
}

/**
 * Who and what a request is for, or the error answer: checked before anything
 * else, block-wise assembly included, so nothing is buffered for a stranger.
 */
export function resolveRequest(server: CoapServer, message: CoapMessage): RequestTarget | CoapAnswer {
  if (message.options.some((o) => o.name === 'Proxy-Uri' || o.name === 'Proxy-Scheme')) {
    return { code: '5.05', payload: Buffer.from('this server is no proxy') }; // RFC 7252 §5.7.2
  }
  const unknown = criticalUnknown(message);
  if (unknown !== undefined) return { code: '4.02', payload: Buffer.from(`unrecognized critical option ${unknown}`) }; // RFC 7252 §5.4.1
  const path = message.options.filter((o) => o.name === 'Uri-Path').map((o) => o.value.toString('utf8'));
  const isData = (path.length === 4 && (path[3] === 'telemetry' || path[3] === 'attributes')) || (path.length === 5 && path[3] === 'attributes' && path[4] === 'updates');
  if (!isData && (path.length < 4 || path.length > 5 || path[0] !== 'api' || path[1] !== 'v1' || path[3] !== 'rpc')) {
    return badRequest(`unknown path /${path.join('/')}; expected /api/v1/{token}/rpc[/{id}], …/telemetry, …/attributes or …/attributes/updates`);
  }
  if (isData && (path[0] !== 'api' || path[1] !== 'v1')) return badRequest(`unknown path /${path.join('/')}`);
  const device = server.context.devices.byToken(path[2]!);
  if (device === undefined) return errorAnswer(new RpcError('IOT_ERR_UNAUTHORIZED', 'unknown device access token'));
  return { device, path };
}

export function handleRequest(
  server: CoapServer,
  message: CoapMessage,
  { device, path }: RequestTarget,
  endpoint: Endpoint,
  endpointKey: string,
  answer: (result: CoapAnswer) => void,
): Promise<void> | undefined {
  const { actors, clientRpc } = server.context;
  if (message.payload.length > server.context.maxCoapPayloadBytes) {
    const limit = server.context.maxCoapPayloadBytes;
    answer(errorAnswer(new RpcError('IOT_ERR_PAYLOAD_TOO_LARGE', `payload over ${limit} bytes`), [{ name: 'Size1', value: uintOption(limit) }]));
    return undefined;
  }
  const method = message.code;
  if (path[3] === 'attributes' && method === '0.01' && (path.length === 5 || optionValue(message, 'Observe') !== undefined)) {
    return observeAttributes(server, message, device, endpoint, endpointKey, answer);
  }
  if (path[3] === 'attributes' && path.length === 5) {
    answer(errorAnswer(new RpcError('IOT_ERR_METHOD_NOT_ALLOWED', `${method} on /api/v1/{token}/attributes/updates; GET with Observe subscribes`)));
    return undefined;
  }
  if (path[3] === 'telemetry' || path[3] === 'attributes') return handleDataRequest(server, message, device, path[3]).then(answer);
  if (path.length === 4 && method === '0.01') {
    const observe = optionValue(message, 'Observe');
    if (observe === undefined) {
      answer(badRequest('GET …/rpc needs Observe: 0 to subscribe, 1 to unsubscribe'));
      return undefined;
    }
    const key = `${endpointKey}|${message.token.toString('hex')}`;
    if (readUint(observe) === 1) {
      server.observation(key)?.end();
      answer({ code: '2.05', options: [{ name: 'Content-Format', value: CONTENT_FORMAT_JSON }] });
      return undefined;
    }
    const existing = server.observation(key);
    const observation =
      existing instanceof CoapObservation && existing.open
        ? existing
        : new CoapObservation(server, key, device.id, endpoint, message.token, message.type === 'CON', server.resourceKey(endpointKey, path.join('/')));
    answer({ code: '2.05', options: [{ name: 'Observe', value: uintOption(observation.sequence.next()) }, { name: 'Content-Format', value: CONTENT_FORMAT_JSON }] });
    if (observation !== existing) {
      server.remember(observation);
      observation.start();
    }
    return undefined;
  }
  if (path.length === 5 && method === '0.02') {
    const id = path[4]!;
    if (!REQUEST_ID.test(id)) {
      answer(badRequest(`request id must be a positive integer, got "${id}"`));
      return undefined;
    }
    answer(actors.reply(device.id, Number(id), message.payload) ? { code: '2.01' } : errorAnswer(new RpcError('IOT_ERR_NOT_FOUND', `no pending call ${id}`)));
    return undefined;
  }
  if (path.length === 4 && method === '0.02') {
    let request: unknown;
    try {
      request = parseBoundedJson(message.payload.toString('utf8'), server.context.maxJsonDepth);
    } catch (error) {
      answer(errorAnswer(new RpcError('IOT_ERR_INVALID_JSON', `${(error as Error).message}; expected {"method","params"}`)));
      return undefined;
    }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      answer(badRequest('expected a JSON object {"method","params"}'));
      return undefined;
    }
    const { method: name, params } = request as { method?: unknown; params?: unknown };
    return clientRpc.invokeAsJson(device, name, params).then((payload) => {
      answer({ code: '2.05', payload: Buffer.from(payload), options: [{ name: 'Content-Format', value: CONTENT_FORMAT_JSON }] });
    });
  }
  answer(errorAnswer(new RpcError('IOT_ERR_METHOD_NOT_ALLOWED', `${method === '0.01' ? 'GET' : method === '0.02' ? 'POST' : method} on /${path.join('/')}`)));
  return undefined;
}

/**
 * GET with Observe on `…/attributes` or `…/attributes/updates`: 0 registers for shared attribute updates, answered
 * with the current shared attributes (RFC 7641 §4.2: the registration's answer is the resource's state); 1 deregisters.
 */
async function observeAttributes(server: CoapServer, message: CoapMessage, device: Device, endpoint: Endpoint, endpointKey: string, answer: (result: CoapAnswer) => void): Promise<void> {
  const key = `${endpointKey}|${message.token.toString('hex')}`;
  const observe = optionValue(message, 'Observe');
  if (observe === undefined || readUint(observe) === 1) {
    if (observe !== undefined) server.observation(key)?.end();
    answer(observe === undefined ? badRequest('GET …/attributes/updates needs Observe: 0 to subscribe, 1 to unsubscribe') : { code: '2.05', options: [{ name: 'Content-Format', value: CONTENT_FORMAT_JSON }] });
    return;
  }
  let current: Record<string, unknown>;
  try {
    current = valuesOf(await server.context.deviceData.attributes(device.id, 'shared'));
  } catch (error) {
    return answer(errorAnswer(error instanceof DeviceDataError ? error.toRpcError() : new RpcError('IOT_ERR_INTERNAL', (error as Error).message)));
  }
  const existing = server.observation(key);
  const observation = existing instanceof CoapAttributeObservation && existing.open ? existing : new CoapAttributeObservation(server, key, device.id, endpoint, message.token, message.type === 'CON');
  answer({ code: '2.05', payload: Buffer.from(JSON.stringify(current)), options: [{ name: 'Observe', value: uintOption(observation.sequence.next()) }, { name: 'Content-Format', value: CONTENT_FORMAT_JSON }] });
  if (observation !== existing) {
    server.remember(observation);
    observation.start();
  }
}
