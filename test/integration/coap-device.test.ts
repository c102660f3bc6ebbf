import coap from 'coap';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CallEvent } from '../../src/index.js';
import { RawCoap, coapRequest, uriPath } from '../support/coap-client.js';
import { startTestServer, until, type TestServer } from '../support/server.js';

let t: TestServer;
const cleanups: Array<() => void> = [];
let clientCalls = 0;
beforeAll(async () => {
  t = await startTestServer({ coap: { ackTimeoutMs: 100, ackRandomFactor: 1.5, maxRetransmit: 2 }, limits: { maxMqttPacketBytes: 65536, maxHttpBodyBytes: 65536, maxCoapPayloadBytes: 1024 } });
  t.server.handle('count', () => ++clientCalls);
  t.server.handle('add', (params) => (params as { a: number; b: number }).a + (params as { a: number; b: number }).b);
});
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});
afterAll(() => t.close());

interface Notification {
  id: number;
  method: string;
  params: unknown;
}

/** An observing device with the `coap` package: answers each notification with `answer`, over POST …/rpc/{id}. */
async function observe(token: string, answer: (n: Notification) => unknown, confirmable = true, hostname = '127.0.0.1'): Promise<Notification[]> {
  const seen: Notification[] = [];
  const agent = new coap.Agent({ type: hostname.includes(':') ? 'udp6' : 'udp4' });
  const req = coap.request({ hostname, port: t.coapPort, pathname: `/api/v1/${token}/rpc`, method: 'GET', observe: true, confirmable, agent });
  await new Promise<void>((resolve, reject) => {
    req.on('response', (res) => {
      res.on('data', (chunk: Buffer) => {
        if (chunk.length === 0) return;
        const notification = JSON.parse(chunk.toString()) as Notification;
        seen.push(notification);
        const reply = answer(notification);
        if (reply !== undefined) void coapRequest(t.coapPort, `/api/v1/${token}/rpc/${notification.id}`, { payload: JSON.stringify(reply), hostname });
      });
      cleanups.push(() => {
        try {
          (res as unknown as { close(): void }).close();
          agent.close();
        } catch {
          // already closed
        }
      });
      resolve();
    });
    req.on('error', reject);
    req.end();
  });
  await until(() => t.server.devices.state(token === 'TOKEN_A' ? 'dev-a' : 'dev-plain') === 'subscribed');
  return seen;
}

