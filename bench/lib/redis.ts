import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';

export interface RedisServer {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  /** kill -9: no shutdown save; only what the append-only file holds survives. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  restart(): Promise<RedisServer>;
}

/** redis-server on 127.0.0.1 and a free port, append-only with fsync on every write, in a folder of its own. */
export async function startRedisServer(port?: number, dir?: string): Promise<RedisServer> {
  port ??= await freePort();
  dir ??= mkdtempSync(join(tmpdir(), 'iot-rpc-redis-'));
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPort(port, 'redis-server (is it installed? apt-get install redis-server)', () => child.exitCode !== null);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    restart: () => startRedisServer(port, dir),
  };
}
