import type { Logger } from 'pino';
import { Withdrawal } from '../actors/withdrawal.js';
import type { ActorSystem, CallRequest } from '../actors/index.js';
import { RpcError, toRpcError, type ErrorCode } from '../errors.js';
import type { DeadlineScheduler, DeadlineTarget } from '../scheduling/deadline-scheduler.js';
import { ScheduledTask } from '../scheduling/scheduled-task.js';
import type { ClusterBus } from './bus.js';
import { arrivalsOf, inboxOf, repliesOf, type InboxMessage, type ReplyMessage } from './messages.js';
import type { SessionDirectory } from './session-directory.js';

export interface CallRouterOptions {
  readonly nodeId: string;
  readonly actors: ActorSystem;
  readonly bus: ClusterBus;
  readonly directory: SessionDirectory;
  readonly scheduler: DeadlineScheduler;
  readonly logger: Logger;
  /**
   * Whether the device is this node's: it has a session here, or had one a
   * moment ago (an HTTP device between two polls, a quick reconnect). Its
   * calls run here and wait in its queue.
   */
  readonly isPresent: (deviceId: string) => boolean;
  /** rpc.maxPendingPerDevice: calls waiting here for a device that is nowhere count against it too. */
  readonly maxPendingPerDevice: number;
  /** Inbox messages that are not about calls (takeover, resume, withdraw). */
  readonly onControl: (message: Exclude<InboxMessage, { t: 'call' | 'cancel' | 'ping' }>) => void;
}

/** A forwarded call's node has this long after the deadline to answer before the caller is told it did not. */
const NODE_ANSWER_GRACE_MS = 500;
/** How often nodes that hold forwarded calls are checked for life. */
const WATCHDOG_MS = 1000;
/** A call moved on more often than this waits for the device to settle somewhere. */
const MAX_HOPS = 3;

type Phase = 'routing' | 'forwarded' | 'parked' | 'here' | 'settled';

/** The abort reason of a call whose device left this node: it is routed again, not failed. */
const MOVED = Symbol('moved');

/** A call that entered this node for a device whose session is not here. */
class RoutedCall implements DeadlineTarget {
  phase: Phase = 'routing';
  node = '';
  hops = 0;
  key = -1;
  /** While it runs here: withdraws it from the actors. */
  withdrawal: Withdrawal | undefined;
  detachAbort: (() => void) | undefined;

  constructor(
    readonly router: CallRouter,
    readonly id: string,
    readonly deviceId: string,
    readonly request: CallRequest,
    readonly resolve: (value: unknown) => void,
    readonly reject: (error: RpcError) => void,
  ) {}

  onDeadline(): void {
    this.key = -1;
    this.router.deadlinePassed(this);
  }
}

/**
 * DESIGN.md's router: a call for a device whose session is on this node runs
 * here; otherwise it goes to the owning node's inbox (found in the session
 * directory) and its reply comes back on this node's reply channel. A call for
 * a device that has no session anywhere waits (parked) until the device
 * connects to some node, or its deadline passes. A call still pending when its
 * device leaves the node it runs on is routed again, to wherever the device
 * goes. Errors cross as data.
 */
export class CallRouter {
  readonly #options: CallRouterOptions;
  readonly #forwarded = new Map<string, RoutedCall>();
  readonly #parked = new Map<string, Set<RoutedCall>>();
  /** The listener of each device's arrival channel, while calls wait for it. */
  readonly #arrivalListeners = new Map<string, (message: unknown) => void>();
  /** Calls this node runs for other nodes, by `<node>\n<id>`, so that their callers can withdraw them. */
  readonly #incoming = new Map<string, Withdrawal>();
  /** The keys of #incoming, and the calls that entered here and run here, by device: they move when it leaves. */
  readonly #incomingByDevice = new Map<string, Set<string>>();
  readonly #here = new Map<string, Set<RoutedCall>>();
  readonly #watchdog: ScheduledTask;
  #sequence = 0;
  #closed = false;

