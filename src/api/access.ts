import type { IncomingMessage } from 'node:http';
import { RpcError } from '../errors.js';
import type { Device } from '../registry/device-registry.js';
import type { Principal, TokenService } from './auth/token-service.js';

/** `X-Authorization: Bearer <jwt>` (ThingsBoard's header) or plain `Authorization: Bearer <jwt>`. */
function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers['x-authorization'] ?? req.headers.authorization;
  const value = Array.isArray(header) ? header[0] : header;
  const match = value === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(value);
  return match?.[1];
}

export async function authenticate(req: IncomingMessage, tokens: TokenService): Promise<Principal> {
  const token = bearerToken(req);
  if (token === undefined) throw new RpcError('IOT_ERR_UNAUTHORIZED', 'no bearer token in X-Authorization or Authorization');
  return tokens.verifyAccess(token);
}

/**
 * SPEC.md's rule: a TENANT_ADMIN may reach any device of its tenant, a
 * CUSTOMER_USER only its customer's devices of its tenant, a SYS_ADMIN none.
 * A device of another tenant is not revealed to exist (404).
 */
export function requireDeviceAccess(principal: Principal, device: Device | undefined, deviceId: string): Device {
  if (principal.role === 'SYS_ADMIN') throw new RpcError('IOT_ERR_FORBIDDEN', 'a system administrator cannot reach devices');
  if (device === undefined || device.tenantId !== principal.tenantId) throw new RpcError('IOT_ERR_DEVICE_NOT_FOUND', deviceId);
  if (principal.role === 'CUSTOMER_USER' && device.customerId !== principal.customerId) {
    throw new RpcError('IOT_ERR_FORBIDDEN', `device ${deviceId} belongs to another customer`);
  }
  return device;
}

export function requireTenantAdmin(principal: Principal): string {
  if (principal.role !== 'TENANT_ADMIN' || principal.tenantId === null) {
    throw new RpcError('IOT_ERR_FORBIDDEN', 'only a tenant administrator may manage devices');
  }
  return principal.tenantId;
}
