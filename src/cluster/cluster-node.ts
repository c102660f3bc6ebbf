import type { Logger } from 'pino';
import type { ActorSystem, SessionEvent } from '../actors/index.js';
import type { PersistentCalls, StoredCall } from '../persistence/index.js';
import type { DeadlineScheduler } from '../scheduling/deadline-scheduler.js';
import { ScheduledTask, inBatches } from '../scheduling/index.js';
import { ClusterBus } from './bus.js';
import { CallRouter } from './call-router.js';
import { DeviceEventRelay } from './device-event-relay.js';
import { arrivalsOf, inboxOf, type InboxMessage } from './messages.js';
import type { RedisClient } from './redis-connection.js';
import { SessionDirectory } from './session-directory.js';

export interface ClusterOptions {
  readonly redis: RedisClient;
  readonly nodeId: string;
  /** How long a directory entry lives unless renewed (renewed every third of it). */
  readonly leaseMs: number;
}

export interface ClusterNodeOptions extends ClusterOptions {
  readonly actors: ActorSystem;
  readonly maxPendingPerDevice: number;
  readonly scheduler: DeadlineScheduler;
  readonly logger: Logger;
  readonly persistent: () => PersistentCalls;
}

/** Directory commands in flight at once when renewing or resuming every device of the node. */
const BATCH = 1000;

/**
 * One engine's place in a cluster (DESIGN.md): it registers the sessions of
 * its devices in the directory and keeps their leases, closes a session whose
 * device connected elsewhere, routes calls through its CallRouter, and passes
 * persistent-call messages to PersistentCalls.
 */
export class ClusterNode {
  readonly bus: ClusterBus;
  readonly directory: SessionDirectory;
  readonly router: CallRouter;
  readonly events: DeviceEventRelay;
  readonly #options: ClusterNodeOptions;
  readonly #renewal: ScheduledTask;
  /** Sessions here whose claim never reached the directory (Redis was away): claimed, not renewed, when it is back. */
  readonly #unclaimed = new Set<string>();
  /**
   * Devices this node holds: a session here, or one that ended less than a
   * lease ago and may come back, as an HTTP
   * device does between polls. Their calls stay here meanwhile; a device
   * that connects elsewhere (takeover) or stays away longer leaves.
   */
  readonly #present = new Set<string>();
  /** Devices whose session ended here, until they come back or leave. */
  readonly #leaving = new Map<string, ScheduledTask>();
  #renewing = false;
  #closed = false;

  constructor(options: ClusterNodeOptions) {
    this.#options = options;
    this.#renewal = new ScheduledTask(options.scheduler, () => void this.#renewAll());
    this.bus = new ClusterBus(options.redis);
    this.directory = new SessionDirectory(options.redis, options.nodeId, options.leaseMs);
    this.router = new CallRouter({
      nodeId: options.nodeId,
      actors: options.actors,
      bus: this.bus,
      directory: this.directory,
      scheduler: options.scheduler,
      logger: options.logger,
      isPresent: (deviceId) => this.#present.has(deviceId) || this.#options.actors.hasSession(deviceId),
      maxPendingPerDevice: options.maxPendingPerDevice,
      onControl: (message) => this.#onControl(message),
    });
    this.events = new DeviceEventRelay(options.nodeId, options.leaseMs, this.bus, this.router, options.scheduler, options.logger);
  }

  get nodeId(): string {
    return this.#options.nodeId;
  }

  get redis(): ClusterOptions['redis'] {
    return this.#options.redis;
  }

