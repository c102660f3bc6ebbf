import { generate, parse } from 'coap-packet';

/**
 * The only importer of coap-packet, which parses and generates datagrams and
 * nothing else: the CoAP semantics (RFC 7252, 7641, 7959) are this folder's.
 */
export type MessageType = 'CON' | 'NON' | 'ACK' | 'RST';

export interface CoapOption {
  readonly name: string | number;
  readonly value: Buffer;
}

export interface CoapMessage {
  readonly type: MessageType;
  /** `0.01` (GET) … `4.04`; `0.00` for an empty message. */
  readonly code: string;
  readonly messageId: number;
  readonly token: Buffer;
  readonly options: readonly CoapOption[];
  readonly payload: Buffer;
}

export class MalformedMessageError extends Error {}

/** Decodes a datagram; throws MalformedMessageError for anything RFC 7252 §3 does not allow. */
export function decode(datagram: Buffer): CoapMessage {
  if (datagram.length < 4) throw new MalformedMessageError('shorter than the 4-byte header');
  if (datagram[0]! >> 6 !== 1) throw new MalformedMessageError('not CoAP version 1');
  if ((datagram[0]! & 0x0f) > 8) throw new MalformedMessageError('token length 9-15 is reserved'); // RFC 7252 §3
  let packet;
  try {
    packet = parse(datagram);
  } catch (error) {
    throw new MalformedMessageError((error as Error).message);
  }
  const type: MessageType = packet.confirmable ? 'CON' : packet.ack ? 'ACK' : packet.reset ? 'RST' : 'NON';
  return { type, code: packet.code, messageId: packet.messageId, token: packet.token, options: packet.options, payload: packet.payload };
}

/** The message id of a datagram whose header can be read, for a Reset to a message we cannot parse. */
export function peekHeader(datagram: Buffer): { type: MessageType; messageId: number } | undefined {
  if (datagram.length < 4 || datagram[0]! >> 6 !== 1) return undefined;
  const types: MessageType[] = ['CON', 'NON', 'ACK', 'RST'];
  return { type: types[(datagram[0]! >> 4) & 0x3]!, messageId: datagram.readUInt16BE(2) };
}

export function encode(message: CoapMessage): Buffer {
  return generate({
    confirmable: message.type === 'CON',
    ack: message.type === 'ACK',
    reset: message.type === 'RST',
    code: message.code,
    messageId: message.messageId,
    token: message.token,
    options: message.options.map((o) => ({ name: o.name as string, value: o.value })),
    payload: message.payload,
  }, MAX_DATAGRAM);
}

/** The largest UDP payload; a longer answer needs block-wise transfer (RFC 7959). */
const MAX_DATAGRAM = 65_507;

/** Unsigned integer option value, big-endian, shortest form (RFC 7252 §3.2). */
export function uintOption(value: number): Buffer {
  if (value === 0) return Buffer.alloc(0);
  const bytes: number[] = [];
  for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from(bytes);
}

export function readUint(value: Buffer): number {
  let n = 0;
  for (const byte of value) n = n * 256 + byte;
  return n;
}
