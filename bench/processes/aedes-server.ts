/**
 * What a Node user would build instead: Aedes embedded in the process, with
 * hand-made request/response on top. Requests are `aedes.publish`ed at QoS 1
 * on each device's own topic with a correlation id, replies arrive through
 * `aedes.subscribe`, pending calls wait in a Map with a timer each.
 */
import { createServer } from 'node:net';
import { Aedes } from 'aedes';
import { argument, serveCommands } from '../lib/child.js';
import { runLoad, type LoadOptions } from '../lib/load.js';
import { TOKEN_PREFIX, requestJson } from '../lib/payload.js';
import { PendingCalls, idAtEnd } from '../lib/pending-calls.js';

const deviceCount = Number(argument('devices'));
const broker = await Aedes.createBroker();
const tcp = createServer({ noDelay: true }, broker.handle);
await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
const calls = new PendingCalls();

await new Promise<void>((resolve) =>
  broker.subscribe(
    'devices/+/rpc/response/+',
    (packet, done) => {
      calls.settle(idAtEnd(packet.topic), packet.payload as Buffer);
      done();
    },
    () => resolve(),
  ),
);

function call(device: number): Promise<unknown> {
  const { id, reply } = calls.open();
  broker.publish(
    { cmd: 'publish', topic: `devices/${TOKEN_PREFIX}${device}/rpc/request/${id}`, payload: Buffer.from(requestJson()), qos: 1, retain: false, dup: false },
    (error) => {
      if (error) calls.fail(id, error);
    },
  );
  return reply;
}

serveCommands({ mqttPort: (tcp.address() as { port: number }).port, devices: deviceCount }, (command) => {
  if (command.type === 'load') return runLoad(call, command as unknown as LoadOptions);
  throw new Error(`unknown command ${String(command.type)}`);
}, () => new Promise<void>((resolve) => broker.close(() => tcp.close(() => resolve()))));
