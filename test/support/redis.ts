import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface RedisProcess {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  restart(): Promise<RedisProcess>;
}

/** A real redis-server on 127.0.0.1 and a free port, with an append-only file fsynced on every write. */
export async function startRedis(port?: number, dir?: string): Promise<RedisProcess> {
  port ??= await freePort();
  dir ??= mkdtempSync(join(tmpdir(), 'iot-rpc-redis-'));
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) break;
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server did not start on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
    restart: () => startRedis(port, dir),
  };
}

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
  for (const { port } of nodes) {
    const deadline = Date.now() + 10_000;
    while (!(await new Promise<boolean>((resolve) => connect(port, '127.0.0.1').once('connect', function (this: import('node:net').Socket) { this.destroy(); resolve(true); }).once('error', () => resolve(false))))) {
      if (Date.now() > deadline) throw new Error(`redis cluster node ${port} did not start`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
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
