import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { CallStatus } from '../actors/index.js';
import type { CallOptions } from '../engine.js';
import { RpcError, isRpcError } from '../errors.js';
import type { DeadlineScheduler, DeadlineTarget } from '../scheduling/deadline-scheduler.js';
import { isFinal, type CallPage, type CallQuery, type CallStore, type PersistentStatus, type StoredCall } from './call-store.js';

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
  /** The engine's call(): one delivery attempt. */
  readonly call: (deviceId: string, options: CallOptions) => Promise<unknown>;
}

const RETENTION_SWEEP_MS = 3600_000;
const STORE_RETRY_FIRST_MS = 500;
const STORE_RETRY_MAX_MS = 30_000;

/** Fires when a sent attempt has waited `timeout` for its acknowledgement. */
class AckTimer implements DeadlineTarget {
  key = -1;
  constructor(readonly fire: () => void) {}
  onDeadline(): void {
    this.key = -1;
    this.fire();
  }
}

/**
 * Persistent calls (SPEC.md): stored with a status, delivered when the device
 * is there, retried, queried and withdrawn. Every status is written to the
 * store as the call reaches it; a call still unfinished when the server stops
 * stays so, and `recover()` resumes it (re-queued) on the next start.
 */
export class PersistentCalls implements DeadlineTarget {
  readonly #options: PersistentCallsOptions;
  readonly #running = new Map<string, AbortController>();
  /** Per call, the chain of its writes, so they land in order. */
  readonly #writes = new Map<string, Promise<void>>();
  /** Calls being delivered here that already have a final status: nothing but DELETED is written for them after it. */
  readonly #finished = new Set<string>();
  /** Calls a delivery loop of this process owns. */
  readonly #delivering = new Set<string>();
  #closed = false;
  #sweepKey = -1;

  constructor(options: PersistentCallsOptions) {
    this.#options = options;
  }

  get store(): CallStore {
    return this.#options.store;
  }

