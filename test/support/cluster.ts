import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './redis.js';
import { USERS, testConfig } from './server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** testConfig() as a file, for `iot-rpc serve --config`. */
export function writeTestConfig(overrides: Parameters<typeof testConfig>[0] = {}): string {
  const file = join(mkdtempSync(join(tmpdir(), 'iot-rpc-cluster-')), 'config.json');
  writeFileSync(file, JSON.stringify(testConfig({ cluster: { leaseMs: 3000 }, ...overrides })));
  return file;
}

/** One `iot-rpc serve` process of a cluster, on fixed ports so that it can be restarted as the same node. */
export class EngineProcess {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  output = '';

  private constructor(
    readonly nodeId: string,
    readonly redisUrl: string,
    readonly configFile: string,
    readonly httpPort: number,
    readonly mqttPort: number,
  ) {}

  static async start(nodeId: string, redisUrl: string, configFile: string): Promise<EngineProcess> {
    const node = new EngineProcess(nodeId, redisUrl, configFile, await freePort(), await freePort());
    await node.start();
    return node;
  }

  get http(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get mqtt(): string {
    return `mqtt://127.0.0.1:${this.mqttPort}`;
  }

  async start(): Promise<void> {
    const args = ['dist/cli.js', 'serve', '--config', this.configFile, '--host', '127.0.0.1', '--http-port', String(this.httpPort), '--mqtt-port', String(this.mqttPort), '--coap-port', '0', '--redis', this.redisUrl, '--node-id', this.nodeId, '--log-level', 'warn'];
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        this.output += chunk.toString();
        if (this.output.includes('iot-rpc listening')) resolve();
      });
      child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
      child.once('exit', (code) => reject(new Error(`node ${this.nodeId} exited with ${code} before listening:\n${this.output}`)));
    });
  }

  /** kill -9: no goodbye to Redis, to the devices or to the other nodes. */
  async kill(): Promise<void> {
    this.#child?.kill('SIGKILL');
    await this.#exited;
  }

  /** SIGTERM: the graceful shutdown. */
  async stop(): Promise<void> {
    this.#child?.kill('SIGTERM');
    await this.#exited;
  }

  async login(user: { email: string; password: string } = USERS.tenant): Promise<string> {
    const res = await fetch(`${this.http}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: user.email, password: user.password }) });
    if (res.status !== 200) throw new Error(`login on ${this.nodeId}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { token: string }).token;
  }

  request(method: string, path: string, token: string, body?: unknown): Promise<Response> {
    return fetch(`${this.http}${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-authorization': `Bearer ${token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }
}
