import type { Actor } from 'xstate';
import type { RpcError } from '../errors.js';
import type { CallStatus } from './system.js';
import type { DeadlineTarget } from '../scheduling/deadline-scheduler.js';
import type { DeviceEntry } from './device-entry.js';
import type { PendingCallMachine } from './pending-call.machine.js';
import type { OutgoingRequest } from './session-link.js';

/** Frames kept of the caller's stack: enough to find the caller, cheap to capture (V8 walks each one). */
const CALLER_FRAMES = 6;

/** Tells this process's calls from an earlier process's in MQTT 5 correlation data. */
const BOOT = Date.now().toString(36);
let correlationSeq = 0;

/** Where a call stands, mirrored beside the actor so ordering counters stay O(1). */
export type CallPhase = 'queued' | 'sent' | 'delivered' | 'done';

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
  actor: Actor<PendingCallMachine> | undefined;
  phase: CallPhase = 'queued';
  deadlineKey = 0;
  reply: unknown = undefined;
  failure: RpcError | undefined;
  /** Removes the listener on the caller's AbortSignal, if it gave one. */
  detachAbort: (() => void) | undefined;
  /** A stack captured when the call started, so the caller's error points at the caller. */
  readonly callerStack: { stack?: string };
  readonly createdTime = Date.now();
  /** The request has gone out at least once: a reply to it may come, even after it went back in line. */
  everSent = false;
  /** Ids of earlier attempts of the same call (a persistent call re-sent): a late reply to one of them answers this call. */
  earlierIds: readonly number[] | undefined;
  #correlation: string | undefined;

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
    this.callerStack = {};
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = CALLER_FRAMES;
    Error.captureStackTrace(this.callerStack, CallRecord);
    Error.stackTraceLimit = limit;
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
