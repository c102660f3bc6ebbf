/**
 * Runs fuzz sessions against a server: each on a fresh TCP connection or
 * UDP endpoint, at most `connections` at a time (a new one opens as the
 * server closes one), until `count` inputs have been written (a session the
 * server ends early writes fewer than it has) or `maxSeconds` have passed. Session i of a run draws from its own generator seeded by
 * (seed, protocol, i), so any one of them can be replayed alone.
 */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { Rng, seedFor } from './prng.js';
import type { Answer, FuzzSession, FuzzTargets, ProtocolFuzzer } from './fuzz-inputs/types.js';

/** How a session ended. */
export type Outcome =
  /** The server answered the probe: it kept up with the session. */
  | 'answered'
  /** The server closed the connection (FIN) before answering the probe. */
  | 'closed'
  /** The connection was reset (RST, EPIPE). */
  | 'reset'
  /** No answer to the probe and no close within the probe timeout (the server waits for more bytes, or is stuck). */
  | 'timeout'
  /** The connection could not be opened. */
  | 'refused';

export const OUTCOMES: readonly Outcome[] = ['answered', 'closed', 'reset', 'timeout', 'refused'];

export interface FuzzOptions {
  seed: number;
  count: number;
  maxSeconds: number;
  connections: number;
  probeTimeoutMs: number;
}

export interface FuzzStats {
  protocol: string;
  seed: number;
  sessions: number;
  /** Inputs written in full before the session ended. */
  inputs: number;
  bytes: number;
  seconds: number;
  inputsPerSecond: number;
  stoppedBy: 'count' | 'time' | 'server gone';
  outcomes: Record<Outcome, number>;
  /** Every answer the server sent, by kind. */
  answers: Record<string, number>;
  errorAnswers: number;
  otherAnswers: number;
}

export interface SessionResult {
  outcome: Outcome;
  inputsWritten: number;
  bytesWritten: number;
  answers: Answer[];
}

const CONNECT_TIMEOUT_MS = 5000;
/** This many sessions refused in a row: the server is gone, and the fuzz stops. */
const GONE_AFTER_REFUSED = 20;

/** Where each input ends in the session's byte stream, to count the inputs written in full. */
function inputEnds(session: FuzzSession): number[] {
  const ends: number[] = [];
  let offset = 0;
  for (const input of session.inputs) ends.push((offset += input.bytes.length));
  return ends;
}

const countWritten = (ends: number[], bytes: number) => ends.filter((end) => end <= bytes).length;

/** A gap between writes now and then, so split pieces leave as separate segments. */
const yieldNow = () => new Promise<void>((resolve) => setImmediate(resolve));

export function runTcpSession(fuzzer: ProtocolFuzzer, session: FuzzSession, port: number, probeTimeoutMs: number): Promise<SessionResult> {
  return new Promise((resolve) => {
    const answers: Answer[] = [];
    const reader = fuzzer.reader(session, (answer) => answers.push(answer));
    const ends = inputEnds(session);
    let written = 0;
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined = setTimeout(() => finish('refused'), CONNECT_TIMEOUT_MS);
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    const finish = (outcome: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ outcome, inputsWritten: countWritten(ends, written), bytesWritten: written, answers });
    };
    socket.on('data', (chunk) => {
      reader.push(chunk);
      if (reader.probeAnswered) finish('answered');
    });
    socket.on('end', () => finish('closed'));
    socket.on('close', () => finish('closed'));
    socket.on('error', (error: NodeJS.ErrnoException) => finish(error.code === 'ECONNREFUSED' ? 'refused' : 'reset'));
    socket.once('connect', async () => {
      clearTimeout(timer);
      for (const bytes of session.writes) {
        if (done || !socket.writable) return;
        socket.write(bytes);
        written += bytes.length;
        await yieldNow();
      }
      if (done || !socket.writable) return;
      socket.write(session.probe);
      timer = setTimeout(() => finish('timeout'), probeTimeoutMs);
    });
  });
}

