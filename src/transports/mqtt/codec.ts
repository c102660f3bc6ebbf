import mqttPacket, { type Packet } from 'mqtt-packet';

/**
 * The only importer of mqtt-packet.
 *
 * mqtt-packet enforces no maximum packet size and keeps a parser with its own
 * buffer list per connection. Here each connection keeps only the bytes of a
 * frame not yet complete, checks the frame's declared size before buffering
 * its body, and hands whole frames to one parser per protocol version shared
 * by every connection. An idle connection so holds no parser state at all.
 */
export type ProtocolVersion = 3 | 4 | 5;
export type { Packet };

export class FrameTooLargeError extends Error {
  constructor(readonly size: number) {
    super(`packet of ${size} bytes is over the limit`);
  }
}

export class MalformedPacketError extends Error {}

/** Splits a byte stream into whole MQTT frames, refusing any over `maxBytes` before buffering it. */
export class FrameReader {
  #pending: Buffer | null = null;

  constructor(readonly maxBytes: number) {}

  /** Calls `onFrame` for each complete frame in order; throws FrameTooLargeError or MalformedPacketError. */
  push(chunk: Buffer, onFrame: (frame: Buffer) => boolean): void {
    let buffer = this.#pending === null ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#pending = null;
    let offset = 0;
    while (buffer.length - offset >= 2) {
      let remaining = 0;
      let multiplier = 1;
      let lengthBytes = 0;
      let complete = false;
      for (let i = offset + 1; i < buffer.length && lengthBytes < 4; i++) {
        const byte = buffer[i]!;
        remaining += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        lengthBytes++;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (lengthBytes >= 4) throw new MalformedPacketError('remaining length longer than 4 bytes'); // [MQTT-2.2.3]
        break;
      }
      const total = 1 + lengthBytes + remaining;
      if (total > this.maxBytes) throw new FrameTooLargeError(total);
      if (buffer.length - offset < total) break;
      const keepGoing = onFrame(buffer.subarray(offset, offset + total));
      offset += total;
      if (!keepGoing) return;
    }
    if (offset < buffer.length) {
      // A copy, so a partial frame does not pin the whole socket read buffer.
      buffer = buffer.subarray(offset);
      this.#pending = Buffer.from(buffer);
    }
  }
}

interface SharedParser {
  settings: { protocolVersion?: number };
  parse(buffer: Buffer): number;
  on(event: 'packet', listener: (packet: Packet) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  _list: { length: number };
  _pos: number;
  _resetState(): void;
}

/** mqtt-packet's own reset leaves the read position behind; a shared parser must not carry it over. */
function resetParser(): void {
  parser._resetState();
  parser._pos = 0;
}

let parsed: Packet | undefined;
let parseError: Error | undefined;
const parser = mqttPacket.parser() as unknown as SharedParser;
parser.on('packet', (packet) => {
  parsed = packet;
});
parser.on('error', (error) => {
  parseError = error;
});
const SETTINGS: Record<ProtocolVersion, { protocolVersion: number }> = {
  3: { protocolVersion: 3 },
  4: { protocolVersion: 4 },
  5: { protocolVersion: 5 },
};

/** Decodes one whole frame; throws MalformedPacketError when mqtt-packet rejects it. */
export function decodeFrame(frame: Buffer, version: ProtocolVersion): Packet {
  const hot = decodeHotFrame(frame, version);
  if (hot !== undefined) return hot;
  parsed = undefined;
  parseError = undefined;
  parser.settings = SETTINGS[version];
  parser.parse(frame);
  if (parser._list.length !== 0 || parseError !== undefined) resetParser();
  const packet = parsed as Packet | undefined;
  const error = parseError as Error | undefined;
  parsed = undefined;
  parseError = undefined;
  if (error !== undefined) throw new MalformedPacketError(error.message);
  if (packet === undefined) throw new MalformedPacketError('incomplete packet');
  return packet;
}

export function encodePacket(packet: Packet, version: ProtocolVersion): Buffer {
  return mqttPacket.generate(packet, SETTINGS[version]);
}

// ── the hot path: a request out, its PUBACK and reply in, a PUBACK out ─────────
// Written here without mqtt-packet, which builds a frame from a stream of small buffers and calls `debug` on every
// step. test/unit/transports/mqtt-codec.test.ts checks byte for byte and packet for packet that both agree.

/** What a PUBLISH the server sends carries; MQTT 5 properties as the server sets them, in this order. */
export interface OutgoingPublish {
  readonly topic: string;
  readonly payload: string;
  readonly qos: 0 | 1;
  readonly messageId?: number;
  readonly properties?: { readonly messageExpiryInterval?: number; readonly responseTopic?: string; readonly correlationData?: Buffer };
}

const PROPERTY = { messageExpiryInterval: 0x02, responseTopic: 0x08, correlationData: 0x09 } as const;

function varIntBytes(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x200000 ? 3 : 4;
}

function writeVarInt(buffer: Buffer, offset: number, value: number): number {
  let rest = value;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    buffer[offset++] = byte;
  } while (rest > 0);
  return offset;
}

