import type { Redis, Cluster } from 'ioredis';
import { connectRedis, withTimeout } from '../cluster/redis-connection.js';
import { isFinal, type CallPage, type CallQuery, type CallStore, type PersistentStatus, type StoredCall } from './call-store.js';

/**
 * Persistent calls in Redis, so they outlive the process and any node can
 * answer for them. Keys are built for Redis Cluster: one device's keys share a
 * hash tag (`{d:<deviceId>}`) and so one slot; every command touches one slot.
 *
 *   iotrpc:call:{d:<device>}:<rpcId>      the call, as JSON
 *   iotrpc:calls:{d:<device>}:<tenant>    sorted set: that tenant's rpcIds for the device, by createdTime (a device id
 *                                         another tenant held before lists none of that tenant's calls)
 *   iotrpc:open:{d:<device>}              set: the device's rpcIds not in a final status
 *   iotrpc:uuid:{d:<device>}:<uuid>       requestUUID → rpcId
 *   iotrpc:rpc:<rpcId>                    rpcId → deviceId (to find a call by id alone)
 *   iotrpc:unfinished-by-expiry           sorted set of "<device>\n<rpcId>" not final, by expirationTime
 *   iotrpc:finished                       sorted set of "<device>\n<rpcId>" by the time they finished
 *   iotrpc:purge-lock                     the node removing calls past retention
 *
 * A status change and the device's open set are written by one script, which
 * refuses to replace a final status (SUCCESSFUL, EXPIRED, FAILED, DELETED, a
 * one-way DELIVERED) with anything but DELETED: two nodes that race to finish
 * a call leave the first final status standing.
 *
 * Durability is Redis's: with `appendonly yes` and `appendfsync always` an
 * acknowledged write survives a Redis restart; `everysec` may lose the last second.
 */
export class RedisCallStore implements CallStore {
  readonly #redis: Redis | Cluster;
  readonly #ownsConnection: boolean;

  constructor(redis: Redis | Cluster, ownsConnection = false) {
    this.#redis = redis;
    this.#ownsConnection = ownsConnection;
    this.#redis.defineCommand('iotrpcUpdateCall', { numberOfKeys: 2, lua: UPDATE_CALL });
  }

  /** A store with its own connection (see connectRedis for the URL forms). */
  static connect(urls: string, onError: (error: Error) => void = () => {}): RedisCallStore {
    return new RedisCallStore(connectRedis(urls, onError), true);
  }

