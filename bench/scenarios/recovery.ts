import { randomUUID } from 'node:crypto';
import { RedisCallStore, type StoredCall } from '../../src/persistence/index.js';
import { startProcess } from '../lib/processes.js';
import { startRedisServer } from '../lib/redis.js';
import type { ScenarioReport } from '../lib/results.js';
import { round } from '../lib/stats.js';
import type { BenchSettings } from './settings.js';

const BATCH = 1000;
const DELIVERY_LIMIT_MS = 600_000;

/**
 * A restart with N unfinished persistent calls in Redis (10% of them SENT when
 * the previous process died): how long the new process takes to start (every
 * unfinished call is read, the SENT ones queued again), and how long until
 * every call has been delivered and answered once the devices connect to it.
 */
export async function recovery(s: BenchSettings): Promise<ScenarioReport> {
  const calls = s.calls;
  const redis = await startRedisServer();
  try {
    const startServer = async () => {
      const started = performance.now();
      const server = await startProcess('iot-rpc-server', ['--devices', String(s.devices), '--redis', redis.url], { readyTimeoutMs: 900_000 });
      return { server, seconds: (performance.now() - started) / 1000 };
    };
    const empty = await startServer();
    await empty.server.stop();
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
          request: { method: 'echo', params: { n: i }, oneway: false, timeout: 60_000, retries: 5 },
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
    const full = await startServer();
    let deliverSeconds = NaN;
    let unfinishedAfter = NaN;
    try {
      const deliverStarted = performance.now();
      const fleet = await startProcess('device-fleet', ['--server', `127.0.0.1:${full.server.ready.mqttPort as number}`, '--devices', String(s.devices), '--layout', 'thingsboard'], { readyTimeoutMs: 900_000 });
      try {
        const deadline = Date.now() + DELIVERY_LIMIT_MS;
        while ((unfinishedAfter = await store.countUnfinished()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        deliverSeconds = (performance.now() - deliverStarted) / 1000;
      } finally {
        await fleet.stop();
      }
    } finally {
      await full.server.stop();
      await store.close();
    }
    const startSeconds = round(full.seconds - empty.seconds, 2);
    return {
      scenario: 'recovery',
      settings: { calls, devices: s.devices },
      figures: { calls, emptySeconds: round(empty.seconds, 2), fullSeconds: round(full.seconds, 2), startSeconds, deliverSeconds: round(deliverSeconds, 2), fillSeconds: round(fillSeconds, 2), unfinishedAfter },
      rows: [
        { figure: `start with ${calls} unfinished calls (10% SENT) s`, value: round(full.seconds, 2), includes: 'process start to listening: every unfinished call read from Redis, the SENT ones written QUEUED again' },
        { figure: 'start with an empty store s', value: round(empty.seconds, 2), includes: 'the same process start with nothing to recover' },
        { figure: `extra start time for ${calls} calls s`, value: startSeconds, includes: 'the difference' },
        { figure: `${calls} calls delivered and answered s`, value: round(deliverSeconds, 2), includes: `from starting ${s.devices} devices (MQTT.js, echo) until no call is unfinished: connect, resume from Redis, deliver, reply, every status written` },
        { figure: 'calls left unfinished', value: unfinishedAfter, includes: `none lost, none stuck (gives up after ${DELIVERY_LIMIT_MS / 1000} s)`, target: '0', verdict: unfinishedAfter === 0 ? 'met' : 'MISSED' },
        { figure: `writing ${calls} calls to Redis s`, value: round(fillSeconds, 2), includes: `${BATCH} inserts at a time from the runner` },
      ],
    };
  } finally {
    await redis.stop();
  }
}
