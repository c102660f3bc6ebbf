/**
 * Byte-level mutations of a valid message, and how messages go on the wire
 * (batched, split): the protocol-blind half of the fuzzer.
 */
import type { Rng } from '../prng.js';
import type { FuzzInput } from './types.js';

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x20, 0x0a, 0x0d, 0x22, 0x5b, 0x7b, 0x2f, 0x2b, 0x23, 0x3a];

type Mutation = (rng: Rng, bytes: Buffer) => { bytes: Buffer; label: string };

const at = (rng: Rng, bytes: Buffer) => (bytes.length === 0 ? 0 : rng.int(bytes.length));

const MUTATIONS: ReadonlyArray<readonly [Mutation, number]> = [
  [
    (rng, bytes) => {
      const out = Buffer.from(bytes);
      const i = at(rng, out);
      if (out.length > 0) out[i] = out[i]! ^ (1 << rng.int(8));
      return { bytes: out, label: `flip@${i}` };
    },
    4,
  ],
  [
    (rng, bytes) => {
      const out = Buffer.from(bytes);
      const i = at(rng, out);
      if (out.length > 0) out[i] = rng.chance(0.5) ? rng.pick(INTERESTING) : rng.int(256);
      return { bytes: out, label: `set@${i}` };
    },
    3,
  ],
  [
    (rng, bytes) => {
      const i = rng.int(bytes.length + 1);
      const extra = rng.chance(0.5) ? Buffer.from([rng.pick(INTERESTING)]) : rng.bytes(rng.range(1, 16));
      return { bytes: Buffer.concat([bytes.subarray(0, i), extra, bytes.subarray(i)]), label: `insert@${i}+${extra.length}` };
    },
    2,
  ],
  [
    (rng, bytes) => {
      const i = at(rng, bytes);
      const n = rng.range(1, 8);
      return { bytes: Buffer.concat([bytes.subarray(0, i), bytes.subarray(i + n)]), label: `delete@${i}-${n}` };
    },
    2,
  ],
  [
    (rng, bytes) => {
      const i = at(rng, bytes);
      const n = rng.range(1, Math.max(1, Math.min(64, bytes.length - i)));
      const copy = bytes.subarray(i, i + n);
      return { bytes: Buffer.concat([bytes.subarray(0, i + n), copy, bytes.subarray(i + n)]), label: `repeat@${i}x${n}` };
    },
    1,
  ],
  [
    (rng, bytes) => {
      const i = at(rng, bytes);
      return { bytes: bytes.subarray(0, i), label: `truncate@${i}` };
    },
    2,
  ],
  [
    (rng, bytes) => {
      const extra = rng.bytes(rng.range(1, 64));
      return { bytes: Buffer.concat([bytes, extra]), label: `append+${extra.length}` };
    },
    1,
  ],
];

/** One to `most` random byte mutations of `bytes`. */
export function mutateBytes(rng: Rng, bytes: Buffer, most = 3): { bytes: Buffer; label: string } {
  let out = bytes;
  const labels: string[] = [];
  for (let n = rng.range(1, most); n > 0; n--) {
    const mutated = rng.weighted(MUTATIONS)(rng, out);
    out = mutated.bytes;
    labels.push(mutated.label);
  }
  return { bytes: out, label: labels.join(',') };
}

/** `bytes` cut into 2 to 6 pieces at random places (1-byte pieces included). */
export function split(rng: Rng, bytes: Buffer): Buffer[] {
  if (bytes.length < 2) return [bytes];
  const cuts = new Set<number>();
  for (let n = rng.range(1, Math.min(5, bytes.length - 1)); n > 0; n--) cuts.add(rng.range(1, bytes.length - 1));
  const points = [0, ...[...cuts].sort((a, b) => a - b), bytes.length];
  const pieces: Buffer[] = [];
  for (let i = 1; i < points.length; i++) pieces.push(bytes.subarray(points[i - 1], points[i]));
  return pieces;
}

/**
 * How a stream session's inputs are written: mostly one write each, some
 * batched with the next ones in one write, some split into several writes.
 */
export function planWrites(rng: Rng, inputs: readonly FuzzInput[]): Buffer[] {
  const writes: Buffer[] = [];
  for (let i = 0; i < inputs.length; i++) {
    const roll = rng.next();
    if (roll < 0.2 && i + 1 < inputs.length) {
      const n = rng.range(2, Math.min(6, inputs.length - i));
      writes.push(Buffer.concat(inputs.slice(i, i + n).map((input) => input.bytes)));
      i += n - 1;
    } else if (roll < 0.35) {
      writes.push(...split(rng, inputs[i]!.bytes));
    } else {
      writes.push(inputs[i]!.bytes);
    }
  }
  return writes;
}
