import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { ScheduledTask } from '../../scheduling/scheduled-task.js';
import type { TransportContext } from '../transport-context.js';
import { RpcError } from '../../errors.js';
import { BlockwiseStore, DEFAULT_SZX, blockOption, blockSize, readBlock } from './blockwise.js';
import { MalformedMessageError, decode, encode, peekHeader, uintOption, type CoapMessage, type CoapOption } from './codec.js';
import { errorAnswer, type CoapAnswer } from './answer.js';
import { endpointKey, messageKey, type Endpoint } from './endpoint.js';
import { ExchangeCache } from './exchange-cache.js';
import { CoapAttributeObservation } from './attribute-observation.js';
import type { CoapObservation } from './observation.js';
import { handleRequest, resolveRequest } from './rpc-resource.js';
import { EXCHANGE_LIFETIME_MS, NON_LIFETIME_MS, ReliableSender, type TransmissionParameters } from './transmission.js';

export interface CoapContext extends TransportContext {
  readonly maxCoapPayloadBytes: number;
  readonly coapTransmission: TransmissionParameters;
}

export type { Endpoint };

export type { CoapAnswer };

const SWEEP_EVERY_MS = 10_000;
const RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

const resourceKeyOf = (endpointKey: string, message: CoapMessage) =>
  `${endpointKey}|${message.options
    .filter((o) => o.name === 'Uri-Path')
    .map((o) => o.value.toString('utf8'))
    .join('/')}`;
/** Notifications remembered by message id, so a Reset to a NON notification can cancel its observation. */
const MAX_TRACKED_NOTIFICATIONS = 10_000;
/** How long a CON request may wait for its answer before it gets an empty ACK and a separate response (RFC 7252 §5.2.2). */
const PIGGYBACK_WITHIN_MS = 500;

/**
 * CoAP over UDP (IPv4 and IPv6) for devices: the message layer of RFC 7252
 * (CON/NON/ACK/RST, deduplication, piggybacked and separate responses,
 * retransmission of our CON messages) under the RPC resource.
 */
export class CoapServer {
  readonly context: CoapContext;
  readonly sender: ReliableSender;
  readonly #exchanges = new ExchangeCache();
  readonly blockwise = new BlockwiseStore();
  readonly #observations = new Map<string, CoapObservation | CoapAttributeObservation>();
  /** Each device's observation of its shared attributes: one, the newest. */
  readonly #attributeObservations = new Map<string, CoapAttributeObservation>();
  /**
   * By endpoint and message id, like the sender's outstanding messages: the observation each notification belongs to,
   * by its key and token rather than the object, so that an ended observation is not kept alive by its notifications
   * (NON ones are never acknowledged; a 1,000,000-datagram fuzz left thousands of ended observations held here).
   */
  readonly #notifications = new Map<string, { readonly key: string; readonly token: Buffer }>();
  readonly #sockets: Socket[] = [];
  #messageId = Math.floor(Math.random() * 0x10000);
  /** Forgets answered exchanges and stored blocks past their lifetime. */
  readonly #sweep: ScheduledTask;
  #closed = false;

