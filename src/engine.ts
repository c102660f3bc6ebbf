import type { Logger } from 'pino';
import { LatestValues } from './device-data/latest-values.js';
import { SharedAttributeUpdates } from './device-data/shared-attribute-updates.js';
import { Readiness } from './health/readiness.js';
import { Withdrawal } from './actors/withdrawal.js';
import { EngineMetrics } from './metrics/engine-metrics.js';
import type { CallRecord } from './actors/call-record.js';
import { runBulk, type BulkResult } from './bulk/bulk-run.js';
import { MemoryValuesStore } from './device-data/memory-values-store.js';
import { RedisValuesStore } from './device-data/redis-values-store.js';
import { DeviceDataError, parseAttributes } from './device-data/device-data-payload.js';
import { ActorSystem, type CallStatus } from './actors/index.js';
import { TokenService } from './api/index.js';
import { HandlerRegistry } from './client-rpc/index.js';
import type { ServerConfig } from './config.js';
import { RpcError } from './errors.js';
import { DeviceRegistry, RedisRegistryStore, SharedRegistry, UserDirectory, type Device, type NewDevice, type NewUser, type User } from './registry/index.js';
import { DeadlineScheduler, EventLoopLag, MAX_TIMER_DELAY_MS } from './scheduling/index.js';
import { MemoryCallStore, PersistentCalls, type CallStore } from './persistence/index.js';
import type { TransportContext } from './transports/transport-context.js';
import { ClusterNode, type ClusterOptions } from './cluster/cluster-node.js';
import type { CallRequest } from './actors/index.js';
import { DeviceEventHub } from './events/device-event-hub.js';
import { InternalErrorLog } from './internal-error-log.js';

/** The longest a call may wait: setTimeout's limit, about 24.8 days. */
export const MAX_CALL_TIMEOUT_MS = MAX_TIMER_DELAY_MS;

export interface CallOptions {
  /** 1..255 characters. */
  method: string;
  params?: unknown;
  /** ms; the configured default (10 s) when absent. */
  timeout?: number;
  /** Absolute deadline, epoch ms; overrides `timeout`. */
  expirationTime?: number;
  /** Done when handed to the device; resolves with undefined. */
  oneway?: boolean;
  /** A repeat while the first is pending joins it. */
  requestUUID?: string;
  /** Aborting withdraws the call: it rejects with IOT_ERR_CALL_DELETED. */
  signal?: AbortSignal;
  /** The same as `signal`, cheaper when many calls share one caller (a Withdrawal from the package). */
  withdrawal?: Withdrawal;
  /** Told each status the call reaches (queued, sent, delivered, replied, timeout, …) and the request id it went out with, before the answer. */
  onStatus?: (status: CallStatus, requestId: number) => void;
  /** Request ids of earlier attempts of the same call: a late reply to one of them answers this one. */
  earlierRequestIds?: readonly number[];
  /** Unique to the call across attempts (MQTT 5 Correlation Data); made up when absent. */
  correlation?: string;
}

export interface Tenant {
  readonly id: string;
  readonly name: string;
}

export interface Customer {
  readonly id: string;
  readonly tenantId: string;
  readonly name: string;
}

/**
 * Everything one node knows and runs, behind one entry point for every caller:
 * `call()`. The REST API, the WebSocket API and the library API all end here.
 */
export class RpcEngine implements TransportContext {
  readonly devices = new DeviceRegistry();
  readonly users = new UserDirectory();
  readonly tenants = new Map<string, Tenant>();
  readonly customers = new Map<string, Customer>();
  readonly scheduler: DeadlineScheduler;
  readonly actors: ActorSystem;
  readonly clientRpc: HandlerRegistry;
  readonly tokens: TokenService;
  readonly persistent: PersistentCalls;
  readonly maxMqttPacketBytes: number;
  readonly maxJsonDepth: number;
  readonly maxSubscriptionsPerConnection: number;
  readonly maxTopicFilterBytes: number;
  readonly maxWriteBufferBytes: number;
  readonly httpBodyTimeoutMs: number;
  readonly maxMqttConnections: number;
  /** How far behind the event loop runs: admission sheds new calls past limits.maxEventLoopLagMs. */
  readonly loopLag = new EventLoopLag();
  /** Every 500 answered, logged with its stack (rate-limited). */
  readonly internalErrors: InternalErrorLog;
  readonly maxHttpBodyBytes: number;
  readonly maxCoapPayloadBytes: number;
  readonly maxDevicesPerGateway: number;
  readonly deviceData: LatestValues;
  /** Prometheus metrics (`GET /metrics`), unless metrics.enabled is false. */
  readonly metrics: EngineMetrics | undefined;
  /** What `GET /readyz` answers. */
  readonly readiness: Readiness;
  /** Shared attribute updates on their way to the device's sessions that listen for them. */
  readonly attributeUpdates: SharedAttributeUpdates;
  readonly coapTransmission: ServerConfig['coap'];
  readonly defaultTimeoutMs: number;
  /** With Redis: this node's place in the cluster (directory, inboxes, routing). */
  readonly cluster: ClusterNode | undefined;
  /** Session and call events of each device, wherever its session is (WebSocket subscriptions). */
  readonly events: DeviceEventHub;
  /** With Redis: devices and users shared with every node. */
  readonly shared: SharedRegistry | undefined;

