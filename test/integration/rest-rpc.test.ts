import { connect } from 'node:net';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { USERS, answerRequests, connectDevice, startTestServer, until, type TestServer } from '../support/server.js';

let t: TestServer;
let tenantToken: string;
let customerToken: string;
let otherCustomerToken: string;
let sysadminToken: string;
const devices: MqttClient[] = [];

beforeAll(async () => {
  t = await startTestServer();
  [tenantToken, customerToken, otherCustomerToken, sysadminToken] = await Promise.all([
    t.login(USERS.tenant),
    t.login(USERS.customer),
    t.login(USERS.otherCustomer),
    t.login(USERS.sysadmin),
  ]);
});
afterEach(() => {
  for (const device of devices.splice(0)) device.end(true);
});
afterAll(() => t.close());

async function echoDevice(token = 'TOKEN_A', answer: (method: string, params: unknown) => unknown = (method, params) => ({ method, params })) {
  const device = await connectDevice(t.mqttUrl, token);
  devices.push(device);
  const seen = await answerRequests(device, answer);
  return { device, seen };
}

const soon = (ms = 300) => Date.now() + ms;

for (const [base, legacy] of [
  ['/api/rpc', false],
  ['/api/plugins/rpc', true],
] as const) {
  describe(`${base} status table`, () => {
    it('twoway - JSON reply answers 200 with the reply', async () => {
      const { seen } = await echoDevice();
      const res = await t.post(`${base}/twoway/dev-a`, { method: 'setGpio', params: { pin: 4, value: 1 } }, customerToken);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ method: 'setGpio', params: { pin: 4, value: 1 } });
      expect(seen).toHaveLength(1);
      expect(seen[0]!.topic).toMatch(/^v1\/devices\/me\/rpc\/request\/\d+$/);
    });

    it('twoway - reply that is not JSON answers 406', async () => {
      await echoDevice('TOKEN_A', () => 'not json {');
      const res = await t.post(`${base}/twoway/dev-a`, { method: 'x' }, customerToken);
      expect(res.status).toBe(406);
      expect(((await res.json()) as { code: string }).code).toBe('IOT_ERR_REPLY_NOT_JSON');
    });

    it('oneway - handed to a subscribed session answers 200 with an empty body', async () => {
      const { seen } = await echoDevice('TOKEN_A', () => undefined);
      const res = await t.post(`${base}/oneway/dev-a`, { method: 'reboot', params: { delay: 1 } }, tenantToken);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('');
      expect(seen.map((s) => s.method)).toEqual(['reboot']);
    });

    it(`twoway - delivered but no reply before the deadline answers ${legacy ? 408 : 504}`, async () => {
      await echoDevice('TOKEN_A', () => undefined);
      const res = await t.post(`${base}/twoway/dev-a`, { method: 'silent', expirationTime: soon() }, customerToken);
      expect(res.status).toBe(legacy ? 408 : 504);
      const body = (await res.json()) as { code: string; message: string; status: number };
      expect(body.code).toBe('IOT_ERR_NO_REPLY_DELIVERED');
      expect(body.status).toBe(legacy ? 408 : 504);
      expect(body.message).toContain('Delivered, no reply');
    });

    it(`twoway - device offline until the deadline answers ${legacy ? 409 : 504}, saying offline`, async () => {
      const res = await t.post(`${base}/twoway/dev-plain`, { method: 'x', expirationTime: soon() }, tenantToken);
      expect(res.status).toBe(legacy ? 409 : 504);
      const body = (await res.json()) as { code: string; message: string };
      expect(body.code).toBe('IOT_ERR_DEVICE_OFFLINE');
      expect(body.message).toContain('offline');
    });

    it(`twoway - connected but not subscribed answers ${legacy ? 409 : 504}, saying not subscribed`, async () => {
      const device = await connectDevice(t.mqttUrl, 'TOKEN_PLAIN');
      devices.push(device);
      const res = await t.post(`${base}/twoway/dev-plain`, { method: 'x', expirationTime: soon() }, tenantToken);
      expect(res.status).toBe(legacy ? 409 : 504);
      expect(((await res.json()) as { code: string }).code).toBe('IOT_ERR_NOT_SUBSCRIBED');
    });

    it('a call waiting for a subscription is delivered when the device subscribes', async () => {
      const pending = t.post(`${base}/twoway/dev-plain`, { method: 'late', params: [1, 2] }, tenantToken);
      await new Promise((r) => setTimeout(r, 100));
      await echoDevice('TOKEN_PLAIN');
      const res = await pending;
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ method: 'late', params: [1, 2] });
    });

    it.each([
      ['no method', {}],
      ['empty method', { method: '' }],
      ['method over 255 characters', { method: 'm'.repeat(256) }],
      ['timeout not a number', { method: 'x', timeout: 'soon' }],
      ['negative timeout', { method: 'x', timeout: -5 }],
      ['persistent not a boolean', { method: 'x', persistent: 'yes' }],
      ['requestUUID not a uuid', { method: 'x', requestUUID: 'abc' }],
      ['body not an object', [1, 2]],
      ['expirationTime in the past', { method: 'x', expirationTime: 1000 }],
    ])('bad body (%s) answers 400', async (_name, body) => {
      const res = await t.post(`${base}/twoway/dev-a`, body, customerToken);
      expect(res.status).toBe(400);
      const error = (await res.json()) as { status: number; code: string; errorCode: number; timestamp: number; message: string };
      expect(error.status).toBe(400);
      expect(error.code).toBe('IOT_ERR_BAD_REQUEST');
      expect(error.errorCode).toBe(31);
      expect(typeof error.timestamp).toBe('number');
    });

    it('bad JSON answers 400 IOT_ERR_INVALID_JSON', async () => {
      const res = await t.post(`${base}/twoway/dev-a`, '{"method":', customerToken);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe('IOT_ERR_INVALID_JSON');
    });

    it('wrong content type answers 400', async () => {
      const res = await t.post(`${base}/twoway/dev-a`, 'method=x', customerToken, { 'content-type': 'application/x-www-form-urlencoded' });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe('IOT_ERR_UNSUPPORTED_CONTENT_TYPE');
    });

    it('missing JWT answers 401', async () => {
      const res = await t.post(`${base}/twoway/dev-a`, { method: 'x' });
      expect(res.status).toBe(401);
      expect(((await res.json()) as { code: string }).code).toBe('IOT_ERR_UNAUTHORIZED');
    });

    it('garbage JWT answers 401', async () => {
      const res = await t.post(`${base}/twoway/dev-a`, { method: 'x' }, 'not.a.jwt');
      expect(res.status).toBe(401);
    });

    it('device of another customer answers 403', async () => {
      const res = await t.post(`${base}/twoway/dev-a`, { method: 'x' }, otherCustomerToken);
      expect(res.status).toBe(403);
      expect(((await res.json()) as { code: string }).code).toBe('IOT_ERR_FORBIDDEN');
    });

    it('customer user calling a device with no customer answers 403', async () => {
      const res = await t.post(`${base}/twoway/dev-plain`, { method: 'x' }, customerToken);
      expect(res.status).toBe(403);
    });

    it('SYS_ADMIN answers 403', async () => {
      const res = await t.post(`${base}/twoway/dev-a`, { method: 'x' }, sysadminToken);
      expect(res.status).toBe(403);
    });

    it('unknown device answers 404', async () => {
      const res = await t.post(`${base}/twoway/no-such-device`, { method: 'x' }, tenantToken);
      expect(res.status).toBe(404);
      expect(((await res.json()) as { code: string }).code).toBe('IOT_ERR_DEVICE_NOT_FOUND');
    });

    it('device of another tenant answers 404', async () => {
      const res = await t.post(`${base}/twoway/dev-b`, { method: 'x' }, tenantToken);
      expect(res.status).toBe(404);
    });

    it('body over 64 KiB answers 413', async () => {
      const res = await t.post(`${base}/twoway/dev-a`, { method: 'x', params: 'p'.repeat(70 * 1024) }, customerToken);
      expect(res.status).toBe(413);
      expect(((await res.json()) as { code: string }).code).toBe('IOT_ERR_PAYLOAD_TOO_LARGE');
    });

    it('neither oneway nor twoway answers 404', async () => {
      const res = await t.post(`${base}/sideways/dev-a`, { method: 'x' }, customerToken);
      expect(res.status).toBe(404);
    });
  });
}

