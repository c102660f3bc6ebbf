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
