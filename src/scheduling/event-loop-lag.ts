/**
 * How far behind the event loop runs, sampled by one unref'd interval timer: the time between when a tick was due
 * and when it ran. Under overload every caller waits this much longer for its answer, so admission looks at it
 * (limits.maxEventLoopLagMs) and sheds new calls with 503 rather than answer them late.
 */
const SAMPLE_MS = 50;
/** How fast an old spike is forgotten: each sample keeps this much of the previous reading. */
const DECAY = 0.5;

export class EventLoopLag {
  #timer: ReturnType<typeof setInterval> | undefined;
  #due = 0;
  #lagMs = 0;

  /** The lag now: the latest sample, or a recent larger one as it fades. */
  get ms(): number {
    return this.#lagMs;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    // performance.now(): a step of the wall clock (NTP) is no lag.
    this.#due = performance.now() + SAMPLE_MS;
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.#lagMs = Math.max(now - this.#due, this.#lagMs * DECAY);
      this.#due = now + SAMPLE_MS;
    }, SAMPLE_MS).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#lagMs = 0;
  }
}
