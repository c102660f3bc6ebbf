import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CallStatus } from '../actors/index.js';
import type { CallOptions } from '../engine.js';
import { RpcError, isRpcError } from '../errors.js';
import type { DeadlineScheduler } from '../scheduling/deadline-scheduler.js';
import { MAX_TIMER_DELAY_MS as MAX_CALL_TIMEOUT_MS, ScheduledTask, inBatches } from '../scheduling/index.js';
import { MAX_ATTEMPT_IDS, isFinal, type CallPage, type CallQuery, type CallStore, type PersistentStatus, type StoredCall } from './call-store.js';

export interface PersistentRequest {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly method: string;
  readonly params: unknown;
  readonly oneway: boolean;
  /** How long one delivery attempt may wait for the device's transport acknowledgement. */
  readonly timeout: number;
  readonly expirationTime: number;
  readonly retries: number;
  readonly additionalInfo: unknown;
  readonly requestUUID?: string;
}

export interface PersistentCallsOptions {
  readonly store: CallStore;
  readonly scheduler: DeadlineScheduler;
  readonly logger: Logger;
  /** Finished calls are removed after this many days (rpc.ttlDays). */
  readonly ttlDays: number;
  /** Unfinished calls one device may have (rpc.maxPersistentPerDevice). */
  readonly maxPerDevice: number;
  /** Finished calls kept at most (rpc.maxFinishedPersistentCalls); the oldest go first, checked every minute. */
  readonly maxFinished: number;
  /** A call's params and additionalInfo as JSON, at most (rpc.maxPersistentCallBytes). */
  readonly maxCallBytes: number;
  /** One delivery attempt, to the device's session on this node. */
  readonly call: (deviceId: string, options: CallOptions) => Promise<unknown>;
  /** Whether the device has a session on this node: only the node holding it delivers its calls. */
  readonly hasSession: (deviceId: string) => boolean;
  /** A call was stored for a device with no session here: the node holding its session (if any) is told to resume it. */
  readonly wakeOwner?: (deviceId: string) => Promise<void>;
  /** A call was deleted: the node delivering it (if another) is told to withdraw it. */
  readonly withdrawElsewhere?: (call: StoredCall) => Promise<void>;
  /** Told every status written, as it is written (subscribers of the device's events). */
  readonly statusWritten?: (call: StoredCall) => void;
  /** The tenant the device belongs to now (undefined: no such device): a call is delivered only to a device of its own tenant. */
  readonly deviceTenant: (deviceId: string) => string | undefined;
  /** Of these devices, those whose session is held by another live node (recovery leaves their calls alone). */
  readonly ownedElsewhere?: (deviceIds: string[]) => Promise<Set<string>>;
}

/** The abort reason of a delivery whose device left this node: the call stays as stored, for the next session to resume. */
const HANDED_OFF = Symbol('handed off');
const EXPIRY_SWEEP_MS = 1000;
const EXPIRY_BATCH = 1000;

const RETENTION_SWEEP_MS = 3600_000;
const FINISHED_BOUND_SWEEP_MS = 60_000;
const RECOVERY_BATCH = 1000;
const WAKE_ATTEMPTS = 5;
const STORE_RETRY_FIRST_MS = 500;
const STORE_RETRY_MAX_MS = 30_000;

/**
 * Persistent calls (SPEC.md): stored with a status, delivered when the device
 * is there, retried, queried and withdrawn. Every status is written to the
 * store as the call reaches it.
 *
 * A call is delivered by the node that holds its device's session: a call for
 * a device with no session anywhere waits in the store, and the node that gets
 * the device's next session resumes it (`resumeDevice`). A device that leaves
 * takes nothing with it: its deliveries here stop without writing
 * (`handOff`), and SENT, DELIVERED or TIMEOUT calls are queued again where it
 * comes back. Calls whose deadline passes while nobody delivers them are
 * expired by a sweep that runs every second on every node; the store keeps the
 * first final status written, so nodes that race to finish a call agree.
 */
