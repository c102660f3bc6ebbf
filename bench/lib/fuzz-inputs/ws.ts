/**
 * Sessions of the applications' WebSocket API (`/api/ws`) on a raw socket:
 * the upgrade request (JWT in the query, or none, a bad one, a mutated
 * handshake), then frames framed by the `ws` package's own Sender with a
 * seeded mask: `auth`, `rpc` (two-way to the echo device, one-way,
 * persistent, to unknown devices), `subscribe`, `unsubscribe`, their JSON
 * mutated; binary frames, pings, fragments, close frames; and frame-level
 * mutations: reserved opcodes, RSV bits, unmasked frames, a declared length
 * past the server's limit, invalid UTF-8, oversized control frames, and
 * byte-level mutations. The server's frames are read with the `ws` package's
 * Receiver. The probe is an `unsubscribe` with cmdId "fuzz-probe", which the
 * server answers (an error) whatever the session's state.
 */
import * as wsModule from 'ws';
import type { Rng } from '../prng.js';
import { HttpResponseReader, httpAnswerKey } from './http-response.js';
import { fuzzJson } from './json.js';
import { mutateBytes, planWrites } from './mutate.js';
import type { Answer, AnswerReader, FuzzInput, FuzzSession, FuzzTargets, ProtocolFuzzer } from './types.js';

/** The parts of ws's Sender and Receiver used here; @types/ws does not declare them. */
interface FrameOptions {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1?: boolean;
  generateMask?: (mask: Buffer) => void;
}
interface ReceiverLike {
  write(chunk: Buffer): boolean;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): void;
  on(event: 'conclude', listener: (code: number, reason: Buffer) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
}
const { Sender, Receiver } = wsModule as unknown as {
  Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] };
  Receiver: new (options: { isServer: boolean; allowSynchronousEvents: boolean; maxPayload: number }) => ReceiverLike;
};

const PROBE_ID = 'fuzz-probe';
const TEXT = 0x1;
const BINARY = 0x2;

function frame(rng: Rng, data: Buffer, opcode: number, options: Partial<FrameOptions> = {}): Buffer {
  const mask = rng.bytes(4);
  return Buffer.concat(Sender.frame(Buffer.from(data), { fin: true, opcode, mask: true, readOnly: false, generateMask: (m) => mask.copy(m), ...options }));
}

/** A text frame's header declaring `length` bytes, followed by only a few. */
function oversized(rng: Rng, length: number): Buffer {
  const header = Buffer.alloc(14);
  header[0] = 0x80 | TEXT;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  rng.bytes(4).copy(header, 10);
  return Buffer.concat([header, Buffer.from('{"cmdId":1')]);
}

