import { Cluster, Redis } from 'ioredis';

export type RedisClient = Redis | Cluster;

/** Every command fails within this long when Redis cannot be reached, rather than waiting for it. */
export const REDIS_OP_TIMEOUT_MS = 3000;

/**
 * `redis://host:port[/db]`, or several seed URLs separated by commas for a Redis Cluster.
 * Connection errors go to `onError` once per distinct error (ioredis reconnects on its own).
 */
export function connectRedis(urls: string, onError: (error: Error) => void = () => {}): RedisClient {
  const seeds = parseRedisUrls(urls);
  const first = new URL(seeds[0]!);
  // A cluster's nodes share the first seed's credentials and TLS (rediss://).
  const redis =
    seeds.length > 1
      ? new Cluster(
          seeds.map((u) => ({ host: new URL(u).hostname, port: Number(new URL(u).port || 6379) })),
          {
            shardedSubscribers: true,
            redisOptions: {
              maxRetriesPerRequest: 3,
              username: decodeURIComponent(first.username) || undefined,
              password: decodeURIComponent(first.password) || undefined,
              tls: first.protocol === 'rediss:' ? {} : undefined,
            },
          },
        )
      : new Redis(seeds[0]!, { maxRetriesPerRequest: 3 });
  let last = '';
  redis.on('error', (error: Error) => {
    if (error.message === last) return;
    last = error.message;
    onError(error);
  });
  redis.on('ready', () => {
    last = '';
  });
  return redis;
}

/** The seed URLs of `--redis`; throws a readable error for anything that is not a redis:// URL. */
export function parseRedisUrls(urls: string): string[] {
  const seeds = urls.split(',').map((u) => u.trim()).filter(Boolean);
  if (seeds.length === 0) throw new Error('--redis needs a URL such as redis://127.0.0.1:6379');
  for (const seed of seeds) {
    let url: URL;
    try {
      url = new URL(seed);
    } catch {
      throw new Error(`--redis: "${seed}" is not a URL (expected redis://host:port)`);
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error(`--redis: "${seed}" is not a redis:// URL`);
  }
  return seeds;
}

export const isCluster = (redis: RedisClient): redis is Cluster => redis instanceof Cluster;

/** A command that fails within REDIS_OP_TIMEOUT_MS when Redis does not answer. */
export function withTimeout<T>(command: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`redis did not answer within ${REDIS_OP_TIMEOUT_MS} ms`)), REDIS_OP_TIMEOUT_MS);
    timer.unref?.();
  });
  return Promise.race([command, timeout]).finally(() => clearTimeout(timer));
}
