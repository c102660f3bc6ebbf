import { createSocket, type Socket } from 'node:dgram';
import { generate, parse, type ParsedPacket } from 'coap-packet';
import coap from 'coap';

/** A CoAP request with the `coap` package; resolves with the response (code, payload as text). */
export function coapRequest(
  port: number,
  pathname: string,
  options: { method?: 'GET' | 'POST'; payload?: string; confirmable?: boolean; hostname?: string } = {},
): Promise<{ code: string; payload: string }> {
  return new Promise((resolve, reject) => {
    const req = coap.request({
      hostname: options.hostname ?? '127.0.0.1',
      port,
      pathname,
      method: options.method ?? 'POST',
      confirmable: options.confirmable ?? true,
      agent: new coap.Agent({ type: options.hostname?.includes(':') ? 'udp6' : 'udp4' }),
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ code: res.code, payload: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(options.payload);
  });
}

/** A raw CoAP endpoint on loopback for what a well-behaved client will not do: duplicates, silence, garbage. */
export class RawCoap {
  readonly received: ParsedPacket[] = [];
  readonly #waiters: Array<() => void> = [];

  private constructor(
    readonly socket: Socket,
    readonly port: number,
    readonly host: string,
  ) {
    socket.on('message', (datagram) => {
      try {
        this.received.push(parse(datagram));
      } catch {
        return;
      }
      for (const waiter of this.#waiters.splice(0)) waiter();
    });
  }

  static async open(port: number, host = '127.0.0.1'): Promise<RawCoap> {
    const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve) => socket.bind(0, host, resolve));
    return new RawCoap(socket, port, host);
  }

  sendBytes(bytes: Buffer): void {
    this.socket.send(bytes, this.port, this.host);
  }

  send(packet: Parameters<typeof generate>[0]): void {
    this.sendBytes(generate(packet));
  }

  /** The next received message matching `match` (taken from the list), waiting up to `timeoutMs`. */
  async next(match: (p: ParsedPacket) => boolean = () => true, timeoutMs = 3000): Promise<ParsedPacket> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.received.findIndex(match);
      if (index >= 0) return this.received.splice(index, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no matching CoAP message in time');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.socket.close();
  }
}

export const uriPath = (path: string) => path.split('/').filter(Boolean).map((segment) => ({ name: 'Uri-Path' as const, value: Buffer.from(segment) }));
