/**
 * One server process for M minutes under mixed traffic with connection
 * churn: MQTT devices (MQTT 3.1.1 QoS 1 and MQTT 5 QoS 0), CoAP and HTTP
 * long-poll devices (the simulator), answering two-way and one-way calls from
 * the application (library call(), in the server process) and from REST
 * callers (another process), persistent calls to MQTT devices that
 * disconnect and reconnect every few seconds, and their client-side calls.
 * Every sample (10 s): server RSS, heap, calls/s, p50/p99, errors; at the
 * end, the least-squares slope of RSS, heap and p99, and whether they grow.
 */
import { LogWatch } from '../lib/log-watch.js';
import { mib } from '../lib/proc-memory.js';
import { processMemory } from '../lib/proc-memory.js';
import { startProcess, type BenchProcess } from '../lib/processes.js';
import type { Row, ScenarioReport } from '../lib/results.js';
import { linearFit, round } from '../lib/stats.js';
import type { WindowSample } from '../lib/window-stats.js';
import type { BenchSettings } from './settings.js';

/** The devices, by share of --devices (each group at least one). */
const GROUPS = [
  { name: 'mqtt', share: 0.4, fleet: ['--transport', 'mqtt', '--qos', '1', '--protocol-version', '4'], port: 'mqttPort' },
  { name: 'mqtt5-qos0', share: 0.2, fleet: ['--transport', 'mqtt', '--qos', '0', '--protocol-version', '5'], port: 'mqttPort' },
  { name: 'coap', share: 0.1, fleet: ['--transport', 'coap'], port: 'coapPort' },
  { name: 'http', share: 0.1, fleet: ['--transport', 'http'], port: 'httpPort' },
  { name: 'churn', share: 0.2, fleet: undefined, port: 'mqttPort' },
] as const;

const DEFAULT_RATE = 300;
/** Of the calls per second: the application's (library), the rest REST (two-way, one-way, persistent). */
const LIBRARY_SHARE = 0.7;
const ONEWAY_SHARE = 0.2;
const CHURN_EVERY_MS = 3000;
const CHURN_FRACTION = 0.25;
/** Growth is judged on runs at least this long; shorter ones are dominated by warm-up. */
const JUDGE_FROM_MINUTES = 10;
const RSS_GROWTH_MIB_PER_HOUR = 32;
const HEAP_GROWTH_MIB_PER_HOUR = 16;
const P99_GROWTH_MS_PER_HOUR = 10;

export interface SoakSample {
  /** Seconds since the load started. */
  t: number;
  rssMiB: number;
  heapMiB: number;
  callsPerSecond: number;
  /** The application's two-way calls (library call()). */
  p50Ms: number;
  p99Ms: number;
  restP50Ms: number;
  restP99Ms: number;
  failed: number;
  errorLogs: number;
  skipped: number;
  churn: { sessions: number; cycled: number; unexpectedCloses: number; connected: number };
}

interface ChurnSample {
  sessions: number;
  cycled: number;
  unexpectedCloses: number;
  answered: number;
  clientCalls: number;
  clientAnswers: number;
  errors: number;
  connected: number;
}
type RestSample = WindowSample & { persistent: { submitted: number; statuses: Record<string, number> } };
type LibrarySample = WindowSample & { heapUsed: number; rss: number };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function groupsOf(devices: number) {
  let first = 0;
  return GROUPS.map((g) => {
    const size = Math.max(1, Math.round(devices * g.share));
    const group = { ...g, first, size, ids: Array.from({ length: size }, (_, i) => `d${first + i}`) };
    first += size;
    return group;
  });
}

/** Slope per hour of `ys` against the samples' times, from the second sample on (the first holds the warm-up). */
function perHour(samples: readonly SoakSample[], y: (s: SoakSample) => number): number {
  const used = samples.slice(1).filter((s) => Number.isFinite(y(s)));
  return round(linearFit(used.map((s) => s.t / 3600), used.map(y)).slope, 2);
}

function growth(minutes: number, slope: number, limit: number): string {
  if (!Number.isFinite(slope)) return 'not enough samples';
  if (minutes < JUDGE_FROM_MINUTES) return `not judged (runs under ${JUDGE_FROM_MINUTES} min are mostly warm-up)`;
  return slope > limit ? 'GROWTH' : 'flat';
}