describe('CoAP device API', () => {
  for (const confirmable of [true, false]) {
    it(`twoway over an observation (${confirmable ? 'CON' : 'NON'}): notification, then POST …/rpc/{id} answers the call`, async () => {
      const seen = await observe('TOKEN_A', (n) => ({ echo: n.params }), confirmable);
      await expect(t.server.call('dev-a', { method: 'getTemp', params: { unit: 'C' }, timeout: 3000 })).resolves.toEqual({ echo: { unit: 'C' } });
      expect(seen).toEqual([{ id: expect.any(Number), method: 'getTemp', params: { unit: 'C' } }]);
    });

    it(`oneway over an observation (${confirmable ? 'CON: done on the ACK' : 'NON: done when sent'})`, async () => {
      const seen = await observe('TOKEN_A', () => undefined, confirmable);
      await expect(t.server.call('dev-a', { method: 'blink', oneway: true, timeout: 3000 })).resolves.toBeUndefined();
      await until(() => seen.length === 1);
    });
  }

  it('the ACK of a CON notification marks the call delivered', async () => {
    const statuses: string[] = [];
    const onCall = (e: CallEvent) => e.method === 'tracked' && statuses.push(e.status);
    t.server.on('call', onCall);
    try {
      await observe('TOKEN_A', () => undefined);
      await expect(t.server.call('dev-a', { method: 'tracked', timeout: 500 })).rejects.toMatchObject({ code: 'IOT_ERR_NO_REPLY_DELIVERED' });
      expect(statuses).toEqual(['queued', 'sent', 'delivered', 'timeout']);
    } finally {
      t.server.off('call', onCall);
    }
  });

  it('works over IPv6 (::1)', async () => {
    await observe('TOKEN_A', () => 'v6', true, '::1');
    await expect(t.server.call('dev-a', { method: 'x', timeout: 3000 })).resolves.toBe('v6');
    expect(await coapRequest(t.coapPort, '/api/v1/TOKEN_A/rpc', { payload: JSON.stringify({ method: 'add', params: { a: 1, b: 2 } }), hostname: '::1' })).toEqual({ code: '2.05', payload: '3' });
  });

  it('client-side RPC: POST …/rpc answers 2.05 with the handler value (CON and NON)', async () => {
    expect(await coapRequest(t.coapPort, '/api/v1/TOKEN_A/rpc', { payload: JSON.stringify({ method: 'add', params: { a: 2, b: 3 } }) })).toEqual({ code: '2.05', payload: '5' });
    expect(await coapRequest(t.coapPort, '/api/v1/TOKEN_A/rpc', { payload: JSON.stringify({ method: 'add', params: { a: 4, b: 4 } }), confirmable: false })).toEqual({ code: '2.05', payload: '8' });
    expect(JSON.parse((await coapRequest(t.coapPort, '/api/v1/TOKEN_A/rpc', { payload: JSON.stringify({ method: 'nope' }) })).payload)).toEqual({ error: 'Unknown method: nope' });
  });

  it('a CON request sent twice with the same message id runs the handler once and gets the same answer', async () => {
    const raw = await RawCoap.open(t.coapPort);
    cleanups.push(() => raw.close());
    const before = clientCalls;
    const request = { confirmable: true, code: 'POST', messageId: 4242, token: Buffer.from([9, 9]), options: uriPath('/api/v1/TOKEN_A/rpc'), payload: Buffer.from(JSON.stringify({ method: 'count' })) };
    raw.send(request);
    const first = await raw.next((p) => p.messageId === 4242);
    raw.send(request);
    const second = await raw.next((p) => p.messageId === 4242);
    expect(clientCalls).toBe(before + 1);
    expect(first.ack).toBe(true);
    expect(second.payload.toString()).toBe(first.payload.toString());
  });

  it('bad input: 4.01 bad token, 4.00 bad path or body, 4.02 unknown critical option, 4.04 unknown call, 4.05 wrong method, 4.13 too large', async () => {
    expect((await coapRequest(t.coapPort, '/api/v1/WRONG/rpc', { payload: '{}' })).code).toBe('4.01');
    expect((await coapRequest(t.coapPort, '/api/v2/TOKEN_A/rpc', { payload: '{}' })).code).toBe('4.00');
    expect((await coapRequest(t.coapPort, '/api/v1/TOKEN_A/rpc', { payload: 'not json' })).code).toBe('4.00');
    expect((await coapRequest(t.coapPort, '/api/v1/TOKEN_A/rpc/abc', { payload: '{}' })).code).toBe('4.00');
    expect((await coapRequest(t.coapPort, '/api/v1/TOKEN_A/rpc/99999', { payload: '{}' })).code).toBe('4.04');
    expect((await coapRequest(t.coapPort, '/api/v1/TOKEN_A/rpc', { method: 'GET' })).code).toBe('4.00');
    const raw = await RawCoap.open(t.coapPort);
    cleanups.push(() => raw.close());
    raw.send({ confirmable: true, code: 'POST', messageId: 7, token: Buffer.from([1]), options: [...uriPath('/api/v1/TOKEN_A/rpc'), { name: 'If-Match', value: Buffer.from([1]) }], payload: Buffer.from('{}') });
    expect((await raw.next((p) => p.messageId === 7)).code).toBe('4.02');
    raw.send({ confirmable: true, code: 'PUT', messageId: 8, token: Buffer.from([2]), options: uriPath('/api/v1/TOKEN_A/rpc'), payload: Buffer.from('{}') });
    expect((await raw.next((p) => p.messageId === 8)).code).toBe('4.05');
    raw.send({ confirmable: true, code: 'POST', messageId: 9, token: Buffer.from([3]), options: uriPath('/api/v1/TOKEN_A/rpc'), payload: Buffer.alloc(1100, 0x20) });
    const tooLarge = await raw.next((p) => p.messageId === 9);
    expect(tooLarge.code).toBe('4.13');
  });

  it('garbage is ignored or reset, a CoAP ping is reset, and the server goes on', async () => {
    const raw = await RawCoap.open(t.coapPort);
    cleanups.push(() => raw.close());
    raw.sendBytes(Buffer.from([0x01]));
    raw.sendBytes(Buffer.from([0x49, 0x01, 0x00, 0x11, 1, 2, 3, 4, 5, 6, 7, 8, 9])); // CON GET with a reserved token length
    expect((await raw.next((p) => p.messageId === 0x11)).reset).toBe(true);
    raw.send({ confirmable: true, code: '0.00', messageId: 0x12, token: Buffer.alloc(0), options: [] });
    expect((await raw.next((p) => p.messageId === 0x12)).reset).toBe(true);
    expect((await coapRequest(t.coapPort, '/api/v1/TOKEN_A/rpc', { payload: JSON.stringify({ method: 'add', params: { a: 1, b: 1 } }) })).payload).toBe('2');
  });

  it('a Reset to a notification ends the observation', async () => {
    const raw = await RawCoap.open(t.coapPort);
    cleanups.push(() => raw.close());
    raw.send({ confirmable: false, code: 'GET', messageId: 100, token: Buffer.from([7, 7]), options: [{ name: 'Observe', value: Buffer.alloc(0) }, ...uriPath('/api/v1/TOKEN_PLAIN/rpc')] });
    await raw.next((p) => p.code === '2.05');
    expect(t.server.devices.state('dev-plain')).toBe('subscribed');
    const call = t.server.call('dev-plain', { method: 'x', timeout: 300 }).catch((e: unknown) => e);
    const notification = await raw.next((p) => p.code === '2.05');
    raw.send({ reset: true, code: '0.00', messageId: notification.messageId, token: Buffer.alloc(0), options: [] });
    await until(() => t.server.devices.state('dev-plain') === 'offline');
    expect(await call).toMatchObject({ code: 'IOT_ERR_NO_REPLY_DELIVERED' });
  });

  it('an unacknowledged CON notification is retransmitted, then the observation ends and the call waits in line', async () => {
    const raw = await RawCoap.open(t.coapPort);
    cleanups.push(() => raw.close());
    raw.send({ confirmable: true, code: 'GET', messageId: 200, token: Buffer.from([8]), options: [{ name: 'Observe', value: Buffer.alloc(0) }, ...uriPath('/api/v1/TOKEN_PLAIN/rpc')] });
    await raw.next((p) => p.messageId === 200);
    const call = t.server.call('dev-plain', { method: 'unheard', timeout: 5000 });
    const first = await raw.next((p) => p.code === '2.05' && p.confirmable);
    const copies = [await raw.next((p) => p.messageId === first.messageId, 2000), await raw.next((p) => p.messageId === first.messageId, 2000)];
    expect(copies).toHaveLength(2); // MAX_RETRANSMIT = 2 in this server's config
    await until(() => t.server.devices.state('dev-plain') === 'offline', 3000);
    const seen = await observe('TOKEN_PLAIN', (n) => ({ late: n.method }));
    await expect(call).resolves.toEqual({ late: 'unheard' });
    expect(seen[0]!.method).toBe('unheard');
  });

  it('an observation taken over stops retransmitting its unacknowledged notification; the call goes to the new one', async () => {
    const old = await RawCoap.open(t.coapPort);
    cleanups.push(() => old.close());
    old.send({ confirmable: true, code: 'GET', messageId: 210, token: Buffer.from([9]), options: [{ name: 'Observe', value: Buffer.alloc(0) }, ...uriPath('/api/v1/TOKEN_PLAIN/rpc')] });
    await old.next((p) => p.messageId === 210);
    const call = t.server.call('dev-plain', { method: 'moved', timeout: 5000 });
    const first = await old.next((p) => p.code === '2.05' && p.confirmable);
    const seen = await observe('TOKEN_PLAIN', (n) => ({ answered: n.method }));
    await expect(call).resolves.toEqual({ answered: 'moved' });
    expect(seen.map((n) => n.method)).toEqual(['moved']);
    // The first retransmission would come after 100-150 ms (ackTimeoutMs 100, factor 1.5); none comes.
    await expect(old.next((p) => p.messageId === first.messageId, 600)).rejects.toThrow('no matching CoAP message');
  });

  it('Observe: 1 deregisters', async () => {
    const raw = await RawCoap.open(t.coapPort);
    cleanups.push(() => raw.close());
    const register = { confirmable: true, code: 'GET', token: Buffer.from([5]), options: [{ name: 'Observe' as const, value: Buffer.alloc(0) }, ...uriPath('/api/v1/TOKEN_PLAIN/rpc')] };
    raw.send({ ...register, messageId: 300 });
    await raw.next((p) => p.messageId === 300);
    expect(t.server.devices.state('dev-plain')).toBe('subscribed');
    raw.send({ ...register, messageId: 301, options: [{ name: 'Observe', value: Buffer.from([1]) }, ...uriPath('/api/v1/TOKEN_PLAIN/rpc')] });
    await raw.next((p) => p.messageId === 301);
    expect(t.server.devices.state('dev-plain')).toBe('offline');
  });

  it('survives 10,000 random and mutated datagrams, then a normal RPC succeeds', async () => {
    const raw = await RawCoap.open(t.coapPort);
    cleanups.push(() => raw.close());
    const valid = [
      Buffer.from([0x44, 0x02, 0x12, 0x34, 0xaa, 0xbb, 0xcc, 0xdd, 0xb3, 0x61, 0x70, 0x69, 0x02, 0x76, 0x31, 0x07, 0x54, 0x4f, 0x4b, 0x45, 0x4e, 0x5f, 0x41, 0x03, 0x72, 0x70, 0x63, 0xff, 0x7b, 0x7d]),
    ];
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let i = 0; i < 10_000; i++) {
      let datagram: Buffer;
      if (i % 2 === 0) {
        datagram = Buffer.from(Array.from({ length: random() % 64 }, () => random() & 0xff));
      } else {
        datagram = Buffer.from(valid[0]!);
        for (let flips = 1 + (random() % 4); flips > 0; flips--) datagram[random() % datagram.length] = random() & 0xff;
        if (random() % 5 === 0) datagram = datagram.subarray(0, random() % datagram.length);
      }
      raw.sendBytes(datagram);
      if (i % 500 === 0) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 200));
    await observe('TOKEN_A', (n) => ({ ok: n.method }));
    await expect(t.server.call('dev-a', { method: 'afterFuzz', timeout: 3000 })).resolves.toEqual({ ok: 'afterFuzz' });
  });
});

