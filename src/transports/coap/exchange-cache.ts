/**
 * RFC 7252 §4.5: a request repeated with the same message id from the same
 * endpoint within EXCHANGE_LIFETIME is answered from here, not processed
 * twice. Entries expire by age; the cache is bounded (oldest evicted first).
 */
interface Exchange {
  /** The answer sent, once there is one. */
  response: Buffer | undefined;
  readonly expiresAt: number;
}

export class ExchangeCache {
  readonly #exchanges = new Map<string, Exchange>();

  constructor(readonly maxEntries = 100_000) {}

  get size(): number {
    return this.#exchanges.size;
  }

  /** undefined: new, go ahead (now remembered). Otherwise the earlier exchange: resend its answer, or wait for it. */
  begin(endpoint: string, messageId: number, lifetimeMs: number, now = Date.now()): Exchange | undefined {
    const key = `${endpoint}#${messageId}`;
    const known = this.#exchanges.get(key);
    if (known !== undefined && known.expiresAt > now) return known;
    if (known !== undefined) this.#exchanges.delete(key);
    if (this.#exchanges.size >= this.maxEntries) this.#exchanges.delete(this.#exchanges.keys().next().value!);
    this.#exchanges.set(key, { response: undefined, expiresAt: now + lifetimeMs });
    return undefined;
  }

  answered(endpoint: string, messageId: number, response: Buffer): void {
    const exchange = this.#exchanges.get(`${endpoint}#${messageId}`);
    if (exchange !== undefined) exchange.response = response;
  }

  /** Drops expired exchanges (called from a periodic sweep). */
  sweep(now = Date.now()): void {
    for (const [key, exchange] of this.#exchanges) if (exchange.expiresAt <= now) this.#exchanges.delete(key);
  }
}
