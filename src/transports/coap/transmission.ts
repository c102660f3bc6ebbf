import type { DeadlineScheduler, DeadlineTarget } from '../../scheduling/deadline-scheduler.js';

/** RFC 7252 §4.8 transmission parameters; configurable. */
export interface TransmissionParameters {
  readonly ackTimeoutMs: number;
  readonly ackRandomFactor: number;
  readonly maxRetransmit: number;
}

/** EXCHANGE_LIFETIME and NON_LIFETIME for the default parameters (RFC 7252 §4.8.2). */
export const EXCHANGE_LIFETIME_MS = 247_000;
export const NON_LIFETIME_MS = 145_000;

export interface ConfirmableCallbacks {
  /** The peer acknowledged. */
  acknowledged(): void;
  /** The peer answered with Reset, or every retransmission went unanswered. */
  failed(reason: 'reset' | 'timeout'): void;
}

class Outstanding implements DeadlineTarget {
  attempts = 0;
  deadlineKey = -1;
  constructor(
    readonly key: string,
    readonly bytes: Buffer,
    readonly send: (bytes: Buffer) => void,
    readonly callbacks: ConfirmableCallbacks,
    public timeoutMs: number,
    readonly owner: ReliableSender,
  ) {}
  onDeadline(): void {
    this.owner.retransmit(this);
  }
}

/**
 * Confirmable messages we send (notifications, separate responses): the
 * first wait is ACK_TIMEOUT × random(1, ACK_RANDOM_FACTOR), doubling for each
 * of MAX_RETRANSMIT retransmissions (RFC 7252 §4.2), from the shared deadline
 * scheduler.
 */
export class ReliableSender {
  /** By endpoint and message id: an ACK or RST from any other endpoint matches nothing. */
  readonly #outstanding = new Map<string, Outstanding>();

  constructor(
    readonly scheduler: DeadlineScheduler,
    readonly parameters: TransmissionParameters,
  ) {}

  /** Whether a CON with this key (endpoint and message id) still awaits its ACK: its id must not be reused. */
  has(key: string): boolean {
    return this.#outstanding.has(key);
  }

  send(key: string, bytes: Buffer, send: (bytes: Buffer) => void, callbacks: ConfirmableCallbacks): void {
    const { ackTimeoutMs, ackRandomFactor } = this.parameters;
    const first = ackTimeoutMs * (1 + Math.random() * (ackRandomFactor - 1));
    const entry = new Outstanding(key, bytes, send, callbacks, first, this);
    this.#outstanding.set(key, entry);
    send(bytes);
    entry.deadlineKey = this.scheduler.schedule(Date.now() + first, entry);
  }

  /** An ACK or RST for one of our messages; false when it matches none. */
  settle(key: string, reset: boolean): boolean {
    const entry = this.#outstanding.get(key);
    if (entry === undefined) return false;
    this.#outstanding.delete(key);
    this.scheduler.cancel(entry.deadlineKey, entry);
    if (reset) entry.callbacks.failed('reset');
    else entry.callbacks.acknowledged();
    return true;
  }

  /** Stops retransmitting a message whose content no longer matters (its observation ended); a later ACK or RST for it matches nothing. */
  withdraw(key: string): void {
    const entry = this.#outstanding.get(key);
    if (entry === undefined) return;
    this.#outstanding.delete(key);
    this.scheduler.cancel(entry.deadlineKey, entry);
  }

  retransmit(entry: Outstanding): void {
    if (this.#outstanding.get(entry.key) !== entry) return;
    if (entry.attempts >= this.parameters.maxRetransmit) {
      this.#outstanding.delete(entry.key);
      entry.callbacks.failed('timeout');
      return;
    }
    entry.attempts++;
    entry.timeoutMs *= 2;
    entry.send(entry.bytes);
    entry.deadlineKey = this.scheduler.schedule(Date.now() + entry.timeoutMs, entry);
  }

  close(): void {
    for (const entry of this.#outstanding.values()) this.scheduler.cancel(entry.deadlineKey, entry);
    this.#outstanding.clear();
  }
}
