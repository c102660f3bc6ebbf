import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../../bench/lib/ports.js';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { answerRequests, connectDevice } from '../support/server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) {
    try {
      process.kill(-child.pid!, 'SIGKILL'); // the whole group: npm and the server it started
    } catch {
      // already gone
    }
  }
});

function run(command: string, args: string[], env: Record<string, string> = {}) {
  const child = spawn(command, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const output = async (pattern: RegExp, timeoutMs = 15_000) => {
    const started = Date.now();
    while (!pattern.test(stdout)) {
      if (Date.now() - started > timeoutMs) throw new Error(`no ${pattern} in output:\n${stdout}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  return { child, exited, output, get stdout() { return stdout; }, get stderr() { return stderr; } };
}

describe('standalone server', () => {
  it('README quick start: npm start, examples/device.mjs subscribes, the login token buys a 200 with its reply', async () => {
    const [httpPort, mqttPort] = [await freePort(), await freePort()];
    const server = run('npm', ['start', '--silent'], { IOT_RPC_HTTP_PORT: String(httpPort), IOT_RPC_MQTT_PORT: String(mqttPort), IOT_RPC_COAP_PORT: '0', IOT_RPC_HOST: '127.0.0.1' });
    await server.output(/iot-rpc listening/);
    const device = run('node', ['examples/device.mjs', 'PUMP_7_TOKEN', `mqtt://127.0.0.1:${mqttPort}`]);
    await device.output(/waiting for calls/);
    const login = await fetch(`http://127.0.0.1:${httpPort}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'customer@iot-rpc.local', password: 'customer' }),
    });
    const { token } = (await login.json()) as { token: string };
    const res = await fetch(`http://127.0.0.1:${httpPort}/api/rpc/twoway/pump-7`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'X-Authorization': `Bearer ${token}` },
      body: JSON.stringify({ method: 'setPump', params: { on: true } }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, method: 'setPump', params: { on: true } });
    await device.output(/call v1\/devices\/me\/rpc\/request\/\d+: setPump/);
    process.kill(-server.child.pid!, 'SIGTERM');
    await server.exited;
  });

  it('SIGTERM answers pending callers and closes sessions before exiting', async () => {
    const [httpPort, mqttPort] = [await freePort(), await freePort()];
    const server = run('node', ['dist/cli.js', 'serve', '--config', 'examples/demo.json', '--host', '127.0.0.1', '--http-port', String(httpPort), '--mqtt-port', String(mqttPort), '--coap-port', '0']);
    await server.output(/iot-rpc listening/);
    const device = await connectDevice(`mqtt://127.0.0.1:${mqttPort}`, 'PUMP_7_TOKEN');
    await answerRequests(device, () => undefined);
    const deviceClosed = new Promise<void>((resolve) => device.once('close', () => resolve()));
    const login = await fetch(`http://127.0.0.1:${httpPort}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'tenant@iot-rpc.local', password: 'tenant' }),
    });
    const { token } = (await login.json()) as { token: string };
    const pending = fetch(`http://127.0.0.1:${httpPort}/api/rpc/twoway/pump-7`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'X-Authorization': `Bearer ${token}` },
      body: JSON.stringify({ method: 'hang', timeout: 60_000 }),
    });
    await new Promise((r) => setTimeout(r, 200));
    const signalled = Date.now();
    server.child.kill('SIGTERM');
    const res = await pending;
    expect(res.status).toBe(503);
    await deviceClosed;
    expect(await server.exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(5000);
  });

  it('logs JSON from its first line: sessions opening and closing, logins, and at debug each call\'s end; a bad level names its variable', async () => {
    const [httpPort, mqttPort] = [await freePort(), await freePort()];
    const server = run('node', ['dist/cli.js', 'serve', '--config', 'examples/demo.json', '--http-port', String(httpPort), '--mqtt-port', String(mqttPort), '--coap-port', '0'], { IOT_RPC_LOG_LEVEL: 'debug' });
    await server.output(/iot-rpc listening/);
    const device = await connectDevice(`mqtt://127.0.0.1:${mqttPort}`, 'PUMP_7_TOKEN');
    await answerRequests(device, () => ({ ok: true }));
    const login = (password: string) =>
      fetch(`http://127.0.0.1:${httpPort}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'tenant@iot-rpc.local', password }) });
    expect((await login('wrong')).status).toBe(401);
    const { token } = (await (await login('tenant')).json()) as { token: string };
    const res = await fetch(`http://127.0.0.1:${httpPort}/api/rpc/twoway/pump-7`, { method: 'POST', headers: { 'content-type': 'application/json', 'X-Authorization': `Bearer ${token}` }, body: JSON.stringify({ method: 'logged' }) });
    expect(res.status).toBe(200);
    device.end(true);
    await server.output(/device session closed/);
    const lines = server.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    // Every line is JSON (parsed above), the listening line too.
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'iot-rpc listening', http: `http://127.0.0.1:${httpPort}` }));
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'device session opened', device: 'pump-7', transport: 'mqtt' }));
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'login failed', username: 'tenant@iot-rpc.local' }));
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'login', user: 'tenant@iot-rpc.local' }));
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'call ended', device: 'pump-7', method: 'logged', outcome: 'replied', ms: expect.any(Number) }));
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'device session closed', device: 'pump-7' }));
    const badLevel = run('node', ['dist/cli.js', 'serve', '--http-port', '0'], { IOT_RPC_LOG_LEVEL: 'loud' });
    expect(await badLevel.exited).toBe(2);
    expect(badLevel.stderr).toContain('IOT_RPC_LOG_LEVEL must be one of');
    const badPort = run('node', ['dist/cli.js', 'serve'], { IOT_RPC_MQTT_PORT: 'x' });
    expect(await badPort.exited).toBe(2);
    expect(badPort.stderr).toContain('IOT_RPC_MQTT_PORT must be a port number');
    const version = run('node', ['dist/cli.js', '--version']);
    expect(await version.exited).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  }, 30_000);

  it('a bad config file is refused at start with the path and the reason', async () => {
    mkdirSync(`${root}/test/.tmp`, { recursive: true });
    const file = `${root}/test/.tmp/bad-config.json`;
    writeFileSync(file, JSON.stringify({ jwt: { secret: 'x'.repeat(40) }, rpc: { maxPendingPerDevice: -1 } }));
    const bad = run('node', ['dist/cli.js', 'serve', '--config', file]);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr).toContain(file);
    expect(bad.stderr).toContain('rpc.maxPendingPerDevice');
    const missing = run('node', ['dist/cli.js', 'serve', '--config', `${root}/test/.tmp/none.json`]);
    expect(await missing.exited).toBe(2);
    expect(missing.stderr).toContain('cannot read config file');
    writeFileSync(file, '{ not json');
    const broken = run('node', ['dist/cli.js', 'serve', '--config', file]);
    expect(await broken.exited).toBe(2);
    expect(broken.stderr).toContain('not valid JSON');
    const port = run('node', ['dist/cli.js', 'serve', '--http-port', 'eighty']);
    expect(await port.exited).toBe(2);
    expect(port.stderr).toContain('--http-port must be a port number');
  });

  it('beyond loopback the demo JWT secret is refused with one line (any secret under 32 characters everywhere); serve listens on 127.0.0.1 by default', async () => {
    const demo = run('node', ['dist/cli.js', 'serve', '--config', 'examples/demo.json', '--host', '0.0.0.0', '--http-port', '0', '--mqtt-port', '0', '--coap-port', '0']);
    expect(await demo.exited).toBe(2);
    expect(demo.stderr).toContain('refusing to listen on 0.0.0.0 with the demo JWT secret');
    expect(demo.stderr.trim().split('\n')).toHaveLength(1);
    mkdirSync(`${root}/test/.tmp`, { recursive: true });
    const file = `${root}/test/.tmp/short-secret.json`;
    writeFileSync(file, JSON.stringify({ jwt: { secret: 'short-secret-of-20ch' } }));
    const short = run('node', ['dist/cli.js', 'serve', '--config', file, '--host', '0.0.0.0', '--http-port', '0', '--mqtt-port', '0', '--coap-port', '0']);
    expect(await short.exited).toBe(2);
    expect(short.stderr).toContain('jwt.secret: must be at least 32 characters');
    writeFileSync(file, JSON.stringify({ jwt: { secret: 'an-operators-own-secret-of-40-characters' } }));
    const local = run('node', ['dist/cli.js', 'serve', '--config', file, '--http-port', '0', '--mqtt-port', '0', '--coap-port', '0']);
    await local.output(/iot-rpc listening/);
    expect(local.stdout).toContain('http://127.0.0.1:');
  }, 30_000);

  it('cluster options: a bad --redis or --node-id is refused with one line; a Redis that cannot be reached stops the start with its address', async () => {
    const notUrl = run('node', ['dist/cli.js', 'serve', '--redis', 'localhost:6379', '--http-port', '0', '--mqtt-port', '0', '--coap-port', '0']);
    expect(await notUrl.exited).not.toBe(0);
    expect(notUrl.stderr).toContain('is not a redis:// URL');
    const badId = run('node', ['dist/cli.js', 'serve', '--redis', 'redis://127.0.0.1:1', '--node-id', 'two words']);
    expect(await badId.exited).toBe(2);
    expect(badId.stderr).toContain('--node-id must be');
    const closedPort = await freePort();
    const away = run('node', ['dist/cli.js', 'serve', '--redis', `redis://127.0.0.1:${closedPort}`, '--http-port', '0', '--mqtt-port', '0', '--coap-port', '0']);
    expect(await away.exited).not.toBe(0);
    expect(away.stderr).toContain(`cannot use Redis at redis://127.0.0.1:${closedPort}`);
  }, 30_000);
});

