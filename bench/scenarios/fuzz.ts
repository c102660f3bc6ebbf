/**
 * Structure-aware fuzzing of a running server, one protocol at a time, each
 * against a fresh server process: valid MQTT, CoAP, HTTP and WebSocket
 * inputs, mutated (bench/lib/fuzz-inputs), from a fuzzer process, a bounded
 * number of connections at a time. Afterwards: is the server still up, does
 * a normal two-way call still work (the echo device connected throughout,
 * and a device connected only now), did its RSS come back within the bound,
 * did it log an error or an uncaught exception (and which input does it).
 */
import { isDeepStrictEqual } from 'node:util';
import type { FuzzStats } from '../lib/fuzz-driver.js';
import { FUZZ_PROTOCOLS, type FuzzProtocol } from '../lib/fuzz-inputs/index.js';
import { LogWatch, type LogSummary } from '../lib/log-watch.js';
import { PARAMS } from '../lib/payload.js';
import { MiB, mib } from '../lib/proc-memory.js';
import { startProcess } from '../lib/processes.js';
import { randomSeed } from '../lib/prng.js';
import type { Row, ScenarioReport } from '../lib/results.js';
import { watchServer, type ServerWatchResult } from '../lib/server-watch.js';
import { verdict } from '../lib/targets.js';
import { ALLOCATOR_ENV, CHECK_DEVICE, ECHO_DEVICE, FUZZ_DEVICES, startTarget } from './fuzz-target.js';
import { describeCrash, describeProblem, triage, type Finding } from './fuzz-triage.js';
import type { WindowSample } from '../lib/window-stats.js';
import type { BenchSettings } from './settings.js';

const PROBE_TIMEOUT_MS = 1000;
const CHECK_CALL_TIMEOUT_MS = 10_000;
/**
 * Application calls while the fuzz runs: to the devices it connects as, so
 * that fuzzed replies, acknowledgements and polls meet calls under way, and
 * to the echo device, which should answer every one.
 */
const BACKGROUND_RATE = 100;
const BACKGROUND_TIMEOUT_MS = 3000;
const BACKGROUND_TARGETS = [
  ...Array.from({ length: FUZZ_DEVICES }, (_, i) => ({ id: `f${i}`, kind: 'fuzzed-device' })),
  ...Array.from({ length: FUZZ_DEVICES / 5 }, () => ({ id: `d${ECHO_DEVICE}`, kind: 'echo' })),
];

/** The server's `memory` answer: after two forced GCs. */
interface Memory {
  rssBytes: number;
  heapUsedBytes: number;
  heapTotalBytes: number;
  externalBytes: number;
  arrayBuffersBytes: number;
}

