import { randomUUID } from 'node:crypto';
import { RedisCallStore, type StoredCall } from '../../src/persistence/index.js';
import { startProcess } from '../lib/processes.js';
import { startRedisServer } from '../lib/redis.js';
import type { ScenarioReport } from '../lib/results.js';
import { round } from '../lib/stats.js';
import type { BenchSettings } from './settings.js';

const BATCH = 1000;

/**
 * How long a restart takes to resume N queued persistent calls kept in Redis:
 * the time from starting the server process to it listening, with the calls
 * in the store, against the same with an empty store.
 */
export async function recovery(s: BenchSettings): Promise<ScenarioReport> {
  const calls = s.calls;
  const redis = await startRedisServer();
  try {
    const startServer = async () => {
      const started = performance.now();
      const server = await startProcess('iot-rpc-server', ['--devices', String(s.devices), '--redis', redis.url], { readyTimeoutMs: 900_000 });
      const seconds = (performance.now() - started) / 1000;
      await server.stop();
      return seconds;
    };
    const emptySeconds = await startServer();
    const store = RedisCallStore.connect(redis.url);
    const now = Date.now();
    const fillStarted = performance.now();
    for (let first = 0; first < calls; first += BATCH) {
      const batch: Promise<void>[] = [];
      for (let i = first; i < Math.min(calls, first + BATCH); i++) {
        const call: StoredCall = {
          id: randomUUID(),
          createdTime: now + i,
          updatedTime: now + i,
          tenantId: 'bench',
          deviceId: `d${i % s.devices}`,
          expirationTime: now + 3_600_000,
          request: { method: 'echo', params: { n: i }, oneway: false, timeout: 10_000, retries: 5 },
          response: null,
          status: i % 10 === 0 ? 'SENT' : 'QUEUED',
          additionalInfo: null,
          requestUUID: null,
          attempts: i % 10 === 0 ? 1 : 0,
        };
        batch.push(store.insert(call).then(() => undefined));
      }
      await Promise.all(batch);
    }
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    const fullSeconds = await startServer();
    const unfinished = (await store.unfinished()).length;
    await store.close();
    const recoverySeconds = round(fullSeconds - emptySeconds, 2);
    return {
      scenario: 'recovery',
      settings: { calls, devices: s.devices },
      figures: { calls, emptySeconds: round(emptySeconds, 2), fullSeconds: round(fullSeconds, 2), recoverySeconds, fillSeconds: round(fillSeconds, 2), unfinishedAfter: unfinished },
      rows: [
        { figure: `start with ${calls} queued calls (10% of them SENT) s`, value: round(fullSeconds, 2), includes: 'process start to listening; listening waits until every unfinished call is loaded from Redis, the SENT ones re-queued, and each is queued in its device actor' },
        { figure: 'start with an empty store s', value: round(emptySeconds, 2), includes: 'the same process start with nothing to recover' },
        { figure: `time to recover ${calls} calls s`, value: recoverySeconds, includes: 'the difference' },
        { figure: 'calls still unfinished afterwards', value: unfinished, includes: 'none lost, none stuck: all queued again for their (offline) devices', target: String(calls), verdict: unfinished === calls ? 'met' : 'MISSED' },
        { figure: `writing ${calls} calls to Redis s`, value: round(fillSeconds, 2), includes: `${BATCH} inserts at a time from the runner (JSON, index, sorted set, unfinished set)` },
      ],
    };
  } finally {
    await redis.stop();
  }
}
