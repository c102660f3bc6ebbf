import type { Redis } from 'ioredis';
import { isCluster, withTimeout, type RedisClient } from './redis-connection.js';

/** Receives each message of a channel, parsed (the bus carries JSON; a message that is not JSON is dropped). */
type Listener = (message: unknown) => void;

/**
 * Pub/sub between nodes. On a single Redis: PUBLISH/SUBSCRIBE on a second
 * connection (a subscribed connection runs no other commands). On Redis
 * Cluster: sharded pub/sub (SPUBLISH/SSUBSCRIBE), so a message goes only to
 * the shard that serves its channel's slot, not to every node of the cluster.
 */
export class ClusterBus {
  readonly #redis: RedisClient;
  readonly #subscriber: RedisClient;
  readonly #sharded: boolean;
  readonly #listeners = new Map<string, Set<Listener>>();
  /** Told how long each publish took, in seconds, when set (metrics). */
  roundTrip: ((seconds: number) => void) | undefined;

  constructor(redis: RedisClient) {
    this.#redis = redis;
    this.#sharded = isCluster(redis);
    // ioredis opens its own subscriber connections per shard for a Cluster.
    this.#subscriber = this.#sharded ? redis : (redis as Redis).duplicate();
    const deliver = (channel: string | Buffer, text: string | Buffer) => {
      const listeners = this.#listeners.get(String(channel));
      if (listeners === undefined) return;
      let message: unknown;
      try {
        message = JSON.parse(String(text));
      } catch {
        return;
      }
      for (const listener of listeners) listener(message);
    };
    this.#subscriber.on(this.#sharded ? 'smessage' : 'message', deliver);
    if (!this.#sharded) this.#subscriber.on('error', () => {}); // reported by the command connection
  }

  /** `listener` runs each time the subscriber connection is (again) ready: messages sent while it was away are lost. */
  onSubscriberReady(listener: () => void): void {
    this.#subscriber.on('ready', listener);
  }

  offSubscriberReady(listener: () => void): void {
    this.#subscriber.off('ready', listener);
  }

  /** Whether the subscriber connection is up (ioredis subscribes its channels again as it comes back). */
  get subscriberReady(): boolean {
    return this.#subscriber.status === 'ready';
  }

  /** Whether commands can be sent now (a command to a Redis that is away fails fast instead of waiting). */
  get ready(): boolean {
    return this.#redis.status === 'ready';
  }

  /**
   * Sends `message` as JSON; resolves with how many nodes received it: 0 means nobody listens on that channel
   * (its node is gone). Throws at once for a message JSON cannot carry.
   */
  publish(channel: string, message: unknown): Promise<number> {
    const text = JSON.stringify(message);
    const sent = withTimeout((this.#sharded ? this.#redis.spublish(channel, text) : (this.#redis as Redis).publish(channel, text)) as Promise<number>);
    const roundTrip = this.roundTrip;
    if (roundTrip === undefined) return sent;
    const start = performance.now();
    return sent.then((receivers) => {
      roundTrip((performance.now() - start) / 1000);
      return receivers;
    });
  }

  /** Adds a listener of the channel (several may listen to one channel; Redis is subscribed once). */
  async subscribe(channel: string, listener: Listener): Promise<void> {
    let listeners = this.#listeners.get(channel);
    if (listeners === undefined) this.#listeners.set(channel, (listeners = new Set()));
    listeners.add(listener);
    if (listeners.size === 1) await withTimeout(this.#sharded ? this.#subscriber.ssubscribe(channel) : this.#subscriber.subscribe(channel));
  }

  /** Removes the listener; the last one unsubscribes the channel. */
  async unsubscribe(channel: string, listener: Listener): Promise<void> {
    const listeners = this.#listeners.get(channel);
    if (listeners === undefined || !listeners.delete(listener) || listeners.size > 0) return;
    this.#listeners.delete(channel);
    await withTimeout(this.#sharded ? this.#subscriber.sunsubscribe(channel) : this.#subscriber.unsubscribe(channel));
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    if (!this.#sharded) await this.#subscriber.quit().catch(() => this.#subscriber.disconnect());
  }
}
