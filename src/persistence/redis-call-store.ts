import { Redis, Cluster } from 'ioredis';
import { isFinal, type CallPage, type CallQuery, type CallStore, type StoredCall } from './call-store.js';

/**
 * Persistent calls in Redis, so they outlive the process. Keys are built for
 * Redis Cluster: one device's keys share a hash tag (`{d:<deviceId>}`) and so
 * one slot; every command touches one slot at a time.
 *
 *   iotrpc:call:{d:<device>}:<rpcId>      the call, as JSON
 *   iotrpc:calls:{d:<device>}             sorted set: rpcIds by createdTime
 *   iotrpc:uuid:{d:<device>}:<uuid>       requestUUID → rpcId
 *   iotrpc:rpc:<rpcId>                    rpcId → deviceId (to find a call by id alone)
 *   iotrpc:unfinished                     set of "<device>\n<rpcId>" not in a final status
 *   iotrpc:finished                       sorted set of "<device>\n<rpcId>" by the time they finished
 *
 * Durability is Redis's: with `appendonly yes` and `appendfsync always` an
 * acknowledged write survives a Redis restart; `everysec` may lose the last second.
 */
export class RedisCallStore implements CallStore {
  readonly #redis: Redis | Cluster;

  constructor(redis: Redis | Cluster) {
    this.#redis = redis;
  }

  /**
   * `redis://host:port[/db]`, or several seed URLs separated by commas for a Redis Cluster.
   * Connection errors go to `onError` once per distinct error (ioredis retries on its own).
   */
  static connect(urls: string, onError: (error: Error) => void = () => {}): RedisCallStore {
    const seeds = urls.split(',').map((u) => u.trim()).filter(Boolean);
    const redis =
      seeds.length > 1
        ? new Cluster(
            seeds.map((u) => ({ host: new URL(u).hostname, port: Number(new URL(u).port || 6379) })),
            { redisOptions: { maxRetriesPerRequest: 3, password: new URL(seeds[0]!).password || undefined } },
          )
        : new Redis(seeds[0]!, { lazyConnect: false, maxRetriesPerRequest: 3 });
    let last = '';
    redis.on('error', (error: Error) => {
      if (error.message === last) return;
      last = error.message;
      onError(error);
    });
    redis.on('ready', () => {
      last = '';
    });
    return new RedisCallStore(redis);
  }

  async close(): Promise<void> {
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  /**
   * The call is listed as unfinished, then written with its index, and only
   * then does it claim its requestUUID (SET NX): a claimed UUID always names a
   * call that is whole. Of two racing inserts with one UUID, the loser removes
   * its own copy and returns the winner. A crash part-way leaves at most a
   * member that unfinished() drops.
   */
  async insert(call: StoredCall): Promise<StoredCall> {
    const tag = tagOf(call.deviceId);
    const member = `${call.deviceId}\n${call.id}`;
    await this.#op(this.#redis.sadd('iotrpc:unfinished', member));
    await this.#op(this.#redis.set(`iotrpc:rpc:${call.id}`, call.deviceId));
    await this.#op(this.#redis.multi().set(`iotrpc:call:${tag}:${call.id}`, JSON.stringify(call)).zadd(`iotrpc:calls:${tag}`, call.createdTime, call.id).exec());
    if (call.requestUUID === null) return call;
    const uuidKey = `iotrpc:uuid:${tag}:${call.requestUUID}`;
    if ((await this.#op(this.#redis.set(uuidKey, call.id, 'NX'))) !== null) return call;
    const earlierId = await this.#op(this.#redis.get(uuidKey));
    const earlier = earlierId === null ? undefined : await this.#read(call.deviceId, earlierId);
    if (earlier === undefined) return call;
    await this.#op(this.#redis.multi().del(`iotrpc:call:${tag}:${call.id}`).zrem(`iotrpc:calls:${tag}`, call.id).exec());
    await this.#op(this.#redis.del(`iotrpc:rpc:${call.id}`));
    await this.#op(this.#redis.srem('iotrpc:unfinished', member));
    return earlier;
  }

  /** Every command fails within OP_TIMEOUT_MS when Redis cannot be reached, rather than waiting for it. */
  #op<T>(command: Promise<T>): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`redis did not answer within ${OP_TIMEOUT_MS} ms`)), OP_TIMEOUT_MS);
      timer.unref?.();
    });
    return Promise.race([command, timeout]).finally(() => clearTimeout(timer));
  }

