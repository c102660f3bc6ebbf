import type { DeviceBehaviour } from './profiles.js';

const POLL_MS = 30_000;

/**
 * A simulated HTTP device: long-polls `GET /api/v1/{token}/rpc`, answers each
 * call with `POST …/rpc/{id}`, and polls again; network errors back off.
 */
export class HttpSimDevice {
  subscribed = false;
  answered = 0;
  #running = true;
  #controller = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(
    readonly baseUrl: string,
    readonly accessToken: string,
    readonly behaviour: DeviceBehaviour,
    readonly answer: boolean,
    readonly replyDelayMs: number,
  ) {}

  get connected(): boolean {
    return this.subscribed;
  }

  /** Resolves once the first poll is open on the server. */
  async start(): Promise<void> {
    const probe = await fetch(`${this.baseUrl}/api/v1/${this.accessToken}/rpc`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"method":"getCurrentTime"}' });
    if (probe.status !== 200) throw new Error(`HTTP device ${this.accessToken}: ${probe.status} ${await probe.text()}`);
    this.#loop = this.#poll();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#controller.abort();
    await this.#loop?.catch(() => {});
  }

  async #poll(): Promise<void> {
    let backoff = 250;
    while (this.#running) {
      try {
        this.subscribed = true;
        const res = await fetch(`${this.baseUrl}/api/v1/${this.accessToken}/rpc?timeout=${POLL_MS}`, { signal: this.#controller.signal });
        this.subscribed = false;
        if (res.status !== 200) {
          await res.arrayBuffer();
          continue;
        }
        const request = (await res.json()) as { id: number; method: string; params: unknown };
        backoff = 250;
        if (!this.answer) continue;
        if (this.replyDelayMs > 0) await new Promise((r) => setTimeout(r, this.replyDelayMs));
        const reply = await fetch(`${this.baseUrl}/api/v1/${this.accessToken}/rpc/${request.id}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(this.behaviour(request.method, request.params) ?? null),
          signal: this.#controller.signal,
        });
        await reply.arrayBuffer();
        this.answered++;
      } catch {
        this.subscribed = false;
        if (!this.#running) return;
        await new Promise((r) => setTimeout(r, backoff * (0.5 + Math.random())));
        backoff = Math.min(15_000, backoff * 2);
      }
    }
  }
}
