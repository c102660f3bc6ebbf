import { createServer, type Server, type Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { TransportContext } from '../transport-context.js';
import { MqttConnection } from './connection.js';
import { REASON } from './reason-codes.js';
import type { MqttWire } from './wire.js';

/**
 * Idle connections are most of a server's memory, so each holds no closures:
 * the socket listeners are module-level functions that find the connection
 * on the socket, and the wires are small classes.
 */
const CONNECTION = Symbol('mqttConnection');
type Carrier = { [CONNECTION]?: MqttConnection; [SERVER]?: MqttServer };
const SERVER = Symbol('mqttServer');
const WS_DRAIN_POLL_MS = 20;

class TcpWire implements MqttWire {
  readonly kind = 'mqtt';
  constructor(readonly socket: Socket) {}
  get remoteAddress(): string {
    return `${this.socket.remoteAddress}:${this.socket.remotePort}`;
  }
  write(bytes: Buffer): boolean {
    if (this.socket.destroyed) return false;
    this.socket.write(bytes);
    return true;
  }
  get buffered(): number {
    return this.socket.writableLength;
  }
  onceBelow(belowBytes: number, listener: () => void): void {
    if (this.socket.writableLength < belowBytes) return listener();
    // 'drain': the whole buffer went to the kernel.
    this.socket.once('drain', listener);
  }
  end(): void {
    // Once our last bytes are handed to the kernel the socket goes, even if the
    // peer never closes its side (a dead device must not hold a half-open socket).
    const socket = this.socket;
    if (!socket.writableEnded) socket.end(() => socket.destroy());
  }
  destroy(): void {
    this.socket.destroy();
  }
}

class WebSocketWire implements MqttWire {
  readonly kind = 'mqtt-ws';
  constructor(
    readonly ws: WebSocket,
    readonly remoteAddress: string,
  ) {}
  write(bytes: Buffer): boolean {
    if (this.ws.readyState !== this.ws.OPEN) return false;
    this.ws.send(bytes);
    return true;
  }
  get buffered(): number {
    return this.ws.bufferedAmount;
  }
  onceBelow(belowBytes: number, listener: () => void): void {
    // ws has no drain event: looked at again until the peer has read enough, or the socket is gone.
    if (this.ws.bufferedAmount < belowBytes || this.ws.readyState !== this.ws.OPEN) return listener();
    setTimeout(() => this.onceBelow(belowBytes, listener), WS_DRAIN_POLL_MS).unref();
  }
  end(): void {
    this.ws.close(1000);
  }
  destroy(): void {
    this.ws.terminate();
  }
}

function onSocketData(this: Socket & Carrier, chunk: Buffer): void {
  this[CONNECTION]!.onData(chunk);
}

function onSocketError(this: Socket): void {
  this.destroy();
}

/** The TCP socket or WebSocket under a connection closed. */
function onWireClose(this: (Socket | WebSocket) & Carrier): void {
  const connection = this[CONNECTION]!;
  this[SERVER]!.forget(connection);
  connection.onClose();
}

function onWebSocketMessage(this: WebSocket & Carrier, data: Buffer, isBinary: boolean): void {
  if (!isBinary) {
    this.close(1003, 'MQTT over WebSocket uses binary frames');
    return;
  }
  this[CONNECTION]!.onData(data);
}

function onWebSocketError(this: WebSocket): void {
  this.terminate();
}

/** MQTT over TCP, and over WebSockets handed in by the HTTP server at `/mqtt`. */
export class MqttServer {
  readonly #context: TransportContext;
  readonly #connections = new Set<MqttConnection>();
  readonly #tcp: Server;

  constructor(context: TransportContext) {
    this.#context = context;
    this.#tcp = createServer({ noDelay: true }, (socket) => this.#acceptSocket(socket));
    this.#tcp.on('error', (error) => context.logger.error({ err: error }, 'mqtt listener error'));
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#tcp.once('error', reject);
      this.#tcp.listen({ port, host, backlog: 4096 }, () => {
        this.#tcp.off('error', reject);
        resolve((this.#tcp.address() as { port: number }).port);
      });
    });
  }

  /**
   * Stops accepting and closes every connection (MQTT 5 peers hear "server
   * shutting down"); whatever is still open after `graceMs` is destroyed.
   */
  async close(graceMs = 1000): Promise<void> {
    const listenerClosed = this.#tcp.listening ? new Promise<void>((resolve) => this.#tcp.close(() => resolve())) : Promise.resolve();
    for (const connection of this.#connections) connection.disconnect(REASON.SERVER_SHUTTING_DOWN);
    const started = Date.now();
    while (this.#connections.size > 0 && Date.now() - started < graceMs) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const connection of this.#connections) connection.destroy();
    await listenerClosed;
  }

  forget(connection: MqttConnection): void {
    this.#connections.delete(connection);
  }

  #acceptSocket(socket: Socket & Carrier): void {
    const connection = new MqttConnection(new TcpWire(socket), this.#context);
    connection.overCapacity = this.#connections.size >= this.#context.maxMqttConnections;
    this.#connections.add(connection);
    socket[CONNECTION] = connection;
    socket[SERVER] = this;
    socket.on('data', onSocketData);
    socket.on('error', onSocketError);
    socket.on('close', onWireClose);
  }

  /** An upgraded WebSocket on `/mqtt` (subprotocol `mqtt`): one MQTT packet stream per socket. */
  acceptWebSocket(ws: WebSocket & Carrier, remoteAddress: string): void {
    const connection = new MqttConnection(new WebSocketWire(ws, remoteAddress), this.#context);
    connection.overCapacity = this.#connections.size >= this.#context.maxMqttConnections;
    this.#connections.add(connection);
    ws[CONNECTION] = connection;
    ws[SERVER] = this;
    ws.on('message', onWebSocketMessage);
    ws.on('error', onWebSocketError);
    ws.on('close', onWireClose);
  }
}
