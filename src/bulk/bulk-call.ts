import { BulkTally, type BulkResult, type BulkSummary } from './bulk-run.js';

export interface BulkAnswer {
  readonly results: BulkResult[];
  readonly summary: BulkSummary;
}

/**
 * A bulk call as the library hands it out: `await` it for every result and the summary once all devices answered,
 * or `for await` over it for each result as it arrives (then `summary` is complete). Either, once.
 */
export class BulkCall implements AsyncIterable<BulkResult>, PromiseLike<BulkAnswer> {
  readonly #tally = new BulkTally();
  #taken = false;

  constructor(readonly results: AsyncGenerator<BulkResult>) {}

  get summary(): BulkSummary {
    return this.#tally.summary;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<BulkResult> {
    if (this.#taken) throw new Error('a bulk call is read once: by await or by for await');
    this.#taken = true;
    for await (const result of this.results) yield this.#tally.add(result);
  }

  then<A = BulkAnswer, B = never>(onAnswer?: ((answer: BulkAnswer) => A | PromiseLike<A>) | null, onError?: ((error: unknown) => B | PromiseLike<B>) | null): PromiseLike<A | B> {
    return this.#all().then(onAnswer, onError);
  }

  async #all(): Promise<BulkAnswer> {
    if (this.#taken) throw new Error('a bulk call is read once: by await or by for await');
    this.#taken = true;
    const results: BulkResult[] = [];
    for await (const result of this.results) results.push(this.#tally.add(result));
    return { results, summary: this.summary };
  }
}
