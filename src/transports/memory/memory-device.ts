import type { ActorSystem } from '../../actors/system.js';
import type { CloseReason, DeliveryResult, OutgoingRequest, SessionLink } from '../../actors/session-link.js';

export interface MemoryDeviceOptions {
  /** `sent` awaits `acknowledge()` (like QoS 1); `delivered` needs none (QoS 0). Default `sent`. */
  readonly delivery?: 'sent' | 'delivered';
  /** Called for every request the device receives, a microtask after delivery (no device answers before the request is written). */
  readonly onRequest?: (request: OutgoingRequest, device: MemoryDevice) => void;
}

/**
 * A device session with no socket: the in-memory transport for tests and
 * benchmarks of everything above the wire. It speaks to the ActorSystem
 * exactly as the MQTT connection does.
 */
export class MemoryDevice implements SessionLink {
  readonly transport = 'memory';
  readonly remoteAddress = 'memory';
  readonly received: OutgoingRequest[] = [];
  closedWith: CloseReason | undefined;
  readonly #actors: ActorSystem;
  readonly #options: MemoryDeviceOptions;
  #open = false;

  constructor(
    actors: ActorSystem,
    readonly deviceId: string,
    options: MemoryDeviceOptions = {},
  ) {
    this.#actors = actors;
    this.#options = options;
  }

  connect(): this {
    this.#open = true;
    this.closedWith = undefined;
    this.#actors.attach(this.deviceId, this);
    return this;
  }

  subscribe(): this {
    this.#actors.subscribe(this.deviceId, this);
    return this;
  }

  unsubscribe(): this {
    this.#actors.unsubscribe(this.deviceId, this);
    return this;
  }

  disconnect(): void {
    this.#open = false;
    this.#actors.detach(this.deviceId, this);
  }

  acknowledge(requestId: number): void {
    this.#actors.acknowledge(this.deviceId, requestId);
  }

  reply(requestId: number, payload: unknown): boolean {
    return typeof payload === 'string' ? this.#actors.reply(this.deviceId, requestId, payload) : this.#actors.replyValue(this.deviceId, requestId, payload);
  }

  deliver(request: OutgoingRequest): DeliveryResult {
    if (!this.#open) return 'failed';
    const onRequest = this.#options.onRequest;
    if (onRequest === undefined) this.received.push(request);
    else queueMicrotask(() => onRequest(request, this));
    return this.#options.delivery ?? 'sent';
  }

  close(reason: CloseReason): void {
    this.#open = false;
    this.closedWith = reason;
  }
}
