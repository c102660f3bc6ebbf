/**
 * A small seeded PRNG (mulberry32) for reproducible fuzzing: the same seed
 * gives the same inputs. Not for anything that needs real randomness.
 */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [min, max], both included. */
  range(min: number, max: number): number {
    return min + this.int(max - min + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** One of `table`'s values, each as likely as its weight. */
  weighted<T>(table: ReadonlyArray<readonly [T, number]>): T {
    let total = 0;
    for (const [, weight] of table) total += weight;
    let at = this.next() * total;
    for (const [value, weight] of table) {
      at -= weight;
      if (at < 0) return value;
    }
    return table[table.length - 1]![0];
  }

  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }

  /** Letters and digits. */
  word(length: number): string {
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    let text = '';
    for (let i = 0; i < length; i++) text += alphabet[this.int(alphabet.length)];
    return text;
  }
}

/** A seed for one stream (e.g. protocol "mqtt", session 1234) of a run's seed: FNV-1a over the parts. */
export function seedFor(seed: number, ...parts: Array<string | number>): number {
  let hash = 0x811c9dc5;
  for (const char of `${seed >>> 0}:${parts.join(':')}`) {
    hash ^= char.charCodeAt(0);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

export const randomSeed = (): number => Math.floor(Math.random() * 2 ** 32);
