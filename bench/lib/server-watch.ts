import type { BenchProcess } from './processes.js';
import { processMemory } from './proc-memory.js';

export interface ServerWatchResult {
  /** The largest RSS seen: sampled, and the kernel's high-water mark. */
  peakRssBytes: number;
  /** The slowest answer to a ping over IPC (`usage`): how long the server's event loop was unavailable, at least. */
  slowestPingMs: number;
  /** Pings that took longer than a second. */
  slowPings: number;
  /** Pings not answered within the ping timeout. */
  unansweredPings: number;
  /** Date.now() of the last ping answered: near when a server that died stopped. */
  lastAnswerAt: number;
}

const PING_TIMEOUT_MS = 10_000;

/**
 * Watches a server process while something else loads it: RSS from /proc
 * every `sampleMs` (no help needed from the process), and an IPC ping every
 * `pingMs`, whose round trip shows a blocked event loop.
 */
export function watchServer(server: BenchProcess, sampleMs = 100, pingMs = 500): { stop(): Promise<ServerWatchResult> } {
  let peak = 0;
  let slowest = 0;
  let slow = 0;
  let unanswered = 0;
  let lastAnswerAt = Date.now();
  let running = true;
  const sample = setInterval(() => {
    const memory = processMemory(server.pid);
    if (memory !== undefined) peak = Math.max(peak, memory.rssBytes, memory.peakRssBytes);
  }, sampleMs);
  const pinging = (async () => {
    while (running && server.exit === undefined) {
      const started = performance.now();
      try {
        await server.request({ type: 'usage' }, PING_TIMEOUT_MS);
        lastAnswerAt = Date.now();
        const ms = performance.now() - started;
        slowest = Math.max(slowest, ms);
        if (ms > 1000) slow++;
      } catch {
        if (server.exit === undefined) unanswered++;
      }
      await new Promise((resolve) => setTimeout(resolve, pingMs));
    }
  })();
  return {
    async stop() {
      running = false;
      clearInterval(sample);
      await pinging;
      const memory = processMemory(server.pid);
      if (memory !== undefined) peak = Math.max(peak, memory.peakRssBytes);
      return { peakRssBytes: peak, slowestPingMs: Math.round(slowest), slowPings: slow, unansweredPings: unanswered, lastAnswerAt };
    },
  };
}
