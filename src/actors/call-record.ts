import type { Actor } from 'xstate';
import type { RpcError } from '../errors.js';
import type { CallStatus } from './system.js';
import type { DeadlineTarget } from '../scheduling/deadline-scheduler.js';
import type { DeviceEntry } from './device-entry.js';
import type { PendingCallState } from './pending-call.machine.js';
import type { PendingCallLogic } from './system.js';
import type { OutgoingRequest } from './session-link.js';

/** Tells this process's calls from an earlier process's in MQTT 5 correlation data. */
const BOOT = Date.now().toString(36);
let correlationSeq = 0;

export interface CallCompletion {
  resolve(value: unknown): void;
  reject(error: RpcError): void;
}

/**
 * Everything about a call that the actor does not need to decide its next
 * state: payload, caller callbacks, deadline bookkeeping (DESIGN.md keeps these
 * out of the actor's context). It is also the request a transport writes.
 */
export class CallRecord implements DeadlineTarget, OutgoingRequest {
  actor: Actor<PendingCallLogic> | undefined;
  deadlineKey = 0;
  reply: unknown = undefined;
  failure: RpcError | undefined;
  /** Removes the listener on the caller's AbortSignal, if it gave one. */
  detachAbort: (() => void) | undefined;
  readonly createdTime = Date.now();
  /** The request has gone out at least once: a reply to it may come, even after it went back in line. */
  everSent = false;
  /** Ids of earlier attempts of the same call (a persistent call re-sent): a late reply to one of them answers this call. */
  earlierIds: readonly number[] | undefined;
  #correlation: string | undefined;
  /** An attempt of a persistent call (its caller gave the correlation: the stored call's id). */
  readonly persistent: boolean;

  constructor(
    readonly device: DeviceEntry,
    readonly id: number,
    readonly method: string,
    readonly params: unknown,
    readonly paramsJson: string,
    readonly oneway: boolean,
    readonly deadline: number,
    readonly requestUUID: string | undefined,
    readonly completion: CallCompletion,
    readonly onStatus: ((status: CallStatus, requestId: number) => void) | undefined = undefined,
    correlation: string | undefined = undefined,
  ) {
    this.#correlation = correlation;
    this.persistent = correlation !== undefined;
  }

  /** Where the call stands: its actor's state, the one place it is held. */
  get state(): PendingCallState {
    return this.actor!.getSnapshot().value as PendingCallState;
  }

  /** Unique to the call (MQTT 5 Correlation Data): given by the caller (a persistent call's id), else made when first asked for. */
  get correlation(): string {
    return (this.#correlation ??= `${BOOT}.${++correlationSeq}`);
  }

  onDeadline(): void {
    this.deadlineKey = -1;
    this.actor?.send({ type: 'DEADLINE' });
  }
}
