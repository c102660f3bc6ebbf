/** Simulated MQTT.js devices in their own process (src/simulator), for every compared system alike. */
import { DeviceSimulator } from '../../src/simulator/index.js';
import { argument, serveCommands } from '../lib/child.js';
import { TOKEN_PREFIX } from '../lib/payload.js';

const sourceAddresses = argument('source-addresses', '');
const simulator = new DeviceSimulator({
  server: argument('server'),
  transport: argument('transport', 'mqtt') as 'mqtt' | 'mqtt-ws' | 'coap' | 'http',
  devices: Number(argument('devices')),
  firstIndex: Number(argument('first-index', '0')),
  tokenPrefix: TOKEN_PREFIX,
  topicLayout: argument('layout', 'thingsboard') as 'thingsboard' | 'per-device',
  answer: argument('idle', 'false') !== 'true',
  qos: Number(argument('qos', '1')) as 0 | 1,
  protocolVersion: Number(argument('protocol-version', '4')) as 4 | 5,
  sourceAddresses: sourceAddresses === '' ? undefined : sourceAddresses.split(','),
  keepaliveSeconds: 600,
});
const started = performance.now();
try {
  await simulator.start();
} catch (error) {
  console.error(`device-fleet: ${error instanceof Error ? error.message : String(error)}`);
  await simulator.stop();
  process.exit(1);
}
const connectSeconds = (performance.now() - started) / 1000;
serveCommands({ devices: simulator.status.devices, connectSeconds }, (command) => {
  if (command.type === 'status') return simulator.status;
  throw new Error(`unknown command ${String(command.type)}`);
}, () => simulator.stop());