  constructor(
    readonly config: ServerConfig,
    readonly logger: Logger,
    callStore: CallStore = new MemoryCallStore(config.rpc.maxFinishedPersistentCalls),
    cluster?: ClusterOptions,
  ) {
    this.internalErrors = new InternalErrorLog(logger);
    this.scheduler = new DeadlineScheduler(undefined, (error) => this.internalErrors.report(error, { in: 'a deadline target' }));
    this.actors = new ActorSystem({
      scheduler: this.scheduler,
      ordering: config.rpc.ordering,
      maxPendingPerDevice: config.rpc.maxPendingPerDevice,
      maxJsonDepth: config.limits.maxJsonDepth,
      reportError: (error) => this.internalErrors.report(error, { in: 'an actor effect' }),
      ...(config.metrics.enabled ? { callEnded: (record: CallRecord, error: RpcError | undefined) => this.metrics!.callEnded(record, error) } : {}),
    });
    this.clientRpc = new HandlerRegistry(this.scheduler, config.rpc.clientSideTimeoutMs);
    this.metrics = config.metrics.enabled ? new EngineMetrics({ actors: this.actors, clientRpc: this.clientRpc }) : undefined;
    // ThingsBoard's SDKs ask right after connecting; an application's own handler replaces this one.
    this.clientRpc.handle('getSessionLimits', () => sessionLimits(config));
    this.tokens = new TokenService(config.jwt);
    const node = cluster === undefined ? undefined : new ClusterNode({ ...cluster, actors: this.actors, maxPendingPerDevice: config.rpc.maxPendingPerDevice, scheduler: this.scheduler, logger, persistent: () => this.persistent });
    this.cluster = node;
    if (node !== undefined && this.metrics !== undefined) this.#measureRedis(node, this.metrics);
    this.events = new DeviceEventHub(this.actors, node?.events, node?.nodeId);
    this.#logSessionsAndCalls();
    this.shared =
      node &&
      new SharedRegistry({
        store: new RedisRegistryStore(cluster!.redis, node.bus, node.nodeId),
        devices: this.devices,
        users: this.users,
        logger,
        deviceRemoved: (deviceId) => this.actors.removeDevice(deviceId),
      });
    this.persistent = new PersistentCalls({
      store: callStore,
      scheduler: this.scheduler,
      logger,
      ttlDays: config.rpc.ttlDays,
      maxPerDevice: config.rpc.maxPersistentPerDevice,
      maxFinished: config.rpc.maxFinishedPersistentCalls,
      maxCallBytes: config.rpc.maxPersistentCallBytes,
      call: (deviceId, options) => this.#call(deviceId, options, this.actors),
      hasSession: (deviceId) => this.actors.hasSession(deviceId),
      deviceTenant: (deviceId) => this.devices.get(deviceId)?.tenantId,
      wakeOwner: node && ((deviceId) => node.wakeOwner(deviceId)),
      withdrawElsewhere: node && ((call) => node.withdrawElsewhere(call)),
      ownedElsewhere: node && ((deviceIds) => node.ownedElsewhere(deviceIds)),
      statusWritten: (call) => {
        this.metrics?.persistentStatus(call);
        this.events.persistentStatus(call);
      },
    });
    // Persistent calls are delivered by the node that holds the device's session, from its next session on (in a
    // cluster, once the directory entry is its own: ClusterNode). A device whose connection ends (not a session that
    // ends after each call, like an HTTP poll) gets its unanswered calls again, retried, on its next session.
    // The check waits a microtask: a takeover reports the old session's end just before the new one starts.
    this.actors.on('session', ({ deviceId, state, endsAfterEachCall }) => {
      if (state === 'connected' && node === undefined) void this.persistent.resumeDevice(deviceId);
      else if (state === 'disconnected' && !endsAfterEachCall) queueMicrotask(() => this.actors.hasSession(deviceId) || this.persistent.handOff(deviceId));
    });
    this.maxMqttPacketBytes = config.limits.maxMqttPacketBytes;
    this.maxJsonDepth = config.limits.maxJsonDepth;
    this.maxSubscriptionsPerConnection = config.limits.maxSubscriptionsPerConnection;
    this.maxTopicFilterBytes = config.limits.maxTopicFilterBytes;
    this.maxWriteBufferBytes = config.limits.maxWriteBufferBytes;
    this.httpBodyTimeoutMs = config.limits.httpBodyTimeoutMs;
    this.maxMqttConnections = config.limits.maxMqttConnections;
    this.maxHttpBodyBytes = config.limits.maxHttpBodyBytes;
    this.maxCoapPayloadBytes = config.limits.maxCoapPayloadBytes;
    this.maxDevicesPerGateway = config.limits.maxDevicesPerGateway;
    const dataLimits = {
      maxKeysPerDevice: config.limits.maxDataKeysPerDevice,
      maxValueBytes: config.limits.maxDataValueBytes,
      maxBytesPerDevice: config.limits.maxDataBytesPerDevice,
    };
    // In a cluster the latest values are in Redis: any node reads what a device sent to another.
    this.deviceData = new LatestValues(dataLimits, cluster === undefined ? new MemoryValuesStore(dataLimits) : new RedisValuesStore(cluster.redis, dataLimits));
    this.attributeUpdates = new SharedAttributeUpdates(node?.bus, logger);
    this.readiness = new Readiness(node?.bus);
    this.events.followDeviceData(this.deviceData);
    this.coapTransmission = config.coap;
    this.defaultTimeoutMs = config.rpc.defaultTimeoutMs;
    for (const tenant of config.tenants) this.tenants.set(tenant.id, tenant);
    for (const customer of config.customers) this.customers.set(customer.id, customer);
    for (const user of config.users) this.users.add(user);
    for (const device of config.devices) this.devices.add(device);
  }

