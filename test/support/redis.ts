import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from '../../bench/lib/ports.js';
import { startRedisServer, type RedisServer } from '../../bench/lib/redis.js';

// The tests start Redis the way the benchmark runner does (bench/lib): one implementation.
export { freePort };
export type RedisProcess = RedisServer;
export const startRedis = (): Promise<RedisServer> => startRedisServer();

export interface RedisClusterProcess {
  /** Seed URLs, comma-separated, as `--redis` takes them. */
  readonly urls: string;
  stop(): Promise<void>;
}

/** Three masters on free ports, joined with `redis-cli --cluster create` (no replicas). */
export async function startRedisCluster(): Promise<RedisClusterProcess> {
  const nodes: Array<{ port: number; child: ChildProcess; exited: Promise<void> }> = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'iot-rpc-redis-cluster-'));
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
    nodes.push({ port, child, exited: new Promise<void>((resolve) => child.once('exit', () => resolve())) });
  }
  for (const { port, child } of nodes) await waitForPort(port, 'redis cluster node', () => child.exitCode !== null);
  const create = spawn('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'ignore' });
  const code = await new Promise<number | null>((resolve) => create.once('exit', resolve));
  if (code !== 0) throw new Error(`redis-cli --cluster create exited with ${code}`);
  // Wait until every node agrees that all 16384 slots are served.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const info = await new Promise<string>((resolve) => {
      const cli = spawn('redis-cli', ['-p', String(nodes[0]!.port), 'cluster', 'info']);
      let out = '';
      cli.stdout!.on('data', (chunk) => (out += chunk));
      cli.once('exit', () => resolve(out));
    });
    if (info.includes('cluster_state:ok')) break;
    if (Date.now() > deadline) throw new Error(`redis cluster not ok: ${info}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    urls: nodes.map((n) => `redis://127.0.0.1:${n.port}`).join(','),
    async stop() {
      for (const n of nodes) n.child.kill('SIGTERM');
      await Promise.all(nodes.map((n) => n.exited));
    },
  };
}
