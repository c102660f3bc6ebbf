import { z } from 'zod';
import { MAX_CALL_TIMEOUT_MS, type RpcEngine } from '../engine.js';
import type { Withdrawal } from '../actors/withdrawal.js';
import { RpcError } from '../errors.js';
import { validated } from './validation.js';
import type { Device } from '../registry/device-registry.js';

/** ThingsBoard's minimum processing timeout when no expirationTime is given. */
const MIN_TIMEOUT_MS = 5000;
/** SPEC.md: delivery retries of a persistent call. */
const DEFAULT_RETRIES = 5;

export const rpcBodySchema = z.object({
  method: z.string().min(1).max(255),
  params: z.unknown().optional(),
  timeout: z.number().int().positive().max(MAX_CALL_TIMEOUT_MS).optional(),
  expirationTime: z.number().int().positive().optional(),
  persistent: z.boolean().optional(),
  retries: z.number().int().min(0).optional(),
  additionalInfo: z.unknown().optional(),
  requestUUID: z.uuid().optional(),
});

export type RpcOutcome = { readonly persistent: true; readonly rpcId: string } | { readonly persistent: false; readonly result: unknown };

export type RpcBody = z.infer<typeof rpcBodySchema>;

/** A REST body or WebSocket frame as a call: validated once (a bulk call checks it once for every device). */
export function parseRpcBody(input: unknown): RpcBody {
  const body = validated(rpcBodySchema, input);
  if (body.expirationTime !== undefined && body.expirationTime <= Date.now()) {
    throw new RpcError('IOT_ERR_BAD_REQUEST', 'expirationTime is in the past');
  }
  return body;
}

/**
 * One server-side RPC as an application asks for it (REST body or WebSocket
 * frame), to a device the caller may reach: validated, then stored
 * (persistent) or called. `withdrawal` withdraws a plain call (the caller left).
 */
export function runRpc(engine: RpcEngine, device: Device, oneway: boolean, input: unknown, withdrawal?: Withdrawal): Promise<RpcOutcome> {
  return runParsedRpc(engine, device, oneway, parseRpcBody(input), withdrawal);
}

export async function runParsedRpc(engine: RpcEngine, device: Device, oneway: boolean, body: RpcBody, withdrawal?: Withdrawal): Promise<RpcOutcome> {
  const deviceId = device.id;
  const timeout = Math.max(MIN_TIMEOUT_MS, body.timeout ?? engine.defaultTimeoutMs);
  if (body.persistent === true) {
    const stored = await engine.persistent.submit({
      tenantId: device.tenantId,
      deviceId,
      method: body.method,
      params: body.params === undefined ? {} : body.params,
      oneway,
      timeout,
      expirationTime: body.expirationTime ?? Date.now() + timeout,
      retries: body.retries ?? DEFAULT_RETRIES,
      additionalInfo: body.additionalInfo ?? null,
      requestUUID: body.requestUUID,
    });
    return { persistent: true, rpcId: stored.id };
  }
  const result = await engine.call(deviceId, {
    method: body.method,
    params: body.params,
    oneway,
    timeout,
    expirationTime: body.expirationTime,
    requestUUID: body.requestUUID,
    withdrawal,
  });
  return { persistent: false, result };
}
