import { createServer } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createRpcServer } from '../../src/index.js';
import { RawMqttClient } from '../support/raw-mqtt.js';
import { USERS, answerRequests, connectDevice, startTestServer, testConfig } from '../support/server.js';

describe('embedding in an application', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('the REST API and MQTT over WebSocket mount in the application own node:http server', async () => {
    const rpc = createRpcServer({ config: testConfig(), httpPort: null, mqttPort: null, coapPort: null, logger: false });
    await rpc.listen();
    cleanups.push(() => rpc.close());
    const app = createServer((req, res) => {
      if (req.url === '/health') {
        res.end('ok');
        return;
      }
      rpc.httpHandler(req, res);
    });
    app.on('upgrade', (req, socket, head) => rpc.handleUpgrade(req, socket, head));
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => app.close(() => resolve())));
    const base = `http://127.0.0.1:${(app.address() as { port: number }).port}`;
    expect(await (await fetch(`${base}/health`)).text()).toBe('ok');
    const device = await connectDevice(`${base.replace('http', 'ws')}/mqtt`, 'TOKEN_A', { protocolVersion: 5 });
    cleanups.push(() => void device.end(true));
    await answerRequests(device, (method) => ({ method, via: 'app server' }));
    const login = (await (await fetch(`${base}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: USERS.customer.email, password: USERS.customer.password }) })).json()) as { token: string };
    const res = await fetch(`${base}/api/rpc/twoway/dev-a`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-authorization': `Bearer ${login.token}` },
      body: JSON.stringify({ method: 'hello' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ method: 'hello', via: 'app server' });
  });

  it('devices added through the library connect and are called like configured ones', async () => {
    const t = await startTestServer();
    cleanups.push(() => t.close());
    const added = await t.server.devices.add({ name: 'Added', tenantId: 'tenant-a', accessToken: 'ADDED' });
    expect(t.server.devices.get(added.id)).toEqual(added);
    const device = await connectDevice(t.mqttUrl, 'ADDED');
    cleanups.push(() => void device.end(true));
    await answerRequests(device, () => [1, 2, 3]);
    await expect(t.server.call(added.id, { method: 'list' })).resolves.toEqual([1, 2, 3]);
    expect(t.server.devices.list('tenant-a').data.map((d) => d.id)).toContain(added.id);
    expect(await t.server.devices.remove(added.id)).toBe(true);
    await expect(t.server.call(added.id, { method: 'list' })).rejects.toMatchObject({ code: 'IOT_ERR_DEVICE_NOT_FOUND' });
  });

  it('call() validates its input', async () => {
    const t = await startTestServer();
    cleanups.push(() => t.close());
    await expect(t.server.call('dev-a', { method: '' })).rejects.toMatchObject({ code: 'IOT_ERR_BAD_REQUEST' });
    await expect(t.server.call('dev-a', { method: 'x', timeout: Number.NaN })).rejects.toMatchObject({ code: 'IOT_ERR_BAD_REQUEST' });
    await expect(t.server.call('ghost', { method: 'x' })).rejects.toMatchObject({ code: 'IOT_ERR_DEVICE_NOT_FOUND', status: 404 });
    await expect(t.server.call('dev-a', { method: 'x', timeout: 3_000_000_000 })).rejects.toMatchObject({ code: 'IOT_ERR_BAD_REQUEST' });
  });

  it('an aborted signal withdraws the call', async () => {
    const t = await startTestServer();
    cleanups.push(() => t.close());
    const controller = new AbortController();
    const pending = t.server.call('dev-a', { method: 'x', timeout: 60_000, signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: 'IOT_ERR_CALL_DELETED' });
    await expect(t.server.call('dev-a', { method: 'x', signal: controller.signal })).rejects.toMatchObject({ code: 'IOT_ERR_CALL_DELETED' });
  });

  it('a bad configuration object is refused with the path of the bad field', () => {
    expect(() => createRpcServer({ config: { jwt: { secret: 'short' } }, logger: false })).toThrow(/jwt\.secret: must be at least 32 characters/);
    expect(() =>
      createRpcServer({ config: { jwt: { secret: 'x'.repeat(40) }, devices: [{ name: 'd', tenantId: 'nowhere' }] }, logger: false }),
    ).toThrow(/devices\.0\.tenantId: unknown tenant nowhere/);
    expect(() => createRpcServer({ config: { jwt: { secret: 'x'.repeat(40) }, rpc: { ordering: 'random' } } as never, logger: false })).toThrow(/rpc\.ordering/);
    const badHash = `scrypt$3$8$1$${'A'.repeat(24)}$${'B'.repeat(88)}`;
    expect(() =>
      createRpcServer({ config: { jwt: { secret: 'x'.repeat(40) }, users: [{ email: 'a@b.test', passwordHash: badHash, role: 'SYS_ADMIN' }] }, logger: false }),
    ).toThrow(/users\.0\.passwordHash: must be scrypt/);
  });
});

describe('graceful close', () => {
  it('finishes within a few seconds even with sockets that ignore it', async () => {
    const t = await startTestServer();
    const silent = await RawMqttClient.open(t.mqttPort); // never sends CONNECT
    const stubborn = await RawMqttClient.connected(t.mqttPort, 'TOKEN_A'); // never closes its side
    stubborn.socket.on('end', () => {}); // half-open: reads our FIN, keeps its side open
    const started = Date.now();
    await t.close();
    expect(Date.now() - started).toBeLessThan(3000);
    await silent.closedByServer();
    await stubborn.closedByServer();
  });

  it('answers pending callers (REST 503, library IOT_ERR_SHUTTING_DOWN), tells MQTT 5 devices, and refuses new calls', async () => {
    const t = await startTestServer();
    const token = await t.login(USERS.customer);
    const device = await connectDevice(t.mqttUrl, 'TOKEN_A', { protocolVersion: 5 });
    await answerRequests(device, () => undefined);
    const disconnect = new Promise<number | undefined>((resolve) => device.on('disconnect', (packet) => resolve(packet.reasonCode)));
    const rest = t.post('/api/rpc/twoway/dev-a', { method: 'hang' }, token);
    const library = t.server.call('dev-a', { method: 'hang', timeout: 60_000 });
    library.catch(() => {});
    await new Promise((r) => setTimeout(r, 100));
    const closing = t.close();
    const res = await rest;
    expect(res.status).toBe(503);
    expect(((await res.json()) as { code: string }).code).toBe('IOT_ERR_SHUTTING_DOWN');
    await expect(library).rejects.toMatchObject({ code: 'IOT_ERR_SHUTTING_DOWN' });
    expect(await disconnect).toBe(0x8b);
    await closing;
    await expect(t.server.call('dev-a', { method: 'late' })).rejects.toMatchObject({ code: 'IOT_ERR_SHUTTING_DOWN' });
    device.end(true);
  });
});
