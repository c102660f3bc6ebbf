/**
 * One timer for every deadline in the process.
 *
 * A timer per call costs a Timeout object and a libuv handle each, and 100k
 * timers expiring together stall the loop for ~360 ms (DESIGN.md). Here,
 * deadlines fall into buckets of `resolutionMs`; a min-heap of bucket keys and a
 * single `setTimeout` armed for the earliest bucket fire them. Cancelling is a
 * Set delete; a bucket left empty leaves the heap at once (an indexed heap), so
 * calls that end long before their deadline leave nothing behind. A deadline
 * fires at most `resolutionMs` late, never early. A target that throws is
 * reported and the others still fire.
 */
/** setTimeout's longest delay; a longer one would fire after 1 ms. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

export interface DeadlineTarget {
  onDeadline(now: number): void;
}

export class DeadlineScheduler {
  readonly #resolutionMs: number;
  readonly #reportError: (error: unknown) => void;
  readonly #buckets = new Map<number, Set<DeadlineTarget>>();
  readonly #heap = new MinHeap();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #armedKey = Infinity;
  #count = 0;
  /** Deadlines are being fired: the timer is armed once, after them, for whatever is earliest then. */
  #firing = false;

  /** `reportError`: where an error thrown by a target goes (default: thrown on a later tick, after the others fired). */
  constructor(resolutionMs = 10, reportError?: (error: unknown) => void) {
    this.#resolutionMs = resolutionMs;
    this.#reportError =
      reportError ??
      ((error) =>
        setImmediate(() => {
          throw error;
        }));
  }

  /** Buckets waiting to fire (each holds the deadlines of one `resolutionMs`). */
  get bucketCount(): number {
    return this.#heap.size;
  }

  get size(): number {
    return this.#count;
  }

  /** Schedules `target.onDeadline` at or after `at` (epoch ms); returns the key to cancel with. */
  schedule(at: number, target: DeadlineTarget): number {
    const key = Math.ceil(at / this.#resolutionMs);
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = new Set();
      this.#buckets.set(key, bucket);
      this.#heap.push(key);
      if (key < this.#armedKey && !this.#firing) this.#arm(key);
    }
    if (!bucket.has(target)) {
      bucket.add(target);
      this.#count++;
    }
    return key;
  }

  cancel(key: number, target: DeadlineTarget): void {
    const bucket = this.#buckets.get(key);
    if (bucket === undefined || !bucket.delete(target)) return;
    this.#count--;
    if (bucket.size > 0) return;
    this.#buckets.delete(key);
    this.#heap.remove(key);
    if (key === this.#armedKey && !this.#firing) {
      if (this.#heap.size > 0) this.#arm(this.#heap.peek());
      else this.#disarm();
    }
  }

  close(): void {
    this.#disarm();
    this.#buckets.clear();
    this.#heap.clear();
    this.#count = 0;
  }

  #disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedKey = Infinity;
  }

  #arm(key: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#armedKey = key;
    const delay = Math.min(MAX_TIMER_DELAY_MS, Math.max(0, key * this.#resolutionMs - Date.now()));
    // Not unref'd: a pending deadline is a caller waiting for an answer.
    this.#timer = setTimeout(this.#fire, delay);
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    this.#armedKey = Infinity;
    const now = Date.now();
    const dueKey = Math.floor(now / this.#resolutionMs);
    this.#firing = true;
    while (this.#heap.size > 0 && this.#heap.peek() <= dueKey) {
      const key = this.#heap.pop();
      const bucket = this.#buckets.get(key);
      this.#buckets.delete(key);
      if (bucket === undefined) continue;
      this.#count -= bucket.size;
      for (const target of bucket) {
        try {
          target.onDeadline(now);
        } catch (error) {
          this.#reportError(error);
        }
      }
    }
    this.#firing = false;
    if (this.#heap.size > 0) this.#arm(this.#heap.peek());
  };
}

/** A min-heap of distinct bucket keys that knows where each key sits, so any key can leave in O(log n). */
class MinHeap {
  readonly #items: number[] = [];
  readonly #position = new Map<number, number>();

  get size(): number {
    return this.#items.length;
  }

  peek(): number {
    return this.#items[0]!;
  }

  clear(): void {
    this.#items.length = 0;
    this.#position.clear();
  }

  push(value: number): void {
    this.#items.push(value);
    this.#siftUp(this.#items.length - 1, value);
  }

  pop(): number {
    const top = this.#items[0]!;
    this.remove(top);
    return top;
  }

  remove(value: number): void {
    const index = this.#position.get(value);
    if (index === undefined) return;
    this.#position.delete(value);
    const items = this.#items;
    const last = items.pop()!;
    if (index === items.length) return;
    if (index > 0 && last < items[(index - 1) >> 1]!) this.#siftUp(index, last);
    else this.#siftDown(index, last);
  }

  #place(index: number, value: number): void {
    this.#items[index] = value;
    this.#position.set(value, index);
  }

  #siftUp(index: number, value: number): void {
    const items = this.#items;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (items[parent]! <= value) break;
      this.#place(index, items[parent]!);
      index = parent;
    }
    this.#place(index, value);
  }

  #siftDown(index: number, value: number): void {
    const items = this.#items;
    const length = items.length;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && items[right]! < items[left]! ? right : left;
      if (items[child]! >= value) break;
      this.#place(index, items[child]!);
      index = child;
    }
    this.#place(index, value);
  }
}
