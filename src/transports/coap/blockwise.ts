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

/** A representation too large for one message, fetched block by block. */
interface Representation {
  readonly etag: Buffer;
  readonly payload: Buffer;
  /** Options of every block (Observe only goes on the first, with the notification). */
  readonly options: readonly CoapOption[];
  readonly szx: number;
  /** The block the client is expected to ask for next. */
  nextNum: number;
  readonly expiresAt: number;
}

export type Block1Result =
  | { kind: 'continue'; block: Block }
  | { kind: 'complete'; payload: Buffer; block: Block }
  | { kind: 'incomplete' }
  | { kind: 'bad-block'; reason: string }
  | { kind: 'too-large'; limit: number };

const LIFETIME_MS = 247_000;
/** Bounds memory: at most this many uploads (64 KiB each at most: 16 MiB) and this many resources with large answers kept (4 each: 64 MiB). */
const MAX_ASSEMBLIES = 256;
const MAX_REPRESENTATIONS = 256;
/** Large answers kept per endpoint and resource: a newer notification does not replace one still being fetched. */
const REPRESENTATIONS_PER_RESOURCE = 4;

function remember<T>(map: Map<string, T>, key: string, value: T, max: number): void {
  map.delete(key);
  if (map.size >= max) map.delete(map.keys().next().value!);
  map.set(key, value);
}

export class BlockwiseStore {
  readonly #assemblies = new Map<string, Assembly>();
  readonly #representations = new Map<string, Representation[]>();
  #etag = 0;

  /** One Block1 block of the request body for `key` (endpoint, resource and method). */
  receiveBlock1(key: string, block: Block, payload: Buffer, limit: number, now = Date.now()): Block1Result {
    if (block.more && payload.length !== blockSize(block.szx)) {
      return { kind: 'bad-block', reason: `block ${block.num} carries ${payload.length} bytes, not its size ${blockSize(block.szx)}` }; // RFC 7959 §2.3
    }
    let assembly = this.#assemblies.get(key);
    if (block.num === 0) {
      assembly = { parts: [], size: 0, nextNum: 0, szx: block.szx, expiresAt: now + LIFETIME_MS };
      remember(this.#assemblies, key, assembly, MAX_ASSEMBLIES);
    }
    if (assembly === undefined || assembly.expiresAt <= now || block.num !== assembly.nextNum) {
      this.#assemblies.delete(key);
      return { kind: 'incomplete' }; // 4.08 (RFC 7959 §2.9.2)
    }
    if (block.szx !== assembly.szx) {
      this.#assemblies.delete(key);
      return { kind: 'bad-block', reason: 'the block size changed during the transfer' };
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

  /**
   * Keeps a representation too large for one message under an ETag of its own;
   * returns its first block, with `firstOnly` options (Observe) added there only.
   */
  storeRepresentation(key: string, payload: Buffer, options: readonly CoapOption[], szx: number, firstOnly: readonly CoapOption[] = [], now = Date.now()): { payload: Buffer; options: CoapOption[] } {
    this.#etag = (this.#etag + 1) >>> 0;
    const etag = uintOption(this.#etag || 1);
    const representation: Representation = { etag, payload, options: [...options, { name: 'ETag', value: etag }], szx, nextNum: 1, expiresAt: now + LIFETIME_MS };
    const list = (this.#representations.get(key) ?? []).filter((r) => r.expiresAt > now);
    list.push(representation);
    if (list.length > REPRESENTATIONS_PER_RESOURCE) list.shift();
    remember(this.#representations, key, list, MAX_REPRESENTATIONS);
    const first = this.#slice(representation, 0, szx)!;
    return { payload: first.payload, options: [...firstOnly, ...first.options] };
  }

  /**
   * Block `num` of a representation kept for `key`: the one with the ETag the
   * client names, else the oldest one whose next block this is.
   */
  block(key: string, num: number, szx: number, etag: Buffer | undefined, now = Date.now()): { payload: Buffer; options: CoapOption[] } | undefined {
    const list = this.#representations.get(key)?.filter((r) => r.expiresAt > now);
    if (list === undefined || list.length === 0) return undefined;
    const representation =
      (etag !== undefined ? list.find((r) => r.etag.equals(etag)) : undefined) ?? list.find((r) => r.nextNum === num) ?? list[list.length - 1]!;
    const part = this.#slice(representation, num, szx);
    if (part !== undefined) representation.nextNum = num + 1;
    return part;
  }

  #slice(representation: Representation, num: number, szx: number): { payload: Buffer; options: CoapOption[] } | undefined {
    const size = blockSize(Math.min(szx, representation.szx));
    const { payload, options } = representation;
    const start = num * size;
    if (start >= payload.length) return undefined;
    const end = Math.min(payload.length, start + size);
    return {
      payload: payload.subarray(start, end),
      options: [...options, blockOption('Block2', { num, more: end < payload.length, szx: Math.min(szx, representation.szx) }), { name: 'Size2', value: uintOption(payload.length) }],
    };
  }

  sweep(now = Date.now()): void {
    for (const [key, a] of this.#assemblies) if (a.expiresAt <= now) this.#assemblies.delete(key);
    for (const [key, list] of this.#representations) {
      const live = list.filter((r) => r.expiresAt > now);
      if (live.length === 0) this.#representations.delete(key);
      else this.#representations.set(key, live);
    }
  }
}
