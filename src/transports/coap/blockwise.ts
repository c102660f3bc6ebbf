import { readUint, uintOption, type CoapOption } from './codec.js';

/**
 * Block-wise transfer (RFC 7959): Block1 assembles a large request body from
 * its blocks; Block2 serves a large answer or notification a block at a time,
 * the rest fetched by the client from a cache kept for EXCHANGE_LIFETIME.
 */
export interface Block {
  readonly num: number;
  readonly more: boolean;
  /** Block size exponent: size = 2^(szx + 4), 16 to 1024 bytes. */
  readonly szx: number;
}

export const DEFAULT_SZX = 6; // 1024 bytes
export const blockSize = (szx: number): number => 1 << (szx + 4);

/** The block in an option value; undefined when malformed (SZX 7 is BERT, only for TCP). */
export function readBlock(value: Buffer): Block | undefined {
  if (value.length > 3) return undefined;
  const n = readUint(value);
  const szx = n & 0x7;
  if (szx === 7) return undefined;
  return { num: n >> 4, more: (n & 0x8) !== 0, szx };
}

export function blockOption(name: 'Block1' | 'Block2', block: Block): CoapOption {
  return { name, value: uintOption((block.num << 4) | (block.more ? 0x8 : 0) | block.szx) };
}

interface Assembly {
  parts: Buffer[];
  size: number;
  nextNum: number;
  szx: number;
  expiresAt: number;
}

interface Representation {
  readonly payload: Buffer;
  readonly options: readonly CoapOption[];
  readonly expiresAt: number;
}

export type Block1Result =
  | { kind: 'continue'; block: Block }
  | { kind: 'complete'; payload: Buffer; block: Block }
  | { kind: 'incomplete' }
  | { kind: 'too-large'; limit: number };

const LIFETIME_MS = 247_000;
const MAX_ENTRIES = 10_000;

function remember<T>(map: Map<string, T>, key: string, value: T): void {
  map.delete(key);
  if (map.size >= MAX_ENTRIES) map.delete(map.keys().next().value!);
  map.set(key, value);
}

export class BlockwiseStore {
  readonly #assemblies = new Map<string, Assembly>();
  readonly #representations = new Map<string, Representation>();

  /** One Block1 block of the request body for `key` (endpoint and resource). */
  receiveBlock1(key: string, block: Block, payload: Buffer, limit: number, now = Date.now()): Block1Result {
    let assembly = this.#assemblies.get(key);
    if (block.num === 0) {
      assembly = { parts: [], size: 0, nextNum: 0, szx: block.szx, expiresAt: now + LIFETIME_MS };
      remember(this.#assemblies, key, assembly);
    }
    if (assembly === undefined || assembly.expiresAt <= now || block.num !== assembly.nextNum) {
      this.#assemblies.delete(key);
      return { kind: 'incomplete' }; // 4.08 (RFC 7959 §2.9.2)
    }
    assembly.parts.push(payload);
    assembly.size += payload.length;
    assembly.nextNum++;
    if (assembly.size > limit) {
      this.#assemblies.delete(key);
      return { kind: 'too-large', limit };
    }
    if (block.more) return { kind: 'continue', block: { num: block.num, more: true, szx: block.szx } };
    this.#assemblies.delete(key);
    return { kind: 'complete', payload: Buffer.concat(assembly.parts, assembly.size), block: { num: block.num, more: false, szx: block.szx } };
  }

  /** Keeps a representation too large for one message; returns its first block. */
  storeRepresentation(key: string, payload: Buffer, options: readonly CoapOption[], szx: number, now = Date.now()): { payload: Buffer; options: CoapOption[] } {
    remember(this.#representations, key, { payload, options, expiresAt: now + LIFETIME_MS });
    return this.#slice(payload, options, 0, szx)!;
  }

  /** Block `num` of the representation kept for `key`; undefined when there is none or it is past its end. */
  block(key: string, num: number, szx: number, now = Date.now()): { payload: Buffer; options: CoapOption[] } | undefined {
    const representation = this.#representations.get(key);
    if (representation === undefined || representation.expiresAt <= now) return undefined;
    return this.#slice(representation.payload, representation.options, num, szx);
  }

  #slice(payload: Buffer, options: readonly CoapOption[], num: number, szx: number): { payload: Buffer; options: CoapOption[] } | undefined {
    const size = blockSize(szx);
    const start = num * size;
    if (start >= payload.length) return undefined;
    const end = Math.min(payload.length, start + size);
    return {
      payload: payload.subarray(start, end),
      options: [...options, blockOption('Block2', { num, more: end < payload.length, szx }), { name: 'Size2', value: uintOption(payload.length) }],
    };
  }

  sweep(now = Date.now()): void {
    for (const [key, a] of this.#assemblies) if (a.expiresAt <= now) this.#assemblies.delete(key);
    for (const [key, r] of this.#representations) if (r.expiresAt <= now) this.#representations.delete(key);
  }
}
