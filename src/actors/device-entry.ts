import type { Actor } from 'xstate';
import type { ErrorCode } from '../errors.js';
import type { CallRecord } from './call-record.js';
import type { DeviceSessionLogic } from './system.js';
import type { SessionLink } from './session-link.js';

export const MAX_REQUEST_ID = 2 ** 31 - 1;

/**
 * Where a device's request ids start when the server holds nothing of it (a new entry, a restart): the clock in
 * ms, folded into 1..2^31-1. A device is sent fewer than one call per ms, so a new counter starts past every id an
 * earlier one gave out, and a late reply to an earlier call can never name a new one (SPEC.md). The fold wraps every
 * ~24.8 days, the longest a call may wait.
 */
export function clockRequestId(now = Date.now()): number {
  return (now % MAX_REQUEST_ID) + 1;
}

/** Whether id `a` comes after id `b` on the circle of ids (less than half a turn ahead). */
export function isAfter(a: number, b: number): boolean {
  const distance = (a - b + MAX_REQUEST_ID) % MAX_REQUEST_ID;
  return distance > 0 && distance < MAX_REQUEST_ID / 2;
}

/** The state beside one DeviceSession actor: its calls, their order, and the live transport session. */
export class DeviceEntry {
  actor!: Actor<DeviceSessionLogic>;
  link: SessionLink | null = null;
  /** When `link` opened (epoch ms). */
  linkSince = 0;
  subscribed = false;
  readonly calls = new Map<number, CallRecord>();
  /** Ids of earlier attempts of pending calls (persistent calls sent again), and the call each answers. */
  earlierIds: Map<number, CallRecord> | null = null;
  queue: CallRecord[] = [];
  requeued: CallRecord[] = [];
  /** Calls in `sent`, and in `sent` or `delivered`: what the sequential orders wait on. */
  unacknowledged = 0;
  unanswered = 0;
  pumping = false;
  /** Why the device is closing: every pending call fails with a fresh error of this code. */
  closeCode: ErrorCode | undefined;
  #lastId: number;
  readonly #seed: () => number;

  /** `seed`: where the counter jumps to when that is ahead of it (the clock, by default); `lastId`: the last id given out. */
  constructor(
    readonly deviceId: string,
    seed: () => number = () => 0,
    lastId = seed(),
  ) {
    this.#seed = seed;
    this.#lastId = lastId;
  }

  /** Per-device request ids: integers that go forward (with the clock, or by one), never one that a pending call holds (SPEC.md). */
  nextRequestId(): number {
    const seed = this.#seed();
    if (isAfter(seed, this.#lastId)) this.#lastId = seed - 1;
    do {
      this.#lastId = this.#lastId >= MAX_REQUEST_ID ? 1 : this.#lastId + 1;
    } while (this.calls.has(this.#lastId) || this.earlierIds?.has(this.#lastId) === true);
    return this.#lastId;
  }

  /** The pending call that request `id` belongs to: its current attempt, or an earlier one. */
  callFor(id: number): CallRecord | undefined {
    return this.calls.get(id) ?? this.earlierIds?.get(id);
  }

  get lastRequestId(): number {
    return this.#lastId;
  }

  get connected(): boolean {
    return this.link !== null;
  }
}
