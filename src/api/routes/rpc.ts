import { z } from 'zod';
import { MAX_CALL_TIMEOUT_MS, type RpcEngine } from '../../engine.js';
import { RpcError } from '../../errors.js';
import { authenticate, requireDeviceAccess } from '../access.js';
import type { RouteHandler } from '../http-api.js';
import { readJsonBody, sendEmpty, sendError, sendJson } from '../http-io.js';

/** ThingsBoard's minimum processing timeout when no expirationTime is given. */
export const MIN_TIMEOUT_MS = 5000;
/** SPEC.md: delivery retries of a persistent call. */
export const DEFAULT_RETRIES = 5;

const rpcBodySchema = z.object({
  method: z.string().min(1).max(255),
  params: z.unknown().optional(),
  timeout: z.number().int().positive().max(MAX_CALL_TIMEOUT_MS).optional(),
  expirationTime: z.number().int().positive().optional(),
  persistent: z.boolean().optional(),
  retries: z.number().int().min(0).optional(),
  additionalInfo: z.unknown().optional(),
  requestUUID: z.uuid().optional(),
});

export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; ');
}

/** `POST /api/rpc/{oneway|twoway}/{deviceId}` and, with `legacy`, `/api/plugins/rpc/…`. */
export function rpcRoute(engine: RpcEngine, legacy: boolean): RouteHandler {
  return async (req, res, params) => {
    try {
      const kind = params.kind;
      if (kind !== 'oneway' && kind !== 'twoway') throw new RpcError('IOT_ERR_NOT_FOUND', `${req.url}: expected /oneway/ or /twoway/`);
      const principal = await authenticate(req, engine.tokens);
      const deviceId = params.deviceId!;
      requireDeviceAccess(principal, engine.devices.get(deviceId), deviceId);
      const parsed = rpcBodySchema.safeParse(await readJsonBody(req, engine.maxHttpBodyBytes));
      if (!parsed.success) throw new RpcError('IOT_ERR_BAD_REQUEST', describeIssues(parsed.error));
      const body = parsed.data;
      if (body.expirationTime !== undefined && body.expirationTime <= Date.now()) {
        throw new RpcError('IOT_ERR_BAD_REQUEST', 'expirationTime is in the past');
      }
      const timeout = Math.max(MIN_TIMEOUT_MS, body.timeout ?? engine.defaultTimeoutMs);
      if (body.persistent === true) {
        if (body.expirationTime !== undefined && body.expirationTime - Date.now() > MAX_CALL_TIMEOUT_MS) {
          throw new RpcError('IOT_ERR_BAD_REQUEST', `expirationTime may be at most ${MAX_CALL_TIMEOUT_MS} ms (about 24.8 days) ahead`);
        }
        const device = engine.devices.get(deviceId)!;
        const stored = await engine.persistent.submit({
          tenantId: device.tenantId,
          deviceId,
          method: body.method,
          params: body.params === undefined ? {} : body.params,
          oneway: kind === 'oneway',
          timeout,
          expirationTime: body.expirationTime ?? Date.now() + timeout,
          retries: body.retries ?? DEFAULT_RETRIES,
          additionalInfo: body.additionalInfo ?? null,
          requestUUID: body.requestUUID,
        });
        sendJson(res, 200, { rpcId: stored.id });
        return;
      }
      // A caller that hangs up no longer holds one of the device's pending-call slots.
      const hangUp = new AbortController();
      res.once('close', () => {
        if (!res.writableFinished) hangUp.abort();
      });
      const result = await engine.call(deviceId, {
        method: body.method,
        params: body.params,
        oneway: kind === 'oneway',
        timeout,
        expirationTime: body.expirationTime,
        requestUUID: body.requestUUID,
        signal: hangUp.signal,
      });
      if (kind === 'oneway') sendEmpty(res, 200);
      else sendJson(res, 200, result);
    } catch (error) {
      sendError(res, error, legacy);
    }
  };
}
