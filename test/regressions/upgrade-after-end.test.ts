import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRpcServer, type RpcServer } from '../../src/index.js';
import { testConfig } from '../support/server.js';

// Found by `npm run bench -- fuzz --protocol http`: a body over the limit answered 413 with connection: close, then an
// upgrade to an unknown path pipelined in the same write made handleUpgrade write to the ended socket; the
// ERR_STREAM_WRITE_AFTER_END had no listener and ended the process. The standalone listener now survives it through
// its connection gate; an application that mounts the handlers in its own server did not.

let rpc: RpcServer;
let app: Server;
let port: number;
beforeAll(async () => {
  rpc = createRpcServer({ config: testConfig(), httpPort: null, mqttPort: null, coapPort: null, logger: false });
  await rpc.listen();
  app = createServer(rpc.httpHandler);
  app.on('upgrade', (req, socket, head) => rpc.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  port = (app.address() as { port: number }).port;
});
afterAll(async () => {
  app.closeAllConnections();
  await new Promise((resolve) => app.close(resolve));
  await rpc.close();
});

describe('an upgrade pipelined behind a request the server ended', () => {
  it('is dropped quietly; the embedding application keeps serving', async () => {
    const oversized = Buffer.concat([
      Buffer.from('POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 65537\r\n\r\n'),
      Buffer.alloc(65_537, 'x'),
      Buffer.from('GET /elsewhere HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
    ]);
    for (let i = 0; i < 3; i++) {
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      let answer = '';
      socket.on('data', (chunk) => (answer += chunk.toString()));
      socket.write(oversized);
      await new Promise((resolve) => socket.on('close', resolve));
      expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    }
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/TOKEN_PLAIN/rpc?timeout=10`);
    expect(res.status).toBe(408);
  });
});
