import { z } from 'zod';
import type { RpcEngine } from '../../engine.js';
import { RpcError } from '../../errors.js';
import { PERSISTENT_STATUSES, type StoredCall } from '../../persistence/index.js';
import type { Principal } from '../auth/token-service.js';
import { authenticate, requireDeviceAccess, requireTenantAdmin } from '../access.js';
import type { RouteHandler } from '../http-api.js';
import { sendError, sendJson } from '../http-io.js';
import { pageQuery, validated } from '../validation.js';

export const persistentQuerySchema = pageQuery.extend({
  rpcStatus: z.enum(PERSISTENT_STATUSES).optional(),
  sortProperty: z.enum(['createdTime', 'expirationTime']).default('createdTime'),
  sortOrder: z.enum(['ASC', 'DESC']).default('DESC'),
});

/** SPEC.md's stored call, as the API shows it. */
function view(call: StoredCall) {
  return {
    id: call.id,
    createdTime: call.createdTime,
    tenantId: call.tenantId,
    deviceId: call.deviceId,
    expirationTime: call.expirationTime,
    request: call.request,
    response: call.response,
    status: call.status,
    additionalInfo: call.additionalInfo,
  };
}

/** The call, if the principal may see its device; 404 otherwise (a call of another tenant is not revealed). */
async function accessibleCall(engine: RpcEngine, principal: Principal, rpcId: string): Promise<StoredCall> {
  const call = await engine.persistent.get(rpcId);
  if (call === undefined || (principal.role !== 'SYS_ADMIN' && call.tenantId !== principal.tenantId)) {
    throw new RpcError('IOT_ERR_NOT_FOUND', `persistent call ${rpcId}`);
  }
  const device = await engine.findDevice(call.deviceId);
  // The device the call was made for: not one of another tenant that took its id after it was deleted.
  if (device !== undefined && device.tenantId === call.tenantId) requireDeviceAccess(principal, device, call.deviceId);
  else if (principal.role !== 'TENANT_ADMIN') throw new RpcError('IOT_ERR_NOT_FOUND', `persistent call ${rpcId}`);
  return call;
}

/** `GET /api/rpc/persistent/{rpcId}` */
export function getPersistentRoute(engine: RpcEngine): RouteHandler {
  return async (req, res, params) => {
    const principal = await authenticate(req, engine.tokens);
    sendJson(res, 200, view(await accessibleCall(engine, principal, params.rpcId!)));
  };
}

/** `GET /api/rpc/persistent/device/{deviceId}?pageSize&page&rpcStatus&sortProperty&sortOrder` */
export function listPersistentRoute(engine: RpcEngine): RouteHandler {
  return async (req, res, params, query) => {
    const principal = await authenticate(req, engine.tokens);
    const deviceId = params.deviceId!;
    const device = requireDeviceAccess(principal, await engine.findDevice(deviceId), deviceId);
    const { rpcStatus, ...rest } = validated(persistentQuerySchema, query);
    const page = await engine.persistent.list(deviceId, { ...rest, status: rpcStatus, tenantId: device.tenantId });
    sendJson(res, 200, { ...page, data: page.data.map(view) });
  };
}

/** `DELETE /api/rpc/persistent/{rpcId}` (TENANT_ADMIN): a call still under way is withdrawn. */
export function deletePersistentRoute(engine: RpcEngine): RouteHandler {
  return async (req, res, params) => {
    const principal = await authenticate(req, engine.tokens);
    requireTenantAdmin(principal);
    const call = await accessibleCall(engine, principal, params.rpcId!);
    sendJson(res, 200, view(await engine.persistent.delete(call)));
  };
}