/** One PUBLISH frame in one buffer, topic and payload written straight into it. */
export function encodePublish(publish: OutgoingPublish, version: ProtocolVersion): Buffer {
  const topicBytes = Buffer.byteLength(publish.topic);
  const payloadBytes = Buffer.byteLength(publish.payload);
  let propertyBytes = -1;
  const properties = publish.properties;
  if (version === 5) {
    propertyBytes = 0;
    if (properties?.messageExpiryInterval !== undefined) propertyBytes += 5;
    if (properties?.responseTopic !== undefined) propertyBytes += 3 + Buffer.byteLength(properties.responseTopic);
    if (properties?.correlationData !== undefined) propertyBytes += 3 + properties.correlationData.length;
  }
  const remaining = 2 + topicBytes + (publish.qos > 0 ? 2 : 0) + (propertyBytes < 0 ? 0 : varIntBytes(propertyBytes) + propertyBytes) + payloadBytes;
  const frame = Buffer.allocUnsafe(1 + varIntBytes(remaining) + remaining);
  frame[0] = 0x30 | (publish.qos << 1);
  let at = writeVarInt(frame, 1, remaining);
  at = frame.writeUInt16BE(topicBytes, at);
  at += frame.write(publish.topic, at, 'utf8');
  if (publish.qos > 0) at = frame.writeUInt16BE(publish.messageId!, at);
  if (propertyBytes >= 0) {
    at = writeVarInt(frame, at, propertyBytes);
    if (properties?.messageExpiryInterval !== undefined) {
      frame[at++] = PROPERTY.messageExpiryInterval;
      at = frame.writeUInt32BE(properties.messageExpiryInterval, at);
    }
    if (properties?.responseTopic !== undefined) {
      frame[at++] = PROPERTY.responseTopic;
      at = frame.writeUInt16BE(Buffer.byteLength(properties.responseTopic), at);
      at += frame.write(properties.responseTopic, at, 'utf8');
    }
    if (properties?.correlationData !== undefined) {
      frame[at++] = PROPERTY.correlationData;
      at = frame.writeUInt16BE(properties.correlationData.length, at);
      at += properties.correlationData.copy(frame, at);
    }
  }
  frame.write(publish.payload, at, 'utf8');
  return frame;
}

/** PUBACK; MQTT 5 omits a success reason code, and gives another one an empty property length ([MQTT-3.4.2-1]). */
export function encodePuback(messageId: number, version: ProtocolVersion, reasonCode = 0): Buffer {
  if (version !== 5 || reasonCode === 0) return Buffer.from([0x40, 0x02, messageId >> 8, messageId & 0xff]);
  return Buffer.from([0x40, 0x04, messageId >> 8, messageId & 0xff, reasonCode, 0x00]);
}

/**
 * PUBLISH (MQTT 3.1.1) and PUBACK (3.1.1, and MQTT 5 without reason code) read without mqtt-packet, as mqtt-packet
 * reads them; undefined for any other frame, which decodeFrame reads.
 */
function decodeHotFrame(frame: Buffer, version: ProtocolVersion): Packet | undefined {
  const first = frame[0]!;
  const type = first >> 4;
  if (type === 4) {
    if (first !== 0x40 || frame.length !== 4 || frame[1] !== 2) return undefined;
    return { cmd: 'puback', retain: false, qos: 0, dup: false, length: 2, topic: null, payload: null, messageId: frame.readUInt16BE(2), ...(version === 5 ? { reasonCode: 0 } : {}) } as Packet;
  }
  if (type !== 3 || version === 5) return undefined;
  const qos = (first >> 1) & 3;
  if (qos === 3) return undefined;
  let at = 1;
  while (frame[at]! & 0x80) at++;
  at++;
  const length = frame.length - at;
  if (length < 2) return undefined;
  const topicEnd = at + 2 + frame.readUInt16BE(at);
  if (topicEnd > frame.length) return undefined;
  const topic = frame.toString('utf8', at + 2, topicEnd);
  let payloadStart = topicEnd;
  let messageId: number | undefined;
  if (qos > 0) {
    if (frame.length - topicEnd < 2) return undefined;
    messageId = frame.readUInt16BE(topicEnd);
    payloadStart += 2;
  }
  const packet = { cmd: 'publish', retain: (first & 1) !== 0, qos, dup: (first & 8) !== 0, length, topic, payload: frame.subarray(payloadStart) } as Packet & { messageId?: number };
  if (messageId !== undefined) packet.messageId = messageId;
  return packet;
}