interface ProtocolRun {
  protocol: FuzzProtocol;
  seed: number;
  stats?: FuzzStats;
  fuzzerError?: string;
  serverExit?: string;
  rss: { beforeBytes: number; peakBytes: number; afterBytes: number; boundBytes: number; withinBound: boolean };
  /** The whole of process.memoryUsage() before and after, each after two GCs: which part grew. */
  memoryBefore: Memory;
  memoryAfter?: Memory;
  watch: ServerWatchResult;
  /** The application calls made during the fuzz (BACKGROUND_TARGETS). */
  background?: WindowSample;
  echoCall: string;
  freshDeviceCall: string;
  log: LogSummary;
  findings: Finding[];
  failures: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** 'ok', or why the echo call failed. */
async function checkCall(call: () => Promise<unknown>): Promise<string> {
  try {
    const result = await call();
    return isDeepStrictEqual(result, PARAMS) ? 'ok' : `wrong answer ${JSON.stringify(result).slice(0, 100)}`;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

async function fuzzProtocol(protocol: FuzzProtocol, seed: number, s: BenchSettings): Promise<ProtocolRun> {
  const log = new LogWatch(`[iot-rpc-server, ${protocol} fuzz]`);
  const target = await startTarget(protocol, seed, log);
  const { server, fuzzer } = target;
  const failures: string[] = [];
  let stats: FuzzStats | undefined;
  let fuzzerError: string | undefined;
  let watch: ServerWatchResult;
  let background: WindowSample | undefined;
  let memoryBefore: Memory;
  let memoryAfter: Memory | undefined;
  let echoCall = 'not made (server down)';
  let freshDeviceCall = 'not made (server down)';
  const problemTimes: number[] = [];
  let candidates: number[] = [];
  /** How the server ended, if it did before we stopped it. */
  let serverExit: string | undefined;
  try {
    await sleep(500);
    memoryBefore = await server.request<Memory>({ type: 'memory' });
    const watcher = watchServer(server);
    await server.request({ type: 'mixed-start', rate: BACKGROUND_RATE, targets: BACKGROUND_TARGETS, onewayShare: 0.2, timeoutMs: BACKGROUND_TIMEOUT_MS });
    try {
      const options = { count: s.count, maxSeconds: s.maxSeconds, connections: s.connections, probeTimeoutMs: PROBE_TIMEOUT_MS };
      // The fuzzer stops by itself at the count or the time limit; this is the hard cap on top.
      stats = await fuzzer.request<FuzzStats>({ type: 'run', options }, (s.maxSeconds + 60) * 1000);
    } catch (error) {
      fuzzerError = error instanceof Error ? error.message : String(error);
      failures.push(`${protocol}: the fuzzer did not finish (${fuzzerError})`);
    } finally {
      watch = await watcher.stop();
      if (server.exit === undefined) background = await server.request<WindowSample>({ type: 'mixed-stop' }).catch(() => undefined);
    }
    problemTimes.push(...log.errorTimes);
    if (server.exit === undefined) {
      try {
        await sleep(s.settleSeconds * 1000);
        memoryAfter = await server.request<Memory>({ type: 'memory' });
        echoCall = await checkCall(() => server.request({ type: 'call', deviceId: `d${ECHO_DEVICE}`, timeoutMs: CHECK_CALL_TIMEOUT_MS }));
        freshDeviceCall = await checkCall(async () => {
          const fleet = await startProcess('device-fleet', ['--server', `127.0.0.1:${server.ready.mqttPort as number}`, '--devices', '1', '--first-index', String(CHECK_DEVICE)], { readyTimeoutMs: 30_000 });
          try {
            return await server.request({ type: 'call', deviceId: `d${CHECK_DEVICE}`, timeoutMs: CHECK_CALL_TIMEOUT_MS });
          } finally {
            await fleet.stop();
          }
        });
      } catch (error) {
        // The server went while it was being checked: reported as dead below.
        if (server.exit === undefined) failures.push(`${protocol}: the checks after the fuzz failed (${error instanceof Error ? error.message : String(error)})`);
      }
    }
    serverExit = server.exit;
    if (problemTimes.length > 0 || server.exit !== undefined) {
      // The sessions under way when the server logged an error (or when it was last seen answering).
      const times = problemTimes.length > 0 ? problemTimes.slice(0, 3) : [watch.lastAnswerAt];
      candidates = await fuzzer.request<number[]>({ type: 'sessions-at', times, slackMs: 300, most: 120 }).catch(() => []);
    }
  } finally {
    serverExit ??= server.exit;
    await target.stop();
  }
  const beforeBytes = memoryBefore.rssBytes;
  const afterBytes = memoryAfter?.rssBytes ?? NaN;
  const boundBytes = s.rssBoundMiB * MiB;
  const withinBound = Number.isFinite(afterBytes) && afterBytes - beforeBytes <= boundBytes;
  if (serverExit !== undefined) failures.push(`${protocol}: the server died during the fuzz (${serverExit})`);
  if (serverExit === undefined && echoCall !== 'ok') failures.push(`${protocol}: the echo device's two-way call failed after the fuzz: ${echoCall}`);
  if (serverExit === undefined && freshDeviceCall !== 'ok') failures.push(`${protocol}: a two-way call to a device connected after the fuzz failed: ${freshDeviceCall}`);
  if (serverExit === undefined && !withinBound) {
    failures.push(`${protocol}: server RSS stayed ${mib(afterBytes - beforeBytes)} MiB above its level before the fuzz (bound ${s.rssBoundMiB} MiB)`);
  }
  const summary = log.summary();
  const findings: Finding[] = [];
  if (problemTimes.length > 0 || serverExit !== undefined) {
    const problem =
      summary.firstErrors[0] !== undefined ? describeProblem(summary.firstErrors[0].line) : `the server died (${serverExit ?? 'exit unknown'}): ${describeCrash(summary.lastOther.map((l) => l.line))}`;
    console.log(`fuzz ${protocol}: the server reported a problem (${problem}); replaying the sessions under way then, one at a time`);
    findings.push(await triage(protocol, seed, candidates, problem));
  }
  return {
    protocol,
    seed,
    stats,
    fuzzerError,
    serverExit,
    rss: { beforeBytes, peakBytes: Math.max(watch.peakRssBytes, beforeBytes), afterBytes, boundBytes, withinBound },
    memoryBefore,
    memoryAfter,
    watch,
    background,
    echoCall,
    freshDeviceCall,
    log: summary,
    findings,
    failures,
  };
}

function rowsOf(run: ProtocolRun, settleSeconds: number): Row[] {
  const p = run.protocol;
  const rows: Row[] = [];
  const st = run.stats;
  if (st !== undefined) {
    rows.push(
      { figure: `${p}: inputs sent · inputs/s`, value: `${st.inputs} · ${st.inputsPerSecond}`, includes: `${st.sessions} sessions in ${st.seconds} s, stopped by ${st.stoppedBy}; inputs written in full before the session ended; seed ${run.seed}` },
      {
        figure: `${p}: sessions answered / closed / reset / timeout / refused`,
        value: `${st.outcomes.answered} / ${st.outcomes.closed} / ${st.outcomes.reset} / ${st.outcomes.timeout} / ${st.outcomes.refused}`,
        includes: `how each session ended: the server answered the probe after the inputs, closed, reset, neither within ${PROBE_TIMEOUT_MS} ms (waiting for more bytes, or stuck), or would not accept`,
      },
      {
        figure: `${p}: server answers, error / other`,
        value: `${st.errorAnswers} / ${st.otherAnswers}`,
        includes: `most frequent: ${Object.entries(st.answers).slice(0, 8).map(([k, n]) => `${k} ×${n}`).join(', ')}`,
      },
    );
    const internal = Object.entries(st.answers).filter(([k]) => /^http 500/.test(k));
    if (internal.length > 0) rows.push({ figure: `${p}: internal errors (500) answered`, value: internal.reduce((n, [, c]) => n + c, 0), includes: internal.map(([k, n]) => `${k} ×${n}`).join('; '), target: '0', verdict: 'FOUND' });
  } else {
    rows.push({ figure: `${p}: fuzz`, value: 'did not finish', includes: run.fuzzerError ?? '' });
  }
  const r = run.rss;
  rows.push(
    {
      figure: `${p}: server RSS before / peak / after MiB`,
      value: `${mib(r.beforeBytes)} / ${mib(r.peakBytes)} / ${Number.isFinite(r.afterBytes) ? mib(r.afterBytes) : '-'}`,
      includes: `before and after: after two forced GCs (after: ${settleSeconds} s after the fuzz); peak: /proc every 100 ms and VmHWM; ${
        ALLOCATOR_ENV.MALLOC_MMAP_THRESHOLD_ === undefined ? "glibc's default allocator settings" : `glibc mmap threshold fixed at ${ALLOCATOR_ENV.MALLOC_MMAP_THRESHOLD_} B (freed large blocks go back to the system; BENCH_GLIBC_DEFAULTS=1 for glibc's defaults)`
      }`,
      target: `after ≤ before + ${mib(r.boundBytes, 0)}`,
      verdict: run.serverExit !== undefined ? 'server died' : verdict(r.withinBound),
    },
    {
      figure: `${p}: server heap used / external before → after MiB`,
      value: run.memoryAfter === undefined ? '-' : `${mib(run.memoryBefore.heapUsedBytes)} / ${mib(run.memoryBefore.externalBytes)} → ${mib(run.memoryAfter.heapUsedBytes)} / ${mib(run.memoryAfter.externalBytes)}`,
      includes: 'after two forced GCs: what the server still holds (JS objects; Buffers outside the heap); RSS above it and not heap is memory the allocator kept',
    },
    {
      figure: `${p}: calls during the fuzz: echo ok / failed · p99 ms · fuzzed devices ok / failed`,
      value:
        run.background === undefined
          ? '-'
          : `${run.background.byKind.echo?.calls ?? 0} / ${run.background.byKind.echo?.failed ?? 0} · ${run.background.byKind.echo?.latencyMs.p99 ?? '-'} · ${run.background.byKind['fuzzed-device']?.calls ?? 0} / ${run.background.byKind['fuzzed-device']?.failed ?? 0}`,
      includes: `application calls (library, ${BACKGROUND_RATE}/s, ${BACKGROUND_TIMEOUT_MS / 1000} s timeout, a fifth one-way) while the fuzz ran: two-way to d${ECHO_DEVICE}, and to the devices the fuzzer connects as (mostly unanswered: ${
        run.background === undefined ? '' : Object.entries(run.background.errors).sort((a, b) => b[1] - a[1]).slice(0, 3).map(([r, n]) => `${r} ×${n}`).join(', ')
      })`,
      target: 'echo: 0 failed',
      verdict: run.background === undefined ? '' : verdict((run.background.byKind.echo?.failed ?? 0) === 0),
    },
    {
      figure: `${p}: server up · echo call · call to a new device`,
      value: `${run.serverExit === undefined ? 'up' : `DIED (${run.serverExit})`} · ${run.echoCall} · ${run.freshDeviceCall}`,
      includes: `two-way calls (library call()) after the fuzz: to d${ECHO_DEVICE}, connected throughout (MQTT.js, echo), and to d${CHECK_DEVICE}, connected only then`,
      target: 'up · ok · ok',
      verdict: verdict(run.serverExit === undefined && run.echoCall === 'ok' && run.freshDeviceCall === 'ok'),
    },
    {
      figure: `${p}: server error-level log lines · uncaught exceptions`,
      value: `${run.log.errors} · ${run.log.uncaught}`,
      includes: `pino level ≥ 50 on its stderr (${Object.entries(run.log.errorMessages).map(([m, n]) => `${m} ×${n}`).join('; ') || 'none'}); uncaught: Node's fatal-exception trailer; ${run.log.byLevel.warn ?? 0} warn lines`,
      target: '0 · 0',
      verdict: run.log.errors + run.log.uncaught === 0 ? 'met' : 'FOUND',
    },
    {
      figure: `${p}: slowest server answer to a ping ms`,
      value: run.watch.slowestPingMs,
      includes: `IPC round trip every 500 ms during the fuzz: a blocked event loop shows here (${run.watch.slowPings} over 1 s, ${run.watch.unansweredPings} unanswered in 10 s)`,
    },
  );
  for (const f of run.findings) {
    rows.push({
      figure: `${p}: finding`,
      value: f.reproduced ? `session ${f.session}, ${f.inputs?.length} input(s)${f.oneWrite === true ? ' in one write' : ''}` : 'not reproduced alone',
      includes: `${f.problem}; seed ${f.seed}; ${f.note ?? ''}${f.inputs === undefined ? '' : `; inputs: ${f.inputs.map((i) => `[${i.label}] ${i.hex.length > 400 ? `${i.hex.slice(0, 400)}… (${i.bytes} bytes)` : i.hex}`).join(' ')}`}`,
      verdict: 'FOUND',
    });
  }
  return rows;
}

export async function fuzz(s: BenchSettings): Promise<ScenarioReport> {
  const protocols: FuzzProtocol[] = s.protocol === 'all' ? [...FUZZ_PROTOCOLS] : [s.protocol];
  const seed = s.seed ?? randomSeed();
  console.log(`fuzz: seed ${seed} (repeat with --seed ${seed}); ${s.count} inputs per protocol, ${s.connections} connections at a time, at most ${s.maxSeconds} s each`);
  const runs: ProtocolRun[] = [];
  for (const protocol of protocols) {
    const run = await fuzzProtocol(protocol, seed, s);
    runs.push(run);
    const st = run.stats;
    console.log(`fuzz ${protocol}: ${st?.inputs ?? 0} inputs, ${st?.inputsPerSecond ?? 0}/s; RSS ${mib(run.rss.beforeBytes)} → peak ${mib(run.rss.peakBytes)} → ${mib(run.rss.afterBytes)} MiB; ${run.log.errors} error lines; ${run.failures.length === 0 ? 'ok' : run.failures.join('; ')}`);
  }
  return {
    scenario: 'fuzz',
    settings: { protocols, count: s.count, seed, connections: s.connections, rssBoundMiB: s.rssBoundMiB, maxSeconds: s.maxSeconds, settleSeconds: s.settleSeconds, allocator: ALLOCATOR_ENV.MALLOC_MMAP_THRESHOLD_ === undefined ? 'glibc defaults' : `MALLOC_MMAP_THRESHOLD_=${ALLOCATOR_ENV.MALLOC_MMAP_THRESHOLD_}` },
    figures: { seed, runs },
    rows: runs.flatMap((run) => rowsOf(run, s.settleSeconds)),
    failures: runs.flatMap((r) => r.failures),
  };
}
