import { EventEmitter } from 'node:events';
import { createActor, fromTransition, type Actor, type AnyActorRef, type EventObject } from 'xstate';
import { DEFAULT_MAX_JSON_DEPTH, JsonTooDeepError, parseBoundedJson } from '../bounded-json.js';
import { RpcError, type ErrorCode } from '../errors.js';
import type { DeadlineScheduler } from '../scheduling/deadline-scheduler.js';
import type { Withdrawal } from './withdrawal.js';
import { CallRecord } from './call-record.js';
import { DeviceEntry, clockRequestId, isAfter } from './device-entry.js';
import { deviceSessionMachines, type DeviceSessionEvent, type DeviceSessionState } from './device-session.machine.js';
import { machineLogic, type MachineActorLogic, type Step } from './machine-logic.js';
import { pendingCallMachines, type CallOutcome, type PendingCallEvent, type PendingCallMachine, type PendingCallState, type StartState } from './pending-call.machine.js';
import type { CloseReason, DeliveryResult, SessionLink } from './session-link.js';

/** requestUUIDs are the caller's: one device's call is never joined by a call to another. */
const uuidKey = (deviceId: string, requestUUID: string) => `${deviceId}\u0000${requestUUID}`;

export type DeliveryOrder = 'burst' | 'sequential-on-ack' | 'sequential-on-reply';

export interface ActorSystemOptions {
  readonly scheduler: DeadlineScheduler;
  readonly ordering: DeliveryOrder;
  readonly maxPendingPerDevice: number;
  /** Where an error thrown inside an actor's effect goes; default: thrown on a later tick. */
  readonly reportError?: (error: unknown) => void;
  /** How deep a device's reply may nest (limits.maxJsonDepth); deeper is IOT_ERR_REPLY_NOT_JSON. */
  readonly maxJsonDepth?: number;
  /** Where a device's request ids go on from when nothing here holds it: the clock in ms by default (clockRequestId). */
  readonly requestIdSeed?: () => number;
  /** Told of each call as its caller is answered (metrics); `error` undefined for a success. */
  readonly callEnded?: (record: CallRecord, error: RpcError | undefined) => void;
}

/** The device's next request id, never one of the ids the call's earlier attempts went out with. */
function nextIdBeside(entry: DeviceEntry, earlier: readonly number[] | undefined): number {
  let id = entry.nextRequestId();
  while (earlier?.includes(id) === true) id = entry.nextRequestId();
  return id;
}

/**
 * A call's error points at the code that awaits it: its stack is taken where the rejection resumes that code, so
 * V8 adds the awaiting functions as `at async …` frames. A call that succeeds captures no stack (capturing one at
 * the start of every call cost ~9 % of a server's CPU per call).
 */
async function withCallerStack<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    if (error instanceof RpcError) Error.captureStackTrace(error, withCallerStack);
    throw error;
  }
}

/** A withdrawal reason that says the call's time is up rather than that it is withdrawn. */
function isTimeUp(reason: unknown): boolean {
  return reason instanceof RpcError && (reason.code === 'IOT_ERR_NO_REPLY_SENT' || reason.code === 'IOT_ERR_NO_REPLY_DELIVERED');
}

/** Devices forgotten while their ids ran ahead of the seed, kept at most: the oldest go first. */
const MAX_ID_FLOORS = 10_000;

/**
 * The root of every actor here. Created with `parent: host`, DeviceSession and
 * PendingCall actors share one xstate system instead of each building its own
 * (createActor of a root actor makes a system: Maps, a Set, ~15 closures).
 * Measured on this machine: 4.2 KB → 2.4 KB heap per device actor, and
 * 22.3 → 20.0 µs CPU per call lifecycle. They are not spawned: nothing is added
 * to the host's snapshot, so there is no quadratic cost (DESIGN.md). The host
 * hears each actor's done event and ignores it, and reports actor errors,
 * which xstate relays to a parent instead of throwing.
 */
function createHost(reportError: (error: unknown) => void): AnyActorRef {
  const host = createActor(
    fromTransition((state: null, event: EventObject & { error?: unknown }) => {
      if (event.type.startsWith('xstate.error.actor')) reportError(event.error);
      return state;
    }, null),
  );
  host.start();
  return host;
}

