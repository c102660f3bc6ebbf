import { createServer, type Server, type Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { TransportContext } from '../transport-context.js';
import { MqttConnection } from './connection.js';
import type { MqttWire } from './wire.js';

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

  get connectionCount(): number {
    return this.#connections.size;
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

  /** Stops accepting; live connections are closed by the actor system's shutdown. */
  async close(): Promise<void> {
    if (this.#tcp.listening) await new Promise<void>((resolve) => this.#tcp.close(() => resolve()));
    for (const connection of this.#connections) connection.disconnect(0x8b);
  }

  #acceptSocket(socket: Socket): void {
    const wire: MqttWire = {
      kind: 'mqtt',
      remoteAddress: `${socket.remoteAddress}:${socket.remotePort}`,
      write: (bytes) => !socket.destroyed && (socket.write(bytes), true),
      end: () => socket.end(),
      destroy: () => socket.destroy(),
    };
    const connection = new MqttConnection(wire, this.#context);
    this.#connections.add(connection);
    socket.on('data', (chunk: Buffer) => connection.onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.#connections.delete(connection);
      connection.onClose();
    });
  }

  /** An upgraded WebSocket on `/mqtt` (subprotocol `mqtt`): one MQTT packet stream per socket. */
  acceptWebSocket(ws: WebSocket, remoteAddress: string): void {
    const wire: MqttWire = {
      kind: 'mqtt-ws',
      remoteAddress,
      write: (bytes) => ws.readyState === ws.OPEN && (ws.send(bytes), true),
      end: () => ws.close(1000),
      destroy: () => ws.terminate(),
    };
    const connection = new MqttConnection(wire, this.#context);
    this.#connections.add(connection);
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) {
        ws.close(1003, 'MQTT over WebSocket uses binary frames');
        return;
      }
      connection.onData(data);
    });
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      this.#connections.delete(connection);
      connection.onClose();
    });
  }
}
