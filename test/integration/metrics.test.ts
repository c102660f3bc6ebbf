/** GET /metrics scraped with fetch while real MQTT devices (the mqtt package) answer calls: the values move as calls happen. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppSocketClient } from '../support/app-socket-client.js';
import { USERS, answerRequests, connectDevice, startTestServer, type TestServer } from '../support/server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(() => t.close());

/** The value of one sample of the exposition (0 when absent), e.g. `iotrpc_calls_total{transport="mqtt",kind="twoway",outcome="ok"}`. */
async function scrape(): Promise<(sample: string) => number> {
  const res = await fetch(`${t.httpUrl}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return (sample) => values.get(sample) ?? 0;
}

describe('GET /metrics', () => {
  it('counts calls by transport, kind and outcome, their durations, sessions, client-side calls, orphans and sockets', async () => {
    const device = await connectDevice(t.mqttUrl, 'TOKEN_A', { protocolVersion: 5 });
    const app = await AppSocketClient.open(t.httpUrl, await t.login(USERS.tenant));
    try {
      await answerRequests(device, (method) => (method === 'silent' ? undefined : { ok: true }));
      const before = await scrape();
      for (let i = 0; i < 5; i++) await t.server.call('dev-a', { method: 'ping' });
      await t.server.call('dev-a', { method: 'fire', oneway: true });
      await expect(t.server.call('dev-a', { method: 'silent', timeout: 300 })).rejects.toMatchObject({ code: 'IOT_ERR_NO_REPLY_DELIVERED' });
      await expect(t.server.call('dev-plain', { method: 'away', timeout: 200 })).rejects.toMatchObject({ code: 'IOT_ERR_DEVICE_OFFLINE' });
      // A client-side call the server does not know, and a reply nobody waits for.
      await device.subscribeAsync('v1/devices/me/rpc/response/+');
      const answered = new Promise((resolve) => device.once('message', resolve));
      await device.publishAsync('v1/devices/me/rpc/request/1', JSON.stringify({ method: 'noSuchMethod' }), { qos: 1 });
      await answered;
      await device.publishAsync('v1/devices/me/rpc/response/999999', '{}', { qos: 1 });
      const after = await scrape();
      const delta = (sample: string) => after(sample) - before(sample);
      expect(delta('iotrpc_calls_total{transport="mqtt",kind="twoway",outcome="ok"}')).toBe(5);
      expect(delta('iotrpc_calls_total{transport="mqtt",kind="oneway",outcome="ok"}')).toBe(1);
      expect(delta('iotrpc_calls_total{transport="mqtt",kind="twoway",outcome="IOT_ERR_NO_REPLY_DELIVERED"}')).toBe(1);
      expect(delta('iotrpc_calls_total{transport="none",kind="twoway",outcome="IOT_ERR_DEVICE_OFFLINE"}')).toBe(1);
      expect(delta('iotrpc_call_duration_seconds_count')).toBe(8);
      expect(after('iotrpc_call_duration_seconds_bucket{le="+Inf"}')).toBe(after('iotrpc_call_duration_seconds_count'));
      expect(after('iotrpc_sessions{transport="mqtt",state="subscribed"}')).toBe(1);
      expect(after('iotrpc_pending_calls')).toBe(0);
      expect(delta('iotrpc_client_calls_total{outcome="unknown_method"}')).toBe(1);
      // The reply to request 999999, and the device's answer to the one-way call (which waits for none).
      expect(delta('iotrpc_orphan_replies_total')).toBe(2);
      expect(after('iotrpc_websocket_sockets')).toBe(1);
      // prom-client's default process and event-loop metrics.
      expect(after('process_cpu_user_seconds_total')).toBeGreaterThan(0);
      expect(after('nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
      // A persistent call's stored statuses.
      const stored = await t.post('/api/rpc/twoway/dev-a', { method: 'kept', persistent: true, timeout: 5000 }, await t.login(USERS.tenant));
      expect(stored.status).toBe(200);
      await expect.poll(async () => (await scrape())('iotrpc_persistent_statuses_total{status="SUCCESSFUL"}') - before('iotrpc_persistent_statuses_total{status="SUCCESSFUL"}')).toBe(1);
      expect((await scrape())('iotrpc_calls_total{transport="mqtt",kind="persistent",outcome="ok"}')).toBeGreaterThanOrEqual(1);
    } finally {
      app.ws.close();
      device.end(true);
    }
  });

  it('metrics.enabled false: 404; metrics.port: /metrics on its own port, and only there', async () => {
    const off = await startTestServer({ metrics: { enabled: false, port: null } } as never);
    try {
      expect((await fetch(`${off.httpUrl}/metrics`)).status).toBe(404);
    } finally {
      await off.close();
    }
    const apart = await startTestServer({ metrics: { enabled: true, port: 0 } } as never);
    try {
      expect((await fetch(`${apart.httpUrl}/metrics`)).status).toBe(404);
      const port = apart.server.addresses!.metricsPort!;
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('# TYPE iotrpc_calls_total counter');
      expect((await fetch(`http://127.0.0.1:${port}/api/auth/login`)).status).toBe(404);
    } finally {
      await apart.close();
    }
  });
});