  /** Joins the cluster (with Redis) and accounts for unfinished persistent calls; before any listener opens. */
  async start(): Promise<number> {
    this.loopLag.start();
    const shared = this.shared;
    if (shared !== undefined) {
      await shared.start();
      // Back from a Redis outage: changes made elsewhere meanwhile are read again.
      this.cluster!.redis.on('ready', () => shared.reload().catch((error: unknown) => this.logger.warn({ err: (error as Error).message }, 'registry reload failed')));
    }
    await this.cluster?.start();
    const recovered = await this.persistent.recover();
    this.readiness.recovered = true;
    return recovered;
  }

  /** The device, also one created on another node a moment ago that this node has not heard of yet. */
  async findDevice(deviceId: string): Promise<Device | undefined> {
    return this.devices.get(deviceId) ?? (await this.shared?.fetchDevice(deviceId));
  }

  /** Adds a device; with Redis, every node sees it (the store decides uniqueness). */
  async addDevice(input: NewDevice): Promise<Device> {
    return this.shared === undefined ? this.devices.add(input) : this.shared.addDevice(input);
  }

  /** A device a transport made here (a gateway's sub-device): shared with the cluster in the background. */
  shareDevice(device: Device): void {
    this.shared?.share(device);
  }

  /** Adds a user who may log in to the REST API; with Redis, on every node. */
  async addUser(input: NewUser): Promise<User> {
    return this.shared === undefined ? this.users.add(input) : this.shared.addUser(input);
  }



  /** Throws IOT_ERR_OVERLOADED while the event loop is further behind than limits.maxEventLoopLagMs: a new call would be answered late. */
  admit(): void {
    const lag = this.loopLag.ms;
    if (lag > this.config.limits.maxEventLoopLagMs) throw new RpcError('IOT_ERR_OVERLOADED', `the event loop is ${Math.round(lag)} ms behind`);
  }