/** At most `most` evenly spaced samples, as `t: value` text. */
function series(samples: readonly SoakSample[], y: (s: SoakSample) => number, unit: string, most = 12): string {
  const step = Math.max(1, Math.ceil(samples.length / most));
  const picked = samples.filter((_, i) => i % step === 0 || i === samples.length - 1);
  return picked.map((s) => `${Math.round(s.t)} s ${round(y(s), 1)}${unit}`).join(', ');
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

export async function soak(s: BenchSettings): Promise<ScenarioReport> {
  const minutes = s.minutes;
  const durationMs = minutes * 60_000;
  const intervalMs = Math.max(1000, Math.min(10_000, durationMs / 6));
  const rate = s.rate ?? DEFAULT_RATE;
  const groups = groupsOf(s.devices);
  const total = groups.reduce((n, g) => n + g.size, 0);
  const churnGroup = groups.find((g) => g.name === 'churn')!;
  const stable = groups.filter((g) => g.fleet !== undefined);
  const log = new LogWatch('[iot-rpc-server, soak]');
  console.log(`soak: ${minutes} min, ${total} devices (${groups.map((g) => `${g.size} ${g.name}`).join(', ')}), ${rate} calls/s, a sample every ${intervalMs / 1000} s`);
  const server = await startProcess('iot-rpc-server', ['--devices', String(total), '--http', 'true', '--coap', 'true', '--log-level', 'warn'], { onStderrLine: log.onLine });
  const started: BenchProcess[] = [];
  const samples: SoakSample[] = [];
  let finalLibrary: LibrarySample | undefined;
  let finalRest: RestSample | undefined;
  const persistentStatuses: Record<string, number> = {};
  let persistentSubmitted = 0;
  const churnTotals = { sessions: 0, cycled: 0, unexpectedCloses: 0, answered: 0, clientCalls: 0, clientAnswers: 0, errors: 0 };
  const errors: Record<string, number> = {};
  const addErrors = (sample: WindowSample) => {
    for (const [reason, n] of Object.entries(sample.errors)) errors[reason] = (errors[reason] ?? 0) + n;
  };
  const addPersistent = (sample: RestSample) => {
    persistentSubmitted += sample.persistent.submitted;
    for (const [status, n] of Object.entries(sample.persistent.statuses)) persistentStatuses[status] = (persistentStatuses[status] ?? 0) + n;
  };
  const addChurn = (sample: ChurnSample) => {
    for (const key of Object.keys(churnTotals) as Array<keyof typeof churnTotals>) churnTotals[key] += sample[key];
  };
  let libraryCalls = 0;
  let restCalls = 0;
  let failedCalls = 0;
  let serverExit: string | undefined;
  let loadSeconds = 0;
  try {
    for (const g of stable) {
      started.push(await startProcess('device-fleet', ['--server', `127.0.0.1:${server.ready[g.port] as number}`, '--devices', String(g.size), '--first-index', String(g.first), ...g.fleet!]));
    }
    const churn = await startProcess('churn-devices', ['--server', `127.0.0.1:${server.ready.mqttPort as number}`, '--devices', String(churnGroup.size), '--first-index', String(churnGroup.first), '--every-ms', String(CHURN_EVERY_MS), '--fraction', String(CHURN_FRACTION)]);
    started.push(churn);
    const rest = await startProcess('soak-rest', [
      '--url', `http://127.0.0.1:${server.ready.httpPort as number}`,
      '--targets', stable.flatMap((g) => g.ids).join(','),
      '--persistent-targets', churnGroup.ids.join(','),
      '--rate', String(Math.max(1, Math.round(rate * (1 - LIBRARY_SHARE)))),
    ]);
    started.push(rest);
    const targets = stable.flatMap((g) => g.ids.map((id) => ({ id, kind: g.name })));
    await server.request({ type: 'mixed-start', rate: Math.max(1, Math.round(rate * LIBRARY_SHARE)), targets, onewayShare: ONEWAY_SHARE });
    await rest.request({ type: 'start' });
    const began = performance.now();
    let problems = log.problems;
    while (performance.now() - began < durationMs) {
      await sleep(Math.min(intervalMs, durationMs - (performance.now() - began)));
      if (server.exit !== undefined) break;
      let library: LibrarySample;
      let restSample: RestSample;
      let churnSample: ChurnSample;
      try {
        [library, restSample, churnSample] = await Promise.all([
          server.request<LibrarySample>({ type: 'mixed-sample' }),
          rest.request<RestSample>({ type: 'sample' }),
          churn.request<ChurnSample>({ type: 'sample' }),
        ]);
      } catch (error) {
        if (server.exit !== undefined) break; // reported below
        throw error;
      }
      const memory = processMemory(server.pid);
      addErrors(library);
      addErrors(restSample);
      addPersistent(restSample);
      addChurn(churnSample);
      libraryCalls += library.calls;
      restCalls += restSample.calls;
      failedCalls += library.failed + restSample.failed;
      const sample: SoakSample = {
        t: round((performance.now() - began) / 1000, 1),
        rssMiB: mib(memory?.rssBytes ?? library.rss),
        heapMiB: mib(library.heapUsed),
        callsPerSecond: library.callsPerSecond + restSample.callsPerSecond,
        p50Ms: library.p50Ms,
        p99Ms: library.p99Ms,
        restP50Ms: restSample.p50Ms,
        restP99Ms: restSample.p99Ms,
        failed: library.failed + restSample.failed,
        errorLogs: log.problems - problems,
        skipped: library.skipped + restSample.skipped,
        churn: { sessions: churnSample.sessions, cycled: churnSample.cycled, unexpectedCloses: churnSample.unexpectedCloses, connected: churnSample.connected },
      };
      problems = log.problems;
      samples.push(sample);
      console.log(
        `soak ${sample.t} s: RSS ${sample.rssMiB} MiB, heap ${sample.heapMiB} MiB, ${sample.callsPerSecond} calls/s, p50/p99 ${sample.p50Ms}/${sample.p99Ms} ms (REST ${sample.restP50Ms}/${sample.restP99Ms}), ${sample.failed} failed, ${sample.errorLogs} error logs, ${sample.churn.cycled} devices cycled`,
      );
    }
    loadSeconds = (performance.now() - began) / 1000;
    if (server.exit === undefined) {
      finalLibrary = await server.request<LibrarySample>({ type: 'mixed-stop' });
      finalRest = await rest.request<RestSample>({ type: 'finish' });
      addErrors(finalLibrary);
      addErrors(finalRest);
      addPersistent(finalRest);
      libraryCalls += finalLibrary.calls;
      restCalls += finalRest.calls;
      failedCalls += finalLibrary.failed + finalRest.failed;
    }
  } finally {
    serverExit = server.exit;
    for (const process of [...started].reverse()) await process.stop();
    await server.stop();
  }
  const failures: string[] = [];
  if (serverExit !== undefined) failures.push(`the server died during the soak (${serverExit})`);
  if (libraryCalls === 0) failures.push('no application call completed');
  if (restCalls === 0) failures.push('no REST call completed');

  const rssSlope = perHour(samples, (x) => x.rssMiB);
  const heapSlope = perHour(samples, (x) => x.heapMiB);
  const p99Slope = perHour(samples, (x) => x.p99Ms);
  const restP99Slope = perHour(samples, (x) => x.restP99Ms);
  const firstSample = samples[0];
  const lastSample = samples[samples.length - 1];
  const logs = log.summary();
  const topErrors = Object.entries(errors).sort((a, b) => b[1] - a[1]).slice(0, 6);
  const rows: Row[] = [
    {
      figure: 'duration · samples',
      value: `${round(loadSeconds / 60, 2)} min · ${samples.length}`,
      includes: `one server process; a sample every ${intervalMs / 1000} s; ${total} devices: ${groups.map((g) => `${g.size} ${g.name}`).join(', ')}; churn: ${Math.round(CHURN_FRACTION * 100)}% of the churning devices reconnect every ${CHURN_EVERY_MS / 1000} s`,
    },
    {
      figure: 'calls completed · failed',
      value: `${libraryCalls + restCalls} · ${failedCalls}`,
      includes: `${libraryCalls} application calls (library, ${Math.round(ONEWAY_SHARE * 100)}% one-way), ${restCalls} REST (two-way, one-way, persistent submits and status reads); offered ${rate} calls/s; failures: ${topErrors.map(([r, n]) => `${r} ×${n}`).join(', ') || 'none'}`,
    },
    {
      figure: 'calls/s first → last sample',
      value: `${firstSample?.callsPerSecond ?? '-'} → ${lastSample?.callsPerSecond ?? '-'}`,
      includes: `completed per second in the window, application and REST (${sum(samples.map((x) => x.skipped))} not started: too many in flight)`,
    },
    {
      figure: 'application two-way p50 / p99 ms, first → last sample',
      value: `${firstSample?.p50Ms ?? '-'} / ${firstSample?.p99Ms ?? '-'} → ${lastSample?.p50Ms ?? '-'} / ${lastSample?.p99Ms ?? '-'}`,
      includes: 'library call() to answer, devices on MQTT, MQTT 5, CoAP and HTTP, in each window',
    },
    { figure: 'application two-way p99 slope ms/h', value: p99Slope, includes: `least squares over the samples after the first; p99 over time: ${series(samples, (x) => x.p99Ms, ' ms')}`, target: `≤ ${P99_GROWTH_MS_PER_HOUR}`, verdict: growth(minutes, p99Slope, P99_GROWTH_MS_PER_HOUR) },
    { figure: 'REST two-way p99 slope ms/h', value: restP99Slope, includes: `REST two-way and persistent submits; p99 over time: ${series(samples, (x) => x.restP99Ms, ' ms')}`, target: `≤ ${P99_GROWTH_MS_PER_HOUR}`, verdict: growth(minutes, restP99Slope, P99_GROWTH_MS_PER_HOUR) },
    { figure: 'server RSS first → last sample MiB', value: `${firstSample?.rssMiB ?? '-'} → ${lastSample?.rssMiB ?? '-'}`, includes: `/proc VmRSS, no forced GC; over time: ${series(samples, (x) => x.rssMiB, '')}` },
    { figure: 'server RSS slope MiB/h', value: rssSlope, includes: 'least squares over the samples after the first', target: `≤ ${RSS_GROWTH_MIB_PER_HOUR}`, verdict: growth(minutes, rssSlope, RSS_GROWTH_MIB_PER_HOUR) },
    { figure: 'server heap used first → last sample MiB · slope MiB/h', value: `${firstSample?.heapMiB ?? '-'} → ${lastSample?.heapMiB ?? '-'} · ${heapSlope}`, includes: 'process.memoryUsage().heapUsed, no forced GC (it saws with the GC cycle)', target: `≤ ${HEAP_GROWTH_MIB_PER_HOUR}/h`, verdict: growth(minutes, heapSlope, HEAP_GROWTH_MIB_PER_HOUR) },
    {
      figure: 'persistent calls: submitted · status when looked up',
      value: `${persistentSubmitted} · ${Object.entries(persistentStatuses).map(([st, n]) => `${st} ${n}`).join(', ') || '-'}`,
      includes: 'REST persistent two-way calls to the churning devices (60 s to live), looked up 5 s after submitting (those not yet looked up at the end, then)',
    },
    {
      figure: 'churning devices: sessions · cycled · unexpected closes',
      value: `${churnTotals.sessions} · ${churnTotals.cycled} · ${churnTotals.unexpectedCloses}`,
      includes: `MQTT.js, half MQTT 5, a third QoS 0; ${churnTotals.answered} server calls answered, ${churnTotals.clientAnswers} of ${churnTotals.clientCalls} client-side calls answered; ${churnTotals.errors} client errors`,
    },
    {
      figure: 'server error-level log lines · uncaught exceptions',
      value: `${logs.errors} · ${logs.uncaught}`,
      includes: `pino level ≥ 50 on its stderr (${Object.entries(logs.errorMessages).map(([m, n]) => `${m} ×${n}`).join('; ') || 'none'}); ${logs.byLevel.warn ?? 0} warn lines`,
      target: '0 · 0',
      verdict: logs.errors + logs.uncaught === 0 ? 'met' : 'FOUND',
    },
    { figure: 'server up at the end', value: serverExit === undefined ? 'up' : `DIED (${serverExit})`, includes: 'the same process throughout', target: 'up', verdict: serverExit === undefined ? 'met' : 'MISSED' },
  ];
  return {
    scenario: 'soak',
    settings: { minutes, devices: total, rate, sampleSeconds: intervalMs / 1000, churnEveryMs: CHURN_EVERY_MS, churnFraction: CHURN_FRACTION },
    figures: {
      samples,
      slopes: { rssMiBPerHour: rssSlope, heapMiBPerHour: heapSlope, p99MsPerHour: p99Slope, restP99MsPerHour: restP99Slope },
      totals: { libraryCalls, restCalls, failedCalls, errors, persistentSubmitted, persistentStatuses, churn: churnTotals },
      log: logs,
      serverExit,
    },
    rows,
    failures,
  };
}
