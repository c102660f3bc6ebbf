import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, until, type TestServer } from '../support/server.js';

// libcoap's coap-client (Debian libcoap3-bin, installed by the pretest step) as a device.
const run = promisify(execFile);
const CLIENT = 'coap-client-notls';
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer({ rpc: { defaultTimeoutMs: 10_000, ordering: 'burst', maxPendingPerDevice: 1000, clientSideTimeoutMs: 800 } });
  t.server.handle('add', (params) => (params as { a: number; b: number }).a + (params as { a: number; b: number }).b);
  t.server.handle('slow', () => new Promise((resolve) => setTimeout(() => resolve('too late'), 2000)));
});
afterAll(() => t.close());

describe('CoAP with libcoap coap-client', () => {
  it('client-side RPC: POST …/rpc answers with the handler value', async () => {
    const { stdout } = await run(CLIENT, ['-m', 'post', '-e', JSON.stringify({ method: 'add', params: { a: 20, b: 22 } }), `coap://127.0.0.1:${t.coapPort}/api/v1/TOKEN_A/rpc`]);
    expect(stdout.trim()).toBe('42');
  });

  it('a handler slower than the client-side timeout answers {"error":"timeout"}, through a separate response', async () => {
    const { stdout } = await run(CLIENT, ['-m', 'post', '-e', JSON.stringify({ method: 'slow' }), `coap://127.0.0.1:${t.coapPort}/api/v1/TOKEN_A/rpc`]);
    expect(JSON.parse(stdout.trim())).toEqual({ error: 'timeout' });
  });

  it('observes …/rpc, receives a call as a notification, and answers it', async () => {
    const observer = spawn(CLIENT, ['-m', 'get', '-s', '10', '-B', '10', `coap://127.0.0.1:${t.coapPort}/api/v1/TOKEN_PLAIN/rpc`]);
    let output = '';
    observer.stdout.on('data', (chunk) => (output += chunk));
    try {
      await until(() => t.server.devices.state('dev-plain') === 'subscribed', 5000);
      const call = t.server.call('dev-plain', { method: 'setLed', params: { on: true }, timeout: 5000 });
      await until(() => output.includes('setLed'), 5000);
      const notification = JSON.parse(output.trim().split('\n').find((line) => line.includes('setLed'))!) as { id: number; method: string; params: unknown };
      expect(notification).toMatchObject({ method: 'setLed', params: { on: true } });
      await run(CLIENT, ['-m', 'post', '-e', '{"led":"on"}', `coap://127.0.0.1:${t.coapPort}/api/v1/TOKEN_PLAIN/rpc/${notification.id}`]);
      await expect(call).resolves.toEqual({ led: 'on' });
    } finally {
      observer.kill();
    }
  });
});

describe('CoAP device data with libcoap coap-client', () => {
  const url = (path: string) => `coap://127.0.0.1:${t.coapPort}/api/v1/TOKEN_A/${path}`;

  it('POST …/telemetry and …/attributes are kept (2.01); GET …/attributes?clientKeys=&sharedKeys= answers them (2.05)', async () => {
    // -v 6 logs each PDU, the response's code among them (c:2.01).
    const telemetry = await run(CLIENT, ['-v', '6', '-m', 'post', '-e', JSON.stringify({ ts: 1_750_000_000_000, values: { voltage: 3.3 } }), url('telemetry')]);
    expect(`${telemetry.stdout}${telemetry.stderr}`).toMatch(/c:2\.01/);
    await run(CLIENT, ['-m', 'post', '-e', JSON.stringify({ fw: '7.1' }), url('attributes')]);
    expect((await t.server.deviceData.telemetry('dev-a', ['voltage'])).get('voltage')).toEqual({ ts: 1_750_000_000_000, value: 3.3 });
    await t.server.setSharedAttributes('dev-a', { mode: 'eco' });
    const { stdout } = await run(CLIENT, ['-m', 'get', `${url('attributes')}?clientKeys=fw&sharedKeys=mode`]);
    expect(JSON.parse(stdout.trim())).toEqual({ client: { fw: '7.1' }, shared: { mode: 'eco' } });
  });

  it('GET …/attributes with Observe: the current shared attributes, then each update as a notification; …/attributes/updates too', async () => {
    await t.server.setSharedAttributes('dev-plain', { mode: 'eco' });
    for (const path of ['attributes', 'attributes/updates']) {
      const observer = spawn(CLIENT, ['-m', 'get', '-s', '10', '-B', '10', `coap://127.0.0.1:${t.coapPort}/api/v1/TOKEN_PLAIN/${path}`]);
      let output = '';
      observer.stdout.on('data', (chunk) => (output += chunk));
      try {
        // coap-client prints each payload as it comes, with nothing between them.
        const payloads = () => output.trim().replace(/}\s*{/g, '}\n{').split('\n').map((text) => JSON.parse(text) as Record<string, unknown>);
        await until(() => output.includes('eco'), 5000);
        expect(payloads()[0]).toMatchObject({ mode: 'eco' });
        await t.server.setSharedAttributes('dev-plain', { setpoint: path.length });
        await until(() => payloads().length === 2, 5000);
        expect(payloads()[1]).toEqual({ setpoint: path.length });
      } finally {
        observer.kill();
      }
    }
  });

  it('telemetry that is not JSON telemetry is 4.00', async () => {
    const result = await run(CLIENT, ['-v', '6', '-m', 'post', '-e', '[1,2]', url('telemetry')]).catch((error: { stdout: string; stderr: string }) => error);
    expect(`${result.stdout}${result.stderr}`).toMatch(/c:4\.00/);
  });
});

