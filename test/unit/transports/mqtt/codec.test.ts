import { describe, expect, it } from 'vitest';
import {
  FrameReader,
  FrameTooLargeError,
  MalformedPacketError,
  decodeFrame,
  encodePacket,
  type Packet,
  type ProtocolVersion,
} from '../../../../src/transports/mqtt/codec.js';

const publish = (payloadBytes: number, messageId = 1): Packet => ({
  cmd: 'publish',
  topic: `v1/devices/me/rpc/request/${messageId}`,
  payload: Buffer.alloc(payloadBytes, 0x61),
  qos: 1,
  messageId,
  retain: false,
  dup: false,
});

const FRAMES = [
  encodePacket(publish(300, 1), 4), // remaining length takes two bytes
  encodePacket({ cmd: 'puback', messageId: 1 }, 4),
  encodePacket({ cmd: 'pingreq' }, 4), // no body at all
  encodePacket(publish(5, 2), 4),
];
const STREAM = Buffer.concat(FRAMES);

function collect(reader: FrameReader, chunks: readonly Buffer[]): Buffer[] {
  const frames: Buffer[] = [];
  for (const chunk of chunks) {
    reader.push(chunk, (frame) => {
      frames.push(Buffer.from(frame));
      return true;
    });
  }
  return frames;
}

describe('FrameReader', () => {
  it('returns several frames from one chunk, in order', () => {
    const frames = collect(new FrameReader(1024), [STREAM]);
    expect(frames).toEqual(FRAMES);
  });

  it('reassembles frames split at every possible byte boundary', () => {
    for (let cut = 1; cut < STREAM.length; cut++) {
      const frames = collect(new FrameReader(1024), [STREAM.subarray(0, cut), STREAM.subarray(cut)]);
      expect(frames, `cut at ${cut}`).toEqual(FRAMES);
    }
  });

  it('reassembles frames fed one byte at a time', () => {
    const chunks = [...STREAM].map((byte) => Buffer.from([byte]));
    expect(collect(new FrameReader(1024), chunks)).toEqual(FRAMES);
  });

  it('reassembles a frame split inside its remaining-length bytes', () => {
    const frame = FRAMES[0]!;
    expect(frame[1]! & 0x80).toBe(0x80); // the first length byte has a continuation bit
    const frames = collect(new FrameReader(1024), [frame.subarray(0, 2), frame.subarray(2, 3), frame.subarray(3)]);
    expect(frames).toEqual([frame]);
  });

  it('delivers nothing until a frame is complete', () => {
    const reader = new FrameReader(1024);
    const frame = FRAMES[0]!;
    expect(collect(reader, [frame.subarray(0, frame.length - 1)])).toEqual([]);
    expect(collect(reader, [frame.subarray(frame.length - 1)])).toEqual([frame]);
  });

  it('keeps its own copy of a partial frame: the caller may reuse its read buffer', () => {
    const reader = new FrameReader(1024);
    const frame = FRAMES[0]!;
    const socketBuffer = Buffer.from(frame.subarray(0, 100));
    expect(collect(reader, [socketBuffer])).toEqual([]);
    socketBuffer.fill(0xee);
    expect(collect(reader, [frame.subarray(100)])).toEqual([frame]);
  });

  it('accepts a frame of exactly maxBytes', () => {
    const frame = FRAMES[0]!;
    expect(collect(new FrameReader(frame.length), [frame])).toEqual([frame]);
  });

  it('refuses an oversize frame as soon as its header has arrived, before its body', () => {
    const frame = encodePacket(publish(1000), 4);
    const header = frame.subarray(0, 3); // type byte + two length bytes
    const reader = new FrameReader(frame.length - 1);
    let error: unknown;
    try {
      reader.push(header, () => {
        throw new Error('no frame expected');
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(FrameTooLargeError);
    expect((error as FrameTooLargeError).size).toBe(frame.length);
  });

  it('refuses an oversize frame that follows a good one in the same chunk, after delivering the good one', () => {
    const good = FRAMES[1]!;
    const big = encodePacket(publish(1000), 4);
    const reader = new FrameReader(100);
    const frames: Buffer[] = [];
    expect(() =>
      reader.push(Buffer.concat([good, big.subarray(0, 4)]), (frame) => {
        frames.push(Buffer.from(frame));
        return true;
      }),
    ).toThrow(FrameTooLargeError);
    expect(frames).toEqual([good]);
  });

  it('refuses a remaining length of more than four bytes as malformed [MQTT-2.2.3]', () => {
    const reader = new FrameReader(1 << 30);
    expect(() => reader.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff]), () => true)).toThrow(MalformedPacketError);
  });

  it('waits while a remaining length is still incomplete (three continuation bytes so far)', () => {
    const reader = new FrameReader(1 << 30);
    const frames: Buffer[] = [];
    reader.push(Buffer.from([0x30, 0xff, 0xff, 0xff]), (frame) => frames.push(frame) > 0);
    expect(frames).toEqual([]);
    expect(() => reader.push(Buffer.from([0xff]), () => true)).toThrow(MalformedPacketError);
  });

  it('stops delivering frames when onFrame returns false', () => {
    const reader = new FrameReader(1024);
    const seen: Buffer[] = [];
    reader.push(STREAM, (frame) => {
      seen.push(Buffer.from(frame));
      return false;
    });
    expect(seen).toEqual([FRAMES[0]]);
  });
});

