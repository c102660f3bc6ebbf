/**
 * The soak's REST callers, in their own process: keep-alive connections
 * (undici Pool, as rest-load.ts) at a fixed rate of two-way and one-way calls
 * to devices that stay connected, and persistent calls to devices that come
 * and go (each looked up again CHECK_AFTER_MS later: its status then).
 * The JWT is renewed by logging in again every half hour.
 */
import { Pool } from 'undici';
import { argument, serveCommands } from '../lib/child.js';
import { startPacedCalls, type Job, type PacedCalls } from '../lib/paced-calls.js';
import { CALL_TIMEOUT_MS, METHOD, PARAMS } from '../lib/payload.js';
import { WindowRecorder } from '../lib/window-stats.js';

const url = argument('url');
const targets = argument('targets').split(',');
const persistentTargets = argument('persistent-targets').split(',');
const rate = Number(argument('rate'));
const pool = new Pool(url, { connections: 64, pipelining: 1 });
const CHECK_AFTER_MS = 5000;
const RELOGIN_MS = 30 * 60_000;

let token = '';
async function login(): Promise<void> {
  const res = await pool.request({ method: 'POST', path: '/api/auth/login', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin@bench.local', password: 'bench' }) });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`login: HTTP ${res.statusCode}: ${text}`);
  token = (JSON.parse(text) as { token: string }).token;
}
await login();
const relogin = setInterval(() => void login().catch(() => {}), RELOGIN_MS);

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
  ) {
    super(`HTTP ${status} ${code}`);
  }
}

async function request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const res = await pool.request({
    method,
    path,
    headers: { 'content-type': 'application/json', 'x-authorization': `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode !== 200) {
    let code = '';
    try {
      code = (JSON.parse(text) as { code?: string }).code ?? '';
    } catch {
      code = text.slice(0, 40);
    }
    throw new HttpError(res.statusCode, code === '' ? `HTTP ${res.statusCode}` : code);
  }
  return text === '' ? undefined : JSON.parse(text);
}

const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
const recorder = new WindowRecorder(new Set(['rest-oneway', 'persistent-check']));
/** Persistent calls waiting to be looked up, with when. */
const checks: Array<{ rpcId: string; at: number }> = [];
let statuses: Record<string, number> = {};
let submitted = 0;

async function check(rpcId: string): Promise<void> {
  const started = performance.now();
  try {
    const call = (await request('GET', `/api/rpc/persistent/${rpcId}`)) as { status: string };
    recorder.record('persistent-check', performance.now() - started);
    statuses[call.status] = (statuses[call.status] ?? 0) + 1;
  } catch (error) {
    recorder.fail('persistent-check', error);
  }
}

const checker = setInterval(() => {
  const now = Date.now();
  while (checks.length > 0 && checks[0]!.at <= now) void check(checks.shift()!.rpcId);
}, 200);

function nextJob(): Job {
  const roll = Math.random();
  if (roll < 0.5) return { kind: 'rest-twoway', run: () => request('POST', `/api/rpc/twoway/${pick(targets)}`, { method: METHOD, params: PARAMS, timeout: CALL_TIMEOUT_MS }) };
  if (roll < 0.75) return { kind: 'rest-oneway', run: () => request('POST', `/api/rpc/oneway/${pick(targets)}`, { method: METHOD, params: PARAMS }) };
  return {
    kind: 'persistent-submit',
    run: async () => {
      const answer = (await request('POST', `/api/rpc/twoway/${pick(persistentTargets)}`, { method: METHOD, params: PARAMS, persistent: true, timeout: CALL_TIMEOUT_MS, expirationTime: Date.now() + 60_000 })) as { rpcId: string };
      submitted++;
      checks.push({ rpcId: answer.rpcId, at: Date.now() + CHECK_AFTER_MS });
    },
  };
}

let calls: PacedCalls | undefined;
const takeStatuses = () => {
  const taken = { submitted, statuses };
  statuses = {};
  submitted = 0;
  return taken;
};

serveCommands(
  { ready: true },
  async (command) => {
    switch (command.type) {
      case 'start':
        calls = startPacedCalls(rate, nextJob, recorder);
        return true;
      case 'sample':
        return { ...recorder.take(), persistent: takeStatuses() };
      case 'finish': {
        await calls?.stop();
        // The calls not looked up yet are looked up now, whatever their status.
        await Promise.all(checks.splice(0).map((c) => check(c.rpcId)));
        return { ...recorder.take(), persistent: takeStatuses() };
      }
      default:
        throw new Error(`unknown command ${String(command.type)}`);
    }
  },
  async () => {
    clearInterval(relogin);
    clearInterval(checker);
    await pool.close();
  },
);
