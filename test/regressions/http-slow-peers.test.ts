import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDevice, startTestServer, USERS, type TestServer } from '../support/server.js';

// Issue 9, findings 5 and 8: a request whose declared body never arrived stayed open forever, header trickles were
// cut only after 61 s, and the HTTP listener took every connection offered (1,500 slow ones).

let t: TestServer;
let port: number;
beforeAll(async () => {
  t = await startTestServer({ limits: { httpHeadersTimeoutMs: 600, httpBodyTimeoutMs: 800, maxHttpConnections: 20 } });
  port = Number(new URL(t.httpUrl).port);
});
afterAll(() => t.close());

function open(): Promise<Socket & { text: () => string; ended: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1') as Socket & { text: () => string; ended: Promise<number> };
    let received = '';
    const started = Date.now();
    socket.on('data', (chunk) => (received += chunk.toString()));
    socket.on('error', () => {});
    socket.text = () => received;
    socket.ended = new Promise((done) => socket.on('close', () => done(Date.now() - started)));
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('HTTP: slow peers are cut, and connections per listener are capped', () => {
  it('a declared body that never arrives is answered 408 and closed after limits.httpBodyTimeoutMs', async () => {
    const token = await t.login(USERS.tenant);
    const socket = await open();
    socket.write(`POST /api/rpc/twoway/dev-plain HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-authorization: Bearer ${token}\r\ncontent-length: 100\r\n\r\n{"method":`);
    const ms = await socket.ended;
    expect(socket.text()).toMatch(/^HTTP\/1\.1 408 /);
    expect(socket.text()).toContain('IOT_ERR_REQUEST_TIMEOUT');
    expect(ms).toBeGreaterThanOrEqual(700);
    expect(ms).toBeLessThan(5000);
  });

  it('headers that trickle in are cut after limits.httpHeadersTimeoutMs', async () => {
    const socket = await open();
    socket.write('GET /api/v1/TOKEN_A/rpc HTTP/1.1\r\n');
    const trickle = setInterval(() => socket.write('x-slow: 1\r\n'), 100);
    const ms = await socket.ended;
    clearInterval(trickle);
    expect(ms).toBeLessThan(5000);
  });

  it('a long-poll still waits its own timeout, past both limits', async () => {
    const started = Date.now();
    const res = await fetch(`${t.httpUrl}/api/v1/TOKEN_PLAIN/rpc?timeout=2500`);
    expect(res.status).toBe(408);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2400);
  });

  it('past limits.maxHttpConnections a connection gets 503 IOT_ERR_OVERLOADED, and once they close, service again', async () => {
    const held = await Promise.all(Array.from({ length: 20 }, () => open()));
    const over = await open();
    await over.ended;
    expect(over.text()).toMatch(/^HTTP\/1\.1 503 /);
    expect(over.text()).toContain('IOT_ERR_OVERLOADED');
    expect(over.text().toLowerCase()).toContain('retry-after');
    for (const socket of held) socket.destroy();
    await Promise.all(held.map((socket) => socket.ended));
    await expect.poll(async () => (await fetch(`${t.httpUrl}/api/v1/TOKEN_PLAIN/rpc?timeout=10`)).status).toBe(408);
  });

  it('peers the server cut that never close their side do not keep their slots', async () => {
    const small = await startTestServer({ limits: { maxHttpConnections: 2, httpHeadersTimeoutMs: 1000 } });
    try {
      const smallPort = Number(new URL(small.httpUrl).port);
      // Two peers that send nothing and never close their side, not even after the server's FIN.
      const silent = [0, 1].map(() => {
        const socket = connect({ port: smallPort, host: '127.0.0.1', allowHalfOpen: true });
        socket.on('error', () => {});
        socket.on('data', () => {});
        return socket;
      });
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const res = await small.post('/api/auth/login', { username: USERS.tenant.email, password: USERS.tenant.password });
      expect(res.status).toBe(200);
      for (const socket of silent) socket.destroy();
    } finally {
      await small.close();
    }
  });

  it('MQTT over WebSocket connections are the MQTT listener\'s to count, not the HTTP cap\'s', async () => {
    const devices = [];
    for (let i = 0; i < 25; i++) devices.push(await connectDevice(t.wsUrl, 'TOKEN_PLAIN', { protocolVersion: 4, clientId: `ws-${i}` }));
    expect((await fetch(`${t.httpUrl}/api/v1/TOKEN_PLAIN/rpc?timeout=10`)).status).toBe(408);
    for (const device of devices) device.end(true);
  });
});