describe('decodeFrame / encodePacket', () => {
  const cases: Array<{ name: string; version: ProtocolVersion; packet: Packet }> = [
    {
      name: 'v4 CONNECT',
      version: 4,
      packet: {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        clientId: 'dev-1',
        keepalive: 30,
        username: 'TOKEN_A',
        password: Buffer.from('secret'),
      },
    },
    { name: 'v4 CONNACK', version: 4, packet: { cmd: 'connack', returnCode: 0, sessionPresent: false } },
    { name: 'v4 PUBLISH QoS 1', version: 4, packet: publish(40, 17) },
    {
      name: 'v4 PUBLISH QoS 0',
      version: 4,
      packet: { cmd: 'publish', topic: 'v1/devices/me/rpc/response/3', payload: Buffer.from('{"ok":true}'), qos: 0, retain: false, dup: false },
    },
    { name: 'v4 PUBACK', version: 4, packet: { cmd: 'puback', messageId: 17 } },
    {
      name: 'v4 SUBSCRIBE',
      version: 4,
      packet: { cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'v1/devices/me/rpc/request/+', qos: 1 }] },
    },
    { name: 'v4 SUBACK', version: 4, packet: { cmd: 'suback', messageId: 3, granted: [1, 128] } },
    { name: 'v4 UNSUBSCRIBE', version: 4, packet: { cmd: 'unsubscribe', messageId: 9, unsubscriptions: ['v2/r/req/+'] } },
    { name: 'v4 PINGREQ', version: 4, packet: { cmd: 'pingreq' } },
    { name: 'v4 PINGRESP', version: 4, packet: { cmd: 'pingresp' } },
    { name: 'v4 DISCONNECT', version: 4, packet: { cmd: 'disconnect' } },
    { name: 'v3 CONNECT (MQIsdp)', version: 3, packet: { cmd: 'connect', protocolId: 'MQIsdp', protocolVersion: 3, clean: true, clientId: 'old', keepalive: 10 } },
    {
      name: 'v5 CONNECT with properties',
      version: 5,
      packet: {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 5,
        clean: true,
        clientId: 'dev-5',
        keepalive: 60,
        username: 'TOKEN_B',
        properties: { sessionExpiryInterval: 60, maximumPacketSize: 4096 },
      },
    },
    {
      name: 'v5 CONNACK with properties',
      version: 5,
      packet: { cmd: 'connack', reasonCode: 0, sessionPresent: false, properties: { maximumPacketSize: 65536, topicAliasMaximum: 0 } },
    },
    {
      name: 'v5 PUBLISH with response topic, correlation data and expiry',
      version: 5,
      packet: {
        cmd: 'publish',
        topic: 'v1/devices/me/rpc/request/4',
        payload: Buffer.from('{"method":"ping","params":{}}'),
        qos: 1,
        messageId: 4,
        retain: false,
        dup: false,
        properties: { responseTopic: 'app/replies', correlationData: Buffer.from([1, 2, 3]), messageExpiryInterval: 10 },
      },
    },
    { name: 'v5 PUBACK with reason code', version: 5, packet: { cmd: 'puback', messageId: 4, reasonCode: 0x10 } },
    {
      name: 'v5 SUBSCRIBE with options',
      version: 5,
      packet: { cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'v2/r/req/+', qos: 1, nl: false, rap: false, rh: 0 }] },
    },
    { name: 'v5 SUBACK', version: 5, packet: { cmd: 'suback', messageId: 2, granted: [1, 0x87] } },
    { name: 'v5 DISCONNECT with reason', version: 5, packet: { cmd: 'disconnect', reasonCode: 0x8e } },
  ];

  it.each(cases)('$name survives a round trip', ({ packet, version }) => {
    const frame = encodePacket(packet, version);
    expect(Buffer.isBuffer(frame)).toBe(true);
    const decoded = decodeFrame(frame, version);
    expect(decoded).toMatchObject(packet as object);
    expect(decoded.length).toBe(frame.length - 1 - (frame.length > 129 ? 2 : 1));
  });

  it('decodes each frame the FrameReader cuts from a stream', () => {
    const decoded: Packet[] = [];
    new FrameReader(1024).push(STREAM, (frame) => decoded.push(decodeFrame(frame, 4)) > 0);
    expect(decoded.map((p) => p.cmd)).toEqual(['publish', 'puback', 'pingreq', 'publish']);
  });

  it('v4 and v5 encode the same PUBLISH differently (properties only in v5)', () => {
    const packet = publish(3, 8);
    expect(encodePacket(packet, 5).length).toBe(encodePacket(packet, 4).length + 1);
    expect(decodeFrame(encodePacket(packet, 5), 5)).toMatchObject(packet as object);
  });

  it.each([
    ['PUBREL with bad header flags', '6002000a'],
    ['PUBLISH with both QoS bits set', '3600'],
    ['truncated PUBLISH', '3005000376'],
    ['body shorter than its declared length', '30ff'],
    ['PUBLISH whose topic length runs past its body', '320510ff000102'],
    ['SUBSCRIBE whose topic length runs past its body', '820600010010ff01'],
  ])('%s is a MalformedPacketError, and the shared parser still decodes the next good frame', (_name, hex) => {
    expect(() => decodeFrame(Buffer.from(hex, 'hex'), 4)).toThrow(MalformedPacketError);
    const connect: Packet = { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'next', keepalive: 30, username: 'T' };
    expect(decodeFrame(encodePacket(connect, 4), 4)).toMatchObject(connect as object);
    expect(() => decodeFrame(Buffer.from(hex, 'hex'), 4)).toThrow(MalformedPacketError);
    const good = publish(10, 21);
    expect(decodeFrame(encodePacket(good, 4), 4)).toMatchObject(good as object);
    expect(() => decodeFrame(Buffer.from(hex, 'hex'), 5)).toThrow(MalformedPacketError);
    expect(decodeFrame(encodePacket({ cmd: 'puback', messageId: 2, reasonCode: 0 }, 5), 5)).toMatchObject({ cmd: 'puback', messageId: 2 });
  });

  it('a decode error does not leak into a later decode of another version', () => {
    expect(() => decodeFrame(Buffer.from('6002000a', 'hex'), 5)).toThrow(MalformedPacketError);
    const v4 = decodeFrame(encodePacket(publish(4, 30), 4), 4);
    expect(v4).toMatchObject({ cmd: 'publish', messageId: 30 });
    expect((v4 as { properties?: unknown }).properties).toBeUndefined();
  });

  it('decoding a CONNECT does not change the version later frames are decoded with', () => {
    decodeFrame(encodePacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'x', keepalive: 0 }, 5), 5);
    const packet = publish(2, 6);
    expect(decodeFrame(encodePacket(packet, 4), 4)).toMatchObject(packet as object);
    const v5 = { ...publish(2, 7), properties: { messageExpiryInterval: 5 } } as Packet;
    decodeFrame(encodePacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'y', keepalive: 0 }, 4), 4);
    expect(decodeFrame(encodePacket(v5, 5), 5)).toMatchObject(v5 as object);
  });
});
