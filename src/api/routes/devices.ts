import { z } from 'zod';
import type { RpcEngine } from '../../engine.js';
import { RpcError } from '../../errors.js';
import type { Device } from '../../registry/device-registry.js';
import type { Principal } from '../auth/token-service.js';
import { authenticate, requireDeviceAccess, requireTenantAdmin } from '../access.js';
import type { RouteHandler } from '../http-api.js';
import { readJsonBody, sendError, sendJson } from '../http-io.js';
import { pageQuery, validated } from '../validation.js';

/** ThingsBoard's id of "no customer", in an entity id. */
export const NULL_UUID = '13814000-1dd2-11b2-8080-808080808080';
/** The one device profile every device has (ThingsBoard's "default"). */
export const DEFAULT_DEVICE_PROFILE_ID = '5f1ee2a0-4c66-11ef-8000-000000000001';

const entityId = (entityType: string, id: string) => ({ entityType, id });

/** A customer given as ThingsBoard sends it (`{"entityType":"CUSTOMER","id"}`, the null id for none) or as a plain id. */
const customerIdSchema = z
  .union([z.string().min(1).max(255), z.object({ entityType: z.literal('CUSTOMER'), id: z.string().min(1).max(255) })])
  .nullable()
  .transform((value) => {
    const id = typeof value === 'object' && value !== null ? value.id : value;
    return id === NULL_UUID ? null : id;
  });

export const newDeviceSchema = z.object({
  // The server makes every device id (a UUID), as ThingsBoard does: a client that could choose one would learn which ids
  // other tenants hold.
  id: z.null({ error: 'device ids are made by the server: leave id out' }).optional(),
  name: z.string().min(1).max(255),
  type: z.string().min(1).max(255).optional(),
  label: z.string().max(255).nullable().optional(),
  customerId: customerIdSchema.optional(),
  accessToken: z.string().min(1).max(255).optional(),
  additionalInfo: z.object({ gateway: z.boolean().optional() }).loose().optional(),
});

/**
 * A device in ThingsBoard's Device JSON (entity ids as `{"entityType","id"}`, one default device profile), with
 * `state` beside it; the access token only to its tenant's administrators.
 */
function view(engine: RpcEngine, device: Device, principal: Principal) {
  return {
    id: entityId('DEVICE', device.id),
    createdTime: device.createdTime,
    tenantId: entityId('TENANT', device.tenantId),
    customerId: entityId('CUSTOMER', device.customerId ?? NULL_UUID),
    name: device.name,
    type: device.type,
    label: device.label ?? null,
    deviceProfileId: entityId('DEVICE_PROFILE', DEFAULT_DEVICE_PROFILE_ID),
    additionalInfo: { ...device.additionalInfo, gateway: device.gateway, ...(device.gatewayId === null ? {} : { gatewayId: device.gatewayId }) },
    state: engine.actors.deviceState(device.id),
    ...(principal.role === 'TENANT_ADMIN' ? { accessToken: device.accessToken } : {}),
  };
}

/** A page of devices, as ThingsBoard pages them; `textSearch`: names containing it, any case. */
export const devicePageQuery = pageQuery.extend({ textSearch: z.string().max(255).optional().describe('only names that contain it, any case') });

/** `POST /api/device` (TENANT_ADMIN): the access token from the body, `?accessToken=`, or generated. */
export const createDeviceRoute = (engine: RpcEngine): RouteHandler =>
  async (req, res, _params, searchParams) => {
    const principal = await authenticate(req, engine.tokens);
    const tenantId = requireTenantAdmin(principal);
    const body = validated(newDeviceSchema, await readJsonBody(req, engine));
    if (body.customerId != null && engine.customers.get(body.customerId)?.tenantId !== tenantId) {
      throw new RpcError('IOT_ERR_BAD_REQUEST', `customer ${body.customerId} is not a customer of this tenant`);
    }
    const { additionalInfo, id: _id, ...fields } = body;
    const { gateway, gatewayId: _gatewayId, ...info } = additionalInfo ?? {};
    const device = await engine.addDevice({
      ...fields,
      tenantId,
      gateway: gateway === true,
      accessToken: body.accessToken ?? searchParams.accessToken,
      ...(Object.keys(info).length === 0 ? {} : { additionalInfo: info }),
    });
    sendJson(res, 200, view(engine, device, principal));
  };

export const getDeviceRoute = (engine: RpcEngine): RouteHandler =>
  async (req, res, params) => {
    const principal = await authenticate(req, engine.tokens);
    const deviceId = params.id!;
    const device = requireDeviceAccess(principal, await engine.findDevice(deviceId), deviceId);
    sendJson(res, 200, view(engine, device, principal));
  };

export const listTenantDevicesRoute = (engine: RpcEngine): RouteHandler =>
  async (req, res, _params, searchParams) => {
    const principal = await authenticate(req, engine.tokens);
    const tenantId = requireTenantAdmin(principal);
    const deviceName = searchParams.deviceName;
    if (deviceName !== undefined) {
      // ThingsBoard's lookup by name: the one device, not a page.
      const device = engine.devices.byName(tenantId, deviceName);
      if (device === undefined) throw new RpcError('IOT_ERR_DEVICE_NOT_FOUND', `no device named "${deviceName.slice(0, 255)}"`);
      return sendJson(res, 200, view(engine, device, principal));
    }
    const { pageSize, page: pageNumber, textSearch } = validated(devicePageQuery, searchParams);
    const page = engine.devices.list(tenantId, pageSize, pageNumber, undefined, textSearch);
    sendJson(res, 200, { ...page, data: page.data.map((d) => view(engine, d, principal)) });
  };

/**
 * `GET /api/customer/{customerId}/devices?pageSize=&page=`: a customer's devices, for that customer's users and its
 * tenant's administrators (403 for anyone else).
 */
export const listCustomerDevicesRoute = (engine: RpcEngine): RouteHandler =>
  async (req, res, params, searchParams) => {
    const principal = await authenticate(req, engine.tokens);
    const customerId = params.customerId!;
    const customer = engine.customers.get(customerId);
    const allowed =
      customer !== undefined &&
      ((principal.role === 'CUSTOMER_USER' && principal.customerId === customerId) || (principal.role === 'TENANT_ADMIN' && principal.tenantId === customer.tenantId));
    if (!allowed) throw new RpcError('IOT_ERR_FORBIDDEN', `customer ${customerId.slice(0, 255)}`);
    const { pageSize, page: pageNumber, textSearch } = validated(devicePageQuery, searchParams);
    const page = engine.devices.list(customer.tenantId, pageSize, pageNumber, customerId, textSearch);
    sendJson(res, 200, { ...page, data: page.data.map((d) => view(engine, d, principal)) });
  };

/** `DELETE /api/device/{id}` (TENANT_ADMIN): closes the device's sessions and fails its pending calls. */
export const deleteDeviceRoute = (engine: RpcEngine): RouteHandler =>
  async (req, res, params) => {
    const principal = await authenticate(req, engine.tokens);
    requireTenantAdmin(principal);
    const deviceId = params.id!;
    requireDeviceAccess(principal, await engine.findDevice(deviceId), deviceId);
    await engine.removeDevice(deviceId);
    sendJson(res, 200, { id: deviceId, deleted: true });
  };