  async update(call: StoredCall): Promise<void> {
    const key = `iotrpc:call:${tagOf(call.deviceId)}:${call.id}`;
    const written = await this.#op(this.#redis.set(key, JSON.stringify(call), 'XX'));
    if (written !== null) await this.#track(call);
  }

  async get(id: string): Promise<StoredCall | undefined> {
    const deviceId = await this.#op(this.#redis.get(`iotrpc:rpc:${id}`));
    return deviceId === null ? undefined : this.#read(deviceId, id);
  }

  async byRequestUUID(deviceId: string, requestUUID: string): Promise<StoredCall | undefined> {
    const id = await this.#op(this.#redis.get(`iotrpc:uuid:${tagOf(deviceId)}:${requestUUID}`));
    return id === null ? undefined : this.#read(deviceId, id);
  }

  async listByDevice(deviceId: string, query: CallQuery): Promise<CallPage> {
    const tag = tagOf(deviceId);
    const ids = await this.#op(this.#redis.zrange(`iotrpc:calls:${tag}`, 0, -1));
    const calls = (await this.#readMany(deviceId, ids)).filter((c) => query.status === undefined || c.status === query.status);
    const direction = query.sortOrder === 'ASC' ? 1 : -1;
    calls.sort((a, b) => direction * (a[query.sortProperty] - b[query.sortProperty]) || direction * a.id.localeCompare(b.id));
    const totalPages = Math.ceil(calls.length / query.pageSize);
    return { data: calls.slice(query.page * query.pageSize, (query.page + 1) * query.pageSize), totalPages, totalElements: calls.length, hasNext: query.page + 1 < totalPages };
  }

  async unfinished(): Promise<StoredCall[]> {
    const members = await this.#op(this.#redis.smembers('iotrpc:unfinished'));
    const calls = await Promise.all(members.map((m) => this.#read(...splitMember(m))));
    const dangling = members.filter((_, i) => calls[i] === undefined || isFinal(calls[i]!));
    if (dangling.length > 0) await this.#op(this.#redis.srem('iotrpc:unfinished', ...dangling));
    return calls.filter((c): c is StoredCall => c !== undefined && !isFinal(c)).sort((a, b) => a.createdTime - b.createdTime);
  }

  async purgeFinishedBefore(before: number): Promise<number> {
    const members = await this.#redis.zrangebyscore('iotrpc:finished', '-inf', before);
    for (const member of members) {
      const [deviceId, id] = splitMember(member);
      const call = await this.#read(deviceId, id);
      const tag = tagOf(deviceId);
      await this.#redis.multi().del(`iotrpc:call:${tag}:${id}`).zrem(`iotrpc:calls:${tag}`, id).exec();
      if (call?.requestUUID != null) await this.#redis.del(`iotrpc:uuid:${tag}:${call.requestUUID}`);
      await this.#redis.del(`iotrpc:rpc:${id}`);
      await this.#redis.zrem('iotrpc:finished', member);
    }
    return members.length;
  }

  async #track(call: StoredCall): Promise<void> {
    const member = `${call.deviceId}\n${call.id}`;
    if (isFinal(call)) {
      await this.#op(this.#redis.zadd('iotrpc:finished', call.updatedTime, member));
      await this.#op(this.#redis.srem('iotrpc:unfinished', member));
    } else {
      await this.#op(this.#redis.sadd('iotrpc:unfinished', member));
    }
  }

  async #read(deviceId: string, id: string): Promise<StoredCall | undefined> {
    const json = await this.#op(this.#redis.get(`iotrpc:call:${tagOf(deviceId)}:${id}`));
    return json === null ? undefined : (JSON.parse(json) as StoredCall);
  }

  async #readMany(deviceId: string, ids: string[]): Promise<StoredCall[]> {
    if (ids.length === 0) return [];
    const tag = tagOf(deviceId);
    const values = await this.#op(this.#redis.mget(ids.map((id) => `iotrpc:call:${tag}:${id}`)));
    return values.filter((v): v is string => v !== null).map((v) => JSON.parse(v) as StoredCall);
  }
}

const tagOf = (deviceId: string) => `{d:${deviceId}}`;
const OP_TIMEOUT_MS = 3000;
const splitMember = (member: string): [string, string] => {
  const at = member.lastIndexOf('\n');
  return [member.slice(0, at), member.slice(at + 1)];
};
