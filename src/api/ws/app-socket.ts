import type { WebSocket } from 'ws';
import type { RpcEngine } from '../../engine.js';
import { RpcError, toRpcError } from '../../errors.js';
import type { DeviceEvent } from '../../events/device-event.js';
import { requireDeviceAccess } from '../access.js';
import type { Principal } from '../auth/token-service.js';
import { parseJson } from '../http-io.js';
import { runRpc } from '../rpc-request.js';
import { Withdrawal } from '../../actors/withdrawal.js';
import { BulkTally } from '../../bulk/bulk-run.js';
import { startBulk } from '../routes/bulk.js';

type CmdId = string | number;

/** A subscriber that reads slower than its device's events arrive is let go rather than buffered without end. */
const MAX_BUFFERED_BYTES = 8 * 2 ** 20;
/** A connection that has not authenticated by then is closed. */
const AUTH_WAIT_MS = 10_000;
/** Per socket: subscriptions, and calls under way (a device's queue has its own limit). */
const MAX_SUBSCRIPTIONS = 1000;
const MAX_CALLS_IN_FLIGHT = 10_000;
/** Bulk calls under way per socket (each has at most rpc.bulkConcurrency device calls in flight). */
const MAX_BULKS_IN_FLIGHT = 4;
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_TOO_SLOW = 4008;

/**
 * One application's WebSocket (SPEC.md, WebSocket API for applications):
 * `rpc`, `bulk`, `subscribe` and `unsubscribe` frames, each with the caller's
 * `cmdId`, under the same access rules as REST. The JWT is verified once
 * (query parameter or first `auth` frame); the connection closes when it
 * expires unless a new `auth` frame came first.
 */
export class AppSocket {
  readonly #ws: WebSocket;
  readonly #engine: RpcEngine;
  #principal: Principal | undefined;
  /** An auth frame being verified: the frames after it wait for it. */
  #authenticating: Promise<unknown> = Promise.resolve();
  #expiry: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  readonly #subscriptions = new Map<CmdId, { deviceId: string; unwatch: () => void }>();
  readonly #calls = new Map<CmdId, Withdrawal>();
  #bulks = 0;

