import { randomBytes } from 'node:crypto';
import type { LatestValues } from './device-data/latest-values.js';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { pino, type Logger } from 'pino';
import { WebSocketServer } from 'ws';
import type { ActorSystemEvents } from './actors/index.js';
import { createHttpApi, type HttpHandler } from './api/index.js';
import type { Principal } from './api/auth/token-service.js';
import { AppSocket } from './api/ws/app-socket.js';
import { RpcError, toRpcError } from './errors.js';
import { endSocketWithError, sendError } from './api/http-io.js';
import { sendMetrics } from './api/routes/metrics.js';
import type { CallingDevice, ClientRpcHandler } from './client-rpc/index.js';
import { parseConfig, type ServerConfig, type ServerConfigInput } from './config.js';
import { RpcEngine, type CallOptions } from './engine.js';
import type { Device, NewDevice, NewUser, Page, User } from './registry/index.js';
import { BulkCall } from './bulk/bulk-call.js';
import { RedisCallStore } from './persistence/index.js';
import { connectRedis, type RedisClient } from './cluster/redis-connection.js';
import { CoapServer } from './transports/coap/index.js';
import { MqttServer } from './transports/mqtt/index.js';
import { ConnectionGate } from './connection-gate.js';

export interface RpcServerOptions {
  /** The configuration object (the same shape as the config file); validated. */
  config: ServerConfigInput;
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** REST API and MQTT over WebSocket (`/mqtt`); default 8080, 0 for any free port, null for none. */
  httpPort?: number | null;
  /** MQTT over TCP; default 1883, 0 for any free port, null for none. */
  mqttPort?: number | null;
  /** CoAP over UDP (IPv4 and, for loopback or wildcard hosts, IPv6); default 5683, 0 for any free port, null for none. */
  coapPort?: number | null;
  /** A pino logger, or false for none; default: pino at `warn` (IOT_RPC_LOG_LEVEL overrides). */
  logger?: Logger | false;
  /**
   * Redis for persistent calls, so they survive restarts: `redis://host:port`, or several seed URLs
   * separated by commas for a Redis Cluster. Without it, persistent calls are kept in memory.
   */
  redis?: string;
  /**
   * This node's name in a cluster (with `redis`): unique among the running nodes, and the same
   * across restarts of one node. Default: a random one.
   */
  nodeId?: string;
}

export interface ListeningAddresses {
  host: string;
  httpPort: number | null;
  mqttPort: number | null;
  coapPort: number | null;
  /** With `metrics.port`: where `/metrics` is served. */
  metricsPort?: number;
}

export type { CallOptions, CallingDevice, ClientRpcHandler, Device, NewDevice, NewUser, Page, User };
export type RpcServerEvents = ActorSystemEvents;

/** The device registry as the embedding application sees it. */
export interface DeviceDirectory {
  /** With Redis, resolves once every node can see the device. */
  add(device: NewDevice): Promise<Device>;
  get(id: string): Device | undefined;
  /** Closes the device's sessions and fails its pending calls (on every node, with Redis). */
  remove(id: string): Promise<boolean>;
  list(tenantId: string, pageSize?: number, page?: number): Page<Device>;
  /** `offline`, `connected` (not subscribed to RPC) or `subscribed`. */
  state(id: string): 'offline' | 'connected' | 'subscribed' | 'closed';
}

/** An iot-rpc server: the library API. `createRpcServer()` builds one. */
export class RpcServer {
  readonly #engine: RpcEngine;
  readonly #options: RpcServerOptions;
  readonly #mqtt: MqttServer;
  readonly #coap: CoapServer;
  readonly #http: HttpHandler;
  readonly #webSockets: WebSocketServer;
  readonly #appSockets: WebSocketServer;
  readonly #redis: RedisClient | undefined;
  #httpServer: Server | undefined;
  #metricsServer: Server | undefined;
  /** Accepts the HTTP listener's connections and hands them to #httpServer while under limits.maxHttpConnections. */
  #httpGate: ConnectionGate | undefined;
  #addresses: ListeningAddresses | undefined;
  #closing: Promise<void> | undefined;

