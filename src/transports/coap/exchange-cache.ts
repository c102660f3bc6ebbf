/**
 * RFC 7252 §4.5: a request repeated with the same message id from the same
 * endpoint within EXCHANGE_LIFETIME is answered from here, not processed
 * twice. Entries expire by age; the cache is bounded by entries and by the
 * bytes of the answers it keeps (oldest evicted first), so a peer sending
 * fresh message ids as fast as it can makes it hold no more than that: what
 * it costs is duplicate detection for the oldest exchanges, not memory.
 */
interface Exchange {
  /** The answer sent, once there is one. */
  response: Buffer | undefined;
  readonly expiresAt: number;
}

/** Per entry besides its answer: the key, the record and the Map's slot, roughly. */
const ENTRY_OVERHEAD_BYTES = 160;

export class ExchangeCache {
  readonly #exchanges = new Map<string, Exchange>();
  #bytes = 0;

  constructor(
    readonly maxEntries = 20_000,
    readonly maxBytes = 8 * 1024 * 1024,
  ) {}

  get size(): number {
    return this.#exchanges.size;
  }

  /** What the cache holds, counted as its answers' bytes plus a fixed overhead per entry. */
  get bytes(): number {
    return this.#bytes;
  }

  /** undefined: new, go ahead (now remembered). Otherwise the earlier exchange: resend its answer, or wait for it. */
  begin(endpoint: string, messageId: number, lifetimeMs: number, now = Date.now()): Exchange | undefined {
    const key = `${endpoint}#${messageId}`;
    const known = this.#exchanges.get(key);
    if (known !== undefined && known.expiresAt > now) return known;
    if (known !== undefined) this.#forget(key, known);
    this.#makeRoom(ENTRY_OVERHEAD_BYTES);
    this.#exchanges.set(key, { response: undefined, expiresAt: now + lifetimeMs });
    this.#bytes += ENTRY_OVERHEAD_BYTES;
    return undefined;
  }

  answered(endpoint: string, messageId: number, response: Buffer): void {
    const key = `${endpoint}#${messageId}`;
    const exchange = this.#exchanges.get(key);
    if (exchange === undefined || exchange.response !== undefined) return;
    this.#makeRoom(response.length, key);
    exchange.response = response;
    this.#bytes += response.length;
  }

  /** Drops expired exchanges (called from a periodic sweep). */
  sweep(now = Date.now()): void {
    for (const [key, exchange] of this.#exchanges) if (exchange.expiresAt <= now) this.#forget(key, exchange);
  }

  #makeRoom(adding: number, keep?: string): void {
    for (const [key, exchange] of this.#exchanges) {
      if (this.#exchanges.size < this.maxEntries && this.#bytes + adding <= this.maxBytes) return;
      if (key === keep) continue;
      this.#forget(key, exchange);
    }
  }

  #forget(key: string, exchange: Exchange): void {
    this.#exchanges.delete(key);
    this.#bytes -= ENTRY_OVERHEAD_BYTES + (exchange.response?.length ?? 0);
  }
}