export interface CallRequest {
  readonly method: string;
  readonly params: unknown;
  readonly oneway: boolean;
  /** Epoch ms. */
  readonly deadline: number;
  readonly requestUUID?: string;
  /**
   * Withdrawing ends the call `deleted` (the caller gets IOT_ERR_CALL_DELETED). Withdrawn with an RpcError
   * IOT_ERR_NO_REPLY_SENT or IOT_ERR_NO_REPLY_DELIVERED as the reason, it ends as its deadline would, `timeout` (a
   * persistent call's attempt whose acknowledgement did not come in time). The engine turns a caller's AbortSignal
   * into one.
   */
  readonly withdrawal?: Withdrawal;
  /** Told every status the call reaches and the request id it went out with, before its caller is answered (persistent calls write them down). */
  readonly onStatus?: (status: CallStatus, requestId: number) => void;
  /** Request ids of earlier attempts of this call (a persistent call sent again): a late reply to one of them answers it. */
  readonly earlierRequestIds?: readonly number[];
  /** Unique to the call, across attempts and restarts (a persistent call's id); made up when absent. */
  readonly correlation?: string;
}

export type CallStatus = 'queued' | 'sent' | 'delivered' | CallOutcome;

export interface CallEvent {
  readonly deviceId: string;
  readonly requestId: number;
  readonly method: string;
  readonly oneway: boolean;
  readonly status: CallStatus;
  readonly error?: RpcError;
}

export interface SessionEvent {
  readonly deviceId: string;
  readonly state: 'connected' | 'subscribed' | 'unsubscribed' | 'disconnected';
  readonly transport: string;
  readonly remoteAddress: string;
  /** Present for a session that ends after each call it carries (an HTTP long-poll): its end is not the device going away. */
  readonly endsAfterEachCall?: true;
}

export interface ActorSystemEvents {
  call: [CallEvent];
  session: [SessionEvent];
  orphan: [{ deviceId: string; requestId: number }];
}

/**
 * Runs the DeviceSession and PendingCall actors and provides the effects their
 * machines name. Transports report what devices do (attach, subscribe, ack,
 * reply, detach); callers start calls; nothing here touches a socket.
 */
export class ActorSystem extends EventEmitter<ActorSystemEvents> {
  readonly #options: ActorSystemOptions;
  readonly #devices = new Map<string, DeviceEntry>();
  readonly #byUUID = new Map<string, { record: CallRecord; joiners: Array<(r: CallRecord) => void> }>();
  readonly #host: AnyActorRef;
  readonly #requestIdSeed: () => number;
  /** The last request id of a device forgotten while that id was still ahead of the seed (a burst faster than the clock). */
  readonly #idFloors = new Map<string, number>();
  #orphans = 0;
  #closed = false;

