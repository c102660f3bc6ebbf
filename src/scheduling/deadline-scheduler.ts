/**
 * One timer for every deadline in the process.
 *
 * A timer per call costs a Timeout object and a libuv handle each, and 100k
 * timers expiring together stall the loop for ~360 ms (DESIGN.md). Here,
 * deadlines fall into buckets of `resolutionMs`; a min-heap of bucket keys and a
 * single `setTimeout` armed for the earliest bucket fire them. Cancelling is a
 * Set delete. A deadline fires at most `resolutionMs` late, never early.
 */
/** setTimeout's longest delay; a longer one would fire after 1 ms. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

export interface DeadlineTarget {
  onDeadline(now: number): void;
}

export class DeadlineScheduler {
  readonly #resolutionMs: number;
  readonly #buckets = new Map<number, Set<DeadlineTarget>>();
  readonly #heap = new MinHeap();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #armedKey = Infinity;
  #count = 0;

  constructor(resolutionMs = 10) {
    this.#resolutionMs = resolutionMs;
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
      if (key < this.#armedKey) this.#arm(key);
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
    if (bucket.size === 0) this.#buckets.delete(key); // its heap key is dropped when it comes up
  }

  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedKey = Infinity;
    this.#buckets.clear();
    this.#heap.clear();
    this.#count = 0;
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
    while (this.#heap.size > 0 && this.#heap.peek() <= dueKey) {
      const key = this.#heap.pop();
      const bucket = this.#buckets.get(key);
      this.#buckets.delete(key);
      if (bucket === undefined) continue;
      this.#count -= bucket.size;
      for (const target of bucket) target.onDeadline(now);
    }
    while (this.#heap.size > 0 && !this.#buckets.has(this.#heap.peek())) this.#heap.pop();
    if (this.#heap.size > 0) this.#arm(this.#heap.peek());
  };
}

class MinHeap {
  readonly #items: number[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): number {
    return this.#items[0]!;
  }

  clear(): void {
    this.#items.length = 0;
  }

  push(value: number): void {
    const items = this.#items;
    let index = items.length;
    items.push(value);
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (items[parent]! <= value) break;
      items[index] = items[parent]!;
      index = parent;
    }
    items[index] = value;
  }

  pop(): number {
    const items = this.#items;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length === 0) return top;
    let index = 0;
    const length = items.length;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= length) break;
      const right = left + 1;
      const child = right < length && items[right]! < items[left]! ? right : left;
      if (items[child]! >= last) break;
      items[index] = items[child]!;
      index = child;
    }
    items[index] = last;
    return top;
  }
}
