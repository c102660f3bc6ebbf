import type { RpcEngine } from '../../engine.js';
import { commaSeparatedKeys } from '../../device-data/attributes-request.js';
import { DeviceDataError } from '../../device-data/device-data-payload.js';
import { RpcError } from '../../errors.js';
import { authenticate, requireDeviceAccess } from '../access.js';
import type { RouteHandler } from '../http-api.js';
import { readJsonBody, sendEmpty, sendJson } from '../http-io.js';

/** `?keys=a,b`: the keys asked for; absent means every key. */
function keysOf(query: Record<string, string | undefined>): string[] | undefined {
  return query.keys === undefined ? undefined : commaSeparatedKeys(query.keys);
}

function requireDeviceEntity(entityType: string | undefined): void {
  if (entityType !== 'DEVICE') throw new RpcError('IOT_ERR_NOT_FOUND', `entity type ${entityType ?? ''}: only DEVICE has telemetry here`);
}

/**
 * `GET /api/plugins/telemetry/DEVICE/{deviceId}/values/timeseries?keys=a,b`: ThingsBoard's latest values,
 * `{"a":[{"ts","value"}]}` (only the latest: iot-rpc keeps no history). Access as for RPC to the device.
 */
export function latestTelemetryRoute(engine: RpcEngine): RouteHandler {
  return async (req, res, params, query) => {
    requireDeviceEntity(params.entityType);
    const principal = await authenticate(req, engine.tokens);
    const device = requireDeviceAccess(principal, await engine.findDevice(params.deviceId!), params.deviceId!);
    const latest = await engine.deviceData.telemetry(device.id, keysOf(query)).catch(DeviceDataError.rethrowAsRpcError);
    sendJson(res, 200, Object.fromEntries([...latest].map(([key, { ts, value }]) => [key, [{ ts, value }]])));
  };
}

const SCOPES = { CLIENT_SCOPE: 'client', SHARED_SCOPE: 'shared' } as const;

/**
 * `GET /api/plugins/telemetry/DEVICE/{deviceId}/values/attributes[/{scope}]?keys=a,b`: ThingsBoard's
 * `[{"key","value","lastUpdateTs"}]`, client and shared attributes (SERVER_SCOPE is not kept here).
 */
export function attributesRoute(engine: RpcEngine): RouteHandler {
  return async (req, res, params, query) => {
    requireDeviceEntity(params.entityType);
    const scopeName = params.scope;
    if (scopeName !== undefined && !(scopeName in SCOPES)) throw new RpcError('IOT_ERR_BAD_REQUEST', `scope must be CLIENT_SCOPE or SHARED_SCOPE, got ${scopeName}`);
    const principal = await authenticate(req, engine.tokens);
    const device = requireDeviceAccess(principal, await engine.findDevice(params.deviceId!), params.deviceId!);
    const scopes = scopeName === undefined ? (['client', 'shared'] as const) : [SCOPES[scopeName as keyof typeof SCOPES]];
    const keys = keysOf(query);
    const held = await Promise.all(scopes.map((scope) => engine.deviceData.attributes(device.id, scope, keys))).catch(DeviceDataError.rethrowAsRpcError);
    const rows = held.flatMap((values) => [...values].map(([key, { ts, value }]) => ({ key, value, lastUpdateTs: ts })));
    sendJson(res, 200, rows);
  };
}

/**
 * `POST /api/plugins/telemetry/{deviceId}/SHARED_SCOPE` (and `…/DEVICE/{deviceId}/attributes/SHARED_SCOPE`) with
 * `{"key":value}`: shared attributes set and pushed to the device, as ThingsBoard does. Access as for RPC.
 */
export function sharedAttributesRoute(engine: RpcEngine): RouteHandler {
  return async (req, res, params) => {
    if (params.entityType !== undefined) requireDeviceEntity(params.entityType);
    if (params.scope !== 'SHARED_SCOPE') throw new RpcError('IOT_ERR_BAD_REQUEST', `only SHARED_SCOPE attributes are set here, got ${params.scope ?? ''}`);
    const principal = await authenticate(req, engine.tokens);
    const device = requireDeviceAccess(principal, await engine.findDevice(params.deviceId!), params.deviceId!);
    const body = await readJsonBody(req, engine);
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new RpcError('IOT_ERR_BAD_REQUEST', 'expected a JSON object of attribute key/values');
    await engine.setSharedAttributes(device.id, body as Record<string, unknown>);
    sendEmpty(res, 200);
  };
}
