import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { DeadlineTarget } from '../../scheduling/deadline-scheduler.js';
import type { TransportContext } from '../transport-context.js';
import { MalformedMessageError, decode, encode, peekHeader, type CoapMessage, type CoapOption } from './codec.js';
import { ExchangeCache } from './exchange-cache.js';
import type { CoapObservation } from './observation.js';
import { handleRequest } from './rpc-resource.js';
import { EXCHANGE_LIFETIME_MS, NON_LIFETIME_MS, ReliableSender, type TransmissionParameters } from './transmission.js';

export interface CoapContext extends TransportContext {
  readonly maxCoapPayloadBytes: number;
  readonly coapTransmission: TransmissionParameters;
}

export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

/** What a request handler answers with; the server makes it piggybacked, NON, or separate. */
export interface CoapAnswer {
  readonly code: string;
  readonly payload?: Buffer;
  readonly options?: readonly CoapOption[];
}

const SWEEP_EVERY_MS = 10_000;
/** Notifications remembered by message id, so a Reset to a NON notification can cancel its observation. */
const MAX_TRACKED_NOTIFICATIONS = 10_000;
/** How long a CON request may wait for its answer before it gets an empty ACK and a separate response (RFC 7252 §5.2.2). */
const PIGGYBACK_WITHIN_MS = 500;

/**
 * CoAP over UDP (IPv4 and IPv6) for devices: the message layer of RFC 7252
 * (CON/NON/ACK/RST, deduplication, piggybacked and separate responses,
 * retransmission of our CON messages) under the RPC resource.
 */
export class CoapServer implements DeadlineTarget {
  readonly context: CoapContext;
  readonly sender: ReliableSender;
  readonly #exchanges = new ExchangeCache();
  readonly #observations = new Map<string, CoapObservation>();
  readonly #notifications = new Map<number, CoapObservation>();
  readonly #sockets: Socket[] = [];
  #messageId = Math.floor(Math.random() * 0x10000);
  #sweepKey = -1;
  #closed = false;

  constructor(context: CoapContext) {
    this.context = context;
    this.sender = new ReliableSender(context.scheduler, context.coapTransmission);
  }

  get observationCount(): number {
    return this.#observations.size;
  }