function handshake(rng: Rng, t: FuzzTargets): FuzzInput {
  const key = rng.bytes(16).toString('base64');
  const query = rng.weighted([
    [`?token=${t.jwt}`, 5],
    ['', 4],
    [`?token=${t.jwt.slice(0, -3)}abc`, 0.5],
    ['?token=', 0.3],
    [`?token=${'x'.repeat(5000)}`, 0.2],
  ] as const);
  const lines = [`GET /api/ws${query} HTTP/1.1`, 'Host: 127.0.0.1', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Key: ${key}`, 'Sec-WebSocket-Version: 13'];
  let label = query === '' ? 'handshake' : query.startsWith(`?token=${t.jwt}`) ? 'handshake(token)' : 'handshake(bad token)';
  if (rng.chance(0.08)) {
    const i = rng.range(2, lines.length - 1);
    const change = rng.pick(['drop', 'version', 'key', 'deflate'] as const);
    if (change === 'drop') lines.splice(i, 1);
    if (change === 'version') lines[5] = 'Sec-WebSocket-Version: 8';
    if (change === 'key') lines[4] = 'Sec-WebSocket-Key: short';
    if (change === 'deflate') lines.push('Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits');
    label += `+${change}`;
  }
  return { label, bytes: Buffer.from(`${lines.join('\r\n')}\r\n\r\n`) };
}

function command(rng: Rng, t: FuzzTargets): { label: string; valid: Record<string, unknown> } {
  const cmdId = rng.weighted<string | number>([
    [rng.range(1, 1000), 6],
    [rng.word(4), 2],
    [PROBE_ID, 0.1],
  ]);
  const deviceId = rng.weighted([
    [t.echoDeviceId, 6],
    [rng.pick(t.deviceIds), 2],
    ['no-such-device', 1],
  ] as const);
  const kind = rng.weighted([
    ['auth', 2],
    ['rpc', 5],
    ['rpc-oneway', 1],
    ['rpc-persistent', 1],
    ['subscribe', 2],
    ['unsubscribe', 1],
    ['unknown-type', 0.5],
  ] as const);
  const params = { value: 42, unit: 'C', label: 'benchmark' };
  switch (kind) {
    case 'auth':
      return { label: kind, valid: { cmdId, auth: { token: rng.chance(0.8) ? t.jwt : 'not-a-jwt' } } };
    case 'rpc':
      return { label: kind, valid: { cmdId, type: 'rpc', deviceId, method: 'echo', params, timeout: rng.pick([5000, 5000, 1, 2 ** 31]) } };
    case 'rpc-oneway':
      return { label: kind, valid: { cmdId, type: 'rpc', deviceId, method: 'echo', params, oneway: true } };
    case 'rpc-persistent':
      return { label: kind, valid: { cmdId, type: 'rpc', deviceId, method: 'echo', params, persistent: true, timeout: 5000, expirationTime: Date.now() + 60_000 } };
    case 'subscribe':
      return { label: kind, valid: { cmdId, type: 'subscribe', deviceId } };
    case 'unsubscribe':
      return { label: kind, valid: { cmdId, type: 'unsubscribe' } };
    case 'unknown-type':
      return { label: kind, valid: { cmdId, type: rng.pick(['ping', 'RPC', '', 'subscribe ']), deviceId } };
  }
}

function input(rng: Rng, t: FuzzTargets): FuzzInput {
  const made = command(rng, t);
  const json = fuzzJson(rng, made.valid);
  const data = Buffer.from(json.text);
  const label = `${made.label}(${json.label})`;
  const roll = rng.next();
  if (roll < 0.04) return { label: `${label}+binary`, bytes: frame(rng, data, BINARY) };
  if (roll < 0.08) {
    const cut = rng.int(data.length + 1);
    return { label: `${label}+fragmented`, bytes: Buffer.concat([frame(rng, data.subarray(0, cut), TEXT, { fin: false }), frame(rng, data.subarray(cut), 0x0, { fin: rng.chance(0.8) })]) };
  }
  if (roll < 0.1) return { label: 'ping', bytes: frame(rng, rng.bytes(rng.pick([0, 10, 125, 126, 200])), 0x9) };
  if (roll < 0.11) return { label: 'pong', bytes: frame(rng, rng.bytes(10), 0xa) };
  if (roll < 0.12) {
    const code = Buffer.alloc(2);
    code.writeUInt16BE(rng.pick([1000, 1001, 1005, 1006, 1015, 2999, 4000, 65535]));
    return { label: `close(${code.readUInt16BE()})`, bytes: frame(rng, rng.chance(0.8) ? code : Buffer.from([1]), 0x8) };
  }
  if (roll < 0.14) {
    const opcode = rng.pick([0x3, 0x4, 0x7, 0xb, 0xf]);
    return { label: `${label}+opcode(${opcode})`, bytes: frame(rng, data, opcode) };
  }
  if (roll < 0.16) return { label: `${label}+rsv1`, bytes: frame(rng, data, TEXT, { rsv1: true }) };
  if (roll < 0.18) return { label: `${label}+unmasked`, bytes: frame(rng, data, TEXT, { mask: false }) };
  if (roll < 0.2) {
    const declared = rng.pick([65_537, 2 ** 32, 2 ** 53, 2 ** 63 - 1]);
    return { label: `declared-length(${declared})`, bytes: oversized(rng, declared) };
  }
  if (roll < 0.22) return { label: `${label}+invalid-utf8`, bytes: frame(rng, Buffer.concat([data.subarray(0, 5), Buffer.from([0xc3, 0x28, 0xed, 0xa0, 0x80]), data.subarray(5)]), TEXT) };
  const bytes = frame(rng, data, TEXT);
  if (roll < 0.35) {
    const mutated = mutateBytes(rng, bytes);
    return { label: `${label}+${mutated.label}`, bytes: mutated.bytes };
  }
  return { label, bytes };
}

function session(rng: Rng, targets: FuzzTargets): FuzzSession {
  const inputs: FuzzInput[] = [handshake(rng, targets)];
  for (let n = rng.range(1, 10); n > 0; n--) inputs.push(input(rng, targets));
  const probe = frame(rng, Buffer.from(JSON.stringify({ cmdId: PROBE_ID, type: 'unsubscribe' })), TEXT);
  return { inputs, writes: planWrites(rng, inputs), probe, facts: {} };
}

function reader(_session: FuzzSession, onAnswer: (answer: Answer) => void): AnswerReader {
  let probeAnswered = false;
  let broken = false;
  const receiver = new Receiver({ isServer: false, allowSynchronousEvents: true, maxPayload: 0 });
  receiver.on('message', (data, isBinary) => {
    let frameBody: { cmdId?: unknown; error?: { code?: string }; result?: unknown } | undefined;
    try {
      frameBody = isBinary ? undefined : (JSON.parse(data.toString()) as typeof frameBody);
    } catch {
      frameBody = undefined;
    }
    if (frameBody === undefined) return onAnswer({ key: 'ws frame not JSON', error: true });
    if (frameBody.cmdId === PROBE_ID) {
      probeAnswered = true;
      return onAnswer({ key: 'ws probe answered', error: false });
    }
    if (frameBody.error !== undefined) return onAnswer({ key: `ws error ${frameBody.error.code ?? ''}`, error: true });
    onAnswer({ key: 'result' in frameBody ? 'ws result' : 'ws event', error: false });
  });
  receiver.on('conclude', (code) => onAnswer({ key: `ws close ${code}`, error: code !== 1000 && code !== 1005 }));
  receiver.on('error', () => {
    broken = true;
    onAnswer({ key: 'ws frames from the server not parsed', error: true });
  });
  const http = new HttpResponseReader(
    (response) => {
      if (response.status !== 101) onAnswer({ key: httpAnswerKey(response), error: response.status >= 400 });
    },
    (bytes) => {
      if (!broken) receiver.write(bytes);
    },
  );
  return {
    push: (data) => http.push(data),
    get probeAnswered() {
      return probeAnswered;
    },
  };
}

export const wsFuzzer: ProtocolFuzzer = {
  protocol: 'ws',
  transport: 'tcp',
  port: (targets) => targets.httpPort,
  session,
  reader,
};
