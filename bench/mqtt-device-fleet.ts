/**
 * A fleet of MQTT devices in their own process (the `mqtt` package, one client
 * per device) that answer every RPC by echoing its params. Started by the
 * benchmark scripts with `fork`; reports `{ready}` over IPC once all are
 * connected and subscribed (`--idle`: subscribed, never called).
 *
 *   tsx bench/mqtt-device-fleet.ts --url mqtt://127.0.0.1:1883 --devices 1000 --token-prefix bench- [--idle] [--qos 1]
 */
import { parseArgs } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';

const { values } = parseArgs({
  options: {
    url: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
    devices: { type: 'string', default: '1000' },
    'token-prefix': { type: 'string', default: 'bench-' },
    idle: { type: 'boolean', default: false },
    qos: { type: 'string', default: '1' },
    'protocol-version': { type: 'string', default: '4' },
  },
});

const count = Number(values.devices);
const qos = Number(values.qos) as 0 | 1;
const clients: MqttClient[] = [];
const CONNECT_BATCH = 200;

async function connectOne(index: number): Promise<MqttClient> {
  const client = mqtt.connect(values.url!, {
    username: `${values['token-prefix']}${index}`,
    clientId: `fleet-${index}`,
    protocolVersion: Number(values['protocol-version']) as 4 | 5,
    keepalive: 600,
    reconnectPeriod: 0,
  });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  if (!values.idle) {
    client.on('message', (topic, payload) => {
      const id = topic.slice(topic.lastIndexOf('/') + 1);
      const request = JSON.parse(payload.toString()) as { params: unknown };
      client.publish(`v1/devices/me/rpc/response/${id}`, JSON.stringify(request.params));
    });
  }
  await client.subscribeAsync('v1/devices/me/rpc/request/+', { qos });
  return client;
}

for (let start = 0; start < count; start += CONNECT_BATCH) {
  const batch = [];
  for (let i = start; i < Math.min(count, start + CONNECT_BATCH); i++) batch.push(connectOne(i));
  clients.push(...(await Promise.all(batch)));
}
process.send?.({ ready: clients.length });
process.on('message', (message: { stop?: boolean }) => {
  if (message.stop) {
    for (const client of clients) client.end(true);
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
