import { encode, uintOption } from './codec.js';
import { messageKey, type Endpoint } from './endpoint.js';
import { CONTENT_FORMAT_JSON } from './observation.js';
import type { CoapServer } from './server.js';
import { ObserveSequence } from './observe-sequence.js';

/**
 * An observation of `/api/v1/{token}/attributes` (or `…/attributes/updates`), RFC 7641: each shared attribute update
 * goes out as a 2.05 notification `{"key":value}`, CON if the registration was CON, NON otherwise. One CON at a
 * time: updates made while one awaits its ACK are merged and sent after it. A device has one such observation; a new
 * registration replaces it. A Reset, exhausted retransmissions or deregistration end it.
 */
export class CoapAttributeObservation {
  readonly sequence = new ObserveSequence();
  #open = true;
  #awaitingAck: string | undefined;
  #waiting: Record<string, unknown> | undefined;
  #stopListening: () => void = () => {};

  constructor(
    readonly server: CoapServer,
    readonly key: string,
    readonly deviceId: string,
    readonly endpoint: Endpoint,
    readonly token: Buffer,
    readonly confirmable: boolean,
  ) {}

  get open(): boolean {
    return this.#open;
  }

  start(): void {
    this.#stopListening = this.server.context.attributeUpdates.listen(this.deviceId, (values) => this.#notify(values));
  }

  end(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#stopListening();
    if (this.#awaitingAck !== undefined) this.server.sender.withdraw(this.#awaitingAck);
    this.#awaitingAck = undefined;
    this.server.forget(this);
  }

  #notify(values: Readonly<Record<string, unknown>>): void {
    if (!this.#open) return;
    if (this.#awaitingAck !== undefined) {
      this.#waiting = { ...this.#waiting, ...values };
      return;
    }
    const messageId = this.server.nextMessageId(this.endpoint);
    const key = messageKey(this.endpoint, messageId);
    const options = [
      { name: 'Observe', value: uintOption(this.sequence.next()) },
      { name: 'Content-Format', value: CONTENT_FORMAT_JSON },
    ];
    const bytes = encode({ type: this.confirmable ? 'CON' : 'NON', code: '2.05', messageId, token: this.token, options, payload: Buffer.from(JSON.stringify(values)) });
    this.server.trackNotification(key, this);
    if (!this.confirmable) return this.server.send(bytes, this.endpoint);
    this.#awaitingAck = key;
    this.server.sender.send(key, bytes, (b) => this.server.send(b, this.endpoint), {
      acknowledged: () => {
        this.#awaitingAck = undefined;
        const waiting = this.#waiting;
        this.#waiting = undefined;
        if (waiting !== undefined) this.#notify(waiting);
      },
      failed: () => {
        this.#awaitingAck = undefined;
        this.end();
      },
    });
  }
}
