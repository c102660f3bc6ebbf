import type { Logger } from 'pino';
import type { DeviceEvent, DeviceEventListener } from '../events/device-event.js';
import type { RemoteDeviceEvents } from '../events/device-event-hub.js';
import type { DeadlineScheduler } from '../scheduling/deadline-scheduler.js';
import { ScheduledTask } from '../scheduling/scheduled-task.js';
import type { ClusterBus } from './bus.js';
import type { CallRouter } from './call-router.js';
import { eventsOf, type InboxMessage } from './messages.js';

/**
 * Device events across nodes, on one channel per device. Session events are
 * always published there (a few per connection). Call events, several per
 * call, only while some node watches the device: a watching node tells the
 * node holding the session so (`watch`), again every third of a lease, and at
 * once when it hears the device connected somewhere.
 */
export class DeviceEventRelay implements RemoteDeviceEvents {
  /** Devices whose session is here that other nodes watch, until when. */
  readonly #watchedHere = new Map<string, number>();
  /** Devices watched from here: the listener of each one's channel. */
  readonly #watching = new Map<string, (message: unknown) => void>();
  readonly #renewal: ScheduledTask;
  readonly #expiry: ScheduledTask;
  #changed: () => void = () => {};
  #closed = false;

  constructor(
    readonly nodeId: string,
    readonly leaseMs: number,
    readonly bus: ClusterBus,
    readonly router: CallRouter,
    readonly scheduler: DeadlineScheduler,
    readonly logger: Logger,
  ) {
    this.#renewal = new ScheduledTask(scheduler, () => this.#renew());
    this.#expiry = new ScheduledTask(scheduler, () => this.#forgetExpired());
  }

  get watchedHere(): number {
    return this.#watchedHere.size;
  }

  onWatchedHereChange(changed: () => void): void {
    this.#changed = changed;
  }

  wantsCallEvents(deviceId: string): boolean {
    return (this.#watchedHere.get(deviceId) ?? 0) >= Date.now();
  }

  published(event: DeviceEvent): void {
    // A persistent call's statuses (rpcId) are few and may be written on any node: always published.
    if (event.event === 'call' && event.call?.rpcId === undefined && !this.wantsCallEvents(event.deviceId)) return;
    this.bus.publish(eventsOf(event.deviceId), event).catch(() => {});
  }

  watch(deviceId: string, listener: DeviceEventListener): void {
    const onMessage = (message: unknown) => {
      const event = message as DeviceEvent;
      // The node that just got the session learns at once that the device is watched.
      if (event.event === 'connected' && event.node !== this.nodeId) this.#askOwner(deviceId);
      listener(event);
    };
    this.#watching.set(deviceId, onMessage);
    this.bus.subscribe(eventsOf(deviceId), onMessage).catch((error: unknown) => this.logger.warn({ err: (error as Error).message, deviceId }, 'cannot watch the device across the cluster'));
    this.#askOwner(deviceId);
    if (!this.#renewal.pending && !this.#closed) this.#renewal.runIn(this.leaseMs / 3);
  }

  unwatch(deviceId: string): void {
    const onMessage = this.#watching.get(deviceId);
    if (onMessage === undefined) return;
    this.#watching.delete(deviceId);
    this.bus.unsubscribe(eventsOf(deviceId), onMessage).catch(() => {});
  }

  /** Another node watches this device, whose session is here. */
  watchedElsewhere(deviceId: string): void {
    const first = this.#watchedHere.size === 0;
    this.#watchedHere.set(deviceId, Date.now() + this.leaseMs);
    if (first) {
      this.#changed();
      if (!this.#expiry.pending && !this.#closed) this.#expiry.runIn(this.leaseMs);
    }
  }

  /** Watches nobody renewed are forgotten (the watching node stopped, or lost interest). */
  #forgetExpired(): void {
    const now = Date.now();
    for (const [deviceId, until] of this.#watchedHere) if (until < now) this.#watchedHere.delete(deviceId);
    if (this.#watchedHere.size === 0) return this.#changed();
    if (!this.#closed) this.#expiry.runIn(this.leaseMs);
  }

  close(): void {
    this.#closed = true;
    this.#renewal.cancel();
    this.#expiry.cancel();
    for (const deviceId of [...this.#watching.keys()]) this.unwatch(deviceId);
  }

  #askOwner(deviceId: string): void {
    this.router.notifyOwner(deviceId, { t: 'watch', deviceId } satisfies InboxMessage).catch(() => {});
  }

  #renew(): void {
    if (this.#closed || this.#watching.size === 0) return;
    for (const deviceId of this.#watching.keys()) this.#askOwner(deviceId);
    this.#renewal.runIn(this.leaseMs / 3);
  }
}