  readonly devices: DeviceDirectory;
  /** Users who may log in to the REST API (with Redis, on every node). */
  readonly users: { add(user: NewUser): Promise<User> };

  /** @internal use createRpcServer() */
  constructor(engine: RpcEngine, options: RpcServerOptions, redis?: RedisClient) {
    this.#engine = engine;
    this.#redis = redis;
    this.#options = options;
    this.#mqtt = new MqttServer(engine);
    this.#coap = new CoapServer(engine);
    this.#http = createHttpApi(engine);
    this.#webSockets = new WebSocketServer({
      noServer: true,
      maxPayload: engine.maxMqttPacketBytes,
      handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : protocols.has('mqttv3.1') ? 'mqttv3.1' : false),
    });
    this.#appSockets = new WebSocketServer({ noServer: true, maxPayload: engine.maxHttpBodyBytes });
    if (engine.metrics !== undefined) engine.metrics.appSockets = () => this.#appSockets.clients.size;
    this.devices = {
      add: (device) => engine.addDevice(device),
      get: (id) => engine.devices.get(id),
      remove: async (id) => (await engine.removeDevice(id)) !== undefined,
      list: (tenantId, pageSize = 100, page = 0) => engine.devices.list(tenantId, pageSize, page),
      state: (id) => engine.actors.deviceState(id),
    };
    this.users = { add: (user) => engine.addUser(user) };
  }

  get logger(): Logger {
    return this.#engine.logger;
  }

  get addresses(): ListeningAddresses | undefined {
    return this.#addresses;
  }

  /** Starts the listeners; resolves with the ports actually bound. */
  async listen(): Promise<ListeningAddresses> {
    const host = this.#options.host ?? '127.0.0.1';
    const httpPort = this.#options.httpPort === undefined ? 8080 : this.#options.httpPort;
    const mqttPort = this.#options.mqttPort === undefined ? 1883 : this.#options.mqttPort;
    // Joined to the cluster, and unfinished persistent calls accounted for, before anyone can reach this server.
    let recovered: number;
    try {
      recovered = await this.#engine.start();
    } catch (error) {
      if (this.#redis === undefined) throw error;
      throw new Error(`cannot use Redis at ${this.#options.redis} (${(error as Error).message}); is it running and reachable?`, { cause: error });
    }
    if (recovered > 0) this.#engine.logger.info({ recovered }, 'unfinished persistent calls wait for their devices');
    let boundHttp: number | null = null;
    if (httpPort !== null) {
      const limits = this.#engine.config.limits;
      const server = createServer(
        {
          keepAliveTimeout: 65_000,
          // Headers that trickle in, and (with the body timer of readBody) bodies that never end, are cut; a long-poll's
          // wait is for the response, which these do not bound.
          headersTimeout: limits.httpHeadersTimeoutMs,
          requestTimeout: limits.httpHeadersTimeoutMs + limits.httpBodyTimeoutMs,
          connectionsCheckingInterval: 1000,
        },
        this.#http,
      );
      server.on('upgrade', (req, socket, head) => this.handleUpgrade(req, socket, head));
      server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
        if (!socket.writable || error.code === 'ECONNRESET') return void socket.destroy();
        endSocketWithError(
          socket,
          error.code === 'HPE_HEADER_OVERFLOW' ? new RpcError('IOT_ERR_HEADERS_TOO_LARGE') : new RpcError('IOT_ERR_BAD_REQUEST', `malformed HTTP request (${error.code ?? error.message})`),
        );
      });
      this.#httpServer = server;
      const gate = new ConnectionGate(limits.maxHttpConnections, (socket) => server.emit('connection', socket));
      this.#httpGate = gate;
      boundHttp = await new Promise<number>((resolve, reject) => {
        gate.server.once('error', reject);
        gate.server.listen({ port: httpPort, host, backlog: 4096 }, () => {
          gate.server.off('error', reject);
          resolve((gate.server.address() as { port: number }).port);
        });
      });
      // node:http starts the checks behind headersTimeout and requestTimeout when it hears 'listening'; the gate listens.
      server.emit('listening');
    }
    const boundMqtt = mqttPort === null ? null : await this.#mqtt.listen(mqttPort, host);
    const coapPort = this.#options.coapPort === undefined ? 5683 : this.#options.coapPort;
    const boundCoap = coapPort === null ? null : await this.#coap.listen(coapPort, host);
    const metricsPort = await this.#listenForMetrics(host);
    this.#addresses = { host, httpPort: boundHttp, mqttPort: boundMqtt, coapPort: boundCoap, ...(metricsPort === null ? {} : { metricsPort }) };
    this.#engine.readiness.listening = true;
    this.#engine.logger.info(this.#addresses, 'iot-rpc listening');
    return this.#addresses;
  }

  /** `metrics.port`: `/metrics` on a port of its own (only that path), for a scraper the API's port need not admit. */
  async #listenForMetrics(host: string): Promise<number | null> {
    const metrics = this.#engine.metrics;
    const port = this.#engine.config.metrics.port;
    if (metrics === undefined || port === null) return null;
    const server = createServer((req, res) => {
      if ((req.url ?? '').split('?')[0] === '/metrics' && req.method === 'GET') return void sendMetrics(res, metrics).catch(() => res.destroy());
      sendError(res, new RpcError('IOT_ERR_NOT_FOUND', `${req.url ?? ''}: this port serves GET /metrics only`));
    });
    this.#metricsServer = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host }, () => resolve((server.address() as { port: number }).port));
    });
  }

  /** Graceful: stop accepting, answer every pending caller (503), close every session. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#engine.readiness.closing = true;
      const httpServer = this.#httpServer;
      const gate = this.#httpGate;
      const httpClosed = gate === undefined ? Promise.resolve() : new Promise<void>((resolve) => gate.server.close(() => resolve()));
      const mqttClosed = this.#mqtt.close();
      const coapClosed = this.#coap.close();
      const engineClosed = this.#engine.close();
      for (const client of this.#webSockets.clients) client.close(1001);
      for (const client of this.#appSockets.clients) client.close(1001);
      httpServer?.closeIdleConnections();
      this.#metricsServer?.close();
      this.#metricsServer?.closeAllConnections();
      await mqttClosed;
      await coapClosed;
      await engineClosed;
      await this.#engine.persistent.closeStore();
      await this.#redis?.quit().catch(() => this.#redis?.disconnect());
      await Promise.race([httpClosed, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
      httpServer?.close(() => {}); // not listening itself: this stops its timeout checks
      httpServer?.closeAllConnections();
      this.#engine.logger.info('iot-rpc closed');
    })();
    return this.#closing;
  }

  /** A server-side call: the device's reply (two-way) or undefined once handed over (one-way). */
  call(deviceId: string, options: CallOptions): Promise<unknown> {
    return this.#engine.call(deviceId, options);
  }

  /**
   * One call to many devices, at most `rpc.bulkConcurrency` at once (`limits.maxBulkDevices` devices at most):
   * `const { results, summary } = await server.callMany(ids, { method })`, or `for await (const result of
   * server.callMany(ids, { method }))` to have each device's result as it arrives.
   */
  callMany(deviceIds: readonly string[], options: Omit<CallOptions, 'signal' | 'withdrawal' | 'requestUUID'>): BulkCall {
    return new BulkCall(this.#engine.callMany(deviceIds, options));
  }

  /**
   * Telemetry and attributes devices send (ThingsBoard's device API), and shared attributes the application set:
   * `deviceData.on('telemetry', ({ device, entries }) => …)`, `deviceData.on('attributes', ({ device, scope, values }) => …)`,
   * and their latest values, `await deviceData.telemetry(deviceId, keys?)`, `await deviceData.attributes(deviceId, scope, keys?)`
   * (in a cluster they are read from Redis, so any node has them).
   */
  get deviceData(): LatestValues {
    return this.#engine.deviceData;
  }

  /**
   * Sets shared attributes of a device (ThingsBoard's SHARED_SCOPE) and pushes them to each of its sessions that
   * listens for them (MQTT, HTTP long-poll, CoAP observe), on any node, as ThingsBoard does.
   */
  setSharedAttributes(deviceId: string, values: Record<string, unknown>): Promise<void> {
    return this.#engine.setSharedAttributes(deviceId, values);
  }

  /** Answers devices' client-side calls of `method` with `handler`'s value. */
  handle(method: string, handler: ClientRpcHandler): this {
    this.#engine.clientRpc.handle(method, handler);
    return this;
  }

  /** The REST API as a `(req, res)` handler for an application's own node:http server. */
  get httpHandler(): HttpHandler {
    return this.#http;
  }

  /** Upgrades `/mqtt` (MQTT over WebSocket) and `/api/ws` (the applications' WebSocket API); for an application's own server's `upgrade` event. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const [path = '', query = ''] = (req.url ?? '').split('?', 2);
    if (path === '/api/ws') return void this.#upgradeAppSocket(req, socket, head, new URLSearchParams(query).get('token'));
    if (path !== '/mqtt') {
      return endSocketWithError(socket, new RpcError('IOT_ERR_NOT_FOUND', `${path}: WebSocket endpoints are /mqtt and /api/ws`));
    }
    this.#httpGate?.release(socket); // an MQTT connection now: the MQTT listener's cap counts it
    this.#webSockets.handleUpgrade(req, socket, head, (ws) => {
      this.#mqtt.acceptWebSocket(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`);
    });
  }

  /** A token in the query is verified before the upgrade: a bad one is answered as REST would (401). */
  async #upgradeAppSocket(req: IncomingMessage, socket: Duplex, head: Buffer, token: string | null): Promise<void> {
    let principal: Principal | undefined;
    if (token !== null) {
      // node:http leaves the socket without an error listener during an upgrade: a reset while we verify must not throw.
      const onError = () => socket.destroy();
      socket.on('error', onError);
      try {
        principal = await this.#engine.tokens.verifyAccess(token);
      } catch (error) {
        if (socket.destroyed) return;
        endSocketWithError(socket, toRpcError(error));
        return; // the listener stays: the socket may still fail while it closes
      }
      socket.off('error', onError);
      if (socket.destroyed) return;
    }
    this.#appSockets.handleUpgrade(req, socket, head, (ws) => new AppSocket(ws, this.#engine, principal));
  }

  on<E extends keyof RpcServerEvents>(event: E, listener: (...args: RpcServerEvents[E]) => void): this {
    (this.#engine.actors.on as (e: E, l: (...args: RpcServerEvents[E]) => void) => unknown)(event, listener);
    return this;
  }

  off<E extends keyof RpcServerEvents>(event: E, listener: (...args: RpcServerEvents[E]) => void): this {
    (this.#engine.actors.off as (e: E, l: (...args: RpcServerEvents[E]) => void) => unknown)(event, listener);
    return this;
  }
}

export function defaultLogger(level = process.env.IOT_RPC_LOG_LEVEL ?? 'warn'): Logger {
  return pino({ level, base: { name: 'iot-rpc' } });
}

/** Builds a server from options; nothing listens until `listen()`. */
export function createRpcServer(options: RpcServerOptions): RpcServer {
  const config: ServerConfig = parseConfig(options.config);
  const logger = options.logger === false ? pino({ level: 'silent' }) : (options.logger ?? defaultLogger());
  if (options.redis === undefined || options.redis === '') return new RpcServer(new RpcEngine(config, logger), options);
  const redis = connectRedis(options.redis, (error) => logger.warn({ err: error.message }, 'redis unavailable'));
  const nodeId = options.nodeId ?? `node-${randomBytes(4).toString('hex')}`;
  const engine = new RpcEngine(config, logger, new RedisCallStore(redis), { redis, nodeId, leaseMs: config.cluster.leaseMs });
  return new RpcServer(engine, options, redis);
}