describe('CoAP block-wise notifications and uploads', () => {
  it('a notification over 1024 bytes carries its first block; the device GETs the rest', async () => {
    const raw = await RawCoap.open(t.coapPort);
    cleanups.push(() => raw.close());
    const path = uriPath('/api/v1/TOKEN_PLAIN/rpc');
    raw.send({ confirmable: false, code: 'GET', messageId: 400, token: Buffer.from([4]), options: [{ name: 'Observe', value: Buffer.alloc(0) }, ...path] });
    await raw.next((p) => p.token.equals(Buffer.from([4])) && p.payload.length === 0); // a NON answer has a message id of its own
    const big = { text: 'z'.repeat(2500) };
    const call = t.server.call('dev-plain', { method: 'bulk', params: big, timeout: 3000 }).catch((e: unknown) => e);
    const first = await raw.next((p) => p.code === '2.05' && p.payload.length > 0);
    const parts = [first.payload];
    const block2 = first.options.find((o) => o.name === 'Block2')!.value;
    expect(block2[block2.length - 1]! & 0x8).toBe(0x8); // more blocks follow
    for (let num = 1, more = true; more; num++) {
      raw.send({ confirmable: true, code: 'GET', messageId: 400 + num, token: Buffer.from([4, num]), options: [...path, { name: 'Block2', value: Buffer.from([(num << 4) | 6]) }] });
      const block = await raw.next((p) => p.messageId === 400 + num);
      parts.push(block.payload);
      const value = block.options.find((o) => o.name === 'Block2')!.value;
      more = (value[value.length - 1]! & 0x8) !== 0;
    }
    const request = JSON.parse(Buffer.concat(parts).toString()) as { id: number; method: string; params: unknown };
    expect(request).toMatchObject({ method: 'bulk', params: big });
    raw.send({ confirmable: true, code: 'POST', messageId: 499, token: Buffer.from([4, 99]), options: uriPath(`/api/v1/TOKEN_PLAIN/rpc/${request.id}`), payload: Buffer.from('"got it"') });
    expect(await call).toBe('got it');
  });

  it('Block1 blocks out of order answer 4.08; in order they answer 2.31, then the call', async () => {
    const raw = await RawCoap.open(t.coapPort);
    cleanups.push(() => raw.close());
    const path = uriPath('/api/v1/TOKEN_A/rpc');
    const body = Buffer.from(JSON.stringify({ method: 'add', params: { a: 5, b: 6, pad: 'q'.repeat(40) } }));
    const block = (num: number, more: boolean) => Buffer.from([(num << 4) | (more ? 8 : 0) | 0]); // 16-byte blocks
    raw.send({ confirmable: true, code: 'POST', messageId: 500, token: Buffer.from([5]), options: [...path, { name: 'Block1', value: block(1, true) }], payload: body.subarray(16, 32) });
    expect((await raw.next((p) => p.messageId === 500)).code).toBe('4.08');
    const count = Math.ceil(body.length / 16);
    for (let num = 0; num < count; num++) {
      const more = num < count - 1;
      raw.send({ confirmable: true, code: 'POST', messageId: 501 + num, token: Buffer.from([5, num]), options: [...path, { name: 'Block1', value: block(num, more) }], payload: body.subarray(num * 16, num * 16 + 16) });
      const answer = await raw.next((p) => p.messageId === 501 + num);
      expect(answer.code).toBe(more ? '2.31' : '2.05');
      if (!more) expect(answer.payload.toString()).toBe('11');
    }
  });
});