  /**
   * Binds UDP: a loopback or wildcard host gets both families (127.0.0.1 and
   * ::1, or 0.0.0.0 and ::), any other address its own. Resolves with the port.
   */
  async listen(port: number, host: string): Promise<number> {
    const both: Record<string, [string, string]> = { '127.0.0.1': ['127.0.0.1', '::1'], localhost: ['127.0.0.1', '::1'], '0.0.0.0': ['0.0.0.0', '::'], '::': ['0.0.0.0', '::'] };
    const addresses = both[host] ?? [host];
    let bound = port;
    for (const [i, address] of addresses.entries()) {
      const socket = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4', ipv6Only: isIPv6(address) });
      socket.on('message', (datagram, remote) => this.#receive(socket, datagram, remote));
      socket.on('error', (error) => this.context.logger.error({ err: error }, 'coap socket error'));
      try {
        bound = await new Promise<number>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind(bound, address, () => {
            socket.off('error', reject);
            resolve(socket.address().port);
          });
        });
      } catch (error) {
        socket.close();
        // The second family is a convenience (e.g. no IPv6 on the host); the first must bind.
        if (i === 0) throw error;
        this.context.logger.warn({ address, err: error }, 'coap: not listening on this address');
        continue;
      }
      this.#sockets.push(socket);
    }
    this.#sweepKey = this.context.scheduler.schedule(Date.now() + SWEEP_EVERY_MS, this);
    return bound;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const observation of [...this.#observations.values()]) observation.end();
    this.sender.close();
    if (this.#sweepKey >= 0) this.context.scheduler.cancel(this.#sweepKey, this);
    await Promise.all(this.#sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
    this.#sockets.length = 0;
  }

  onDeadline(now: number): void {
    this.#exchanges.sweep(now);
    this.#sweepKey = this.#closed ? -1 : this.context.scheduler.schedule(now + SWEEP_EVERY_MS, this);
  }

  nextMessageId(): number {
    this.#messageId = (this.#messageId + 1) & 0xffff;
    return this.#messageId;
  }

  send(bytes: Buffer, endpoint: Endpoint): void {
    if (this.#closed) return;
    const socket = this.#sockets.find((s) => (s.address().family === 'IPv6') === isIPv6(endpoint.address)) ?? this.#sockets[0];
    socket?.send(bytes, endpoint.port, endpoint.address);
  }

  // ── observations ──────────────────────────────────────────────────────────

  observation(key: string): CoapObservation | undefined {
    return this.#observations.get(key);
  }

  remember(observation: CoapObservation): void {
    this.#observations.set(observation.key, observation);
  }

  forget(observation: CoapObservation): void {
    if (this.#observations.get(observation.key) === observation) this.#observations.delete(observation.key);
  }

  trackNotification(messageId: number, observation: CoapObservation): void {
    if (this.#notifications.size >= MAX_TRACKED_NOTIFICATIONS) this.#notifications.delete(this.#notifications.keys().next().value!);
    this.#notifications.set(messageId, observation);
  }

  // ── the message layer ─────────────────────────────────────────────────────

  #receive(_socket: Socket, datagram: Buffer, remote: RemoteInfo): void {
    const endpoint: Endpoint = { address: remote.address, port: remote.port };
    let message: CoapMessage;
    try {
      message = decode(datagram);
    } catch (error) {
      // RFC 7252 §4.2/§4.3: a message we cannot process is rejected (Reset) when its header can be read, else ignored.
      const header = peekHeader(datagram);
      if (header !== undefined && (header.type === 'CON' || header.type === 'NON')) this.#reset(header.messageId, endpoint);
      this.context.logger.debug({ remote: endpoint, reason: error instanceof MalformedMessageError ? error.message : String(error) }, 'malformed coap datagram');
      return;
    }
    try {
      this.#dispatch(message, endpoint);
    } catch (error) {
      this.context.logger.error({ err: error, remote: endpoint }, 'coap message handling failed');
    }
  }

  #dispatch(message: CoapMessage, endpoint: Endpoint): void {
    if (message.type === 'ACK' || message.type === 'RST') {
      const settled = this.sender.settle(message.messageId, message.type === 'RST');
      const observation = this.#notifications.get(message.messageId);
      if (observation !== undefined) {
        this.#notifications.delete(message.messageId);
        // RFC 7641 §3.6: a Reset to a notification cancels the observation.
        if (message.type === 'RST' && !settled) observation.end();
      }
      return;
    }
    if (message.code === '0.00') {
      if (message.type === 'CON') this.#reset(message.messageId, endpoint); // a CoAP ping (RFC 7252 §4.3)
      return;
    }
    if (!message.code.startsWith('0.')) {
      if (message.type === 'CON') this.#reset(message.messageId, endpoint); // a response we never asked for
      return;
    }
    const key = `${endpoint.address}|${endpoint.port}`;
    const earlier = this.#exchanges.begin(key, message.messageId, message.type === 'CON' ? EXCHANGE_LIFETIME_MS : NON_LIFETIME_MS);
    if (earlier !== undefined) {
      // RFC 7252 §4.5: a duplicate is answered from the exchange cache, never processed twice.
      if (earlier.response !== undefined) this.send(earlier.response, endpoint);
      return;
    }
    let answered = false;
    let acknowledged = false;
    const answer = (result: CoapAnswer): void => {
      if (answered || this.#closed) return;
      answered = true;
      const separate = acknowledged;
      const bytes = encode({
        type: message.type === 'CON' && !separate ? 'ACK' : message.type === 'CON' ? 'CON' : 'NON',
        code: result.code,
        messageId: message.type === 'CON' && !separate ? message.messageId : this.nextMessageId(),
        token: message.token,
        options: result.options ?? [],
        payload: result.payload ?? Buffer.alloc(0),
      });
      if (separate) {
        const messageId = bytes.readUInt16BE(2);
        this.sender.send(messageId, bytes, (b) => this.send(b, endpoint), { acknowledged: () => {}, failed: () => {} });
        return;
      }
      this.#exchanges.answered(key, message.messageId, bytes);
      this.send(bytes, endpoint);
    };
    const pending = handleRequest(this, message, endpoint, key, answer);
    if (answered || message.type !== 'CON' || pending === undefined) return;
    // Not answered at once: if the answer takes longer, acknowledge now and answer separately (RFC 7252 §5.2.2).
    const timer = setTimeout(() => {
      if (answered || this.#closed) return;
      acknowledged = true;
      const ack = encode({ type: 'ACK', code: '0.00', messageId: message.messageId, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) });
      this.#exchanges.answered(key, message.messageId, ack);
      this.send(ack, endpoint);
    }, PIGGYBACK_WITHIN_MS);
    void pending.finally(() => clearTimeout(timer));
  }

  #reset(messageId: number, endpoint: Endpoint): void {
    this.send(encode({ type: 'RST', code: '0.00', messageId, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) }), endpoint);
  }
}