export class PersistentCalls {
  readonly #options: PersistentCallsOptions;
  readonly #running = new Map<string, { controller: AbortController; deviceId: string }>();
  readonly #expirySweep: ScheduledTask;
  readonly #retentionSweep: ScheduledTask;
  readonly #finishedBoundSweep: ScheduledTask;
  /** Per call, the chain of its writes, so they land in order. */
  readonly #writes = new Map<string, Promise<void>>();
  /** Calls being delivered here that already have a final status: nothing but DELETED is written for them after it. */
  readonly #finished = new Set<string>();
  /** Calls a delivery loop of this process owns. */
  readonly #delivering = new Set<string>();
  #closed = false;

  constructor(options: PersistentCallsOptions) {
    this.#options = options;
    this.#expirySweep = new ScheduledTask(options.scheduler, () => void this.#sweepExpired());
    this.#retentionSweep = new ScheduledTask(options.scheduler, (now) => this.removeFinishedPastRetention(now));
    this.#finishedBoundSweep = new ScheduledTask(options.scheduler, () => this.removeFinishedBeyondBound());
  }

  /** Stores the call (or finds the one with the same requestUUID) and starts delivering it. */
  async submit(request: PersistentRequest): Promise<StoredCall> {
    if (this.#closed) throw new RpcError('IOT_ERR_SHUTTING_DOWN');
    // Each attempt is a plain call, bound by the same longest wait.
    if (request.expirationTime - Date.now() > MAX_CALL_TIMEOUT_MS) {
      throw new RpcError('IOT_ERR_BAD_REQUEST', `expirationTime may be at most ${MAX_CALL_TIMEOUT_MS} ms (about 24.8 days) ahead`);
    }
    const store = this.#options.store;
    if (request.requestUUID !== undefined) {
      const known = await this.#store(() => store.byRequestUUID(request.deviceId, request.requestUUID!));
      if (known !== undefined && known.tenantId !== request.tenantId) throw new RpcError('IOT_ERR_CONFLICT', 'this requestUUID is taken: use another');
      if (known !== undefined) return this.#resume(known);
    }
    const bytes = Buffer.byteLength(JSON.stringify(request.params ?? null)) + Buffer.byteLength(JSON.stringify(request.additionalInfo ?? null));
    if (bytes > this.#options.maxCallBytes) {
      throw new RpcError('IOT_ERR_PAYLOAD_TOO_LARGE', `params and additionalInfo of a persistent call take ${bytes} bytes as JSON, limit ${this.#options.maxCallBytes}`);
    }
    // What one device's callers can make the store hold is bounded (a concurrent submit may pass the count once).
    if ((await this.#store(() => store.countUnfinishedByDevice(request.deviceId))) >= this.#options.maxPerDevice) {
      throw new RpcError('IOT_ERR_TOO_MANY_PERSISTENT', request.deviceId);
    }
    const now = Date.now();
    const call: StoredCall = {
      id: randomUUID(),
      createdTime: now,
      updatedTime: now,
      tenantId: request.tenantId,
      deviceId: request.deviceId,
      expirationTime: request.expirationTime,
      request: { method: request.method, params: request.params, oneway: request.oneway, timeout: request.timeout, retries: request.retries },
      response: null,
      status: 'QUEUED',
      additionalInfo: request.additionalInfo ?? null,
      requestUUID: request.requestUUID ?? null,
      attempts: 0,
    };
    const stored = await this.#store(() => store.insert(call));
    if (stored.tenantId !== request.tenantId) throw new RpcError('IOT_ERR_CONFLICT', 'this requestUUID is taken: use another');
    if (stored === call) this.#options.statusWritten?.(call);
    return this.#resume(stored);
  }

  /** The device has a session here now: its unfinished calls are delivered, oldest first. */
  async resumeDevice(deviceId: string, backoffMs = STORE_RETRY_FIRST_MS): Promise<void> {
    if (this.#closed || !this.#options.hasSession(deviceId)) return;
    let calls: StoredCall[];
    try {
      calls = await this.#options.store.unfinishedByDevice(deviceId);
    } catch (error) {
      this.#options.logger.warn({ err: (error as Error).message, deviceId, retryInMs: backoffMs }, 'persistent calls: store unavailable; resuming later');
      setTimeout(() => void this.resumeDevice(deviceId, Math.min(STORE_RETRY_MAX_MS, backoffMs * 2)), backoffMs).unref();
      return;
    }
    // Those SENT, DELIVERED or TIMEOUT elsewhere are queued again first, so that all go out oldest first.
    const asRead = new Set(calls.filter((call) => call.status === 'QUEUED').map((call) => call.id));
    try {
      calls = await Promise.all(calls.map((call) => (call.status === 'QUEUED' || this.#delivering.has(call.id) ? call : this.#write(call, 'QUEUED'))));
    } catch (error) {
      this.#options.logger.warn({ err: (error as Error).message, deviceId }, 'persistent calls: store unavailable; the deliveries retry');
    }
    const tenantId = this.#options.deviceTenant(deviceId);
    for (const call of calls) {
      if (!this.#options.hasSession(deviceId)) return;
      // A call of a device that was deleted is never handed to a device that took its id later.
      if (call.tenantId !== tenantId) void this.#withdrawStored(call).catch(() => {});
      else this.#start(call, { fresh: asRead.has(call.id) });
    }
  }

  /**
   * The device was deleted: its unfinished calls end DELETED (its subscribers told), so that none of them waits for
   * a device that may later take the same id. Its finished calls stay, readable by id, until retention.
   */
  async deviceRemoved(deviceId: string, tenantId: string): Promise<void> {
    const calls = await this.#store(() => this.#options.store.unfinishedByDevice(deviceId));
    await Promise.all(calls.filter((call) => call.tenantId === tenantId).map((call) => this.#withdrawStored(call)));
  }

  /** The device's session left this node: its deliveries stop, and the calls wait in the store as they are. */
  handOff(deviceId: string): void {
    for (const running of this.#running.values()) {
      if (running.deviceId === deviceId) running.controller.abort(HANDED_OFF);
    }
  }

  /** Another node deleted this call: its delivery here stops. */
  withdraw(id: string): void {
    this.#running.get(id)?.controller.abort(new RpcError('IOT_ERR_CALL_DELETED', id));
  }

  get(id: string): Promise<StoredCall | undefined> {
    return this.#store(() => this.#options.store.get(id));
  }

  /** One device's calls of one tenant (a device id another tenant held before does not show that tenant's calls). */
  list(deviceId: string, query: CallQuery): Promise<CallPage> {
    return this.#store(() => this.#options.store.listByDevice(deviceId, query));
  }

  /** Withdraws a call that is still under way and marks it DELETED (a finished one is marked too). */
  /**
   * DELETE of a call, as ThingsBoard does it: an unfinished call is withdrawn first (DELETED is written, told to its
   * subscribers and to the node delivering it), then the record is removed (404 afterwards); a finished one is
   * removed as it is. Answers the call as it was when removed.
   */
  async delete(call: StoredCall): Promise<StoredCall> {
    const ended = isFinal(call) ? call : await this.#withdrawStored(call);
    await this.#store(() => this.#options.store.remove(ended));
    return ended;
  }

  /** The call ends DELETED and its record stays (readable by its tenant until retention). */
  async #withdrawStored(call: StoredCall): Promise<StoredCall> {
    // From now on nothing but DELETED is written for it here, whatever its delivery is doing.
    this.#finished.add(call.id);
    let deleted: StoredCall;
    try {
      deleted = await this.#store(() => this.#write(call, 'DELETED'));
    } catch (error) {
      // Not deleted: a delivery that stopped for the delete is started again.
      this.#finished.delete(call.id);
      if (!this.#delivering.has(call.id)) this.#resume(call);
      throw error;
    }
    this.withdraw(call.id);
    if (!this.#delivering.has(call.id)) this.#finished.delete(call.id);
    this.#options.withdrawElsewhere?.(deleted).catch((error: unknown) => this.#options.logger.warn({ err: (error as Error).message, rpcId: call.id }, 'could not tell the delivering node that a call was deleted'));
    return deleted;
  }

  /**
   * An unfinished call nobody here is delivering (new, repeated, or one whose
   * insert failed half-way) is started if its device is here, else the node
   * holding the device is told.
   */
  #resume(call: StoredCall): StoredCall {
    if (isFinal(call) || this.#delivering.has(call.id)) return call;
    if (this.#options.hasSession(call.deviceId)) this.#start(call);
    else this.#wakeOwner(call.deviceId);
    return call;
  }

  /** Tells the node holding the device; a failed attempt is tried again a few times, then the call waits for the device's next session. */
  #wakeOwner(deviceId: string, attempt = 0): void {
    this.#options.wakeOwner?.(deviceId).catch((error: unknown) => {
      if (this.#closed) return;
      if (attempt >= WAKE_ATTEMPTS - 1) {
        this.#options.logger.warn({ err: (error as Error).message, deviceId }, 'could not reach the node holding the device; the call waits in the store for its next session');
        return;
      }
      setTimeout(() => this.#wakeOwner(deviceId, attempt + 1), STORE_RETRY_FIRST_MS * 2 ** attempt).unref();
    });
  }

  /** A store operation; its failure is SPEC.md's 503 (IOT_ERR_UNAVAILABLE). */
  async #store<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (isRpcError(error)) throw error;
      throw new RpcError('IOT_ERR_UNAVAILABLE', `the call store: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * At start: every unfinished call is accounted for. Those SENT, DELIVERED or
   * TIMEOUT when their node stopped are queued again, unless their device's
   * session is on another live node (which is delivering them); each waits
   * for its device's next session. Returns how many calls wait.
   */
  async recover(): Promise<number> {
    const unfinished = await this.#options.store.unfinished();
    const deviceIds = [...new Set(unfinished.map((c) => c.deviceId))];
    const elsewhere = (await this.#options.ownedElsewhere?.(deviceIds)) ?? new Set<string>();
    const waiting = unfinished.filter((c) => !elsewhere.has(c.deviceId) && !this.#delivering.has(c.id));
    const stale = waiting.filter((c) => c.status !== 'QUEUED');
    // Only if still as read: a node that took the device meanwhile may be delivering it.
    await inBatches(stale, RECOVERY_BATCH, (c) => this.#write(c, 'QUEUED', {}, c.status));
    this.#retentionSweep.runIn(RETENTION_SWEEP_MS);
    this.#finishedBoundSweep.runIn(FINISHED_BOUND_SWEEP_MS);
    this.#expirySweep.runIn(EXPIRY_SWEEP_MS);
    return waiting.length;
  }

  /** Calls past their deadline that no delivery here is handling are EXPIRED (one whose device is gone never will be). */
  async #sweepExpired(): Promise<void> {
    if (this.#closed) return;
    try {
      const due = await this.#options.store.unfinishedDue(Date.now(), EXPIRY_BATCH);
      await Promise.all(due.filter((c) => !this.#delivering.has(c.id)).map((c) => this.#write(c, 'EXPIRED')));
    } catch (error) {
      this.#options.logger.warn({ err: (error as Error).message }, 'expiry sweep: store unavailable; it runs again');
    }
    if (!this.#closed) this.#expirySweep.runIn(EXPIRY_SWEEP_MS);
  }

  /** Retention, hourly: finished calls older than rpc.ttlDays (counted back from `now`) go. */
  removeFinishedPastRetention(now: number): void {
    if (this.#closed) return;
    this.#options.store.purgeFinishedBefore(now - this.#options.ttlDays * 86_400_000).then(
      (removed) => {
        if (removed > 0) this.#options.logger.info({ removed }, 'persistent calls past retention removed');
      },
      (error: unknown) => this.#options.logger.warn({ err: error }, 'retention sweep failed; it runs again in an hour'),
    );
    this.#retentionSweep.runIn(RETENTION_SWEEP_MS);
  }

  /** Every minute: finished calls past rpc.maxFinishedPersistentCalls go, those that finished first first. */
  removeFinishedBeyondBound(): void {
    if (this.#closed) return;
    this.#options.store.purgeFinishedBeyond(this.#options.maxFinished).then(
      (removed) => {
        if (removed > 0) this.#options.logger.info({ removed, kept: this.#options.maxFinished }, 'finished persistent calls past rpc.maxFinishedPersistentCalls removed');
      },
      (error: unknown) => this.#options.logger.warn({ err: error }, 'finished-call bound sweep failed; it runs again in a minute'),
    );
    this.#finishedBoundSweep.runIn(FINISHED_BOUND_SWEEP_MS);
  }

  /** After close(): waits for writes under way, then lets go of the store. */
  async closeStore(): Promise<void> {
    await Promise.all(this.#writes.values());
    await this.#options.store.close?.();
  }

  /** Stops delivering; unfinished calls stay unfinished in the store, for the next start to recover. */
  close(): void {
    this.#closed = true;
    this.#retentionSweep.cancel();
    this.#finishedBoundSweep.cancel();
    this.#expirySweep.cancel();
  }

  /** Delivers the call unless it is already being delivered here; a store outage is retried with backoff. */
  /**
   * `fresh`: the call is as the store has it right now (just inserted or read), so its first attempt reads nothing.
   * `backoffMs`: how long to wait before trying again if the store fails.
   */
  #start(call: StoredCall, { fresh = true, backoffMs = STORE_RETRY_FIRST_MS }: { fresh?: boolean; backoffMs?: number } = {}): void {
    if (this.#delivering.has(call.id)) return;
    this.#delivering.add(call.id);
    this.#deliver(call, fresh)
      .then(
        () => this.#stop(call.id),
        (error: unknown) => {
          this.#stop(call.id);
          if (this.#closed) return;
          // The store failed mid-delivery: the call is left as last written and tried again later.
          this.#options.logger.warn({ err: error instanceof Error ? error.message : error, rpcId: call.id, retryInMs: backoffMs }, 'persistent call: store unavailable');
          setTimeout(() => {
            if (!this.#closed) this.#start(call, { fresh: false, backoffMs: Math.min(STORE_RETRY_MAX_MS, backoffMs * 2) });
          }, backoffMs).unref();
        },
      );
  }

  #stop(id: string): void {
    this.#delivering.delete(id);
    this.#finished.delete(id);
  }

  /**
   * Writes the call with its new status after the call's earlier writes. A
   * final status is the last one: a delivery that ends as the call is
   * deleted, or a status that arrives late, never overwrites it.
   */
  #write(call: StoredCall, status: PersistentStatus, changes: Partial<StoredCall> = {}, expected?: PersistentStatus): Promise<StoredCall> {
    const next: StoredCall = { ...call, ...changes, status, updatedTime: Date.now() };
    if (this.#finished.has(call.id) && status !== 'DELETED') return Promise.resolve(next);
    if (isFinal(next) && this.#delivering.has(call.id)) this.#finished.add(call.id);
    const previous = this.#writes.get(call.id) ?? Promise.resolve();
    const written = previous.then(async () => {
      // Refused: the store holds a final status another node wrote (EXPIRED, DELETED…); nothing more is written here.
      if (await this.#options.store.update(next, expected)) this.#options.statusWritten?.(next);
      else if (this.#delivering.has(call.id)) this.#finished.add(call.id);
    });
    const settled = written.then(
      () => {},
      () => {},
    );
    this.#writes.set(call.id, settled);
    void settled.then(() => {
      if (this.#writes.get(call.id) === settled) this.#writes.delete(call.id);
    });
    return written.then(() => next);
  }

  /** Delivery attempts until the call is final, or its device leaves this node. */
  /** `fresh`: `initial` was just read from (or written to) the store, so the first attempt need not read it again. */
  async #deliver(initial: StoredCall, fresh: boolean): Promise<void> {
    let call = initial;
    let readStore = !fresh;
    let queueFullWaitMs = STORE_RETRY_FIRST_MS / 2;
    const { scheduler } = this.#options;
    if (this.#closed) return;
    while (!this.#closed) {
      if (!this.#options.hasSession(call.deviceId)) return; // resumed where the device is
      if (readStore) {
        const current = await this.#options.store.get(call.id);
        if (current === undefined || isFinal(current)) return;
      } else if (isFinal(call)) return;
      readStore = true;
      if (Date.now() >= call.expirationTime) {
        await this.#write(call, 'EXPIRED');
        return;
      }
      if (call.status !== 'QUEUED') call = await this.#write(call, 'QUEUED');
      if (this.#finished.has(call.id)) return; // deleted while we wrote
      const controller = new AbortController();
      this.#running.set(call.id, { controller, deviceId: call.deviceId });
      let ackTimedOut = false;
      let latest = call;
      const ackTimer = new ScheduledTask(scheduler, () => {
        if (latest.status !== 'SENT') return;
        ackTimedOut = true;
        controller.abort(new RpcError('IOT_ERR_NO_REPLY_SENT', call.deviceId));
      });
      const onStatus = (status: CallStatus, requestId: number) => {
        const persistent = STATUS_OF[status];
        if (persistent === undefined || persistent === latest.status) return;
        // An attempt counts once the request has gone out (SENT, or DELIVERED straight away for QoS 0).
        const sentNow = (persistent === 'SENT' || persistent === 'DELIVERED') && latest.status === 'QUEUED';
        const changes = sentNow ? { attempts: latest.attempts + 1, requestIds: withAttemptId(latest.requestIds, requestId) } : {};
        void this.#write(latest, persistent, changes).catch(() => {}); // a failed write surfaces at the final one
        latest = { ...latest, ...changes, status: persistent };
        // A call re-sent after a lost session gets a fresh ack deadline; one back in line has none.
        if (persistent === 'SENT') ackTimer.runIn(call.request.timeout);
        else ackTimer.cancel();
      };
      try {
        const attempt = this.#options.call(call.deviceId, {
          method: call.request.method,
          params: call.request.params,
          oneway: call.request.oneway,
          expirationTime: call.expirationTime,
          signal: controller.signal,
          onStatus,
          earlierRequestIds: call.requestIds,
          correlation: call.id,
        });
        const reply = await attempt;
        await this.#writes.get(call.id);
        if (call.request.oneway) await this.#write(latest, 'DELIVERED');
        else await this.#write(latest, isErrorReply(reply) ? 'FAILED' : 'SUCCESSFUL', { response: reply });
        return;
      } catch (error) {
        if (controller.signal.reason === HANDED_OFF) return;
        await this.#writes.get(call.id);
        // Deleted here, or finished (deleted, expired) by another node: the store refused our write.
        if (this.#finished.has(call.id)) return;
        const code = isRpcError(error) ? error.code : 'IOT_ERR_INTERNAL';
        if (code === 'IOT_ERR_CALL_DELETED' && !ackTimedOut) return; // withdrawn: deleted on another node
        if (code === 'IOT_ERR_SHUTTING_DOWN') return; // stays unfinished: recovered on the next start
        if (code === 'IOT_ERR_QUEUE_FULL') {
          // The device's live queue is full: the call waits in the store and tries again, not an attempt.
          queueFullWaitMs = Math.min(STORE_RETRY_MAX_MS, queueFullWaitMs * 2);
          await new Promise((resolve) => setTimeout(resolve, queueFullWaitMs * (0.5 + Math.random())).unref());
          continue;
        }
        if (ackTimedOut) {
          call = await this.#write(latest, 'TIMEOUT');
          if (call.attempts <= call.request.retries) continue; // retried while retries remain (attempts = retries + 1)
          await this.#write(call, 'FAILED', { response: { error: `no acknowledgement after ${call.attempts} attempts` } });
          return;
        }
        const expired = code === 'IOT_ERR_DEVICE_OFFLINE' || code === 'IOT_ERR_NOT_SUBSCRIBED' || code === 'IOT_ERR_STILL_QUEUED' || code === 'IOT_ERR_NO_REPLY_SENT' || code === 'IOT_ERR_NO_REPLY_DELIVERED';
        await this.#write(latest, expired ? 'EXPIRED' : 'FAILED', expired ? {} : { response: { error: error instanceof Error ? error.message : String(error) } });
        return;
      } finally {
        ackTimer.cancel();
        this.#running.delete(call.id);
      }
    }
  }
}

function withAttemptId(ids: readonly number[] | undefined, id: number): readonly number[] {
  if (ids?.includes(id)) return ids;
  return [...(ids ?? []), id].slice(-MAX_ATTEMPT_IDS);
}

const STATUS_OF: Partial<Record<CallStatus, PersistentStatus>> = { queued: 'QUEUED', sent: 'SENT', delivered: 'DELIVERED' };

/** SPEC.md: a device that answers with an error fails the call. */
function isErrorReply(reply: unknown): boolean {
  return typeof reply === 'object' && reply !== null && !Array.isArray(reply) && 'error' in reply;
}