describe('CoAP review findings', () => {
  const register = (raw: RawCoap, token: number[], messageId: number, confirmable = true) =>
    raw.send({ confirmable, code: 'GET', messageId, token: Buffer.from(token), options: [{ name: 'Observe', value: Buffer.alloc(0) }, ...uriPath('/api/v1/TOKEN_PLAIN/rpc')] });

  it('an ACK or Reset from another endpoint matches nothing: it cannot cancel or confirm a device notification', async () => {
    const device = await RawCoap.open(t.coapPort);
    const stranger = await RawCoap.open(t.coapPort);
    cleanups.push(() => device.close(), () => stranger.close());
    register(device, [6, 1], 600);
    await device.next((p) => p.messageId === 600);
    const call = t.server.call('dev-plain', { method: 'private', timeout: 2000 }).catch((e: unknown) => e);
    const notification = await device.next((p) => p.code === '2.05' && p.payload.length > 0);
    stranger.send({ reset: true, code: '0.00', messageId: notification.messageId, token: Buffer.alloc(0), options: [] });
    stranger.send({ ack: true, code: '0.00', messageId: notification.messageId, token: Buffer.alloc(0), options: [] });
    await new Promise((r) => setTimeout(r, 50));
    expect(t.server.devices.state('dev-plain')).toBe('subscribed');
    device.send({ ack: true, code: '0.00', messageId: notification.messageId, token: Buffer.alloc(0), options: [] });
    const { id } = JSON.parse(notification.payload.toString()) as { id: number };
    device.send({ confirmable: true, code: 'POST', messageId: 601, token: Buffer.from([6, 2]), options: uriPath(`/api/v1/TOKEN_PLAIN/rpc/${id}`), payload: Buffer.from('"mine"') });
    expect(await call).toBe('mine');
  });

  it('one CON notification at a time: the next call waits for the ACK of the previous one', async () => {
    const raw = await RawCoap.open(t.coapPort);
    cleanups.push(() => raw.close());
    register(raw, [6, 3], 610);
    await raw.next((p) => p.messageId === 610);
    const calls = [1, 2].map((n) => t.server.call('dev-plain', { method: `n${n}`, oneway: true, timeout: 3000 }));
    const first = await raw.next((p) => p.code === '2.05' && p.payload.length > 0);
    const other = (p: { code: string; payload: Buffer; messageId: number }) => p.code === '2.05' && p.payload.length > 0 && p.messageId !== first.messageId;
    await expect(raw.next(other, 150)).rejects.toThrow(/no matching/); // only retransmissions of the first meanwhile
    raw.send({ ack: true, code: '0.00', messageId: first.messageId, token: Buffer.alloc(0), options: [] });
    const second = await raw.next(other);
    expect(JSON.parse(second.payload.toString()).method).toBe('n2');
    raw.send({ ack: true, code: '0.00', messageId: second.messageId, token: Buffer.alloc(0), options: [] });
    await expect(Promise.all(calls)).resolves.toEqual([undefined, undefined]);
  });

  it('block-wise uploads are only accepted for a known device and path, in full blocks of one size', async () => {
    const raw = await RawCoap.open(t.coapPort);
    cleanups.push(() => raw.close());
    const block = (num: number, more: boolean, szx = 0) => Buffer.from([(num << 4) | (more ? 8 : 0) | szx]);
    raw.send({ confirmable: true, code: 'POST', messageId: 620, token: Buffer.from([1]), options: [...uriPath('/api/v1/WRONG/rpc'), { name: 'Block1', value: block(0, true) }], payload: Buffer.alloc(16, 0x20) });
    expect((await raw.next((p) => p.messageId === 620)).code).toBe('4.01');
    raw.send({ confirmable: true, code: 'POST', messageId: 621, token: Buffer.from([2]), options: [...uriPath('/somewhere/else'), { name: 'Block1', value: block(0, true) }], payload: Buffer.alloc(16, 0x20) });
    expect((await raw.next((p) => p.messageId === 621)).code).toBe('4.00');
    raw.send({ confirmable: true, code: 'POST', messageId: 622, token: Buffer.from([3]), options: [...uriPath('/api/v1/TOKEN_A/rpc'), { name: 'Block1', value: block(0, true) }], payload: Buffer.from('abc') });
    expect((await raw.next((p) => p.messageId === 622)).code).toBe('4.00');
    raw.send({ confirmable: true, code: 'POST', messageId: 623, token: Buffer.from([4]), options: [...uriPath('/api/v1/TOKEN_A/rpc'), { name: 'Proxy-Uri', value: Buffer.from('coap://elsewhere/') }], payload: Buffer.from('{}') });
    expect((await raw.next((p) => p.messageId === 623)).code).toBe('5.05');
  });

  it('two large notifications in a row are each fetched whole, continuation blocks without Observe', async () => {
    const raw = await RawCoap.open(t.coapPort);
    cleanups.push(() => raw.close());
    const path = uriPath('/api/v1/TOKEN_PLAIN/rpc');
    register(raw, [6, 4], 630, false);
    await raw.next((p) => p.token.equals(Buffer.from([6, 4])) && p.payload.length === 0);
    const payloads = ['A', 'B'].map((letter) => ({ text: letter.repeat(1500) }));
    const calls = payloads.map((params, i) => t.server.call('dev-plain', { method: `big${i}`, params, oneway: true, timeout: 3000 }));
    const firsts = [await raw.next((p) => p.code === '2.05' && p.payload.length > 0), await raw.next((p) => p.code === '2.05' && p.payload.length > 0)];
    await Promise.all(calls);
    let messageId = 640;
    for (const [i, first] of firsts.entries()) {
      const etag = first.options.find((o) => o.name === 'ETag')?.value;
      expect(etag, JSON.stringify(first.options.map((o) => o.name))).toBeDefined();
      const parts = [first.payload];
      for (let num = 1, more = true; more; num++) {
        raw.send({ confirmable: true, code: 'GET', messageId: ++messageId, token: Buffer.from([7, num]), options: [...path, { name: 'ETag', value: etag! }, { name: 'Block2', value: Buffer.from([(num << 4) | 6]) }] });
        const block = await raw.next((p) => p.messageId === messageId);
        expect(block.options.some((o) => o.name === 'Observe')).toBe(false);
        parts.push(block.payload);
        const value = block.options.find((o) => o.name === 'Block2')!.value;
        more = (value[value.length - 1]! & 0x8) !== 0;
      }
      expect(JSON.parse(Buffer.concat(parts).toString())).toMatchObject({ method: `big${i}`, params: payloads[i] });
    }
  });
});
