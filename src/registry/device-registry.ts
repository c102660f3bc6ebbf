import { randomBytes, randomUUID } from 'node:crypto';
import { RpcError } from '../errors.js';

export interface Device {
  readonly id: string;
  readonly name: string;
  readonly type: string;
  /** ThingsBoard's display label; null when none was given. */
  readonly label: string | null;
  readonly tenantId: string;
  readonly customerId: string | null;
  readonly accessToken: string;
  /** ThingsBoard's free-form `additionalInfo` (description and the like) as the client gave it, `gateway` aside. */
  readonly additionalInfo?: Readonly<Record<string, unknown>>;
  /** May use the gateway API (ThingsBoard: additionalInfo.gateway). */
  readonly gateway: boolean;
  /** The gateway that created this device, which alone may carry it. */
  readonly gatewayId: string | null;
  readonly createdTime: number;
}

export interface NewDevice {
  id?: string;
  name: string;
  type?: string;
  label?: string | null;
  tenantId: string;
  customerId?: string | null;
  additionalInfo?: Record<string, unknown>;
  accessToken?: string;
  gateway?: boolean;
  gatewayId?: string | null;
}

export interface Page<T> {
  data: T[];
  totalPages: number;
  totalElements: number;
  hasNext: boolean;
}

/**
 * Devices by id, by access token, and by name within a tenant. In memory: the
 * embedded default. Names are unique per tenant and tokens across the server,
 * as in ThingsBoard.
 */
export class DeviceRegistry {
  readonly #byId = new Map<string, Device>();
  readonly #byToken = new Map<string, Device>();
  readonly #byTenantName = new Map<string, Device>();
  /** Devices each gateway created, kept as devices come and go (the cap is checked on every new sub-device). */
  readonly #createdBy = new Map<string, number>();

  add(input: NewDevice): Device {
    return this.insert(
      Object.freeze({
        id: input.id ?? randomUUID(),
        name: input.name,
        type: input.type ?? 'default',
        label: input.label ?? null,
        tenantId: input.tenantId,
        customerId: input.customerId ?? null,
        accessToken: input.accessToken ?? randomBytes(15).toString('base64url'),
        gateway: input.gateway ?? false,
        gatewayId: input.gatewayId ?? null,
        createdTime: Date.now(),
        ...(input.additionalInfo === undefined ? {} : { additionalInfo: Object.freeze({ ...input.additionalInfo }) }),
      }),
    );
  }

  /** Adds a device as it is (one another node created); the same uniqueness rules as add(). */
  insert(device: Device): Device {
    if (this.#byId.has(device.id)) throw new RpcError('IOT_ERR_CONFLICT', `a device with id ${device.id} exists`);
    if (this.#byToken.has(device.accessToken)) throw new RpcError('IOT_ERR_CONFLICT', 'this access token cannot be used: choose another, or leave it out and the server makes one');
    const nameKey = `${device.tenantId}\u0000${device.name}`;
    if (this.#byTenantName.has(nameKey)) throw new RpcError('IOT_ERR_CONFLICT', `a device named "${device.name}" exists in this tenant`);
    this.#byId.set(device.id, device);
    this.#byToken.set(device.accessToken, device);
    this.#byTenantName.set(nameKey, device);
    if (device.gatewayId !== null) this.#createdBy.set(device.gatewayId, (this.#createdBy.get(device.gatewayId) ?? 0) + 1);
    return device;
  }

  *all(): IterableIterator<Device> {
    yield* this.#byId.values();
  }

  get(id: string): Device | undefined {
    return this.#byId.get(id);
  }

  byToken(accessToken: string): Device | undefined {
    return this.#byToken.get(accessToken);
  }

  byName(tenantId: string, name: string): Device | undefined {
    return this.#byTenantName.get(`${tenantId}\u0000${name}`);
  }

  remove(id: string): Device | undefined {
    const device = this.#byId.get(id);
    if (device === undefined) return undefined;
    this.#byId.delete(id);
    this.#byToken.delete(device.accessToken);
    this.#byTenantName.delete(`${device.tenantId}\u0000${device.name}`);
    if (device.gatewayId !== null) this.#createdBy.set(device.gatewayId, (this.#createdBy.get(device.gatewayId) ?? 1) - 1);
    return device;
  }

  /** How many devices a gateway has created. */
  countCreatedBy(gatewayId: string): number {
    return this.#createdBy.get(gatewayId) ?? 0;
  }

  /** A tenant's devices by name, optionally only one customer's, a page at a time (ThingsBoard's PageData). */
  /** A tenant's devices (a customer's, with `customerId`), by name. */
  ofTenant(tenantId: string, customerId?: string): Device[] {
    return [...this.#byId.values()].filter((d) => d.tenantId === tenantId && (customerId === undefined || d.customerId === customerId)).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** A page of a tenant's (customer's) devices by name; `textSearch`: only names containing it, any case (ThingsBoard's). */
  list(tenantId: string, pageSize: number, page: number, customerId?: string, textSearch?: string): Page<Device> {
    const needle = textSearch?.toLowerCase();
    const all = needle === undefined || needle === '' ? this.ofTenant(tenantId, customerId) : this.ofTenant(tenantId, customerId).filter((d) => d.name.toLowerCase().includes(needle));
    const totalPages = Math.ceil(all.length / pageSize);
    return {
      data: all.slice(page * pageSize, (page + 1) * pageSize),
      totalPages,
      totalElements: all.length,
      hasNext: page + 1 < totalPages,
    };
  }
}