  async close(): Promise<void> {
    if (this.#ownsConnection) await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  /**
   * The call is listed as unfinished, then written with its indexes, and only
   * then does it claim its requestUUID (SET NX): a claimed UUID always names a
   * call that is whole. Of two racing inserts with one UUID, the loser removes
   * its own copy and returns the winner. A crash part-way leaves at most a
   * member that unfinished() drops.
   */
  async insert(call: StoredCall): Promise<StoredCall> {
    const tag = tagOf(call.deviceId);
    const member = `${call.deviceId}\n${call.id}`;
    await withTimeout(this.#redis.zadd(UNFINISHED, call.expirationTime, member));
    await withTimeout(this.#redis.set(`iotrpc:rpc:${call.id}`, call.deviceId));
    await withTimeout(
      this.#redis
        .multi()
        .set(`iotrpc:call:${tag}:${call.id}`, JSON.stringify(call))
        .zadd(listKey(call), call.createdTime, call.id)
        .sadd(`iotrpc:open:${tag}`, call.id)
        .exec(),
    );
    if (call.requestUUID === null) return call;
    const uuidKey = `iotrpc:uuid:${tag}:${call.requestUUID}`;
    if ((await withTimeout(this.#redis.set(uuidKey, call.id, 'NX'))) !== null) return call;
    const earlierId = await withTimeout(this.#redis.get(uuidKey));
    const earlier = earlierId === null ? undefined : await this.#read(call.deviceId, earlierId);
    if (earlier === undefined) return call;
    await withTimeout(this.#redis.multi().del(`iotrpc:call:${tag}:${call.id}`).zrem(listKey(call), call.id).srem(`iotrpc:open:${tag}`, call.id).exec());
    await withTimeout(this.#redis.del(`iotrpc:rpc:${call.id}`));
    await withTimeout(this.#redis.zrem(UNFINISHED, member));
    return earlier;
  }

  async update(call: StoredCall, expected?: PersistentStatus): Promise<boolean> {
    const tag = tagOf(call.deviceId);
    const final = isFinal(call);
    const written = (await withTimeout(
      (this.#redis as unknown as UpdateCallCommand).iotrpcUpdateCall(`iotrpc:call:${tag}:${call.id}`, `iotrpc:open:${tag}`, JSON.stringify(call), call.id, final ? '1' : '0', expected ?? ''),
    )) as number;
    if (written !== 1) return false;
    const member = `${call.deviceId}\n${call.id}`;
    if (final) {
      await withTimeout(this.#redis.zadd('iotrpc:finished', call.updatedTime, member));
      await withTimeout(this.#redis.zrem(UNFINISHED, member));
    } else {
      await withTimeout(this.#redis.zadd(UNFINISHED, call.expirationTime, member));
    }
    return true;
  }

  async get(id: string): Promise<StoredCall | undefined> {
    const deviceId = await withTimeout(this.#redis.get(`iotrpc:rpc:${id}`));
    return deviceId === null ? undefined : this.#read(deviceId, id);
  }

  async byRequestUUID(deviceId: string, requestUUID: string): Promise<StoredCall | undefined> {
    const id = await withTimeout(this.#redis.get(`iotrpc:uuid:${tagOf(deviceId)}:${requestUUID}`));
    return id === null ? undefined : this.#read(deviceId, id);
  }

  async listByDevice(deviceId: string, query: CallQuery): Promise<CallPage> {
    if (query.status === undefined && query.sortProperty === 'createdTime') {
      // The index is sorted by createdTime: only the page is read.
      const key = listKey(query.tenantId, deviceId);
      const start = query.page * query.pageSize;
      const stop = start + query.pageSize - 1;
      const [total, pageIds] = await Promise.all([
        withTimeout(this.#redis.zcard(key)),
        withTimeout(query.sortOrder === 'ASC' ? this.#redis.zrange(key, start, stop) : this.#redis.zrevrange(key, start, stop)),
      ]);
      const totalPages = Math.ceil(total / query.pageSize);
      return { data: await this.#readMany(deviceId, pageIds), totalPages, totalElements: total, hasNext: query.page + 1 < totalPages };
    }
    const ids = await withTimeout(this.#redis.zrange(listKey(query.tenantId, deviceId), 0, -1));
    const calls = (await this.#readMany(deviceId, ids)).filter((c) => query.status === undefined || c.status === query.status);
    const direction = query.sortOrder === 'ASC' ? 1 : -1;
    calls.sort((a, b) => direction * (a[query.sortProperty] - b[query.sortProperty]) || direction * a.id.localeCompare(b.id));
    const totalPages = Math.ceil(calls.length / query.pageSize);
    return { data: calls.slice(query.page * query.pageSize, (query.page + 1) * query.pageSize), totalPages, totalElements: calls.length, hasNext: query.page + 1 < totalPages };
  }

  async unfinished(): Promise<StoredCall[]> {
    const members = await withTimeout(this.#redis.zrange(UNFINISHED, 0, -1));
    return (await this.#readMembers(members)).sort((a, b) => a.createdTime - b.createdTime);
  }

  /** How many calls are not in a final status. */
  countUnfinished(): Promise<number> {
    return withTimeout(this.#redis.zcard(UNFINISHED));
  }

  countUnfinishedByDevice(deviceId: string): Promise<number> {
    return withTimeout(this.#redis.scard(`iotrpc:open:${tagOf(deviceId)}`));
  }

  async unfinishedByDevice(deviceId: string): Promise<StoredCall[]> {
    const ids = await withTimeout(this.#redis.smembers(`iotrpc:open:${tagOf(deviceId)}`));
    return (await this.#readMany(deviceId, ids)).filter((c) => !isFinal(c)).sort((a, b) => a.createdTime - b.createdTime);
  }

  async unfinishedDue(now: number, limit: number): Promise<StoredCall[]> {
    const members = await withTimeout(this.#redis.zrangebyscore(UNFINISHED, '-inf', now, 'LIMIT', 0, limit));
    return this.#readMembers(members);
  }

  /** In batches; one node at a time (a lock), since every node runs the hourly sweep. */
  purgeFinishedBefore(before: number): Promise<number> {
    return this.#purgeBatches(() => this.#redis.zrangebyscore('iotrpc:finished', '-inf', before, 'LIMIT', 0, PURGE_BATCH));
  }

  /** The calls that finished first, past `keep` in all, in batches; one node at a time (the same lock). */
  purgeFinishedBeyond(keep: number): Promise<number> {
    return this.#purgeBatches(async () => {
      const excess = (await withTimeout(this.#redis.zcard('iotrpc:finished'))) - keep;
      return excess <= 0 ? [] : this.#redis.zrange('iotrpc:finished', 0, Math.min(excess, PURGE_BATCH) - 1);
    });
  }

  /** Purges the members `next` names until it names none, holding the purge lock (none taken: another node purges). */
  async #purgeBatches(next: () => Promise<string[]>): Promise<number> {
    const token = `${process.pid}-${Math.random()}`;
    if ((await withTimeout(this.#redis.set(PURGE_LOCK, token, 'PX', PURGE_LOCK_MS, 'NX'))) === null) return 0;
    let removed = 0;
    try {
      for (;;) {
        const members = await withTimeout(next());
        if (members.length === 0) return removed;
        await Promise.all(members.map((member) => this.#purge(member)));
        removed += members.length;
      }
    } finally {
      if ((await this.#redis.get(PURGE_LOCK).catch(() => null)) === token) await this.#redis.del(PURGE_LOCK).catch(() => {});
    }
  }

  async remove(call: StoredCall): Promise<void> {
    const member = `${call.deviceId}\n${call.id}`;
    await this.#purge(member);
    await withTimeout(this.#redis.zrem(UNFINISHED, member));
  }

  async #purge(member: string): Promise<void> {
    const [deviceId, id] = splitMember(member);
    const call = await this.#read(deviceId, id);
    const tag = tagOf(deviceId);
    const multi = this.#redis.multi().del(`iotrpc:call:${tag}:${id}`).srem(`iotrpc:open:${tag}`, id);
    if (call !== undefined) multi.zrem(listKey(call), id);
    await withTimeout(multi.exec());
    if (call?.requestUUID != null) await withTimeout(this.#redis.del(`iotrpc:uuid:${tag}:${call.requestUUID}`));
    await withTimeout(this.#redis.del(`iotrpc:rpc:${id}`));
    await withTimeout(this.#redis.zrem('iotrpc:finished', member));
  }

  /** The calls the members name; members whose call is gone or final are dropped from the index. */
  async #readMembers(members: string[]): Promise<StoredCall[]> {
    const calls = await Promise.all(members.map((m) => this.#read(...splitMember(m))));
    const dangling = members.filter((_, i) => calls[i] === undefined || isFinal(calls[i]!));
    if (dangling.length > 0) await withTimeout(this.#redis.zrem(UNFINISHED, ...dangling));
    return calls.filter((c): c is StoredCall => c !== undefined && !isFinal(c));
  }

  async #read(deviceId: string, id: string): Promise<StoredCall | undefined> {
    const json = await withTimeout(this.#redis.get(`iotrpc:call:${tagOf(deviceId)}:${id}`));
    return json === null ? undefined : (JSON.parse(json) as StoredCall);
  }

  async #readMany(deviceId: string, ids: string[]): Promise<StoredCall[]> {
    if (ids.length === 0) return [];
    const tag = tagOf(deviceId);
    const values = await withTimeout(this.#redis.mget(ids.map((id) => `iotrpc:call:${tag}:${id}`)));
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as StoredCall);
  }
}

interface UpdateCallCommand {
  iotrpcUpdateCall(callKey: string, openKey: string, json: string, id: string, final: '0' | '1', expected: string): Promise<unknown>;
}

/** KEYS: the call, the device's open set. ARGV: the call's JSON, its id, 1 when the new status is final, the status it must have now ('' for any). */
const UPDATE_CALL = `
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local stored = cjson.decode(current)
local status = stored['status']
local final = status == 'SUCCESSFUL' or status == 'EXPIRED' or status == 'FAILED' or status == 'DELETED'
  or (status == 'DELIVERED' and stored['request']['oneway'] == true)
if status == 'DELETED' then return -1 end
if ARGV[4] ~= '' and status ~= ARGV[4] then return -1 end
if final and cjson.decode(ARGV[1])['status'] ~= 'DELETED' then return -1 end
redis.call('SET', KEYS[1], ARGV[1])
if ARGV[3] == '1' then redis.call('SREM', KEYS[2], ARGV[2]) else redis.call('SADD', KEYS[2], ARGV[2]) end
return 1
`;

const UNFINISHED = 'iotrpc:unfinished-by-expiry';
const PURGE_LOCK = 'iotrpc:purge-lock';
const PURGE_LOCK_MS = 600_000;
const PURGE_BATCH = 1000;
const tagOf = (deviceId: string) => `{d:${deviceId}}`;
function listKey(call: StoredCall): string;
function listKey(tenantId: string, deviceId: string): string;
function listKey(callOrTenant: StoredCall | string, deviceId?: string): string {
  return typeof callOrTenant === 'string' ? `iotrpc:calls:${tagOf(deviceId!)}:${callOrTenant}` : `iotrpc:calls:${tagOf(callOrTenant.deviceId)}:${callOrTenant.tenantId}`;
}
const splitMember = (member: string): [string, string] => {
  const at = member.lastIndexOf('\n');
  return [member.slice(0, at), member.slice(at + 1)];
};