  constructor(options: ActorSystemOptions) {
    super();
    this.#options = options;
    this.#requestIdSeed = options.requestIdSeed ?? (() => clockRequestId());
    this.#host = createHost(
      options.reportError ??
        ((error) =>
          setImmediate(() => {
            throw error;
          })),
    );
  }

  get orphanReplies(): number {
    return this.#orphans;
  }

  get pendingCalls(): number {
    let count = 0;
    for (const entry of this.#devices.values()) count += entry.calls.size;
    return count;
  }

  /** Sessions here by transport and state (`connected` or `subscribed`), read when metrics are scraped. */
  sessionCounts(): Map<string, { transport: string; state: DeviceSessionState; count: number }> {
    const counts = new Map<string, { transport: string; state: DeviceSessionState; count: number }>();
    for (const entry of this.#devices.values()) {
      if (entry.link === null) continue;
      const state = entry.actor.getSnapshot().value as DeviceSessionState;
      const key = `${entry.link.transport}\u0000${state}`;
      const known = counts.get(key);
      if (known === undefined) counts.set(key, { transport: entry.link.transport, state, count: 1 });
      else known.count++;
    }
    return counts;
  }

  deviceState(deviceId: string): DeviceSessionState {
    const entry = this.#devices.get(deviceId);
    return entry === undefined ? 'offline' : (entry.actor.getSnapshot().value as DeviceSessionState);
  }

  /** Starts a server-side call; the promise settles exactly once. */
  call(deviceId: string, request: CallRequest): Promise<unknown> {
    if (this.#closed) return Promise.reject(new RpcError('IOT_ERR_SHUTTING_DOWN'));
    if (request.requestUUID !== undefined) {
      const running = this.#byUUID.get(uuidKey(deviceId, request.requestUUID));
      if (running !== undefined) return this.#join(running);
    }
    let paramsJson: string | undefined;
    try {
      paramsJson = JSON.stringify(request.params);
    } catch (error) {
      return Promise.reject(new RpcError('IOT_ERR_BAD_REQUEST', `params cannot be sent as JSON: ${(error as Error).message}`));
    }
    if (paramsJson === undefined) return Promise.reject(new RpcError('IOT_ERR_BAD_REQUEST', 'params cannot be sent as JSON'));
    if (request.withdrawal?.withdrawn === true) return Promise.reject(new RpcError('IOT_ERR_CALL_DELETED', 'aborted before it started'));
    const entry = this.#entryFor(deviceId);
    if (entry.calls.size >= this.#options.maxPendingPerDevice) {
      this.#dropIfIdle(entry);
      return Promise.reject(new RpcError('IOT_ERR_QUEUE_FULL', deviceId));
    }
    return withCallerStack(new Promise((resolve, reject) => {
      const record = new CallRecord(
        entry,
        nextIdBeside(entry, request.earlierRequestIds),
        request.method,
        request.params,
        paramsJson,
        request.oneway,
        request.deadline,
        request.requestUUID,
        { resolve, reject },
        request.onStatus,
        request.correlation,
      );
      entry.calls.set(record.id, record);
      if (request.earlierRequestIds !== undefined) this.#holdEarlierIds(entry, record, request.earlierRequestIds);
      if (record.requestUUID !== undefined) this.#byUUID.set(uuidKey(deviceId, record.requestUUID), { record, joiners: [] });
      record.deadlineKey = this.#options.scheduler.schedule(record.deadline, record);
      const withdrawal = request.withdrawal;
      if (withdrawal !== undefined) record.detachAbort = withdrawal.onWithdraw(() => record.actor?.send({ type: isTimeUp(withdrawal.reason) ? 'DEADLINE' : 'DELETED' }));
      this.#start(entry, record);
    }));
  }

  // ── what transports report ────────────────────────────────────────────────

  /** A device opened a session. A session already open for it is replaced (takeover). */
  attach(deviceId: string, link: SessionLink): void {
    const known = this.#devices.has(deviceId);
    const entry = this.#entryFor(deviceId, 'connected');
    const previous = entry.link;
    if (previous !== null) {
      entry.link = null;
      entry.subscribed = false;
      entry.actor.send({ type: 'DISCONNECTED' });
      this.#emitSession(entry, previous, 'disconnected');
      previous.close('takeover');
    }
    entry.link = link;
    entry.linkSince = Date.now();
    if (known) entry.actor.send({ type: 'CONNECTED' });
    this.#emitSession(entry, link, 'connected');
  }

  subscribe(deviceId: string, link: SessionLink): void {
    const entry = this.#devices.get(deviceId);
    if (entry === undefined || entry.link !== link || entry.subscribed) return;
    entry.subscribed = true;
    this.#emitSession(entry, link, 'subscribed');
    entry.actor.send({ type: 'SUBSCRIBED' });
  }

  unsubscribe(deviceId: string, link: SessionLink): void {
    const entry = this.#devices.get(deviceId);
    if (entry === undefined || entry.link !== link || !entry.subscribed) return;
    entry.subscribed = false;
    entry.actor.send({ type: 'UNSUBSCRIBED' });
    this.#emitSession(entry, link, 'unsubscribed');
  }

  /** The session closed. A link that was already replaced changes nothing. */
  detach(deviceId: string, link: SessionLink): void {
    const entry = this.#devices.get(deviceId);
    if (entry === undefined || entry.link !== link) return;
    entry.link = null;
    entry.subscribed = false;
    entry.actor.send({ type: 'DISCONNECTED' });
    this.#emitSession(entry, link, 'disconnected');
    this.#dropIfIdle(entry);
  }

  /** The link can write again (a limit it shares with other devices freed up): the device's waiting calls go out. */
  resumeDelivery(deviceId: string): void {
    const entry = this.#devices.get(deviceId);
    if (entry !== undefined) this.#pump(entry);
  }

  /** The device acknowledged request `requestId` (PUBACK, CoAP ACK). */
  acknowledge(deviceId: string, requestId: number): void {
    const record = this.#devices.get(deviceId)?.calls.get(requestId);
    if (record === undefined || record.state !== 'sent') return;
    record.actor!.send({ type: 'ACKED' });
  }

  /**
   * The device answered request `requestId`; false when no call waits for it (an orphan). With `correlation`
   * (MQTT 5 Correlation Data), only the call it names is answered.
   */
  reply(deviceId: string, requestId: number, payload: Buffer | string, correlation?: string): boolean {
    const record = this.#awaitingReply(deviceId, requestId, correlation);
    if (record === undefined) return false;
    const text = typeof payload === 'string' ? payload : payload.toString('utf8');
    try {
      record.reply = parseBoundedJson(text, this.#options.maxJsonDepth ?? DEFAULT_MAX_JSON_DEPTH);
    } catch (error) {
      const detail = error instanceof JsonTooDeepError ? error.message : text.length > 120 ? `${text.slice(0, 120)}…` : text;
      record.failure = new RpcError('IOT_ERR_REPLY_NOT_JSON', detail);
    }
    record.actor!.send({ type: 'REPLIED' });
    return true;
  }

  /** The same, for a reply the transport has already parsed (a gateway's reply inside its own JSON message). */
  replyValue(deviceId: string, requestId: number, value: unknown): boolean {
    const record = this.#awaitingReply(deviceId, requestId);
    if (record === undefined) return false;
    record.reply = value;
    record.actor!.send({ type: 'REPLIED' });
    return true;
  }

  /** The call a reply answers; none (an orphan, counted and reported) when nothing sent waits for one. */
  #awaitingReply(deviceId: string, requestId: number, correlation?: string): CallRecord | undefined {
    const record = this.#devices.get(deviceId)?.callFor(requestId);
    if (record !== undefined && !record.oneway && (record.everSent || record.id !== requestId) && (correlation === undefined || correlation === record.correlation)) {
      return record;
    }
    this.#orphans++;
    this.emit('orphan', { deviceId, requestId });
    return undefined;
  }

  // ── what the engine decides ───────────────────────────────────────────────

  /** The device was deleted: its session closes and its pending calls fail. */
  removeDevice(deviceId: string): void {
    const entry = this.#devices.get(deviceId);
    if (entry === undefined) return;
    this.#closeEntry(entry, 'IOT_ERR_DEVICE_REMOVED', 'removed');
  }

  /** The device's session here is closed (its session moved to another node); its pending calls stay, as for any lost session. */
  closeSession(deviceId: string, reason: CloseReason): void {
    const entry = this.#devices.get(deviceId);
    const link = entry?.link;
    if (entry === undefined || link === null || link === undefined) return;
    this.detach(deviceId, link);
    link.close(reason);
  }

  /** The device's session here, if it has one. */
  sessionOf(deviceId: string): SessionLink | null {
    return this.#devices.get(deviceId)?.link ?? null;
  }

  /** The device's session here: its transport and since when (epoch ms); undefined without one. */
  sessionInfo(deviceId: string): { transport: string; since: number } | undefined {
    const entry = this.#devices.get(deviceId);
    return entry?.link == null ? undefined : { transport: entry.link.transport, since: entry.linkSince };
  }

  /** Whether the device has a session here (connected, subscribed or not). */
  hasSession(deviceId: string): boolean {
    return (this.#devices.get(deviceId)?.link ?? null) !== null;
  }

  /** The devices that have a session here. */
  *sessionDevices(): IterableIterator<string> {
    for (const entry of this.#devices.values()) if (entry.link !== null) yield entry.deviceId;
  }

  /** Every pending caller is answered and every session closed. */
  close(): void {
    this.#closed = true;
    for (const entry of [...this.#devices.values()]) {
      this.#closeEntry(entry, 'IOT_ERR_SHUTTING_DOWN', 'shutdown');
    }
  }

  // ── internals ─────────────────────────────────────────────────────────────

  #entryFor(deviceId: string, initial: 'offline' | 'connected' = 'offline'): DeviceEntry {
    let entry = this.#devices.get(deviceId);
    if (entry === undefined) {
      const floor = this.#idFloors.get(deviceId);
      if (floor !== undefined) this.#idFloors.delete(deviceId);
      entry = new DeviceEntry(deviceId, this.#requestIdSeed, floor ?? Math.max(0, this.#requestIdSeed() - 1));
      entry.actor = createActor(this.#deviceSession[initial], { input: entry, parent: this.#host });
      entry.actor.start();
      this.#devices.set(deviceId, entry);
    }
    return entry;
  }

  #closeEntry(entry: DeviceEntry, code: ErrorCode, reason: CloseReason): void {
    entry.closeCode = code;
    const link = entry.link;
    entry.link = null;
    entry.subscribed = false;
    if (link !== null) {
      this.#emitSession(entry, link, 'disconnected');
      link.close(reason);
    }
    entry.actor.send({ type: 'CLOSED' });
  }

  #dropIfIdle(entry: DeviceEntry): void {
    if (entry.link === null && entry.calls.size === 0 && entry.closeCode === undefined && this.#devices.get(entry.deviceId) === entry) {
      this.#devices.delete(entry.deviceId);
      this.#keepIdFloor(entry);
      entry.actor.send({ type: 'CLOSED' }); // a hosted actor ends through its machine, not stop()
    }
  }

  /** A forgotten device's next counter must start past the ids this one gave out, even those ahead of the clock. */
  #keepIdFloor(entry: DeviceEntry): void {
    // A new counter's first id is the seed itself: kept unless the last id is behind it.
    if (isAfter(this.#requestIdSeed(), entry.lastRequestId)) return;
    this.#idFloors.set(entry.deviceId, entry.lastRequestId);
    if (this.#idFloors.size <= MAX_ID_FLOORS) return;
    for (const deviceId of this.#idFloors.keys()) {
      if (this.#idFloors.size <= MAX_ID_FLOORS / 2) break;
      this.#idFloors.delete(deviceId);
    }
  }

  #mayDispatch(entry: DeviceEntry): boolean {
    switch (this.#options.ordering) {
      case 'burst':
        return true;
      case 'sequential-on-ack':
        return entry.unacknowledged === 0;
      case 'sequential-on-reply':
        return entry.unanswered === 0;
    }
  }

  #start(entry: DeviceEntry, record: CallRecord): void {
    let state: StartState = 'queued';
    if (entry.subscribed && entry.queue.length === 0 && this.#mayDispatch(entry)) {
      const result = this.#deliver(entry, record);
      if (result instanceof RpcError) record.failure = result;
      else if (result !== 'failed') state = result;
    }
    if (state === 'queued' && record.failure === undefined) entry.queue.push(record);
    const machines = record.oneway ? pendingCallMachines.oneway : pendingCallMachines.twoway;
    let machine: PendingCallMachine = machines.queued;
    if (state === 'sent') machine = machines.sent;
    else if (state === 'delivered' && !record.oneway) machine = pendingCallMachines.twoway.delivered;
    record.actor = createActor(this.#pendingCall.get(machine)!, { input: record, parent: this.#host });
    // Every status the call passes through is told, in order: it was in line, however briefly, before it went out.
    this.#emitCall(record, 'queued');
    if (state === 'sent') this.#emitCall(record, 'sent');
    record.actor.start();
    if (state === 'delivered' && record.oneway) record.actor.send({ type: 'HANDED_OVER' });
    if (record.failure !== undefined) record.actor.send({ type: 'FAILED' });
  }

  /** A link that throws fails only the call it was given. */
  #deliver(entry: DeviceEntry, record: CallRecord): DeliveryResult | RpcError {
    try {
      return entry.link!.deliver(record);
    } catch (error) {
      if (error instanceof RpcError) return error;
      return new RpcError('IOT_ERR_INTERNAL', `the ${entry.link?.transport} transport could not deliver the call: ${(error as Error).message}`, { cause: error });
    }
  }

  #pump(entry: DeviceEntry): void {
    if (entry.pumping) return;
    entry.pumping = true;
    try {
      while (entry.queue.length > 0 && entry.subscribed && this.#mayDispatch(entry)) {
        // Off the queue before the link sees it: a link may end its session while it delivers (an HTTP poll does).
        const record = entry.queue.shift()!;
        const result = this.#deliver(entry, record);
        if (result === 'failed') {
          entry.queue.unshift(record);
          break;
        }
        if (result instanceof RpcError) {
          record.failure = result;
          record.actor!.send({ type: 'FAILED' });
        } else if (result === 'sent') {
          this.#emitCall(record, 'sent');
          record.actor!.send({ type: 'SENT' });
        } else {
          record.actor!.send({ type: 'HANDED_OVER' });
        }
      }
    } finally {
      entry.pumping = false;
    }
  }

  /** The device's order counters follow each call's state: calls in `sent`, and in `sent` or live `delivered`. */
  #countState(record: CallRecord, from: PendingCallState | undefined, to: PendingCallState): void {
    const entry = record.device;
    const before = from === undefined ? undefined : awaitingOf(record, from);
    const after = awaitingOf(record, to);
    if (before === after) return;
    if (before === 'ack') entry.unacknowledged--;
    if (before !== undefined) entry.unanswered--;
    if (after === 'ack') entry.unacknowledged++;
    if (after !== undefined) {
      entry.unanswered++;
      record.everSent = true;
    }
  }

  /** Earlier attempts' ids answer this call too, unless another call holds one. */
  #holdEarlierIds(entry: DeviceEntry, record: CallRecord, ids: readonly number[]): void {
    const free = ids.filter((id) => entry.callFor(id) === undefined);
    if (free.length === 0) return;
    record.earlierIds = free;
    entry.earlierIds ??= new Map();
    for (const id of free) entry.earlierIds.set(id, record);
  }

  #join(running: { record: CallRecord; joiners: Array<(r: CallRecord) => void> }): Promise<unknown> {
    return new Promise((resolve, reject) => {
      running.joiners.push((record) => {
        if (record.failure !== undefined) reject(record.failure);
        else resolve(record.reply);
      });
    });
  }

  #errorFor(record: CallRecord, outcome: CallOutcome, from: PendingCallState | undefined): RpcError | undefined {
    const deviceId = record.device.deviceId;
    let code: ErrorCode;
    switch (outcome) {
      case 'replied':
      case 'delivered':
        return record.failure;
      case 'timeout':
        code = from === 'sent' ? 'IOT_ERR_NO_REPLY_SENT' : 'IOT_ERR_NO_REPLY_DELIVERED';
        break;
      case 'expired':
        if (!record.device.connected) code = 'IOT_ERR_DEVICE_OFFLINE';
        else if (!record.device.subscribed) code = 'IOT_ERR_NOT_SUBSCRIBED';
        else code = 'IOT_ERR_STILL_QUEUED';
        break;
      case 'failed': {
        if (record.failure !== undefined) return record.failure;
        const closeCode = record.device.closeCode;
        return closeCode === undefined ? new RpcError('IOT_ERR_INTERNAL', 'call failed') : new RpcError(closeCode, deviceId);
      }
      case 'deleted':
        return new RpcError('IOT_ERR_CALL_DELETED', `call ${record.id} to device ${deviceId}`);
    }
    return new RpcError(code, deviceId);
  }

  // ── effects provided to the machines ──────────────────────────────────────

  #answerCaller(record: CallRecord, outcome: CallOutcome, from: PendingCallState | undefined): void {
    const entry = record.device;
    if (record.deadlineKey >= 0) this.#options.scheduler.cancel(record.deadlineKey, record);
    record.detachAbort?.();
    entry.calls.delete(record.id);
    if (record.earlierIds !== undefined) {
      for (const id of record.earlierIds) entry.earlierIds!.delete(id);
      if (entry.earlierIds!.size === 0) entry.earlierIds = null;
    }
    if (from === 'queued') {
      const index = entry.queue.indexOf(record);
      if (index >= 0) entry.queue.splice(index, 1);
    }
    const error = this.#errorFor(record, outcome, from);
    if (error !== undefined) record.failure = error;
    this.#options.callEnded?.(record, error);
    if (record.requestUUID !== undefined) {
      const key = uuidKey(entry.deviceId, record.requestUUID);
      const running = this.#byUUID.get(key);
      if (running?.record === record) {
        this.#byUUID.delete(key);
        for (const joiner of running.joiners) joiner(record);
      }
    }
    // A reply that overtook its acknowledgement (or answers an earlier attempt) still means the device had the request.
    if (outcome === 'replied' && from !== 'delivered') this.#emitCall(record, 'delivered');
    this.#emitCall(record, outcome, error);
    if (error !== undefined) record.completion.reject(error);
    else record.completion.resolve(record.oneway ? undefined : record.reply);
    if (!this.#closed) {
      this.#pump(entry);
      this.#dropIfIdle(entry);
    }
  }

  #emitCall(record: CallRecord, status: CallStatus, error?: RpcError): void {
    record.onStatus?.(status, record.id);
    if (this.listenerCount('call') === 0) return;
    this.emit('call', {
      deviceId: record.device.deviceId,
      requestId: record.id,
      method: record.method,
      oneway: record.oneway,
      status,
      error,
    });
  }

  #emitSession(entry: DeviceEntry, link: SessionLink, state: SessionEvent['state']): void {
    if (this.listenerCount('session') === 0) return;
    this.emit('session', { deviceId: entry.deviceId, state, transport: link.transport, remoteAddress: link.remoteAddress, ...(link.endsAfterEachCall === true ? { endsAfterEachCall: true } : {}) });
  }

  readonly #pendingCallEffects = {
    effects: {
      answerCaller: (record: CallRecord, params: { outcome: CallOutcome }, step: Step<PendingCallEvent>) => this.#answerCaller(record, params.outcome, step.from as PendingCallState | undefined),
      markDelivered: (record: CallRecord) => {
        this.#emitCall(record, 'delivered');
        this.#pump(record.device);
      },
      requeue: (record: CallRecord) => {
        record.device.requeued.push(record);
        this.#emitCall(record, 'queued');
      },
    },
    onStateChange: (record: CallRecord, from: string | undefined, to: string) => this.#countState(record, from as PendingCallState | undefined, to as PendingCallState),
  };

  /** Each machine variant's actor logic, derived from its definition once per system (machine-logic.ts). */
  readonly #pendingCall = new Map<PendingCallMachine, PendingCallLogic>(
    [
      pendingCallMachines.twoway.queued,
      pendingCallMachines.twoway.sent,
      pendingCallMachines.twoway.delivered,
      pendingCallMachines.oneway.queued,
      pendingCallMachines.oneway.sent,
    ].map((machine) => [machine, machineLogic(machine, this.#pendingCallEffects)]),
  );

  readonly #deviceSessionEffects = {
    effects: {
      deliverQueued: (entry: DeviceEntry) => this.#pump(entry),
      sessionLost: (entry: DeviceEntry) => {
        for (const record of [...entry.calls.values()]) {
          // A call still being started has no actor yet (its session ended while delivering it, as an HTTP poll does).
          if (record.actor !== undefined && record.state === 'sent') record.actor.send({ type: 'SESSION_LOST' });
        }
        if (entry.requeued.length > 0) {
          entry.queue = entry.requeued.sort((a, b) => a.createdTime - b.createdTime || a.id - b.id).concat(entry.queue);
          entry.requeued = [];
        }
      },
      closeDevice: (entry: DeviceEntry) => {
        entry.queue = [];
        for (const record of [...entry.calls.values()]) record.actor!.send({ type: 'FAILED' });
        if (this.#devices.get(entry.deviceId) === entry) {
          this.#devices.delete(entry.deviceId);
          this.#keepIdFloor(entry);
        }
      },
    },
  };

  readonly #deviceSession = {
    offline: machineLogic<DeviceEntry, DeviceSessionEvent>(deviceSessionMachines.offline, this.#deviceSessionEffects),
    connected: machineLogic<DeviceEntry, DeviceSessionEvent>(deviceSessionMachines.connected, this.#deviceSessionEffects),
  };
}

export type PendingCallLogic = MachineActorLogic<CallRecord, PendingCallEvent>;
export type DeviceSessionLogic = MachineActorLogic<DeviceEntry, DeviceSessionEvent>;

/** What a call in `state` waits for from the device: its ack (`sent`), its reply (a live `delivered`), or nothing. */
function awaitingOf(record: CallRecord, state: PendingCallState): 'ack' | 'reply' | undefined {
  if (state === 'sent') return 'ack';
  if (state === 'delivered' && !record.oneway) return 'reply';
  return undefined;
}