describe('CoAP block-wise transfer (RFC 7959) with libcoap coap-client', () => {
  it('Block1: a large client-side request sent in 64-byte blocks is assembled', async () => {
    const params = { a: 1, b: 2, padding: 'p'.repeat(600) };
    const { stdout } = await run(CLIENT, ['-m', 'post', '-b', '64', '-e', JSON.stringify({ method: 'add', params }), `coap://127.0.0.1:${t.coapPort}/api/v1/TOKEN_A/rpc`]);
    expect(stdout.trim()).toBe('3');
  });

  it('Block2: an answer over 1024 bytes arrives whole', async () => {
    t.server.handle('big', () => ({ data: 'x'.repeat(3000) }));
    const { stdout } = await run(CLIENT, ['-m', 'post', '-e', JSON.stringify({ method: 'big' }), `coap://127.0.0.1:${t.coapPort}/api/v1/TOKEN_A/rpc`]);
    expect(JSON.parse(stdout.trim())).toEqual({ data: 'x'.repeat(3000) });
  });

  it('Block2 with a smaller block size the client asks for', async () => {
    t.server.handle('medium', () => 'y'.repeat(500));
    const { stdout } = await run(CLIENT, ['-m', 'post', '-b', '128', '-e', JSON.stringify({ method: 'medium' }), `coap://127.0.0.1:${t.coapPort}/api/v1/TOKEN_A/rpc`]);
    expect(JSON.parse(stdout.trim())).toBe('y'.repeat(500));
  });
});

describe('CoAP duplicates during a separate response', () => {
  it('a duplicate CON while the handler is still running gets the empty ACK again, and the handler runs once', async () => {
    const { RawCoap, uriPath } = await import('../support/coap-client.js');
    let runs = 0;
    t.server.handle('slowCount', () => new Promise((resolve) => setTimeout(() => resolve(++runs), 700)));
    const raw = await RawCoap.open(t.coapPort);
    try {
      const request = { confirmable: true, code: 'POST', messageId: 777, token: Buffer.from([7, 7, 7]), options: uriPath('/api/v1/TOKEN_A/rpc'), payload: Buffer.from('{"method":"slowCount"}') };
      raw.send(request);
      const emptyAck = await raw.next((p) => p.messageId === 777 && p.ack);
      expect(emptyAck.code).toBe('0.00');
      raw.send(request);
      const again = await raw.next((p) => p.messageId === 777 && p.ack);
      expect(again.code).toBe('0.00');
      const separate = await raw.next((p) => p.confirmable && p.token.equals(Buffer.from([7, 7, 7])), 3000);
      expect(separate.code).toBe('2.05');
      expect(separate.payload.toString()).toBe('1');
      raw.send({ ack: true, code: '0.00', messageId: separate.messageId, token: Buffer.alloc(0), options: [] });
      await new Promise((r) => setTimeout(r, 100));
      expect(runs).toBe(1);
    } finally {
      raw.close();
    }
  });
});