  async start(): Promise<void> {
    await this.router.start();
    this.#options.actors.on('session', this.#onSession);
    // Back from a Redis outage: the sessions held meanwhile are registered again.
    this.#options.redis.on('ready', this.#onRedisReady);
    this.bus.onSubscriberReady(this.#onInboxBack);
    this.#renewal.runIn(this.#options.leaseMs / 3);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#options.actors.off('session', this.#onSession);
    this.#options.redis.off('ready', this.#onRedisReady);
    this.bus.offSubscriberReady(this.#onInboxBack);
    this.#renewal.cancel();
    for (const timer of this.#leaving.values()) timer.cancel();
    this.router.close();
    this.events.close();
    // The sessions here are closing: their entries go now, not when their leases run out.
    const devices = [...new Set([...this.#options.actors.sessionDevices(), ...this.#present])];
    await Promise.all(devices.map((id) => this.directory.release(id).catch(() => {})));
    await this.bus.close();
  }

  /** A persistent call was stored for a device with no session here. */
  async wakeOwner(deviceId: string): Promise<void> {
    await this.router.notifyOwner(deviceId, { t: 'resume', deviceId });
  }

  /** A persistent call was deleted here: the node delivering it stops. */
  async withdrawElsewhere(call: StoredCall): Promise<void> {
    await this.router.notifyOwner(call.deviceId, { t: 'withdraw', rpcId: call.id });
  }

  /** Devices whose directory entry names another node. */
  async ownedElsewhere(deviceIds: string[]): Promise<Set<string>> {
    const owners = await this.directory.owners(deviceIds);
    return new Set([...owners].filter(([, node]) => node !== this.nodeId).map(([id]) => id));
  }

  readonly #onSession = (event: SessionEvent): void => {
    const { deviceId } = event;
    if (event.state === 'connected') {
      this.#stayed(deviceId);
      this.router.deviceArrivedHere(deviceId);
      // Claimed on every connect, also back within the grace period: the directory, not memory, says whose it is.
      this.#present.add(deviceId);
      void this.#claim(deviceId);
    } else if (event.state === 'disconnected') {
      // A takeover on this node reports the old session's end just before the new one: only a real departure counts.
      queueMicrotask(() => {
        if (this.#options.actors.hasSession(deviceId) || this.#closed || this.#leaving.has(deviceId) || !this.#present.has(deviceId)) return;
        const timer = new ScheduledTask(this.#options.scheduler, () => this.#leave(deviceId));
        timer.runIn(this.#options.leaseMs);
        this.#leaving.set(deviceId, timer);
      });
    }
  };

  #stayed(deviceId: string): void {
    this.#leaving.get(deviceId)?.cancel();
    this.#leaving.delete(deviceId);
  }

  /** The device is not this node's any more: its calls here follow it, its stored calls wait for it, its entry goes. */
  #leave(deviceId: string): void {
    this.#stayed(deviceId);
    if (this.#options.actors.hasSession(deviceId) || !this.#present.delete(deviceId)) return;
    this.#unclaimed.delete(deviceId);
    this.router.deviceLeft(deviceId);
    this.#options.persistent().handOff(deviceId);
    this.directory.release(deviceId).catch((error: unknown) => this.#options.logger.debug({ err: (error as Error).message, deviceId }, 'directory release failed; the lease runs out'));
  }

  /** The device's session moved to another node: closed here, and it leaves at once. */
  #movedAway(deviceId: string): void {
    this.#options.actors.closeSession(deviceId, 'takeover');
    queueMicrotask(() => this.#leave(deviceId));
  }

  readonly #onRedisReady = (): void => void this.#renewAll();

  /** The inbox was away: a `resume` sent meanwhile is lost, so every device here looks for its stored calls once more. */
  readonly #onInboxBack = (): void => {
    void inBatches([...this.#options.actors.sessionDevices()], BATCH, (id) => this.#options.persistent().resumeDevice(id));
  };

  /**
   * The device's entry names this node; the node that held it closes its
   * session; callers waiting for the device come. Then its stored calls are
   * resumed: after the claim, so that a call stored meanwhile elsewhere is
   * either read here or its node finds this one in the directory.
   */
  async #claim(deviceId: string): Promise<void> {
    try {
      const previous = await this.directory.claim(deviceId);
      this.#unclaimed.delete(deviceId);
      if (previous !== null) {
        await this.bus.publish(inboxOf(previous), { t: 'takeover', deviceId, node: this.nodeId } satisfies InboxMessage);
      }
      await this.bus.publish(arrivalsOf(deviceId), { node: this.nodeId });
    } catch (error) {
      // Redis is away: the session works here, and is claimed when Redis is back.
      if (this.#present.has(deviceId)) this.#unclaimed.add(deviceId);
      this.#options.logger.debug({ err: (error as Error).message, deviceId }, 'could not register the session in the directory yet');
    } finally {
      if (this.#options.actors.hasSession(deviceId)) void this.#options.persistent().resumeDevice(deviceId);
    }
  }

  #onControl(message: Exclude<InboxMessage, { t: 'call' | 'cancel' | 'ping' }>): void {
    switch (message.t) {
      case 'takeover':
        // A takeover that arrives after the device came back here is stale: the directory decides.
        if (message.node === this.nodeId) return;
        this.directory.owner(message.deviceId).then(
          (owner) => owner !== this.nodeId && this.#movedAway(message.deviceId),
          () => this.#movedAway(message.deviceId),
        );
        return;
      case 'resume':
        return void this.#options.persistent().resumeDevice(message.deviceId);
      case 'withdraw':
        return this.#options.persistent().withdraw(message.rpcId);
      case 'watch':
        return this.events.watchedElsewhere(message.deviceId);
    }
  }

  /** Extends every lease of this node; an entry another node took closes our session; an expired one is taken again. */
  async #renewAll(): Promise<void> {
    if (this.#renewing || this.#closed) return;
    this.#renewing = true;
    this.#renewal.cancel();
    try {
      if (!this.bus.ready) return; // tried again at the next renewal, or at once when Redis is ready
      // Back from an outage: a session still here takes its entry; one that ended meanwhile may be elsewhere now, and leaves.
      for (const id of [...this.#unclaimed]) if (!this.#options.actors.hasSession(id)) this.#leave(id);
      const unclaimed = [...this.#unclaimed];
      await inBatches(unclaimed, BATCH, (id) => this.#claim(id));
      const claimedNow = new Set(unclaimed);
      const devices = [...this.#present].filter((id) => !claimedNow.has(id));
      const outcomes = await inBatches(devices, BATCH, (id) => this.directory.renew(id));
      devices.forEach((deviceId, k) => {
        if (outcomes[k] === 'lost') this.#movedAway(deviceId);
        else if (outcomes[k] === 'restored') this.bus.publish(arrivalsOf(deviceId), { node: this.nodeId }).catch(() => {});
      });
    } catch (error) {
      this.#options.logger.warn({ err: (error as Error).message }, 'directory leases not renewed (Redis unavailable); trying again');
    } finally {
      this.#renewing = false;
      if (!this.#closed) this.#renewal.runIn(this.#options.leaseMs / 3);
    }
  }
}
