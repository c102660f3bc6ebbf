// A device for the quick start: one MQTT connection that subscribes to server-side RPC
// and answers every call with {"ok": true, "method", "params"}.
//   node examples/device.mjs [ACCESS_TOKEN] [mqtt://localhost:1883]
import mqtt from 'mqtt';

const [token = 'PUMP_7_TOKEN', url = 'mqtt://localhost:1883'] = process.argv.slice(2);
const device = mqtt.connect(url, { username: token });

device.on('connect', () => {
  device.subscribe('v1/devices/me/rpc/request/+', { qos: 1 });
  console.log(`connected to ${url} as ${token}; waiting for calls`);
});
device.on('message', (topic, payload) => {
  const { method, params } = JSON.parse(payload.toString());
  console.log(`call ${topic}: ${method}`, params);
  device.publish(topic.replace('/request/', '/response/'), JSON.stringify({ ok: true, method, params }));
});
device.on('error', (error) => {
  console.error(`device: ${error.message}`);
  process.exit(1);
});
