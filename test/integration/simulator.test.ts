import { afterEach, describe, expect, it } from 'vitest';
import { DeviceSimulator, provisionDevices } from '../../src/simulator/index.js';
import { USERS, startTestServer, until, type TestServer } from '../support/server.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function provisioned(count: number, prefix: string): Promise<TestServer> {
  const t = await startTestServer();
  cleanups.push(() => t.close());
  const result = await provisionDevices({ httpUrl: t.httpUrl, username: USERS.tenant.email, password: USERS.tenant.password, devices: count, tokenPrefix: prefix });
  expect(result).toMatchObject({ created: count, reused: 0 });
  return t;
}

const idOf = (t: TestServer, name: string) => t.server.devices.list('tenant-a', 1000).data.find((d) => d.name === name)!.id;

describe('device simulator', () => {
  it('provisions devices through the REST API, and reuses them the second time', async () => {
    const t = await provisioned(4, 'sim-p-');
    const again = await provisionDevices({ httpUrl: t.httpUrl, username: USERS.tenant.email, password: USERS.tenant.password, devices: 6, tokenPrefix: 'sim-p-' });
    expect(again).toMatchObject({ created: 2, reused: 4 });
    // Calls name devices by the ids the server made: each name comes with its id, found by name when reused.
    expect(again.devices.map((d) => d.name)).toEqual(['sim-p-0', 'sim-p-1', 'sim-p-2', 'sim-p-3', 'sim-p-4', 'sim-p-5']);
    for (const { name, id } of again.devices) expect(id).toBe(idOf(t, name));
    const token = await t.login(USERS.tenant);
    const byName = await fetch(`${t.httpUrl}/api/tenant/devices?deviceName=sim-p-3`, { headers: { 'x-authorization': `Bearer ${token}` } });
    expect(((await byName.json()) as { id: { id: string } }).id.id).toBe(idOf(t, 'sim-p-3'));
    expect((await fetch(`${t.httpUrl}/api/tenant/devices?deviceName=nobody`, { headers: { 'x-authorization': `Bearer ${token}` } })).status).toBe(404);
  });

  it('gpio devices keep pin state and a value, per device', async () => {
    const t = await provisioned(2, 'sim-g-');
    const simulator = new DeviceSimulator({ server: `127.0.0.1:${t.mqttPort}`, transport: 'mqtt', devices: 2, tokenPrefix: 'sim-g-', profile: 'gpio' });
    cleanups.push(() => simulator.stop());
    await simulator.start();
    const [a, b] = [idOf(t, 'sim-g-0'), idOf(t, 'sim-g-1')];
    await expect(t.server.call(a, { method: 'setGpioStatus', params: { pin: 7, enabled: true } })).resolves.toMatchObject({ '7': true });
    await expect(t.server.call(a, { method: 'getGpioStatus' })).resolves.toMatchObject({ '7': true, '1': false });
    await expect(t.server.call(b, { method: 'getGpioStatus' })).resolves.toMatchObject({ '7': false });
    await expect(t.server.call(a, { method: 'setValue', params: 12.5 })).resolves.toBe(12.5);
    await expect(t.server.call(a, { method: 'getValue' })).resolves.toBe(12.5);
    await expect(t.server.call(a, { method: 'checkStatus' })).resolves.toBe(true);
    await expect(t.server.call(a, { method: 'setValue', params: false })).resolves.toBe(false);
    await expect(t.server.call(a, { method: 'checkStatus' })).resolves.toBe(false);
    await expect(t.server.call(a, { method: 'setState', params: { mode: 'auto' } })).resolves.toEqual({ mode: 'auto' });
    await expect(t.server.call(a, { method: 'getState' })).resolves.toEqual({ mode: 'auto' });
    await expect(t.server.call(a, { method: 'setGpioStatus', params: { pin: 7 } })).resolves.toMatchObject({ error: expect.stringContaining('setGpioStatus needs') });
    await expect(t.server.call(a, { method: 'reboot' })).resolves.toEqual({ error: 'Unknown method: reboot' });
    expect(simulator.status).toMatchObject({ devices: 2, connected: 2, subscribed: 2, callsAnswered: 12 });
  });

  it('echo devices over MQTT over WebSocket answer with the params, after the configured delay', async () => {
    const t = await provisioned(1, 'sim-w-');
    const simulator = new DeviceSimulator({ server: new URL(t.httpUrl).host, transport: 'mqtt-ws', devices: 1, tokenPrefix: 'sim-w-', replyDelayMs: 150 });
    cleanups.push(() => simulator.stop());
    await simulator.start();
    const started = Date.now();
    await expect(t.server.call(idOf(t, 'sim-w-0'), { method: 'echo', params: { x: [1, 2] } })).resolves.toEqual({ x: [1, 2] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('devices reconnect after the server closes their sessions', async () => {
    const t = await provisioned(3, 'sim-r-');
    const simulator = new DeviceSimulator({ server: `127.0.0.1:${t.mqttPort}`, transport: 'mqtt', devices: 3, tokenPrefix: 'sim-r-' });
    cleanups.push(() => simulator.stop());
    await simulator.start();
    const id = idOf(t, 'sim-r-1');
    const device = t.server.devices.get(id)!;
    // Delete and re-add the device: its session is closed by the server, the simulator comes back.
    await t.server.devices.remove(id);
    await t.server.devices.add({ id, name: device.name, tenantId: device.tenantId, accessToken: device.accessToken });
    await until(() => simulator.status.reconnects >= 1 && simulator.status.subscribed === 3, 10_000);
    await expect(t.server.call(id, { method: 'echo', params: 'back' })).resolves.toBe('back');
  });

  for (const transport of ['coap', 'http'] as const) {
    it(`${transport} devices observe or poll, and answer calls with their profile`, async () => {
      const t = await provisioned(3, `sim-${transport}-`);
      const server = transport === 'coap' ? `127.0.0.1:${t.coapPort}` : new URL(t.httpUrl).host;
      const simulator = new DeviceSimulator({ server, transport, devices: 3, tokenPrefix: `sim-${transport}-`, profile: 'gpio' });
      cleanups.push(() => simulator.stop());
      await simulator.start();
      const ids = [0, 1, 2].map((i) => idOf(t, `sim-${transport}-${i}`));
      await until(() => ids.every((id) => t.server.devices.state(id) === 'subscribed'));
      await expect(t.server.call(ids[0]!, { method: 'setGpioStatus', params: { pin: 3, enabled: true }, timeout: 5000 })).resolves.toMatchObject({ '3': true });
      await expect(t.server.call(ids[0]!, { method: 'getGpioStatus', timeout: 5000 })).resolves.toMatchObject({ '3': true });
      const values = await Promise.all(ids.map((id, i) => t.server.call(id, { method: 'setValue', params: i * 10, timeout: 5000 })));
      expect(values).toEqual([0, 10, 20]);
      await until(() => simulator.status.callsAnswered === 5);
    });
  }

  it('start() fails when the server refuses the token', async () => {
    const t = await startTestServer();
    cleanups.push(() => t.close());
    const simulator = new DeviceSimulator({ server: `127.0.0.1:${t.mqttPort}`, transport: 'mqtt', devices: 1, tokenPrefix: 'nobody-' });
    cleanups.push(() => simulator.stop());
    await expect(simulator.start()).rejects.toThrow(/nobody-0 could not connect/);
  });
});