  /** A server-side call to a device, wherever its session is: the reply for two-way calls, undefined for one-way ones. */
  call(deviceId: string, options: CallOptions): Promise<unknown> {
    return this.#call(deviceId, options, this.cluster?.router ?? this.actors);
  }

  /**
   * One call to many devices (the library's bulk call): at most `rpc.bulkConcurrency` at once, each device's result
   * as it arrives. The library is trusted: every device id is called (an unknown one is a 404 result).
   */
  callMany(deviceIds: readonly string[], options: Omit<CallOptions, 'signal' | 'withdrawal' | 'requestUUID'>): AsyncGenerator<BulkResult> {
    if (deviceIds.length > this.config.limits.maxBulkDevices) throw new RpcError('IOT_ERR_BAD_REQUEST', `a bulk call reaches at most ${this.config.limits.maxBulkDevices} devices (limits.maxBulkDevices), got ${deviceIds.length}`);
    const targets = [...new Set(deviceIds)].map((deviceId) => ({ deviceId }));
    return runBulk(targets, async (deviceId, withdrawal) => ({ response: await this.call(deviceId, { ...options, withdrawal }) }), this.config.rpc.bulkConcurrency);
  }

  #call(deviceId: string, options: CallOptions, route: { call(deviceId: string, request: CallRequest): Promise<unknown> }): Promise<unknown> {
    const { method } = options;
    if (typeof method !== 'string' || method.length === 0 || method.length > 255) {
      return Promise.reject(new RpcError('IOT_ERR_BAD_REQUEST', 'method must be a string of 1 to 255 characters'));
    }
    if (this.devices.get(deviceId) === undefined) {
      if (this.shared === undefined) return Promise.reject(new RpcError('IOT_ERR_DEVICE_NOT_FOUND', deviceId));
      return this.findDevice(deviceId).then((device) => (device === undefined ? Promise.reject(new RpcError('IOT_ERR_DEVICE_NOT_FOUND', deviceId)) : this.#call(deviceId, options, route)));
    }
    const now = Date.now();
    const deadline = options.expirationTime ?? now + (options.timeout ?? this.defaultTimeoutMs);
    if (!Number.isFinite(deadline)) return Promise.reject(new RpcError('IOT_ERR_BAD_REQUEST', 'timeout and expirationTime must be numbers'));
    if (deadline - now > MAX_CALL_TIMEOUT_MS) {
      return Promise.reject(new RpcError('IOT_ERR_BAD_REQUEST', `a call may wait at most ${MAX_CALL_TIMEOUT_MS} ms (about 24.8 days)`));
    }
    const request = {
      method,
      params: options.params === undefined ? {} : options.params,
      oneway: options.oneway === true,
      deadline,
      requestUUID: options.requestUUID,
      withdrawal: options.withdrawal,
      onStatus: options.onStatus,
      earlierRequestIds: options.earlierRequestIds,
      correlation: options.correlation,
    };
    const signal = options.signal;
    if (signal === undefined) return route.call(deviceId, request);
    return withdrawnBySignal(signal, request.withdrawal, (withdrawal) => route.call(deviceId, { ...request, withdrawal }));
  }

  #measureRedis(node: ClusterNode, metrics: EngineMetrics): void {
    node.bus.roundTrip = (seconds) => metrics.redisRoundTrip(seconds);
    let up = false;
    node.redis.on('ready', () => (up = true));
    node.redis.on('close', () => {
      if (up) metrics.redisLost();
      up = false;
    });
  }

