/**
 * The caller for the mosquitto baseline: an application process that uses an
 * MQTT.js client to publish requests (QoS 1, a correlation id in the topic) to
 * each device's own topic through the broker and waits for the replies.
 */
import mqtt from 'mqtt';
import { argument, serveCommands } from '../lib/child.js';
import { runLoad, type LoadOptions } from '../lib/load.js';
import { TOKEN_PREFIX, requestJson } from '../lib/payload.js';
import { PendingCalls, idAtEnd } from '../lib/pending-calls.js';
import { processCpuMicros } from '../lib/proc-cpu.js';

const brokerPid = Number(argument('broker-pid'));
const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${argument('broker-port')}`, { clientId: 'bench-caller', reconnectPeriod: 0 });
const calls = new PendingCalls();
client.on('message', (topic, payload) => calls.settle(idAtEnd(topic), payload));
await client.subscribeAsync('devices/+/rpc/response/+', { qos: 1 });

function call(device: number): Promise<unknown> {
  const { id, reply } = calls.open();
  client.publish(`devices/${TOKEN_PREFIX}${device}/rpc/request/${id}`, requestJson(), { qos: 1 });
  return reply;
}

serveCommands({ ready: true }, (command) => {
  if (command.type === 'load') return runLoad(call, command as unknown as LoadOptions, () => processCpuMicros(brokerPid));
  throw new Error(`unknown command ${String(command.type)}`);
}, () => client.endAsync());