  constructor(ws: WebSocket, engine: RpcEngine, principal: Principal | undefined) {
    this.#ws = ws;
    this.#engine = engine;
    if (principal !== undefined) this.#authenticated(principal);
    else this.#expiry = setTimeout(() => this.#ws.close(CLOSE_UNAUTHORIZED, 'no auth frame'), AUTH_WAIT_MS);
    ws.on('message', (data, isBinary) => void this.#onFrame(isBinary ? undefined : data.toString()));
    ws.on('close', () => this.#onClose());
    ws.on('error', () => ws.terminate());
  }

  async #onFrame(text: string | undefined): Promise<void> {
    let frame: Record<string, unknown>;
    try {
      if (text === undefined) throw new RpcError('IOT_ERR_BAD_REQUEST', 'frames are JSON text, not binary');
      const parsed = parseJson(text, this.#engine.maxJsonDepth);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new RpcError('IOT_ERR_BAD_REQUEST', 'a frame is a JSON object');
      frame = parsed as Record<string, unknown>;
    } catch (error) {
      return this.#send({ cmdId: null, error: errorOf(error) });
    }
    const cmdId = frame.cmdId;
    const id: CmdId | null = typeof cmdId === 'string' || (typeof cmdId === 'number' && Number.isFinite(cmdId)) ? cmdId : null;
    try {
      if ('auth' in frame) {
        const authenticating = this.#authenticating.then(() => this.#auth(id, frame.auth));
        this.#authenticating = authenticating.catch(() => {});
        return await authenticating;
      }
      await this.#authenticating;
      if (id === null) throw new RpcError('IOT_ERR_BAD_REQUEST', 'cmdId: a string or a number is required');
      const principal = this.#principal;
      if (principal === undefined) throw new RpcError('IOT_ERR_UNAUTHORIZED', 'send {"auth":{"token":"<jwt>"}} first, or connect with ?token=<jwt>');
      if (principal.expiresAt <= Date.now()) throw new RpcError('IOT_ERR_TOKEN_EXPIRED');
      switch (frame.type) {
        case 'rpc':
          return await this.#rpc(id, principal, frame);
        case 'subscribe':
          return await this.#subscribe(id, principal, frame.deviceId);
        case 'unsubscribe':
          return this.#unsubscribe(id);
        case 'bulk':
          return await this.#bulk(id, principal, frame);
        default:
          throw new RpcError('IOT_ERR_BAD_REQUEST', `type: expected "rpc", "bulk", "subscribe" or "unsubscribe", got ${JSON.stringify(frame.type) ?? 'nothing'}`);
      }
    } catch (error) {
      this.#engine.internalErrors.report(error, { api: 'websocket', type: frame.type });
      this.#send({ cmdId: id, error: errorOf(error) });
    }
  }

  async #auth(id: CmdId | null, auth: unknown): Promise<void> {
    const token = typeof auth === 'object' && auth !== null ? (auth as { token?: unknown }).token : undefined;
    if (typeof token !== 'string' || token.length === 0) throw new RpcError('IOT_ERR_BAD_REQUEST', 'auth.token: a JWT is required');
    const principal = await this.#engine.tokens.verifyAccess(token);
    this.#authenticated(principal);
    this.#send({ cmdId: id, result: { user: principal.email, expiresAt: principal.expiresAt } });
  }

  #authenticated(principal: Principal): void {
    if (this.#closed) return;
    this.#principal = principal;
    // Another user on the same socket keeps only the subscriptions it may have made itself.
    for (const [id, subscription] of [...this.#subscriptions]) {
      if (!this.#mayWatch(subscription.deviceId)) this.#endSubscription(id, new RpcError('IOT_ERR_FORBIDDEN', `device ${subscription.deviceId} is not yours`));
    }
    clearTimeout(this.#expiry);
    const ms = Math.min(principal.expiresAt - Date.now(), 2 ** 31 - 1);
    this.#expiry = setTimeout(() => this.#ws.close(CLOSE_UNAUTHORIZED, 'token expired'), Math.max(0, ms));
  }

  async #rpc(id: CmdId, principal: Principal, frame: Record<string, unknown>): Promise<void> {
    if (this.#closed) return; // it waited for an auth frame, and the socket went meanwhile
    if (this.#calls.has(id)) throw new RpcError('IOT_ERR_BAD_REQUEST', `cmdId ${id} is already in use by a call under way`);
    if (this.#calls.size >= MAX_CALLS_IN_FLIGHT) throw new RpcError('IOT_ERR_QUEUE_FULL', `this socket (${MAX_CALLS_IN_FLIGHT} calls under way)`);
    this.#engine.admit();
    const { deviceId, oneway, cmdId: _cmdId, type: _type, ...body } = frame;
    if (typeof deviceId !== 'string' || deviceId.length === 0) throw new RpcError('IOT_ERR_BAD_REQUEST', 'deviceId: a string is required');
    if (oneway !== undefined && typeof oneway !== 'boolean') throw new RpcError('IOT_ERR_BAD_REQUEST', 'oneway: a boolean is expected');
    const withdrawal = new Withdrawal();
    this.#calls.set(id, withdrawal);
    try {
      const device = requireDeviceAccess(principal, await this.#engine.findDevice(deviceId), deviceId);
      const outcome = await runRpc(this.#engine, device, oneway === true, body, withdrawal);
      this.#send({ cmdId: id, result: outcome.persistent ? { rpcId: outcome.rpcId } : oneway === true ? null : outcome.result });
    } finally {
      this.#calls.delete(id);
    }
  }

  /**
   * `{"type":"bulk","cmdId",…}` with the body of `POST /api/rpc/bulk`: each device's result as it arrives,
   * `{"cmdId","event":"bulkResult","deviceId","status",…}`, then `{"cmdId","result":{"summary"}}`.
   */
  async #bulk(id: CmdId, principal: Principal, frame: Record<string, unknown>): Promise<void> {
    if (this.#closed) return;
    if (this.#calls.has(id)) throw new RpcError('IOT_ERR_BAD_REQUEST', `cmdId ${id} is already in use by a call under way`);
    if (this.#bulks >= MAX_BULKS_IN_FLIGHT) throw new RpcError('IOT_ERR_QUEUE_FULL', `this socket (${MAX_BULKS_IN_FLIGHT} bulk calls under way)`);
    this.#engine.admit();
    const { cmdId: _cmdId, type: _type, ...body } = frame;
    const withdrawal = new Withdrawal();
    this.#calls.set(id, withdrawal);
    this.#bulks++;
    try {
      const tally = new BulkTally();
      for await (const result of await startBulk(this.#engine, principal, body, withdrawal)) this.#send({ cmdId: id, event: 'bulkResult', ...tally.add(result) });
      this.#send({ cmdId: id, result: { summary: tally.summary } });
    } finally {
      this.#bulks--;
      this.#calls.delete(id);
    }
  }

  async #subscribe(id: CmdId, principal: Principal, deviceId: unknown): Promise<void> {
    if (typeof deviceId !== 'string' || deviceId.length === 0) throw new RpcError('IOT_ERR_BAD_REQUEST', 'deviceId: a string is required');
    if (this.#subscriptions.has(id)) throw new RpcError('IOT_ERR_BAD_REQUEST', `cmdId ${id} is already a subscription`);
    if (this.#subscriptions.size >= MAX_SUBSCRIPTIONS) throw new RpcError('IOT_ERR_BAD_REQUEST', `a socket may hold at most ${MAX_SUBSCRIPTIONS} subscriptions`);
    // The cmdId is taken now: an unsubscribe that arrives while the device is looked up ends it.
    const placeholder = { deviceId, unwatch: () => {} };
    this.#subscriptions.set(id, placeholder);
    try {
      requireDeviceAccess(principal, await this.#engine.findDevice(deviceId), deviceId);
    } catch (error) {
      if (this.#subscriptions.get(id) === placeholder) this.#subscriptions.delete(id);
      throw error;
    }
    if (this.#closed || this.#subscriptions.get(id) !== placeholder) return;
    const unwatch = this.#engine.events.watch(deviceId, (event) => this.#event(id, event));
    this.#subscriptions.set(id, { deviceId, unwatch });
    // In a cluster a device with no session here may have one on another node: only a session here is reported.
    const state = this.#engine.actors.deviceState(deviceId);
    const session = this.#engine.actors.sessionInfo(deviceId);
    this.#send({ cmdId: id, result: { subscribed: deviceId, ...(this.#engine.cluster === undefined || state !== 'offline' ? { state } : {}), ...session } });
  }

  #unsubscribe(id: CmdId): void {
    if (!this.#subscriptions.has(id)) throw new RpcError('IOT_ERR_NOT_FOUND', `no subscription with cmdId ${id}`);
    this.#endSubscription(id);
    this.#send({ cmdId: id, result: { unsubscribed: true } });
  }

  /** Ends a subscription; with `error`, the subscriber is told why. */
  #endSubscription(id: CmdId, error?: RpcError): void {
    const subscription = this.#subscriptions.get(id);
    if (subscription === undefined) return;
    subscription.unwatch();
    this.#subscriptions.delete(id);
    if (error !== undefined) this.#send({ cmdId: id, error: errorOf(error) });
  }

  /** As REST checks every request, every event is checked: a device deleted, or now another customer's, ends the stream. */
  #mayWatch(deviceId: string): boolean {
    try {
      requireDeviceAccess(this.#principal!, this.#engine.devices.get(deviceId), deviceId);
      return true;
    } catch {
      return false;
    }
  }

  #event(id: CmdId, event: DeviceEvent): void {
    if (this.#mayWatch(event.deviceId)) return this.#send({ cmdId: id, ...event });
    const known = this.#engine.devices.get(event.deviceId) !== undefined;
    this.#endSubscription(id, known ? new RpcError('IOT_ERR_FORBIDDEN', `device ${event.deviceId} is not yours any more`) : new RpcError('IOT_ERR_DEVICE_REMOVED', event.deviceId));
  }

  #send(frame: Record<string, unknown>): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    if (this.#ws.bufferedAmount > MAX_BUFFERED_BYTES) return void this.#ws.close(CLOSE_TOO_SLOW, 'reading too slowly');
    this.#ws.send(JSON.stringify(frame));
  }

  #onClose(): void {
    this.#closed = true;
    clearTimeout(this.#expiry);
    for (const { unwatch } of this.#subscriptions.values()) unwatch();
    this.#subscriptions.clear();
    for (const withdrawal of this.#calls.values()) withdrawal.withdraw();
  }
}

function errorOf(error: unknown): { status: number; code: string; message: string } {
  const rpcError = toRpcError(error);
  return { status: rpcError.status, code: rpcError.code, message: rpcError.message };
}
