import type { Redis } from 'ioredis';
import { inBatches } from '../scheduling/in-batches.js';
import { withTimeout, type RedisClient } from './redis-connection.js';

interface DirectoryCommands {
  iotrpcRelease(key: string, nodeId: string): Promise<number>;
  iotrpcRenew(key: string, nodeId: string, leaseMs: number): Promise<number>;
}

/** What renewing one entry found. */
export type RenewOutcome = 'renewed' | 'restored' | 'lost';

/**
 * Which node holds each device's session: `iotrpc:dir:{d:<deviceId>}` → node
 * id, with a lease the node renews. A node that dies stops renewing and its
 * entries expire; a device that connects elsewhere takes its entry over.
 */
export class SessionDirectory {
  readonly #redis: RedisClient;

  constructor(
    redis: RedisClient,
    readonly nodeId: string,
    readonly leaseMs: number,
  ) {
    this.#redis = redis;
    redis.defineCommand('iotrpcRelease', { numberOfKeys: 1, lua: RELEASE });
    redis.defineCommand('iotrpcRenew', { numberOfKeys: 1, lua: RENEW });
  }

  /** Takes the device's entry for this node; returns the node that held it before, if another. */
  async claim(deviceId: string): Promise<string | null> {
    const previous = await withTimeout((this.#redis as Redis).set(keyOf(deviceId), this.nodeId, 'PX', this.leaseMs, 'GET'));
    return previous === this.nodeId ? null : previous;
  }

  /** Gives the entry up, if it is still this node's (or `nodeId`'s: a stale entry of a node that is gone). */
  async release(deviceId: string, nodeId = this.nodeId): Promise<void> {
    await withTimeout((this.#redis as unknown as DirectoryCommands).iotrpcRelease(keyOf(deviceId), nodeId));
  }

  async owner(deviceId: string): Promise<string | null> {
    return withTimeout(this.#redis.get(keyOf(deviceId)));
  }

  /** The owners of many devices (one command per device: on a Cluster they live in different slots). */
  async owners(deviceIds: string[]): Promise<Map<string, string>> {
    const values = await inBatches(deviceIds, 1000, (id) => this.owner(id));
    const owners = new Map<string, string>();
    deviceIds.forEach((id, k) => values[k] !== null && owners.set(id, values[k]!));
    return owners;
  }

  /** Extends this node's lease on the entry; an expired entry is taken again; one another node took is lost. */
  async renew(deviceId: string): Promise<RenewOutcome> {
    const result = await withTimeout((this.#redis as unknown as DirectoryCommands).iotrpcRenew(keyOf(deviceId), this.nodeId, this.leaseMs));
    return result === 1 ? 'renewed' : result === 2 ? 'restored' : 'lost';
  }
}

const keyOf = (deviceId: string) => `iotrpc:dir:{d:${deviceId}}`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

const RENEW = `
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not owner then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0
`;
