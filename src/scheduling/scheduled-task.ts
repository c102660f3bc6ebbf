import type { DeadlineScheduler, DeadlineTarget } from './deadline-scheduler.js';

/**
 * One callback on the shared scheduler, due at most once at a time: a lease
 * renewal, a sweep, an acknowledgement wait. Scheduling it again moves it.
 */
export class ScheduledTask implements DeadlineTarget {
  #key = -1;

  constructor(
    readonly scheduler: DeadlineScheduler,
    readonly run: (now: number) => void,
  ) {}

  get pending(): boolean {
    return this.#key >= 0;
  }

  /** Runs `run` once, `ms` from now (replacing an earlier time). */
  runIn(ms: number): void {
    this.cancel();
    this.#key = this.scheduler.schedule(Date.now() + ms, this);
  }

  cancel(): void {
    if (this.#key < 0) return;
    this.scheduler.cancel(this.#key, this);
    this.#key = -1;
  }

  onDeadline(now: number): void {
    this.#key = -1;
    this.run(now);
  }
}
