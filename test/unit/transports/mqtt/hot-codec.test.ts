/**
 * codec.ts writes requests and PUBACKs, and reads PUBLISH (3.1.1) and PUBACK, without mqtt-packet. Over random
 * packets and random mutations of real frames, both agree byte for byte (encoding) and packet for packet, error for
 * error (decoding).
 */
import fc from 'fast-check';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodePublish, encodePuback, type OutgoingPublish, type ProtocolVersion } from '../../../../src/transports/mqtt/codec.js';

const VERSIONS: readonly ProtocolVersion[] = [3, 4, 5];

const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const publishArbitrary: fc.Arbitrary<OutgoingPublish> = fc
  .record({
    topic: fc.oneof(text, fc.integer({ min: 1, max: 2 ** 31 - 1 }).map((id) => `v1/devices/me/rpc/request/${id}`)),
    payload: fc.oneof(text, fc.string({ maxLength: 300 })),
    qos: fc.constantFrom<0 | 1>(0, 1),
    messageId: fc.integer({ min: 1, max: 65535 }),
    expiry: fc.option(fc.integer({ min: 1, max: 2 ** 31 }), { nil: undefined }),
    responseTopic: fc.option(text, { nil: undefined }),
    correlation: fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined }),
  })
  .map(({ topic, payload, qos, messageId, expiry, responseTopic, correlation }) => {
    const properties: { messageExpiryInterval?: number; responseTopic?: string; correlationData?: Buffer } = {};
    if (expiry !== undefined) properties.messageExpiryInterval = expiry;
    if (responseTopic !== undefined) properties.responseTopic = responseTopic;
    if (correlation !== undefined) properties.correlationData = Buffer.from(correlation);
    return { topic, payload, qos, ...(qos === 1 ? { messageId } : {}), ...(Object.keys(properties).length > 0 ? { properties } : {}) };
  });

function generated(publish: OutgoingPublish, version: ProtocolVersion): Buffer {
  return mqttPacket.generate({ cmd: 'publish', dup: false, retain: false, ...publish } as Packet, { protocolVersion: version });
}

/** mqtt-packet's reading of a frame: the packet, or its error message. */
function referenceDecode(frame: Buffer, version: ProtocolVersion): Packet | string {
  const parser = mqttPacket.parser({ protocolVersion: version });
  let packet: Packet | string = 'incomplete packet';
  parser.on('packet', (p) => {
    packet = p;
  });
  parser.on('error', (error) => {
    packet = error.message;
  });
  parser.parse(frame);
  return packet;
}

function ourDecode(frame: Buffer, version: ProtocolVersion): Packet | string {
  try {
    return decodeFrame(frame, version);
  } catch (error) {
    return (error as Error).message;
  }
}

/** A frame's fields as plain data, so that mqtt-packet's Packet class and a plain object compare alike. */
const plain = (packet: Packet | string) => (typeof packet === 'string' ? packet : JSON.parse(JSON.stringify({ ...packet })));

describe('hot-path MQTT codec', () => {
  it('encodes every PUBLISH the server sends exactly as mqtt-packet does, in every version', () => {
    fc.assert(
      fc.property(publishArbitrary, fc.constantFrom(...VERSIONS), (publish, version) => {
        const withoutV5 = version === 5 ? publish : { ...publish, properties: undefined };
        expect(encodePublish(withoutV5, version).equals(generated(withoutV5, version))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('encodes every PUBACK exactly as mqtt-packet does: any id, success or another reason code', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), fc.constantFrom(...VERSIONS), fc.constantFrom(0, 0x10, 0x80, 0x83, 0x87, 0x91, 0x97), (messageId, version, reasonCode) => {
        const reference = mqttPacket.generate({ cmd: 'puback', messageId, ...(version === 5 ? { reasonCode } : {}) } as Packet, { protocolVersion: version });
        expect([...encodePuback(messageId, version, reasonCode)]).toEqual([...reference]);
      }),
      { numRuns: 1000 },
    );
  });

  it('decodes devices\' PUBLISH and PUBACK frames, and mutations of them, as mqtt-packet does', () => {
    const frames = fc.oneof(
      fc.tuple(publishArbitrary, fc.constantFrom(...VERSIONS)).map(([publish, version]) => ({ frame: generated(version === 5 ? publish : { ...publish, properties: undefined }, version), version })),
      fc.tuple(fc.integer({ min: 0, max: 65535 }), fc.constantFrom(...VERSIONS)).map(([messageId, version]) => ({ frame: mqttPacket.generate({ cmd: 'puback', messageId } as Packet, { protocolVersion: version }), version })),
    );
    const mutation = fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }), cut: fc.nat() , kind: fc.constantFrom('none', 'byte', 'header', 'truncate') });
    fc.assert(
      fc.property(frames, mutation, ({ frame, version }, { at, byte, cut, kind }) => {
        let bytes = Buffer.from(frame);
        if (kind === 'byte') bytes[at % bytes.length] = byte;
        if (kind === 'header') bytes[0] = (bytes[0]! & 0xf0) | (byte & 0x0f);
        if (kind === 'truncate') {
          // A shorter frame whose remaining length still matches (the FrameReader only hands over whole frames).
          const body = bytes.subarray(2, 2 + (cut % Math.max(1, bytes.length - 1)));
          if (body.length > 127) return;
          bytes = Buffer.concat([Buffer.from([bytes[0]!, body.length]), body]);
        }
        if (kind === 'byte' && at % bytes.length === 1) return; // a changed remaining length is the FrameReader's to refuse
        expect(plain(ourDecode(bytes, version))).toEqual(plain(referenceDecode(bytes, version)));
      }),
      { numRuns: 5000 },
    );
  });
});
