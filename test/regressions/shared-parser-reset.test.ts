import { describe, expect, it } from 'vitest';
import { MalformedPacketError, decodeFrame, encodePacket } from '../../src/transports/mqtt/codec.js';

// mqtt-packet's _resetState() leaves the parser's read position where the failed
// packet stopped. With one parser shared by every connection, one client's bad
// PUBLISH made every later CONNECT on the server fail to parse.
describe('shared MQTT parser after a malformed packet', () => {
  it('decodes the next good frame from any connection', () => {
    const badPublish = Buffer.from([0x32, 0x05, 0x10, 0xff, 0x00, 0x01, 0x02]); // topic length 4351 in a 5-byte body
    expect(() => decodeFrame(badPublish, 4)).toThrow(MalformedPacketError);
    const connect = encodePacket({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'c', clean: true, keepalive: 30, username: 'T' }, 4);
    expect(decodeFrame(connect, 4)).toMatchObject({ cmd: 'connect', clientId: 'c', username: 'T', keepalive: 30 });
  });
});
