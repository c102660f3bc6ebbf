import type { Redis, Cluster } from 'ioredis';
import { withTimeout } from '../cluster/redis-connection.js';
import { DeviceDataError } from './device-data-payload.js';
import { byteLimitMessage, keyLimitMessage, type DeviceDataLimits, type DeviceValuesStore, type LatestValue, type ValueKind, type ValueWrite } from './device-values-store.js';

/**
 * The latest values in Redis, so that every node of a cluster reads what a device sent to any of them.
 * One hash per device, in the device's slot (`{d:<device>}`, as its persistent calls):
 *
 *   iotrpc:values:{d:<device>}   field `<t|c|s>:<key>` → `<ts>|<value as JSON>` (telemetry, client, shared);
 *                                field `#bytes` → the JSON bytes of all the values together
 *
 * A write is one script: it checks the device's limits against what the hash holds and writes all of it or
 * nothing, keeping a telemetry value newer than the one written. The hash goes when the device is deleted.
 */
export class RedisValuesStore implements DeviceValuesStore {
  constructor(
    readonly redis: Redis | Cluster,
    readonly limits: DeviceDataLimits,
  ) {
    redis.defineCommand('iotrpcWriteValues', { numberOfKeys: 1, lua: WRITE_VALUES });
  }

  async write(deviceId: string, kind: ValueKind, writes: readonly ValueWrite[]): Promise<void> {
    const args: Array<string | number> = [this.limits.maxKeysPerDevice, this.limits.maxBytesPerDevice, kind === 'telemetry' ? 1 : 0];
    for (const { key, ts, json } of writes) args.push(fieldOf(kind, key), ts, json);
    const script = (this.redis as unknown as { iotrpcWriteValues(key: string, ...args: Array<string | number>): Promise<number[]> }).iotrpcWriteValues;
    const [refusal, held, counted] = await unavailableUnlessAnswered(withTimeout(script.call(this.redis, keyOf(deviceId), ...args)));
    if (refusal === REFUSED_KEYS) throw new DeviceDataError(keyLimitMessage(this.limits.maxKeysPerDevice, held!, counted! - held!), 'limit');
    if (refusal === REFUSED_BYTES) throw new DeviceDataError(byteLimitMessage(this.limits.maxBytesPerDevice, counted!), 'limit');
  }

  async read(deviceId: string, kind: ValueKind, keys?: readonly string[]): Promise<Map<string, LatestValue>> {
    const found = new Map<string, LatestValue>();
    if (keys === undefined) {
      const all = await unavailableUnlessAnswered(withTimeout(this.redis.hgetall(keyOf(deviceId))));
      const prefix = `${KIND_PREFIX[kind]}:`;
      for (const [field, stored] of Object.entries(all)) if (field.startsWith(prefix)) found.set(field.slice(prefix.length), parse(stored));
      return found;
    }
    if (keys.length === 0) return found;
    const stored = await unavailableUnlessAnswered(withTimeout(this.redis.hmget(keyOf(deviceId), ...keys.map((key) => fieldOf(kind, key)))));
    keys.forEach((key, i) => {
      const text = stored[i];
      if (text !== null && text !== undefined) found.set(key, parse(text));
    });
    return found;
  }

  async remove(deviceId: string): Promise<void> {
    await unavailableUnlessAnswered(withTimeout(this.redis.del(keyOf(deviceId))));
  }
}

const KIND_PREFIX: Record<ValueKind, string> = { telemetry: 't', client: 'c', shared: 's' };
const keyOf = (deviceId: string) => `iotrpc:values:{d:${deviceId}}`;
const fieldOf = (kind: ValueKind, key: string) => `${KIND_PREFIX[kind]}:${key}`;
const REFUSED_KEYS = 1;
const REFUSED_BYTES = 2;

function parse(stored: string): LatestValue {
  const bar = stored.indexOf('|');
  return { ts: Number(stored.slice(0, bar)), value: JSON.parse(stored.slice(bar + 1)) };
}

async function unavailableUnlessAnswered<T>(command: Promise<T>): Promise<T> {
  try {
    return await command;
  } catch (error) {
    throw new DeviceDataError(`the cluster's value store (Redis) did not answer: ${(error as Error).message}`, 'unavailable');
  }
}

/**
 * KEYS[1] the device's hash; ARGV: max keys, max bytes, 1 for telemetry (an older ts does not replace a newer
 * one), then field, ts, JSON for each value. Answers {0} when written, {1, held, keys after} past the key limit,
 * {2, 0, bytes after} past the byte limit.
 */
const WRITE_VALUES = `
local maxKeys, maxBytes, telemetry = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'
local counted = redis.call('HGET', KEYS[1], '#bytes')
local held = redis.call('HLEN', KEYS[1])
local bytes = 0
if counted then held = held - 1; bytes = tonumber(counted) end
local keys, check, old = held, bytes, {}
for i = 4, #ARGV, 3 do
  local stored = redis.call('HGET', KEYS[1], ARGV[i])
  old[i] = stored
  local oldSize = 0
  if stored then oldSize = #stored - string.find(stored, '|', 1, true) else keys = keys + 1 end
  check = check + #ARGV[i + 2] - oldSize
end
if keys > maxKeys then return {1, held, keys} end
if check > maxBytes then return {2, 0, check} end
for i = 4, #ARGV, 3 do
  local stored = old[i]
  local bar = stored and string.find(stored, '|', 1, true)
  if not (telemetry and stored and tonumber(string.sub(stored, 1, bar - 1)) > tonumber(ARGV[i + 1])) then
    if stored then bytes = bytes - (#stored - bar) end
    bytes = bytes + #ARGV[i + 2]
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1] .. '|' .. ARGV[i + 2])
  end
end
redis.call('HSET', KEYS[1], '#bytes', bytes)
return {0}
`;
