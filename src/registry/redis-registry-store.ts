import type { ClusterBus } from '../cluster/bus.js';
import { withTimeout, type RedisClient } from '../cluster/redis-connection.js';
import { RpcError } from '../errors.js';
import type { Device } from './device-registry.js';
import type { RegistryChange, RegistryStore, StoredUser } from './registry-store.js';

/**
 * Devices and users in Redis. All registry keys share the hash tag
 * `{registry}` (one slot on a Redis Cluster), so that one script checks every
 * uniqueness rule and writes at once:
 *
 *   iotrpc:{registry}:devices        hash: device id → device JSON
 *   iotrpc:{registry}:device-tokens  hash: access token → device id
 *   iotrpc:{registry}:device-names   hash: "<tenant>\0<name>" → device id
 *   iotrpc:{registry}:users          hash: lower-case email → user JSON (with the scrypt hash)
 *
 * Every change is published on `iotrpc:{registry}:changes` for the other nodes.
 */
export class RedisRegistryStore implements RegistryStore {
  readonly #redis: RedisClient;
  readonly #bus: ClusterBus;
  readonly #nodeId: string;

  constructor(redis: RedisClient, bus: ClusterBus, nodeId: string) {
    this.#redis = redis;
    this.#bus = bus;
    this.#nodeId = nodeId;
    redis.defineCommand('iotrpcAddDevice', { numberOfKeys: 3, lua: ADD_DEVICE });
    redis.defineCommand('iotrpcRemoveDevice', { numberOfKeys: 3, lua: REMOVE_DEVICE });
  }

  async load(): Promise<{ devices: Device[]; users: StoredUser[] }> {
    const [devices, users] = await Promise.all([withTimeout(this.#redis.hvals(DEVICES)), withTimeout(this.#redis.hvals(USERS))]);
    return { devices: devices.map((d) => JSON.parse(d) as Device), users: users.map((u) => JSON.parse(u) as StoredUser) };
  }

  async addDevice(device: Device): Promise<void> {
    const taken = (await withTimeout(
      (this.#redis as unknown as Scripts).iotrpcAddDevice(DEVICES, TOKENS, NAMES, device.id, device.accessToken, nameKey(device), JSON.stringify(device)),
    )) as string;
    if (taken === 'id') throw new RpcError('IOT_ERR_CONFLICT', `a device with id ${device.id} exists`);
    if (taken === 'token') throw new RpcError('IOT_ERR_CONFLICT', 'this access token cannot be used: choose another, or leave it out and the server makes one');
    if (taken === 'name') throw new RpcError('IOT_ERR_CONFLICT', `a device named "${device.name}" exists in this tenant`);
    await this.#publish({ op: 'device-added', node: this.#nodeId, device });
  }

  async getDevice(id: string): Promise<Device | undefined> {
    const json = await withTimeout(this.#redis.hget(DEVICES, id));
    return json === null ? undefined : (JSON.parse(json) as Device);
  }

  async removeDevice(device: Device): Promise<void> {
    await withTimeout((this.#redis as unknown as Scripts).iotrpcRemoveDevice(DEVICES, TOKENS, NAMES, device.id, device.accessToken, nameKey(device)));
    await this.#publish({ op: 'device-removed', node: this.#nodeId, device });
  }

  async addUser(user: StoredUser): Promise<void> {
    const added = await withTimeout(this.#redis.hsetnx(USERS, user.email.toLowerCase(), JSON.stringify(user)));
    if (added === 0) throw new RpcError('IOT_ERR_CONFLICT', `a user with email ${user.email} exists`);
    await this.#publish({ op: 'user-added', node: this.#nodeId, user });
  }

  async onChange(listener: (change: RegistryChange) => void): Promise<void> {
    await this.#bus.subscribe(CHANGES, (message) => {
      const change = message as RegistryChange;
      if (change.node !== this.#nodeId) listener(change);
    });
  }

  /** Once the store has the change, telling the others is best effort: a node that missed it reads the store again after its next outage. */
  async #publish(change: RegistryChange): Promise<void> {
    await this.#bus.publish(CHANGES, change).catch(() => {});
  }
}

interface Scripts {
  iotrpcAddDevice(devices: string, tokens: string, names: string, id: string, token: string, name: string, json: string): Promise<unknown>;
  iotrpcRemoveDevice(devices: string, tokens: string, names: string, id: string, token: string, name: string): Promise<unknown>;
}

const DEVICES = 'iotrpc:{registry}:devices';
const TOKENS = 'iotrpc:{registry}:device-tokens';
const NAMES = 'iotrpc:{registry}:device-names';
const USERS = 'iotrpc:{registry}:users';
const CHANGES = 'iotrpc:{registry}:changes';
const nameKey = (device: Device) => `${device.tenantId}\u0000${device.name}`;

const ADD_DEVICE = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'id' end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 'token' end
if redis.call('HEXISTS', KEYS[3], ARGV[3]) == 1 then return 'name' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
return 'ok'
`;

const REMOVE_DEVICE = `
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[2]) end
if redis.call('HGET', KEYS[3], ARGV[3]) == ARGV[1] then redis.call('HDEL', KEYS[3], ARGV[3]) end
return 1
`;
