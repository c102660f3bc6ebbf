/**
 * The floor of one MQTT RPC call in Node: mqtt-packet, a Map of pending calls
 * and a setTimeout per call. No actors, no auth, no validation, nothing else.
 * Devices use the same topics as with iot-rpc; the caller runs in this process.
 */
import { createServer, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { argument, serveCommands } from '../lib/child.js';
import { runLoad, type LoadOptions } from '../lib/load.js';
import { TOKEN_PREFIX, requestJson } from '../lib/payload.js';
import { PendingCalls, idAtEnd } from '../lib/pending-calls.js';

const deviceCount = Number(argument('devices'));
const sockets = new Map<string, { socket: Socket; nextMessageId: number }>();
const calls = new PendingCalls();
const RESPONSE_PREFIX = 'v1/devices/me/rpc/response/';

const tcp = createServer({ noDelay: true }, (socket) => {
  const parser = mqttPacket.parser();
  let token = '';
  const write = (packet: mqttPacket.Packet) => socket.write(mqttPacket.generate(packet));
  parser.on('packet', (packet) => {
    switch (packet.cmd) {
      case 'connect':
        token = packet.username ?? '';
        sockets.set(token, { socket, nextMessageId: 1 });
        write({ cmd: 'connack', returnCode: 0, sessionPresent: false });
        break;
      case 'subscribe':
        write({ cmd: 'suback', messageId: packet.messageId, granted: packet.subscriptions.map(() => 1) });
        break;
      case 'publish':
        if (packet.topic.startsWith(RESPONSE_PREFIX)) calls.settle(idAtEnd(packet.topic), packet.payload as Buffer);
        if (packet.qos === 1) write({ cmd: 'puback', messageId: packet.messageId });
        break;
      case 'pingreq':
        write({ cmd: 'pingresp' });
        break;
      default:
        break;
    }
  });
  parser.on('error', () => socket.destroy());
  socket.on('data', (chunk) => parser.parse(chunk));
  socket.on('error', () => socket.destroy());
  socket.on('close', () => sockets.delete(token));
});
await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));

function call(device: number): Promise<unknown> {
  const session = sockets.get(`${TOKEN_PREFIX}${device}`);
  if (session === undefined) return Promise.reject(new Error('device not connected'));
  const { id, reply } = calls.open();
  session.nextMessageId = session.nextMessageId >= 65535 ? 1 : session.nextMessageId + 1;
  session.socket.write(
    mqttPacket.generate({ cmd: 'publish', topic: `v1/devices/me/rpc/request/${id}`, payload: Buffer.from(requestJson()), qos: 1, messageId: session.nextMessageId, dup: false, retain: false }),
  );
  return reply;
}

serveCommands({ mqttPort: (tcp.address() as { port: number }).port, devices: deviceCount }, (command) => {
  if (command.type === 'load') return runLoad(call, command as unknown as LoadOptions);
  throw new Error(`unknown command ${String(command.type)}`);
}, () => new Promise<void>((resolve) => tcp.close(() => resolve())));
