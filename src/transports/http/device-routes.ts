import type { IncomingMessage } from 'node:http';
import type { RouteHandler } from '../../api/http-api.js';
import { parseJson, readBody, sendEmpty } from '../../api/http-io.js';
import { RpcError } from '../../errors.js';
import type { Device } from '../../registry/device-registry.js';
import type { TransportContext } from '../transport-context.js';
import { HttpPollLink } from './poll-link.js';

/** SPEC.md's HTTP device API: long-poll default and maximum. */
export const DEFAULT_POLL_MS = 60_000;
export const MAX_POLL_MS = 300_000;
const REQUEST_ID = /^[1-9][0-9]{0,9}$/;

export interface HttpDeviceContext extends TransportContext {
  readonly maxHttpBodyBytes: number;
  readonly httpBodyTimeoutMs: number;
}

export function deviceByToken(context: HttpDeviceContext, token: string | undefined): Device {
  const device = token === undefined ? undefined : context.devices.byToken(token);
  if (device === undefined) throw new RpcError('IOT_ERR_UNAUTHORIZED', 'unknown device access token');
  return device;
}

const remote = (req: IncomingMessage) => `${req.socket.remoteAddress}:${req.socket.remotePort}`;

/** A long-poll's `?timeout=ms`: DEFAULT_POLL_MS when absent; 400 outside 1…MAX_POLL_MS. */
export function pollTimeout(query: Record<string, string | undefined>): number {
  const timeout = query.timeout === undefined ? DEFAULT_POLL_MS : Number(query.timeout);
  if (!Number.isInteger(timeout) || timeout < 1 || timeout > MAX_POLL_MS) throw new RpcError('IOT_ERR_BAD_REQUEST', `timeout must be a whole number of ms from 1 to ${MAX_POLL_MS}`);
  return timeout;
}

/** `GET /api/v1/{token}/rpc?timeout=ms`: a call as `{"id","method","params"}`, or 408 when none came. */
export function pollRoute(context: HttpDeviceContext): RouteHandler {
  return async (req, res, params, query) => {
    const device = deviceByToken(context, params.token);
    new HttpPollLink(device.id, remote(req), res, context).start(pollTimeout(query));
  };
}

/** `POST /api/v1/{token}/rpc/{id}`: the device's reply to server-side call `id`. */
export function replyRoute(context: HttpDeviceContext): RouteHandler {
  return async (req, res, params) => {
    const device = deviceByToken(context, params.token);
    const id = params.id ?? '';
    if (!REQUEST_ID.test(id)) throw new RpcError('IOT_ERR_BAD_REQUEST', `request id must be a positive integer, got "${id}"`);
    const body = await readBody(req, context);
    if (!context.actors.reply(device.id, Number(id), body)) throw new RpcError('IOT_ERR_NOT_FOUND', `no pending call ${id} for this device`);
    sendEmpty(res, 200);
  };
}

/** `POST /api/v1/{token}/rpc {"method","params"}`: client-side RPC, answered with the handler's value. */
export function clientCallRoute(context: HttpDeviceContext): RouteHandler {
  return async (req, res, params) => {
    const device = deviceByToken(context, params.token);
    const request = parseJson(await readBody(req, context), context.maxJsonDepth);
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      throw new RpcError('IOT_ERR_BAD_REQUEST', 'expected a JSON object {"method","params"}');
    }
    const { method, params: callParams } = request as { method?: unknown; params?: unknown };
    const answer = await context.clientRpc.invokeAsJson(device, method, callParams);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) }).end(answer);
  };
}
