import type { Logger } from 'pino';
import type { ClusterBus } from '../cluster/bus.js';

export type AttributeUpdateListener = (values: Readonly<Record<string, unknown>>) => void;

const channelOf = (deviceId: string) => `iotrpc:attribute-updates:{d:${deviceId}}`;

/**
 * Shared attribute updates on their way to the devices that listen for them: an MQTT connection subscribed to
 * `v1/devices/me/attributes` (a gateway to `v1/gateway/attributes`, for each of its devices), an HTTP long-poll of
 * `…/attributes/updates`, a CoAP observation of `…/attributes`. In a cluster the listener may be on any node:
 * updates travel on one channel per device, which a node subscribes while one of its sessions listens.
 */
export class SharedAttributeUpdates {
  readonly #listeners = new Map<string, Set<AttributeUpdateListener>>();
  readonly #fromBus = new Map<string, (message: unknown) => void>();

  constructor(
    readonly bus: ClusterBus | undefined,
    readonly logger: Logger,
  ) {}

  /** Calls `listener` with each update of the device's shared attributes until the returned function is called. */
  listen(deviceId: string, listener: AttributeUpdateListener): () => void {
    let listeners = this.#listeners.get(deviceId);
    if (listeners === undefined) {
      this.#listeners.set(deviceId, (listeners = new Set()));
      if (this.bus !== undefined) this.#subscribe(deviceId, this.bus);
    }
    listeners.add(listener);
    return () => this.#stop(deviceId, listener);
  }

  /** Tells every listener of the device, on whichever node it is. */
  async publish(deviceId: string, values: Readonly<Record<string, unknown>>): Promise<void> {
    if (this.bus === undefined) this.#deliver(deviceId, values);
    else await this.bus.publish(channelOf(deviceId), values);
  }

  #deliver(deviceId: string, values: Readonly<Record<string, unknown>>): void {
    for (const listener of [...(this.#listeners.get(deviceId) ?? [])]) listener(values);
  }

  #subscribe(deviceId: string, bus: ClusterBus): void {
    const onMessage = (message: unknown) => {
      if (typeof message === 'object' && message !== null && !Array.isArray(message)) this.#deliver(deviceId, message as Record<string, unknown>);
    };
    this.#fromBus.set(deviceId, onMessage);
    bus.subscribe(channelOf(deviceId), onMessage).catch((error: unknown) => this.logger.warn({ err: (error as Error).message, deviceId }, 'shared attribute updates of the device cannot reach this node'));
  }

  #stop(deviceId: string, listener: AttributeUpdateListener): void {
    const listeners = this.#listeners.get(deviceId);
    if (listeners === undefined || !listeners.delete(listener) || listeners.size > 0) return;
    this.#listeners.delete(deviceId);
    const onMessage = this.#fromBus.get(deviceId);
    if (onMessage === undefined) return;
    this.#fromBus.delete(deviceId);
    this.bus?.unsubscribe(channelOf(deviceId), onMessage).catch(() => {});
  }
}