describe('REST RPC behaviour', () => {
  it('plain Authorization: Bearer is accepted', async () => {
    await echoDevice();
    const res = await fetch(`${t.httpUrl}/api/rpc/twoway/dev-a`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${customerToken}` },
      body: JSON.stringify({ method: 'ping' }),
    });
    expect(res.status).toBe(200);
  });

  it('a repeated requestUUID while the first is pending is the same call', async () => {
    const { seen } = await echoDevice('TOKEN_A', () => undefined);
    const requestUUID = '3f1c2a9e-7b1d-4c55-9d0a-1f2e3d4c5b6a';
    const body = { method: 'once', requestUUID, expirationTime: soon(400) };
    const [first, second] = await Promise.all([t.post('/api/rpc/twoway/dev-a', body, customerToken), t.post('/api/rpc/twoway/dev-a', body, customerToken)]);
    expect([first.status, second.status]).toEqual([504, 504]);
    expect(seen.filter((s) => s.method === 'once')).toHaveLength(1);
  });

  it('a timeout over 2^31-1 ms, or an expirationTime that far, answers 400', async () => {
    expect((await t.post('/api/rpc/twoway/dev-a', { method: 'x', timeout: 3_000_000_000 }, customerToken)).status).toBe(400);
    expect((await t.post('/api/rpc/twoway/dev-a', { method: 'x', expirationTime: Date.now() + 3_000_000_000 }, customerToken)).status).toBe(400);
  });

  it('a caller that hangs up withdraws its call', async () => {
    await echoDevice('TOKEN_A', () => undefined);
    const statuses: string[] = [];
    const onCall = (e: { status: string; method: string }) => e.method === 'abandoned' && statuses.push(e.status);
    t.server.on('call', onCall);
    try {
      const controller = new AbortController();
      const pending = fetch(`${t.httpUrl}/api/rpc/twoway/dev-a`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-authorization': `Bearer ${customerToken}` },
        body: JSON.stringify({ method: 'abandoned', timeout: 60_000 }),
        signal: controller.signal,
      });
      await until(() => statuses.includes('delivered'));
      controller.abort();
      await expect(pending).rejects.toThrow();
      await until(() => statuses.includes('deleted'));
    } finally {
      t.server.off('call', onCall);
    }
  });

  it('a malformed HTTP request is answered 400, and the server goes on', async () => {
    const { connect } = await import('node:net');
    const socket = connect(Number(new URL(t.httpUrl).port), '127.0.0.1');
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      socket.on('data', (chunk) => (text += chunk));
      socket.on('close', () => resolve(text));
      socket.write('POST /api/rpc/twoway/dev-a HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n');
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ status: 400, code: 'IOT_ERR_BAD_REQUEST' });
    expect((await fetch(`${t.httpUrl}/api/nothing`)).status).toBe(404);
  });

  it('an unknown path answers 404 JSON and a wrong method 405', async () => {
    const missing = await fetch(`${t.httpUrl}/api/nothing`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { code: string }).code).toBe('IOT_ERR_NOT_FOUND');
    const wrong = await fetch(`${t.httpUrl}/api/rpc/twoway/dev-a`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });
});

describe('REST calls to devices on every MQTT variant', () => {
  for (const variant of [
    { name: 'MQTT 5 over TCP', protocolVersion: 5, ws: false },
    { name: 'MQTT 3.1.1 over WebSocket', protocolVersion: 4, ws: true },
    { name: 'MQTT 5 over WebSocket', protocolVersion: 5, ws: true },
  ] as const) {
    it(`${variant.name}: 200 with a JSON reply, 406 without, 504 when silent`, async () => {
      const device = await connectDevice(variant.ws ? t.wsUrl : t.mqttUrl, 'TOKEN_A', { protocolVersion: variant.protocolVersion });
      devices.push(device);
      await answerRequests(device, (method) => (method === 'json' ? { v: variant.name } : method === 'text' ? 'plain text' : undefined));
      const ok = await t.post('/api/rpc/twoway/dev-a', { method: 'json' }, customerToken);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ v: variant.name });
      expect((await t.post('/api/rpc/twoway/dev-a', { method: 'text' }, customerToken)).status).toBe(406);
      const silent = await t.post('/api/plugins/rpc/twoway/dev-a', { method: 'silent', expirationTime: soon() }, customerToken);
      expect(silent.status).toBe(408);
      expect(((await silent.json()) as { code: string }).code).toBe('IOT_ERR_NO_REPLY_DELIVERED');
      expect((await t.post('/api/rpc/oneway/dev-a', { method: 'fire' }, customerToken)).status).toBe(200);
    });
  }
});

describe('REST timeout floor (fake clock)', () => {
  it('a timeout under 5000 ms without expirationTime is raised to 5000 ms', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], shouldAdvanceTime: true });
    const clocked = await startTestServer();
    try {
      const token = await clocked.login(USERS.customer);
      const device = await connectDevice(clocked.mqttUrl, 'TOKEN_A');
      devices.push(device);
      await answerRequests(device, () => undefined);
      let answered = false;
      const pending = clocked.post('/api/rpc/twoway/dev-a', { method: 'slow', timeout: 100 }, token).then((res) => {
        answered = true;
        return res;
      });
      await new Promise((r) => setTimeout(r, 100));
      vi.advanceTimersByTime(4_000);
      await new Promise((r) => setTimeout(r, 50));
      expect(answered).toBe(false);
      vi.advanceTimersByTime(1_100);
      expect((await pending).status).toBe(504);
    } finally {
      await clocked.close();
      vi.useRealTimers();
    }
  });

  it('a request node:http cannot parse is answered with the JSON error body: 400, or 431 for headers over the limit', async () => {
    const port = Number(new URL(t.httpUrl).port);
    const raw = (request: string) =>
      new Promise<string>((resolve) => {
        const socket = connect(port, '127.0.0.1', () => socket.write(request));
        let answer = '';
        socket.on('data', (chunk) => (answer += chunk.toString()));
        socket.on('close', () => resolve(answer));
        socket.on('error', () => resolve(answer));
      });
    const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { status: number; code: string };
    const garbage = await raw('NOT HTTP AT ALL\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect(bodyOf(garbage)).toMatchObject({ status: 400, code: 'IOT_ERR_BAD_REQUEST' });
    const huge = await raw(`GET /api/device/x HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    expect(bodyOf(huge)).toMatchObject({ status: 431, code: 'IOT_ERR_HEADERS_TOO_LARGE' });
  });
});