  /**
   * Device sessions opening and closing at info (an HTTP poll's at debug: one per call), each call's end at debug.
   * Call events cost on every call, so they are listened to only while debug is on.
   */
  #logSessionsAndCalls(): void {
    const logger = this.logger;
    if (!logger.isLevelEnabled('info')) return;
    this.actors.on('session', (event) => {
      if (event.state !== 'connected' && event.state !== 'disconnected') return;
      const line = { device: event.deviceId, transport: event.transport, remote: event.remoteAddress };
      const message = event.state === 'connected' ? 'device session opened' : 'device session closed';
      if (event.endsAfterEachCall === true) logger.debug(line, message);
      else logger.info(line, message);
    });
    if (!logger.isLevelEnabled('debug')) return;
    const started = new Map<string, number>();
    this.actors.on('call', (event) => {
      const key = `${event.deviceId}\u0000${event.requestId}`;
      if (event.status === 'queued' || event.status === 'sent' || (event.status === 'delivered' && !event.oneway)) {
        if (!started.has(key)) started.set(key, Date.now());
        return;
      }
      const since = started.get(key);
      started.delete(key);
      logger.debug({ device: event.deviceId, method: event.method, outcome: event.status, ...(since === undefined ? {} : { ms: Date.now() - since }), ...(event.error === undefined ? {} : { code: event.error.code }) }, 'call ended');
    });
  }

  /**
   * Sets shared attributes of a device (ThingsBoard's SHARED_SCOPE): kept as latest values and pushed to each of its
   * sessions that listens for them, on any node. Rejects with RpcError (400, 413, 503 when Redis is away).
   */
  async setSharedAttributes(deviceId: string, values: Record<string, unknown>): Promise<void> {
    const device = this.devices.get(deviceId);
    if (device === undefined) throw new RpcError('IOT_ERR_DEVICE_NOT_FOUND', deviceId);
    try {
      await this.deviceData.recordAttributes(device, 'shared', parseAttributes(values));
      await this.attributeUpdates.publish(deviceId, values);
    } catch (error) {
      if (error instanceof DeviceDataError) throw error.toRpcError();
      throw new RpcError('IOT_ERR_UNAVAILABLE', `the attributes were kept, but could not be pushed to the device's session: ${(error as Error).message}`);
    }
  }

  /** Deletes a device (on every node, with Redis): its sessions close and its pending calls fail. */
  async removeDevice(deviceId: string): Promise<Device | undefined> {
    const device = this.devices.get(deviceId);
    if (device === undefined) return undefined;
    await this.shared?.removeDevice(device);
    this.devices.remove(deviceId);
    this.actors.removeDevice(deviceId);
    await this.deviceData.removeDevice(deviceId).catch((error: unknown) => this.logger.warn({ err: (error as Error).message, deviceId }, 'the deleted device\'s latest values could not be removed'));
    await this.persistent.deviceRemoved(deviceId, device.tenantId).catch((error: unknown) =>
      this.logger.warn({ err: (error as Error).message, deviceId }, 'the deleted device\'s unfinished persistent calls could not be marked DELETED; no device of another tenant will get them'),
    );
    return device;
  }

  /** Every pending caller is answered, every session closed; the cluster is left. */
  async close(): Promise<void> {
    this.loopLag.stop();
    this.persistent.close();
    const leaving = this.cluster?.close();
    this.actors.close();
    await leaving;
    this.scheduler.close();
  }
}

/**
 * A caller's AbortSignal as the Withdrawal the actors and the router take: aborting withdraws the call with the
 * signal's reason (withdrawing `also`, if given, does too); the listener goes when the call is answered.
 */
function withdrawnBySignal(signal: AbortSignal, also: Withdrawal | undefined, call: (withdrawal: Withdrawal) => Promise<unknown>): Promise<unknown> {
  if (signal.aborted) return Promise.reject(new RpcError('IOT_ERR_CALL_DELETED', 'aborted before it started'));
  const withdrawal = new Withdrawal();
  const onAbort = () => withdrawal.withdraw(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  const stopAlso = also?.onWithdraw(() => withdrawal.withdraw(also.reason));
  return call(withdrawal).finally(() => {
    signal.removeEventListener('abort', onAbort);
    stopAlso?.();
  });
}

/**
 * ThingsBoard's answer to `getSessionLimits`, from this server's real limits: the largest payload a device may send
 * on every transport, how many QoS 1 messages may await their PUBACK (the server sets no limit of its own), and rate
 * limits in ThingsBoard's `count:seconds,…` form, `0:0,` meaning none (the server has no rate limits).
 */
function sessionLimits(config: ServerConfig): { maxPayloadSize: number; maxInflightMessages: number; rateLimits: Record<string, string> } {
  const { maxMqttPacketBytes, maxHttpBodyBytes, maxCoapPayloadBytes } = config.limits;
  const none = '0:0,';
  return {
    maxPayloadSize: Math.min(maxMqttPacketBytes, maxHttpBodyBytes, maxCoapPayloadBytes),
    maxInflightMessages: 65535,
    rateLimits: { messages: none, telemetryMessages: none, telemetryDataPoints: none },
  };
}
