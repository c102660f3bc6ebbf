import { requestJson, type CloseReason, type DeliveryResult, type OutgoingRequest, type SessionLink } from '../../actors/session-link.js';
import { DEFAULT_SZX, blockSize } from './blockwise.js';
import { encode, uintOption, type CoapOption } from './codec.js';
import { messageKey } from './endpoint.js';
import type { CoapServer } from './server.js';
import { ObserveSequence } from './observe-sequence.js';

export const CONTENT_FORMAT_JSON = uintOption(50);
const LIVENESS_CHECK_MS = 24 * 3600 * 1000;

/**
 * An observation of `/api/v1/{token}/rpc` (RFC 7641): the device's session
 * while it lasts. Each call goes out as a 2.05 notification with the next
 * Observe sequence number: CON if the registration was CON (its ACK marks
 * the call delivered), NON otherwise. A Reset or exhausted retransmissions
 * end the observation.
 */
export class CoapObservation implements SessionLink {
  readonly transport = 'coap';
  readonly sequence = new ObserveSequence();
  #open = true;
  /** RFC 7641 §4.5.2: one CON notification in flight at a time (its message key); the next waits for its ACK. */
  #awaitingAck: string | undefined;
  /** RFC 7641 §4.5: a NON observer still gets a CON at least once a day, to learn whether it is there. */
  #lastConfirmedAt = Date.now();

  constructor(
    readonly server: CoapServer,
    readonly key: string,
    readonly deviceId: string,
    readonly endpoint: { address: string; port: number },
    readonly token: Buffer,
    readonly confirmable: boolean,
    /** Where the rest of a notification too large for one message is fetched (Block2). */
    readonly resourceKey: string,
  ) {}

  get remoteAddress(): string {
    return `${this.endpoint.address}:${this.endpoint.port}`;
  }

  get open(): boolean {
    return this.#open;
  }

  start(): void {
    const actors = this.server.context.actors;
    actors.attach(this.deviceId, this);
    if (this.#open) actors.subscribe(this.deviceId, this);
  }

  deliver(request: OutgoingRequest): DeliveryResult {
    if (!this.#open || this.#awaitingAck !== undefined) return 'failed';
    const confirmable = this.confirmable || Date.now() - this.#lastConfirmedAt > LIVENESS_CHECK_MS;
    const messageId = this.server.nextMessageId(this.endpoint);
    const key = messageKey(this.endpoint, messageId);
    let payload: Buffer = Buffer.from(requestJson(request, true));
    const observe: CoapOption = { name: 'Observe', value: uintOption(this.sequence.next()) };
    let options: CoapOption[] = [observe, { name: 'Content-Format', value: CONTENT_FORMAT_JSON }];
    if (payload.length > blockSize(DEFAULT_SZX)) {
      // RFC 7959 §2.6 / RFC 7641 §4.2 with blocks: the first block notifies, the device GETs the rest
      // (continuation blocks carry no Observe).
      ({ payload, options } = this.server.blockwise.storeRepresentation(this.resourceKey, payload, [{ name: 'Content-Format', value: CONTENT_FORMAT_JSON }], DEFAULT_SZX, [observe]));
    }
    const bytes = encode({ type: confirmable ? 'CON' : 'NON', code: '2.05', messageId, token: this.token, options, payload });
    this.server.trackNotification(key, this);
    if (!confirmable) {
      this.server.send(bytes, this.endpoint);
      return 'delivered';
    }
    this.#awaitingAck = key;
    this.server.sender.send(key, bytes, (b) => this.server.send(b, this.endpoint), {
      acknowledged: () => {
        this.#awaitingAck = undefined;
        this.#lastConfirmedAt = Date.now();
        this.server.context.actors.acknowledge(this.deviceId, request.id);
      },
      failed: () => {
        this.#awaitingAck = undefined;
        this.end();
      },
    });
    return 'sent';
  }

  /** The actor system let go of this session (another session took over, the device was deleted, shutdown). */
  close(_reason: CloseReason): void {
    this.#open = false;
    this.#withdrawNotification();
    this.server.forget(this);
  }

  /** Deregistered, reset, or unreachable: the device has no session until it observes again. */
  end(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#withdrawNotification();
    this.server.forget(this);
    this.server.context.actors.detach(this.deviceId, this);
  }

  /**
   * An ended session's notification is not retransmitted: its call went back in line (or failed) when the session
   * ended, and retransmitting would keep the call and this observation alive for up to MAX_TRANSMIT_WAIT (93 s).
   */
  #withdrawNotification(): void {
    if (this.#awaitingAck === undefined) return;
    this.server.sender.withdraw(this.#awaitingAck);
    this.#awaitingAck = undefined;
  }
}
