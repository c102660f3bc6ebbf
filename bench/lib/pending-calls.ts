import { CALL_TIMEOUT_MS } from './payload.js';

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The request/response layer a user writes by hand over a broker: a Map of
 * pending calls by correlation id, a timer each. The same code for every
 * baseline, so they differ only in how the bytes travel.
 */
export class PendingCalls {
  readonly #pending = new Map<number, Pending>();
  #nextId = 0;

  /** A new correlation id and the promise its reply settles. */
  open(): { id: number; reply: Promise<unknown> } {
    const id = ++this.#nextId;
    const reply = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error('timeout'));
      }, CALL_TIMEOUT_MS);
      this.#pending.set(id, { resolve, reject, timer });
    });
    return { id, reply };
  }

  /** A reply arrived for `id` with this JSON payload. */
  settle(id: number, payload: Buffer): void {
    const call = this.#pending.get(id);
    if (call === undefined) return;
    this.#pending.delete(id);
    clearTimeout(call.timer);
    call.resolve(JSON.parse(payload.toString()));
  }

  fail(id: number, error: Error): void {
    const call = this.#pending.get(id);
    if (call === undefined) return;
    this.#pending.delete(id);
    clearTimeout(call.timer);
    call.reject(error);
  }
}

/** The correlation id at the end of a topic: `…/response/{id}`. */
export const idAtEnd = (topic: string): number => Number(topic.slice(topic.lastIndexOf('/') + 1));
