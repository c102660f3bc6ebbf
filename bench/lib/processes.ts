import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Sockets for 100k devices need more descriptors than a default shell allows. */
const FD_LIMIT = 1_048_576;

export interface BenchProcess {
  readonly name: string;
  readonly pid: number;
  readonly ready: Record<string, unknown>;
  /** Once the process has exited: how (`code 1`, `signal SIGKILL`); undefined while it runs. */
  readonly exit: string | undefined;
  request<T = unknown>(command: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
const killAll = () => {
  for (const child of live) child.kill('SIGKILL');
};
process.once('exit', killAll);

/**
 * Starts `bench/processes/<script>.ts` in its own Node process (tsx, --expose-gc,
 * a raised descriptor limit) and waits for its `{ready}` message. With
 * BENCH_CPU_PROF=<dir> each process writes a V8 CPU profile there.
 */
export interface StartOptions {
  heapMb?: number;
  readyTimeoutMs?: number;
  /** Given, the child's stderr is read here line by line instead of going to the runner's stderr. */
  onStderrLine?: (line: string) => void;
  /** Added to the child's environment. */
  env?: Record<string, string>;
}

export async function startProcess(script: string, args: string[], options: StartOptions = {}): Promise<BenchProcess> {
  const file = fileURLToPath(new URL(`../processes/${script}.ts`, import.meta.url));
  const profileDir = process.env.BENCH_CPU_PROF;
  const profile = profileDir === undefined || profileDir === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}/${script}`];
  const nodeArgs = ['--import', 'tsx', '--expose-gc', `--max-old-space-size=${options.heapMb ?? 4096}`, ...profile, file, ...args];
  const child = spawn('bash', ['-c', `ulimit -n ${FD_LIMIT} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"`, process.execPath, ...nodeArgs], {
    stdio: ['ignore', 'inherit', options.onStderrLine === undefined ? 'inherit' : 'pipe', 'ipc'],
    env: options.env === undefined ? process.env : { ...process.env, ...options.env },
  });
  live.add(child);
  const onLine = options.onStderrLine;
  if (onLine !== undefined) {
    let partial = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop()!;
      for (const line of lines) onLine(line);
    });
    child.stderr!.on('end', () => {
      if (partial !== '') onLine(partial);
      partial = '';
    });
  }
  let nextId = 1;
  const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let exited = false;
  let exit: string | undefined;
  child.on('exit', (code, signal) => {
    exited = true;
    exit = code !== null ? `code ${code}` : `signal ${signal}`;
    live.delete(child);
    for (const pending of waiting.values()) pending.reject(new Error(`${script} exited (${code ?? signal}) before answering`));
    waiting.clear();
  });
  child.on('message', (message: { id?: number; result?: unknown; error?: string }) => {
    if (message.id === undefined) return;
    const pending = waiting.get(message.id);
    if (pending === undefined) return;
    waiting.delete(message.id);
    if (message.error !== undefined) pending.reject(new Error(`${script}: ${message.error}`));
    else pending.resolve(message.result);
  });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} not ready within ${options.readyTimeoutMs ?? 300_000} ms`)), options.readyTimeoutMs ?? 300_000);
    child.on('message', function onReady(message: { ready?: Record<string, unknown> }) {
      if (message.ready === undefined) return;
      clearTimeout(timer);
      child.off('message', onReady);
      resolve(message.ready);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} before it was ready`));
    });
  });
  const request = <T>(command: Record<string, unknown>, timeoutMs = 600_000): Promise<T> => {
      if (exited) return Promise.reject(new Error(`${script} has exited`));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`${script} did not answer ${String(command.type)} within ${timeoutMs} ms`));
        }, timeoutMs);
        waiting.set(id, {
          resolve: (value) => {
            clearTimeout(timer);
            resolve(value as T);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        child.send({ id, command });
      });
  };
  return {
    name: script,
    pid: child.pid!,
    ready,
    get exit() {
      return exit;
    },
    request,
    async stop() {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      request({ type: 'stop' }, 5000).catch(() => child.kill('SIGKILL'));
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}
