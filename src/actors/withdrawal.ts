/**
 * Withdraws calls whose caller left (a REST client that hung up, a closed WebSocket, a bulk call stopped), as an
 * AbortSignal does, at a fraction of its cost: in Node 20 making an AbortSignal and adding and removing one listener
 * costs about 10 µs of CPU, more than a tenth of a whole call.
 */
export class Withdrawal {
  #calls: Set<() => void> | null = new Set();
  #reason: unknown;

  get withdrawn(): boolean {
    return this.#calls === null;
  }

  /** Why, as AbortSignal.reason: what `withdraw` was given. */
  get reason(): unknown {
    return this.#reason;
  }

  /** `withdraw` runs once the caller leaves; the function returned stops that (the call was answered). */
  onWithdraw(withdraw: () => void): () => void {
    const calls = this.#calls;
    if (calls === null) return () => {};
    calls.add(withdraw);
    return () => calls.delete(withdraw);
  }

  withdraw(reason?: unknown): void {
    const calls = this.#calls;
    if (calls === null) return;
    this.#calls = null;
    this.#reason = reason;
    for (const withdraw of calls ?? []) withdraw();
  }
}
