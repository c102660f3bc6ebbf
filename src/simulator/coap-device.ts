import { createSocket, type Socket } from 'node:dgram';
import { generate, parse, type ParsedPacket } from 'coap-packet';
import type { DeviceBehaviour } from './profiles.js';

const ACK_TIMEOUT_MS = 2000;
const MAX_RETRANSMIT = 4;

interface Outstanding {
  bytes: Buffer;
  attempts: number;
  timer: ReturnType<typeof setTimeout>;
  settle: (ok: boolean) => void;
}

/**
 * A simulated CoAP device: observes `/api/v1/{token}/rpc` with a CON GET,
 * acknowledges CON notifications, and answers each call with a CON POST to
 * `…/rpc/{id}`, retransmitting its own CON messages (RFC 7252 §4.2).
 */
export class CoapSimDevice {
  subscribed = false;
  answered = 0;
  readonly #socket: Socket;
  readonly #outstanding = new Map<number, Outstanding>();
  readonly #token = Buffer.from([Math.floor(Math.random() * 256), Math.floor(Math.random() * 256), Math.floor(Math.random() * 256), Math.floor(Math.random() * 256)]);
  #messageId = Math.floor(Math.random() * 0x10000);
  #closed = false;
  /** Message ids of notifications already handled: a retransmission is acknowledged again, not answered twice. */
  readonly #seen = new Set<number>();

  constructor(
    readonly host: string,
    readonly port: number,
    readonly accessToken: string,
    readonly behaviour: DeviceBehaviour,
    readonly answer: boolean,
    readonly replyDelayMs: number,
  ) {
    this.#socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    this.#socket.on('message', (datagram) => this.#receive(datagram));
    this.#socket.on('error', () => {});
  }

  get connected(): boolean {
    return this.subscribed;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#socket.bind(0, resolve));
    const ok = await this.#confirmable('GET', [{ name: 'Observe', value: Buffer.alloc(0) }], this.#token);
    if (!ok) throw new Error(`no answer from coap://${this.host}:${this.port} to the observe request`);
    this.subscribed = true;
  }

  stop(): void {
    this.#closed = true;
    this.subscribed = false;
    for (const o of this.#outstanding.values()) clearTimeout(o.timer);
    this.#outstanding.clear();
    this.#socket.close();
  }

  #path(...extra: string[]) {
    return ['api', 'v1', this.accessToken, 'rpc', ...extra].map((segment) => ({ name: 'Uri-Path' as const, value: Buffer.from(segment) }));
  }

  #confirmable(code: 'GET' | 'POST', options: Array<{ name: 'Observe'; value: Buffer }>, token: Buffer, extraPath: string[] = [], payload?: Buffer): Promise<boolean> {
    this.#messageId = (this.#messageId + 1) & 0xffff;
    const messageId = this.#messageId;
    const bytes = generate({ confirmable: true, code, messageId, token, options: [...options, ...this.#path(...extraPath)], payload });
    return new Promise((resolve) => {
      const send = (attempt: number) => {
        if (this.#closed) return resolve(false);
        this.#socket.send(bytes, this.port, this.host);
        const entry: Outstanding = {
          bytes,
          attempts: attempt,
          timer: setTimeout(() => (attempt >= MAX_RETRANSMIT ? finish(false) : send(attempt + 1)), ACK_TIMEOUT_MS * 2 ** attempt),
          settle: (ok) => finish(ok),
        };
        this.#outstanding.set(messageId, entry);
      };
      const finish = (ok: boolean) => {
        const entry = this.#outstanding.get(messageId);
        if (entry !== undefined) clearTimeout(entry.timer);
        this.#outstanding.delete(messageId);
        resolve(ok);
      };
      send(0);
    });
  }

  #receive(datagram: Buffer): void {
    let packet: ParsedPacket;
    try {
      packet = parse(datagram);
    } catch {
      return;
    }
    if (packet.ack || packet.reset) {
      this.#outstanding.get(packet.messageId)?.settle(packet.ack && packet.code.startsWith('2.'));
      if (packet.reset) this.subscribed = false;
      return;
    }
    if (packet.confirmable) this.#socket.send(generate({ ack: true, code: '0.00', messageId: packet.messageId }), this.port, this.host);
    if (!packet.token.equals(this.#token) || packet.payload.length === 0 || !this.answer) return;
    if (this.#seen.has(packet.messageId)) return;
    if (this.#seen.size >= 256) this.#seen.clear();
    this.#seen.add(packet.messageId);
    let request: { id?: unknown; method?: unknown; params?: unknown };
    try {
      request = JSON.parse(packet.payload.toString()) as typeof request;
    } catch {
      return;
    }
    const reply = Buffer.from(JSON.stringify(this.behaviour(String(request.method), request.params) ?? null));
    const send = () => {
      this.answered++;
      void this.#confirmable('POST', [], Buffer.from([1]), [String(request.id)], reply);
    };
    if (this.replyDelayMs > 0) setTimeout(send, this.replyDelayMs);
    else send();
  }
}
