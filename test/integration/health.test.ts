/** /livez and /readyz as an operator's probe reads them (fetch), through a server's life: starting, serving, closing. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createRpcServer } from '../../src/index.js';
import { testConfig } from '../support/server.js';

describe('health', () => {
  it('/readyz is 503 until the listeners are open, 200 while serving, 503 once the server closes; /livez 200 throughout', async () => {
    const server = createRpcServer({ config: testConfig(), host: '127.0.0.1', httpPort: 0, mqttPort: 0, coapPort: null, logger: false });
    // An embedding application that mounts the handler in its own server before listen() reads "not ready".
    const own = createServer(server.httpHandler);
    await new Promise<void>((resolve) => own.listen(0, '127.0.0.1', resolve));
    const early = await fetch(`http://127.0.0.1:${(own.address() as AddressInfo).port}/readyz`);
    expect(early.status).toBe(503);
    expect(await early.json()).toMatchObject({ status: 'fail', output: 'failing: listeners:open, persistentCalls:recovered', checks: { 'listeners:open': [{ status: 'fail' }] } });
    await new Promise((resolve) => own.close(resolve));
    const { httpPort } = await server.listen();
    const url = `http://127.0.0.1:${httpPort}`;
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.headers.get('content-type')).toBe('application/health+json');
    expect(await ready.json()).toEqual({ status: 'pass', checks: { 'listeners:open': [{ status: 'pass' }], 'persistentCalls:recovered': [{ status: 'pass' }] } });
    const live = await fetch(`${url}/livez`);
    expect(live.status).toBe(200);
    expect(await live.json()).toEqual({ status: 'pass', checks: {} });
    const closing = server.close();
    const duringClose = await fetch(`${url}/readyz`).then((r) => r.status, () => 'refused');
    expect([503, 'refused']).toContain(duringClose);
    await closing;
  });
});
