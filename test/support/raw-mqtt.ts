import { connect, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';

/** A bare TCP MQTT peer for what well-behaved clients refuse to send: raw bytes, missing acks, bad packets. */
export class RawMqttClient {
  readonly packets: Packet[] = [];
  closed = false;
  readonly #waiters: Array<() => void> = [];

  private constructor(
    readonly socket: Socket,
    readonly protocolVersion: 4 | 5,
  ) {
    const parser = mqttPacket.parser({ protocolVersion });
    parser.on('packet', (packet) => {
      this.packets.push(packet);
      this.#wake();
    });
    parser.on('error', () => {});
    socket.on('data', (chunk) => parser.parse(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
  }

  static async open(port: number, protocolVersion: 4 | 5 = 4): Promise<RawMqttClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawMqttClient(socket, protocolVersion);
  }

  /** Opens and sends CONNECT with `token` as username; resolves with the CONNACK. */
  static async connected(port: number, token: string, protocolVersion: 4 | 5 = 4, keepalive = 60): Promise<RawMqttClient> {
    const client = await RawMqttClient.open(port, protocolVersion);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clientId: `raw-${token}`, clean: true, keepalive, username: token });
    const connack = await client.next('connack');
    if ((connack as { returnCode?: number; reasonCode?: number }).returnCode ?? (connack as { reasonCode?: number }).reasonCode) {
      throw new Error('CONNECT refused');
    }
    return client;
  }

  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.protocolVersion }));
  }

  write(bytes: Buffer | number[]): void {
    this.socket.write(Buffer.from(bytes));
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }

  /** The next packet of this kind not yet taken (in arrival order). */
  async next(cmd: Packet['cmd'], timeoutMs = 3000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.packets.findIndex((p) => p.cmd === cmd);
      if (index >= 0) return this.packets.splice(index, 1)[0]!;
      if (this.closed) throw new Error(`closed while waiting for ${cmd}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${cmd} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves when the server has closed the connection. */
  async closedByServer(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`still open after ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  end(): void {
    this.socket.destroy();
  }
}