export function runUdpSession(fuzzer: ProtocolFuzzer, session: FuzzSession, port: number, probeTimeoutMs: number): Promise<SessionResult> {
  return new Promise((resolve) => {
    const answers: Answer[] = [];
    const reader = fuzzer.reader(session, (answer) => answers.push(answer));
    const ends = inputEnds(session);
    let written = 0;
    let done = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const socket = createSocket('udp4');
    const finish = (outcome: Outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      resolve({ outcome, inputsWritten: countWritten(ends, written), bytesWritten: written, answers });
    };
    socket.on('message', (datagram) => {
      reader.push(datagram);
      if (reader.probeAnswered) finish('answered');
    });
    socket.on('error', () => finish('refused'));
    socket.bind(0, '127.0.0.1', async () => {
      for (const bytes of session.writes) {
        if (done) return;
        await new Promise<void>((sent) => socket.send(bytes, port, '127.0.0.1', () => sent()));
        written += bytes.length;
      }
      if (done) return;
      socket.send(session.probe, port, '127.0.0.1');
      timer = setTimeout(() => finish('timeout'), probeTimeoutMs);
    });
  });
}

export const sessionAt = (fuzzer: ProtocolFuzzer, targets: FuzzTargets, seed: number, index: number): FuzzSession =>
  fuzzer.session(new Rng(seedFor(seed, fuzzer.protocol, index)), targets);

export function runSession(fuzzer: ProtocolFuzzer, targets: FuzzTargets, session: FuzzSession, probeTimeoutMs: number): Promise<SessionResult> {
  const port = fuzzer.port(targets);
  return fuzzer.transport === 'udp' ? runUdpSession(fuzzer, session, port, probeTimeoutMs) : runTcpSession(fuzzer, session, port, probeTimeoutMs);
}

/** When each session ran (ms since the epoch), to find those under way when the server logged an error. */
export class SessionTimeline {
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  /** Sessions the server never accepted: they cannot have caused anything. */
  readonly refused = new Set<number>();

  /**
   * Sessions that had started by `at` and had not ended `slackMs` before it,
   * those that ended soonest after it first: a server that logs an error about
   * an input (or dies of it) does so while the session that sent it is about
   * to end (probe answered, or closed).
   */
  around(at: number, slackMs: number, most: number): number[] {
    const found: Array<{ index: number; distance: number }> = [];
    for (let i = 0; i < this.starts.length; i++) {
      const start = this.starts[i];
      if (start === undefined || this.refused.has(i)) continue;
      const end = this.ends[i] ?? Date.now();
      if (start <= at && at <= end + slackMs) found.push({ index: i, distance: Math.abs(end - at) });
    }
    return found.sort((a, b) => a.distance - b.distance).slice(0, most).map((f) => f.index);
  }
}

export async function runFuzz(fuzzer: ProtocolFuzzer, targets: FuzzTargets, options: FuzzOptions, timeline = new SessionTimeline()): Promise<FuzzStats> {
  const outcomes = Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>;
  const answers: Record<string, number> = {};
  let errorAnswers = 0;
  let otherAnswers = 0;
  /** Inputs of the sessions under way: written or not, they count towards `count` until their session ends. */
  let underWay = 0;
  let inputs = 0;
  let bytes = 0;
  let next = 0;
  let stoppedBy: FuzzStats['stoppedBy'] = 'count';
  let refusedInARow = 0;
  const started = performance.now();
  const deadline = started + options.maxSeconds * 1000;
  const worker = async () => {
    while (inputs + underWay < options.count) {
      if (performance.now() >= deadline) {
        stoppedBy = 'time';
        return;
      }
      if (refusedInARow >= GONE_AFTER_REFUSED) {
        stoppedBy = 'server gone';
        return;
      }
      const index = next++;
      const session = sessionAt(fuzzer, targets, options.seed, index);
      underWay += session.inputs.length;
      timeline.starts[index] = Date.now();
      const result = await runSession(fuzzer, targets, session, options.probeTimeoutMs);
      timeline.ends[index] = Date.now();
      underWay -= session.inputs.length;
      outcomes[result.outcome]++;
      if (result.outcome === 'refused') {
        timeline.refused.add(index);
        refusedInARow++;
      } else {
        refusedInARow = 0;
      }
      inputs += result.inputsWritten;
      bytes += result.bytesWritten;
      for (const answer of result.answers) {
        answers[answer.key] = (answers[answer.key] ?? 0) + 1;
        if (answer.error) errorAnswers++;
        else otherAnswers++;
      }
    }
  };
  await Promise.all(Array.from({ length: options.connections }, worker));
  const seconds = (performance.now() - started) / 1000;
  return {
    protocol: fuzzer.protocol,
    seed: options.seed,
    sessions: next,
    inputs,
    bytes,
    seconds: Number(seconds.toFixed(2)),
    inputsPerSecond: Math.round(inputs / seconds),
    stoppedBy,
    outcomes,
    answers: Object.fromEntries(Object.entries(answers).sort((a, b) => b[1] - a[1])),
    errorAnswers,
    otherAnswers,
  };
}
