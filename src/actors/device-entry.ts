import type { Actor } from 'xstate';
import type { ErrorCode } from '../errors.js';
import type { CallRecord } from './call-record.js';
import type { DeviceSessionMachine } from './device-session.machine.js';
import type { SessionLink } from './session-link.js';

const MAX_REQUEST_ID = 2 ** 31 - 1;

/** The state beside one DeviceSession actor: its calls, their order, and the live transport session. */
export class DeviceEntry {
  actor!: Actor<DeviceSessionMachine>;
  link: SessionLink | null = null;
  subscribed = false;
  readonly calls = new Map<number, CallRecord>();
  queue: CallRecord[] = [];
  requeued: CallRecord[] = [];
  /** Calls in `sent`, and in `sent` or `delivered`: what the sequential orders wait on. */
  unacknowledged = 0;
  unanswered = 0;
  pumping = false;
  /** Why the device is closing: every pending call fails with a fresh error of this code. */
  closeCode: ErrorCode | undefined;
  #lastId = 0;

  constructor(readonly deviceId: string) {}

  /** Per-device request ids: integers, never one that a pending call holds (SPEC.md). */
  nextRequestId(): number {
    do {
      this.#lastId = this.#lastId >= MAX_REQUEST_ID ? 1 : this.#lastId + 1;
    } while (this.calls.has(this.#lastId));
    return this.#lastId;
  }

  get connected(): boolean {
    return this.link !== null;
  }
}