  /** Stores the call (or finds the one with the same requestUUID) and starts delivering it. */
  async submit(request: PersistentRequest): Promise<StoredCall> {
    if (this.#closed) throw new RpcError('IOT_ERR_SHUTTING_DOWN');
    const store = this.#options.store;
    if (request.requestUUID !== undefined) {
      const known = await this.#store(() => store.byRequestUUID(request.deviceId, request.requestUUID!));
      if (known !== undefined) return this.#resume(known);
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
    return this.#resume(stored);
  }

  get(id: string): Promise<StoredCall | undefined> {
    return this.#store(() => this.#options.store.get(id));
  }

  list(deviceId: string, query: CallQuery): Promise<CallPage> {
    return this.#store(() => this.#options.store.listByDevice(deviceId, query));
  }

  /** Withdraws a call that is still under way and marks it DELETED (a finished one is marked too). */
  async delete(call: StoredCall): Promise<StoredCall> {
    // From now on nothing but DELETED is written for it here, whatever its delivery is doing.
    this.#finished.add(call.id);
    const deleted = await this.#store(() => this.#write(call, 'DELETED'));
    this.#running.get(call.id)?.abort(new RpcError('IOT_ERR_CALL_DELETED', call.id));
    if (!this.#delivering.has(call.id)) this.#finished.delete(call.id);
    return deleted;
  }

  /** An unfinished call nobody here is delivering (a repeated request, one whose insert failed half-way) is started. */
  #resume(call: StoredCall): StoredCall {
    if (!isFinal(call) && !this.#delivering.has(call.id)) this.#start(call);
    return call;
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
   * Resumes every unfinished call: those SENT, DELIVERED or TIMEOUT when the
   * server stopped are queued again. Resolves once each is in its device's queue.
   */
  async recover(): Promise<number> {
    const unfinished = await this.#options.store.unfinished();
    const handedOver: Promise<void>[] = [];
    for (const call of unfinished) {
      if (this.#delivering.has(call.id)) continue;
      const queued = call.status === 'QUEUED' ? call : await this.#write(call, 'QUEUED');
      handedOver.push(new Promise((resolve) => this.#start(queued, resolve)));
    }
    await Promise.all(handedOver);
    this.#sweepKey = this.#options.scheduler.schedule(Date.now() + RETENTION_SWEEP_MS, this);
    return unfinished.length;
  }

  /** Retention: finished calls older than rpc.ttlDays go. */
  onDeadline(now: number): void {
    this.#sweepKey = -1;
    if (this.#closed) return;
    this.#options.store.purgeFinishedBefore(now - this.#options.ttlDays * 86_400_000).then(
      (removed) => {
        if (removed > 0) this.#options.logger.info({ removed }, 'persistent calls past retention removed');
      },
      (error: unknown) => this.#options.logger.warn({ err: error }, 'retention sweep failed; it runs again in an hour'),
    );
    this.#sweepKey = this.#options.scheduler.schedule(now + RETENTION_SWEEP_MS, this);
  }

  /** After close(): waits for writes under way, then lets go of the store. */
  async closeStore(): Promise<void> {
    await Promise.all(this.#writes.values());
    await this.#options.store.close?.();
  }

  /** Stops delivering; unfinished calls stay unfinished in the store, for the next start to recover. */
  close(): void {
    this.#closed = true;
    if (this.#sweepKey >= 0) this.#options.scheduler.cancel(this.#sweepKey, this);
  }

  /** Delivers the call unless it is already being delivered here; a store outage is retried with backoff. */
  #start(call: StoredCall, handedOver: () => void = () => {}, backoffMs = STORE_RETRY_FIRST_MS): void {
    if (this.#delivering.has(call.id)) return handedOver();
    this.#delivering.add(call.id);
    this.#deliver(call, handedOver)
      .then(
        () => this.#stop(call.id),
        (error: unknown) => {
          handedOver();
          this.#stop(call.id);
          if (this.#closed) return;
          // The store failed mid-delivery: the call is left as last written and tried again later.
          this.#options.logger.warn({ err: error instanceof Error ? error.message : error, rpcId: call.id, retryInMs: backoffMs }, 'persistent call: store unavailable');
          setTimeout(() => {
            if (!this.#closed) this.#start(call, () => {}, Math.min(STORE_RETRY_MAX_MS, backoffMs * 2));
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
  #write(call: StoredCall, status: PersistentStatus, changes: Partial<StoredCall> = {}): Promise<StoredCall> {
    const next: StoredCall = { ...call, ...changes, status, updatedTime: Date.now() };
    if (this.#finished.has(call.id) && status !== 'DELETED') return Promise.resolve(next);
    if (isFinal(next) && this.#delivering.has(call.id)) this.#finished.add(call.id);
    const previous = this.#writes.get(call.id) ?? Promise.resolve();
    const written = previous.then(() => this.#options.store.update(next));
    const settled = written.catch(() => {});
    this.#writes.set(call.id, settled);
    void settled.then(() => {
      if (this.#writes.get(call.id) === settled) this.#writes.delete(call.id);
    });
    return written.then(() => next);
  }

  /** Delivery attempts until the call is final; `handedOver` once its first attempt is in the actor system. */
  async #deliver(initial: StoredCall, handedOver: () => void): Promise<void> {
    let call = initial;
    let queueFullWaitMs = STORE_RETRY_FIRST_MS / 2;
    const { scheduler } = this.#options;
    if (this.#closed) return handedOver();
    while (!this.#closed) {
      const current = await this.#options.store.get(call.id);
      if (current === undefined || current.status === 'DELETED' || isFinal(current)) return handedOver();
      if (Date.now() >= call.expirationTime) {
        await this.#write(call, 'EXPIRED');
        return handedOver();
      }
      if (call.status !== 'QUEUED') call = await this.#write(call, 'QUEUED');
      if (this.#finished.has(call.id)) return handedOver(); // deleted while we wrote
      const controller = new AbortController();
      this.#running.set(call.id, controller);
      let ackTimedOut = false;
      let latest = call;
      const ackTimer = new AckTimer(() => {
        if (latest.status !== 'SENT') return;
        ackTimedOut = true;
        controller.abort(new RpcError('IOT_ERR_NO_REPLY_SENT', call.deviceId));
      });
      const onStatus = (status: CallStatus) => {
        const persistent = STATUS_OF[status];
        if (persistent === undefined || persistent === latest.status) return;
        // An attempt counts once the request has gone out (SENT, or DELIVERED straight away for QoS 0).
        const sentNow = (persistent === 'SENT' || persistent === 'DELIVERED') && latest.status === 'QUEUED';
        const changes = sentNow ? { attempts: latest.attempts + 1 } : {};
        void this.#write(latest, persistent, changes).catch(() => {}); // a failed write surfaces at the final one
        latest = { ...latest, ...changes, status: persistent };
        // A call re-sent after a lost session gets a fresh ack deadline; one back in line has none.
        if (ackTimer.key >= 0) scheduler.cancel(ackTimer.key, ackTimer);
        ackTimer.key = persistent === 'SENT' ? scheduler.schedule(Date.now() + call.request.timeout, ackTimer) : -1;
      };
      try {
        const attempt = this.#options.call(call.deviceId, {
          method: call.request.method,
          params: call.request.params,
          oneway: call.request.oneway,
          expirationTime: call.expirationTime,
          signal: controller.signal,
          onStatus,
        });
        handedOver();
        const reply = await attempt;
        await this.#writes.get(call.id);
        if (call.request.oneway) await this.#write(latest, 'DELIVERED');
        else await this.#write(latest, isErrorReply(reply) ? 'FAILED' : 'SUCCESSFUL', { response: reply });
        return;
      } catch (error) {
        await this.#writes.get(call.id);
        const stored = await this.#options.store.get(call.id);
        if (stored === undefined || stored.status === 'DELETED') return;
        const code = isRpcError(error) ? error.code : 'IOT_ERR_INTERNAL';
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
        if (ackTimer.key >= 0) scheduler.cancel(ackTimer.key, ackTimer);
        this.#running.delete(call.id);
      }
    }
  }
}

const STATUS_OF: Partial<Record<CallStatus, PersistentStatus>> = { queued: 'QUEUED', sent: 'SENT', delivered: 'DELIVERED' };

/** SPEC.md: a device that answers with an error fails the call. */
function isErrorReply(reply: unknown): boolean {
  return typeof reply === 'object' && reply !== null && !Array.isArray(reply) && 'error' in reply;
}