describe('README configuration example', () => {
  it('is valid JSON that the server accepts as its configuration, with every setting it shows', async () => {
    const { parseConfig } = await import('../../src/config.js');
    const readme = readFileSync(`${root}/README.md`, 'utf8');
    const section = readme.slice(readme.indexOf('## Standalone server'));
    const json = /```json\n([\s\S]*?)```/.exec(section)![1]!;
    const config = parseConfig(JSON.parse(json), 'README');
    expect(config.limits.maxDataKeysPerDevice).toBe(1000);
    expect(config.users[0]!.email).toBe('admin@example.com');
  });
});

describe('README embedding example', () => {
  it('runs as written (with free ports) and prints the device reply', async () => {
    const readme = readFileSync(`${root}/README.md`, 'utf8');
    const section = readme.slice(readme.indexOf('## Embedding'));
    const code = /```js\n([\s\S]*?)```/.exec(section)![1]!;
    expect(code.split('\n').filter((l) => l.trim() !== '').length).toBeLessThanOrEqual(20);
    const [httpPort, mqttPort] = [await freePort(), await freePort()];
    mkdirSync(`${root}/test/.tmp`, { recursive: true });
    const file = `${root}/test/.tmp/readme-example.mjs`;
    writeFileSync(file, code.replace('httpPort: 8080', `httpPort: ${httpPort}`).replace('mqttPort: 1883', `mqttPort: ${mqttPort}`).replace('coapPort: 5683', 'coapPort: 0'));
    const example = run('node', [file]);
    const device = mqtt.connect(`mqtt://127.0.0.1:${mqttPort}`, { username: 'LAMP_1_TOKEN', reconnectPeriod: 50 });
    device.on('connect', () => device.subscribe('v1/devices/me/rpc/request/+', { qos: 1 }));
    device.on('message', (topic, payload) => {
      const { params } = JSON.parse(payload.toString()) as { params: unknown };
      device.publish(topic.replace('request', 'response'), JSON.stringify({ state: params }));
    });
    try {
      expect(await example.exited).toBe(0);
    } finally {
      device.end(true);
      rmSync(file, { force: true });
    }
    expect(example.stdout).toContain("lamp-1 answered { state: { on: true } }");
  });
});