  constructor(options: CallRouterOptions) {
    this.#options = options;
    this.#watchdog = new ScheduledTask(options.scheduler, () => void this.#checkNodes());
  }

  get nodeId(): string {
    return this.#options.nodeId;
  }

  async start(): Promise<void> {
    const { bus, nodeId } = this.#options;
    await bus.subscribe(inboxOf(nodeId), (message) => this.#onInbox(message as InboxMessage));
    await bus.subscribe(repliesOf(nodeId), (message) => this.#onReply(message as ReplyMessage));
    this.#watchdog.runIn(WATCHDOG_MS);
  }

  close(): void {
    this.#closed = true;
    this.#watchdog.cancel();
    for (const call of [...this.#forwarded.values()]) this.#fail(call, 'IOT_ERR_SHUTTING_DOWN', '');
    for (const calls of [...this.#parked.values()]) for (const call of [...calls]) this.#fail(call, 'IOT_ERR_SHUTTING_DOWN', '');
    for (const withdrawal of this.#incoming.values()) withdrawal.withdraw(new RpcError('IOT_ERR_SHUTTING_DOWN'));
    // Calls running here are answered by the actor system as it closes.
  }



  call(deviceId: string, request: CallRequest): Promise<unknown> {
    if (this.#closed) return Promise.reject(new RpcError('IOT_ERR_SHUTTING_DOWN'));
    if (request.withdrawal?.withdrawn === true) return Promise.reject(new RpcError('IOT_ERR_CALL_DELETED', 'aborted before it started'));
    return new Promise((resolve, reject) => {
      const call = new RoutedCall(this, `${++this.#sequence}`, deviceId, request, resolve, reject);
      if (request.withdrawal !== undefined) call.detachAbort = request.withdrawal.onWithdraw(() => this.#withdraw(call));
      void this.#route(call);
    });
  }

  /** The device connected here: calls waiting for it run now. */
  deviceArrivedHere(deviceId: string): void {
    if (this.#parked.has(deviceId)) this.#arrived(deviceId, this.#options.nodeId, false);
  }

  /** The device's session left this node: its calls pending here are routed again (callers elsewhere are told `moved`). */
  deviceLeft(deviceId: string): void {
    const here = this.#here.get(deviceId);
    if (here !== undefined) for (const call of [...here]) call.withdrawal?.withdraw(MOVED);
    const incoming = this.#incomingByDevice.get(deviceId);
    if (incoming !== undefined) for (const key of [...incoming]) this.#incoming.get(key)?.withdraw(MOVED);
  }

  /** Tells the node holding the device's session (if another, and alive); false when there is none. */
  async notifyOwner(deviceId: string, message: InboxMessage): Promise<boolean> {
    const owner = await this.#options.directory.owner(deviceId);
    if (owner === null || owner === this.#options.nodeId) return false;
    return (await this.#options.bus.publish(inboxOf(owner), message)) > 0;
  }

  /** @internal the call's timer fired. */
  deadlinePassed(call: RoutedCall): void {
    if (call.phase === 'parked') this.#fail(call, 'IOT_ERR_DEVICE_OFFLINE', `${call.deviceId} (no session on any node)`);
    else if (call.phase === 'forwarded') this.#fail(call, 'IOT_ERR_NODE_NO_ANSWER', `node ${call.node}, device ${call.deviceId}`);
    else if (call.phase === 'routing') this.#fail(call, 'IOT_ERR_CLUSTER_UNAVAILABLE', call.deviceId);
  }

  // ── the calling side ──────────────────────────────────────────────────────

  async #route(call: RoutedCall): Promise<void> {
    if (call.phase === 'settled') return;
    call.phase = 'routing';
    if (this.#options.isPresent(call.deviceId)) return this.#runHere(call);
    const { bus, directory, nodeId } = this.#options;
    // Leaving this node: from now on the router answers by the deadline (the actors do for a call that runs here).
    if (call.key < 0) this.#answerBy(call, call.request.deadline + NODE_ANSWER_GRACE_MS);
    if (!bus.ready) return this.#fail(call, 'IOT_ERR_CLUSTER_UNAVAILABLE', call.deviceId);
    let owner: string | null;
    try {
      owner = await directory.owner(call.deviceId);
    } catch {
      return this.#fail(call, 'IOT_ERR_CLUSTER_UNAVAILABLE', call.deviceId);
    }
    if (call.phase !== 'routing') return;
    if (this.#options.isPresent(call.deviceId)) return this.#runHere(call);
    if (owner === null || owner === nodeId || call.hops >= MAX_HOPS) return this.#park(call);
    await this.#forward(call, owner);
  }

  /** The call's timer: at `at` the router answers it, as its phase says (deadlinePassed). */
  #answerBy(call: RoutedCall, at: number): void {
    const { scheduler } = this.#options;
    if (call.key >= 0) scheduler.cancel(call.key, call);
    call.key = scheduler.schedule(at, call);
  }

  #runHere(call: RoutedCall): void {
    const { scheduler, actors } = this.#options;
    if (call.key >= 0) scheduler.cancel(call.key, call);
    call.key = -1; // the actors answer at the deadline
    call.phase = 'here';
    const withdrawal = new Withdrawal();
    call.withdrawal = withdrawal;
    let here = this.#here.get(call.deviceId);
    if (here === undefined) this.#here.set(call.deviceId, (here = new Set()));
    here.add(call);
    const leave = () => {
      here.delete(call);
      if (here.size === 0 && this.#here.get(call.deviceId) === here) this.#here.delete(call.deviceId);
      call.withdrawal = undefined;
    };
    actors.call(call.deviceId, { ...call.request, withdrawal }).then(
      (value) => {
        leave();
        this.#settle(call);
        call.resolve(value);
      },
      (error: RpcError) => {
        leave();
        if (withdrawal.reason === MOVED && !this.#closed && call.phase === 'here' && call.request.withdrawal?.withdrawn !== true) {
          call.hops++;
          return void this.#route(call);
        }
        this.#settle(call);
        call.reject(error);
      },
    );
  }

  async #forward(call: RoutedCall, owner: string): Promise<void> {
    const { request } = call;
    const message: InboxMessage = {
      t: 'call',
      id: call.id,
      from: this.#options.nodeId,
      deviceId: call.deviceId,
      method: request.method,
      params: request.params,
      oneway: request.oneway,
      deadline: request.deadline,
      requestUUID: request.requestUUID,
      statuses: request.onStatus !== undefined,
    };
    let sending: Promise<number>;
    try {
      sending = this.#options.bus.publish(inboxOf(owner), message);
    } catch (error) {
      return this.#fail(call, 'IOT_ERR_BAD_REQUEST', `params cannot be sent as JSON: ${(error as Error).message}`);
    }
    call.phase = 'forwarded';
    call.node = owner;
    this.#forwarded.set(call.id, call);
    let receivers: number;
    try {
      receivers = await sending;
    } catch {
      return this.#fail(call, 'IOT_ERR_CLUSTER_UNAVAILABLE', call.deviceId);
    }
    if (receivers > 0 || call.phase !== 'forwarded') return;
    // Nobody listens on that inbox: the node is gone, and its entry is stale. The device may reconnect elsewhere.
    this.#forwarded.delete(call.id);
    call.hops++;
    this.#options.directory.release(call.deviceId, owner).catch(() => {});
    this.#park(call);
  }

  #park(call: RoutedCall): void {
    if (call.phase === 'settled') return;
    call.phase = 'parked';
    this.#answerBy(call, call.request.deadline);
    let waiting = this.#parked.get(call.deviceId);
    // Only a new call is refused: one that was accepted and had to move keeps its place.
    if (waiting !== undefined && call.hops === 0 && waiting.size >= this.#options.maxPendingPerDevice) return this.#fail(call, 'IOT_ERR_QUEUE_FULL', call.deviceId);
    if (waiting !== undefined) return void waiting.add(call);
    waiting = new Set([call]);
    this.#parked.set(call.deviceId, waiting);
    const deviceId = call.deviceId;
    const listener = (message: unknown) => this.#arrived(deviceId, (message as { node: string }).node, false);
    this.#arrivalListeners.set(deviceId, listener);
    // Listen for the device's arrival, then look once more: it may have connected while we subscribed.
    this.#options.bus
      .subscribe(arrivalsOf(deviceId), listener)
      .then(() => this.#options.directory.owner(deviceId))
      .then((owner) => {
        if (owner !== null && owner !== this.#options.nodeId && this.#parked.has(deviceId)) this.#arrived(deviceId, owner, true);
      })
      .catch((error: unknown) => this.#options.logger.debug({ err: (error as Error).message, deviceId }, 'cannot watch for the device; its calls wait for their deadline'));
  }

  /**
   * The device is at `node`: its waiting calls go there. When only the directory
   * says so (`fromDirectory`), a call already sent back and forth MAX_HOPS times
   * keeps waiting for a real arrival: the entry may be stale.
   */
  #arrived(deviceId: string, node: string, fromDirectory: boolean): void {
    const waiting = this.#parked.get(deviceId);
    if (waiting === undefined) return;
    const going = fromDirectory ? [...waiting].filter((c) => c.hops < MAX_HOPS) : [...waiting];
    if (going.length === 0) return;
    for (const call of going) waiting.delete(call);
    if (waiting.size === 0) {
      this.#parked.delete(deviceId);
      this.#stopWatchingArrivals(deviceId);
    }
    for (const call of going) {
      if (call.phase !== 'parked') continue;
      this.#answerBy(call, call.request.deadline + NODE_ANSWER_GRACE_MS);
      if (node === this.#options.nodeId) void this.#route(call);
      else void this.#forward(call, node);
    }
  }

  #stopWatchingArrivals(deviceId: string): void {
    const listener = this.#arrivalListeners.get(deviceId);
    if (listener === undefined) return;
    this.#arrivalListeners.delete(deviceId);
    this.#options.bus.unsubscribe(arrivalsOf(deviceId), listener).catch(() => {});
  }

  #withdraw(call: RoutedCall): void {
    if (call.phase === 'here') return void call.withdrawal?.withdraw(new RpcError('IOT_ERR_CALL_DELETED', 'the caller aborted it'));
    if (call.phase === 'forwarded') {
      this.#options.bus.publish(inboxOf(call.node), { t: 'cancel', id: call.id, from: this.#options.nodeId } satisfies InboxMessage).catch(() => {});
    }
    this.#fail(call, 'IOT_ERR_CALL_DELETED', 'the caller aborted it');
  }

  /** The call leaves the router's books (it is answered, or runs here from now on). */
  #settle(call: RoutedCall): void {
    if (call.phase === 'parked') {
      const waiting = this.#parked.get(call.deviceId);
      waiting?.delete(call);
      if (waiting?.size === 0) {
        this.#parked.delete(call.deviceId);
        this.#stopWatchingArrivals(call.deviceId);
      }
    }
    call.phase = 'settled';
    this.#forwarded.delete(call.id);
    if (call.key >= 0) this.#options.scheduler.cancel(call.key, call);
    call.key = -1;
    call.detachAbort?.();
  }

  #fail(call: RoutedCall, code: ErrorCode, detail: string): void {
    if (call.phase === 'settled') return;
    this.#settle(call);
    call.reject(new RpcError(code, detail));
  }

  #onReply(message: ReplyMessage): void {
    const call = this.#forwarded.get(message.id);
    if (call === undefined) return;
    switch (message.t) {
      case 'status':
        return call.request.onStatus?.(message.status, message.requestId);
      case 'reply':
        this.#settle(call);
        return call.resolve(message.value);
      case 'error':
        this.#settle(call);
        return call.reject(RpcError.fromData(message.error));
      case 'moved':
        this.#forwarded.delete(call.id);
        call.hops++;
        return void this.#route(call);
    }
  }

  /** Every second: a node that holds forwarded calls and no longer listens has died; Redis away fails them too. */
  async #checkNodes(): Promise<void> {
    if (this.#closed) return;
    const nodes = new Set([...this.#forwarded.values()].map((c) => c.node));
    await Promise.all(
      [...nodes].map(async (node) => {
        let gone: ErrorCode | undefined;
        try {
          if ((await this.#options.bus.publish(inboxOf(node), PING)) === 0) gone = 'IOT_ERR_NODE_GONE';
        } catch {
          gone = 'IOT_ERR_CLUSTER_UNAVAILABLE';
        }
        if (gone === undefined) return;
        for (const call of [...this.#forwarded.values()]) {
          if (call.node !== node) continue;
          if (gone === 'IOT_ERR_NODE_GONE') this.#options.directory.release(call.deviceId, node).catch(() => {});
          this.#fail(call, gone, gone === 'IOT_ERR_NODE_GONE' ? `node ${node} (device ${call.deviceId})` : call.deviceId);
        }
      }),
    );
    if (!this.#closed) this.#watchdog.runIn(WATCHDOG_MS);
  }

  // ── the owning side ───────────────────────────────────────────────────────

  #onInbox(message: InboxMessage): void {
    switch (message.t) {
      case 'call':
        return this.#runForOtherNode(message);
      case 'cancel':
        return void this.#incoming.get(`${message.from}\n${message.id}`)?.withdraw(new RpcError('IOT_ERR_CALL_DELETED', 'the caller aborted it'));
      case 'ping':
        return;
      default:
        return this.#options.onControl(message);
    }
  }

  #runForOtherNode(message: Extract<InboxMessage, { t: 'call' }>): void {
    const replies = repliesOf(message.from);
    const send = (reply: ReplyMessage) => {
      this.#options.bus.publish(replies, reply).catch((error: unknown) => this.#options.logger.warn({ err: (error as Error).message, node: message.from }, 'could not return a reply to the calling node'));
    };
    if (!this.#options.isPresent(message.deviceId) || this.#closed) {
      // The directory named this node, wrongly: its entry goes, so that the caller does not come back.
      this.#options.directory.release(message.deviceId).catch(() => {});
      return send({ t: 'moved', id: message.id });
    }
    const key = `${message.from}\n${message.id}`;
    const withdrawal = new Withdrawal();
    this.#incoming.set(key, withdrawal);
    let keys = this.#incomingByDevice.get(message.deviceId);
    if (keys === undefined) this.#incomingByDevice.set(message.deviceId, (keys = new Set()));
    keys.add(key);
    this.#options.actors
      .call(message.deviceId, {
        method: message.method,
        params: message.params,
        oneway: message.oneway,
        deadline: message.deadline,
        requestUUID: message.requestUUID,
        withdrawal,
        onStatus: message.statuses ? (status, requestId) => send({ t: 'status', id: message.id, status, requestId }) : undefined,
      })
      .then(
        (value) => send({ t: 'reply', id: message.id, value }),
        (error: unknown) => {
          if (withdrawal.reason === MOVED) return send({ t: 'moved', id: message.id });
          const rpcError = toRpcError(error);
          send({ t: 'error', id: message.id, error: { code: rpcError.code, message: rpcError.message } });
        },
      )
      .finally(() => {
        this.#incoming.delete(key);
        keys.delete(key);
        if (keys.size === 0 && this.#incomingByDevice.get(message.deviceId) === keys) this.#incomingByDevice.delete(message.deviceId);
      });
  }
}

const PING: InboxMessage = { t: 'ping' };