  constructor(context: CoapContext) {
    this.context = context;
    this.sender = new ReliableSender(context.scheduler, context.coapTransmission);
    this.#sweep = new ScheduledTask(context.scheduler, (now) => this.#sweepLifetimes(now));
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
      try {
        // Bursts of datagrams from many devices overflow the default ~208 KB receive buffer (measured:
        // p99 2 s from retransmissions at 1000 devices). The kernel caps this at net.core.rmem_max.
        socket.setRecvBufferSize(RECEIVE_BUFFER_BYTES);
        socket.setSendBufferSize(RECEIVE_BUFFER_BYTES);
      } catch {
        // not allowed here: the default stays
      }
      this.#sockets.push(socket);
    }
    this.#sweep.runIn(SWEEP_EVERY_MS);
    return bound;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const observation of [...this.#observations.values()]) observation.end();
    this.sender.close();
    this.#sweep.cancel();
    await Promise.all(this.#sockets.map((socket) => new Promise<void>((resolve) => socket.close(() => resolve()))));
    this.#sockets.length = 0;
  }

  #sweepLifetimes(now: number): void {
    this.#exchanges.sweep(now);
    this.blockwise.sweep(now);
    if (!this.#closed) this.#sweep.runIn(SWEEP_EVERY_MS);
  }

  /** A message id for `endpoint` that none of our CON messages to it still holds. */
  nextMessageId(endpoint: Endpoint): number {
    do {
      this.#messageId = (this.#messageId + 1) & 0xffff;
    } while (this.sender.has(messageKey(endpoint, this.#messageId)));
    return this.#messageId;
  }

  send(bytes: Buffer, endpoint: Endpoint): void {
    if (this.#closed) return;
    const socket = this.#sockets.find((s) => (s.address().family === 'IPv6') === isIPv6(endpoint.address)) ?? this.#sockets[0];
    socket?.send(bytes, endpoint.port, endpoint.address);
  }

  // ── observations ──────────────────────────────────────────────────────────

  observation(key: string): CoapObservation | CoapAttributeObservation | undefined {
    return this.#observations.get(key);
  }

  remember(observation: CoapObservation | CoapAttributeObservation): void {
    this.#observations.set(observation.key, observation);
    if (observation instanceof CoapAttributeObservation) {
      const earlier = this.#attributeObservations.get(observation.deviceId);
      this.#attributeObservations.set(observation.deviceId, observation);
      if (earlier !== undefined && earlier !== observation) earlier.end();
    }
  }

  forget(observation: CoapObservation | CoapAttributeObservation): void {
    if (this.#observations.get(observation.key) === observation) this.#observations.delete(observation.key);
    if (this.#attributeObservations.get(observation.deviceId) === observation) this.#attributeObservations.delete(observation.deviceId);
  }

  trackNotification(key: string, observation: CoapObservation | CoapAttributeObservation): void {
    if (this.#notifications.size >= MAX_TRACKED_NOTIFICATIONS) this.#notifications.delete(this.#notifications.keys().next().value!);
    this.#notifications.set(key, { key: observation.key, token: observation.token });
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
      this.context.internalErrors.report(error, { transport: 'coap', remote: endpoint });
    }
  }

  #dispatch(message: CoapMessage, endpoint: Endpoint): void {
    if (message.type === 'ACK' || message.type === 'RST') {
      const messageKeyOf = messageKey(endpoint, message.messageId);
      const settled = this.sender.settle(messageKeyOf, message.type === 'RST');
      const tracked = this.#notifications.get(messageKeyOf);
      if (tracked !== undefined) {
        this.#notifications.delete(messageKeyOf);
        // RFC 7641 §3.6: a Reset to a notification cancels the observation (the one it was sent for, not a newer one).
        const observation = this.#observations.get(tracked.key);
        if (message.type === 'RST' && !settled && observation?.token.equals(tracked.token) === true) observation.end();
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
    const key = endpointKey(endpoint);
    const earlier = this.#exchanges.begin(key, message.messageId, message.type === 'CON' ? EXCHANGE_LIFETIME_MS : NON_LIFETIME_MS);
    if (earlier !== undefined) {
      // RFC 7252 §4.5: a duplicate is answered from the exchange cache, never processed twice.
      if (earlier.response !== undefined) this.send(earlier.response, endpoint);
      return;
    }
    const resourceKey = resourceKeyOf(key, message);
    let answered = false;
    let acknowledged = false;
    let request = message;
    let block1Echo: CoapOption | undefined;
    let preferredSzx = DEFAULT_SZX;
    const answer = (given: CoapAnswer): void => {
      if (answered || this.#closed) return;
      answered = true;
      const separate = acknowledged;
      let result = block1Echo === undefined ? given : { ...given, options: [...(given.options ?? []), block1Echo] };
      if (result.payload !== undefined && result.payload.length > blockSize(preferredSzx)) {
        // Too large for one message: the first block now, the rest on request (RFC 7959 §2.4).
        result = { code: result.code, ...this.blockwise.storeRepresentation(resourceKey, result.payload, result.options ?? [], preferredSzx) };
      }
      const bytes = encode({
        type: message.type === 'CON' && !separate ? 'ACK' : message.type === 'CON' ? 'CON' : 'NON',
        code: result.code,
        messageId: message.type === 'CON' && !separate ? message.messageId : this.nextMessageId(endpoint),
        token: message.token,
        options: result.options ?? [],
        payload: result.payload ?? Buffer.alloc(0),
      });
      if (separate) {
        this.sender.send(messageKey(endpoint, bytes.readUInt16BE(2)), bytes, (b) => this.send(b, endpoint), { acknowledged: () => {}, failed: () => {} });
        return;
      }
      this.#exchanges.answered(key, message.messageId, bytes);
      this.send(bytes, endpoint);
    };
    const target = resolveRequest(this, message);
    if ('code' in target) return answer(target);
    const block2Value = message.options.find((o) => o.name === 'Block2')?.value;
    if (block2Value !== undefined) {
      const block2 = readBlock(block2Value);
      if (block2 === undefined) return answer(errorAnswer(new RpcError('IOT_ERR_BAD_REQUEST', 'malformed Block2 option')));
      preferredSzx = Math.min(block2.szx, DEFAULT_SZX);
      if (block2.num > 0) {
        const etag = message.options.find((o) => o.name === 'ETag')?.value;
        const part = this.blockwise.block(resourceKey, block2.num, preferredSzx, etag);
        return answer(part === undefined ? errorAnswer(new RpcError('IOT_ERR_BAD_REQUEST', `no block ${block2.num} to continue`)) : { code: '2.05', ...part });
      }
    }
    const block1Value = message.options.find((o) => o.name === 'Block1')?.value;
    if (block1Value !== undefined) {
      const block1 = readBlock(block1Value);
      if (block1 === undefined) return answer(errorAnswer(new RpcError('IOT_ERR_BAD_REQUEST', 'malformed Block1 option')));
      const limit = this.context.maxCoapPayloadBytes;
      const received = this.blockwise.receiveBlock1(`${resourceKey}|${message.code}`, block1, message.payload, limit);
      switch (received.kind) {
        case 'continue':
          return answer({ code: '2.31', options: [blockOption('Block1', received.block)] });
        case 'incomplete':
          return answer({ code: '4.08', payload: Buffer.from('blocks missing or out of order; start again from block 0') });
        case 'bad-block':
          return answer(errorAnswer(new RpcError('IOT_ERR_BAD_REQUEST', received.reason)));
        case 'too-large':
          return answer(errorAnswer(new RpcError('IOT_ERR_PAYLOAD_TOO_LARGE', `body over ${limit} bytes`), [{ name: 'Size1', value: uintOption(limit) }]));
        case 'complete':
          request = { ...message, payload: received.payload };
          block1Echo = blockOption('Block1', received.block);
      }
    }
    const pending = handleRequest(this, request, target, endpoint, key, answer);
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

  /** The cache key of a resource for one endpoint, for block-wise transfers. */
  resourceKey(endpointKey: string, path: string): string {
    return `${endpointKey}|${path}`;
  }

  #reset(messageId: number, endpoint: Endpoint): void {
    this.send(encode({ type: 'RST', code: '0.00', messageId, token: Buffer.alloc(0), options: [], payload: Buffer.alloc(0) }), endpoint);
  }
}
