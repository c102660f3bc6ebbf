/**
 * From "the server logged an error (or died) at 12:00:03.120" to the input
 * that does it: the sessions under way at that moment are replayed one at a
 * time against a fresh server; the first one after which the server logs an
 * error-level line again (or dies) is the culprit, and its inputs are then
 * dropped one by one while the problem still happens, which leaves a
 * minimal sequence to write down as hex.
 */
import type { FuzzProtocol } from '../lib/fuzz-inputs/index.js';
import { LogWatch } from '../lib/log-watch.js';
import { startTarget, type FuzzTarget } from './fuzz-target.js';

export interface Finding {
  protocol: FuzzProtocol;
  seed: number;
  /** The first error-level message (`msg: err.message`), or how the server ended. */
  problem: string;
  reproduced: boolean;
  /** The session that does it when replayed alone (its index in the seed's sequence). */
  session?: number;
  /** The minimal inputs, in order: each written separately, or all in one write (`oneWrite`). */
  inputs?: Array<{ label: string; bytes: number; hex: string }>;
  oneWrite?: boolean;
  note?: string;
}

interface Replay {
  outcome: string;
  answers: string[];
  inputs: Array<{ label: string; bytes: number; hex: string }>;
}

const PROBE_TIMEOUT_MS = 1000;
/** A problem counts as caused by a replay when it shows within this time after it. */
const SETTLE_MS = 150;
const MOST_CANDIDATES = 120;
const TRIAGE_LIMIT_MS = 180_000;

/** An uncaught exception's stack as Node prints it: its error line and its first frame in the project's code. */
export function describeCrash(lines: readonly string[]): string {
  const error = lines.find((l) => /^\s*(\w*Error|Error)\b.*:/.test(l))?.trim() ?? lines[0]?.trim() ?? 'no output';
  const frame = lines.find((l) => /^\s+at .*\/(src|bench)\//.test(l))?.trim().replace(/\(.*?\/((src|bench)\/)/, '($1') ?? '';
  return `${error}${frame === '' ? '' : ` ${frame}`}`.slice(0, 300);
}

/** What the server said about a problem: the error line's `msg` and its error's message, or the line itself. */
export function describeProblem(line: string): string {
  try {
    const entry = JSON.parse(line) as { msg?: string; err?: { message?: string; type?: string } | string };
    const err = typeof entry.err === 'string' ? entry.err : entry.err === undefined ? '' : `${entry.err.type ?? 'Error'}: ${entry.err.message ?? ''}`;
    return `${entry.msg ?? ''}${err === '' ? '' : ` (${err})`}`.slice(0, 300);
  } catch {
    return line.slice(0, 300);
  }
}

export async function triage(protocol: FuzzProtocol, seed: number, candidates: number[], problem: string): Promise<Finding> {
  const deadline = Date.now() + TRIAGE_LIMIT_MS;
  const log = new LogWatch();
  let target: FuzzTarget | undefined;
  const fresh = async () => {
    await target?.stop();
    target = await startTarget(protocol, seed, log);
    return target;
  };
  /** Replays session `index` (only the inputs at `keep`, if given; all in one write with `coalesce`): did the problem show? */
  const reproduces = async (index: number, keep?: number[], coalesce = false): Promise<{ yes: boolean; replay: Replay }> => {
    const t = target === undefined || target.server.exit !== undefined ? await fresh() : target;
    const before = log.problems;
    const replay = await t.fuzzer.request<Replay>({ type: 'replay', index, keep, coalesce, probeTimeoutMs: PROBE_TIMEOUT_MS });
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    return { yes: log.problems > before || t.server.exit !== undefined, replay };
  };
  try {
    for (const index of candidates.slice(0, MOST_CANDIDATES)) {
      if (Date.now() > deadline) break;
      // As generated (its own batching and splitting), then all in one write: under load the server
      // reads what arrived meanwhile at once, which some problems need.
      let first = await reproduces(index);
      let coalesce = false;
      if (!first.yes) {
        first = await reproduces(index, undefined, true);
        coalesce = true;
      }
      if (!first.yes) continue;
      let keep = first.replay.inputs.map((_, i) => i);
      let minimal = first.replay.inputs;
      const shrinkable = coalesce || (await reproduces(index, keep)).yes;
      let note = `replayed alone it reproduces${coalesce ? ' with all its inputs in one write' : ''}; shrunk from ${keep.length} inputs`;
      if (shrinkable) {
        for (let i = keep.length - 1; i >= 0 && keep.length > 1 && Date.now() < deadline; i--) {
          const trial = keep.filter((k) => k !== keep[i]);
          const attempt = await reproduces(index, trial, coalesce);
          if (attempt.yes) {
            keep = trial;
            minimal = attempt.replay.inputs;
          }
        }
      } else {
        note = 'reproduces only with the session\'s own batching/splitting of writes (--seed and the session index regenerate it)';
      }
      return { protocol, seed, problem, reproduced: true, session: index, inputs: minimal, oneWrite: coalesce, note };
    }
    return {
      protocol,
      seed,
      problem,
      reproduced: false,
      note: `none of the ${Math.min(candidates.length, MOST_CANDIDATES)} sessions under way at the time reproduced it alone (it may need several at once, or state built up by earlier ones)`,
    };
  } finally {
    await target?.stop();
  }
}
