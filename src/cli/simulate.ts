import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { DeviceSimulator, PROFILE_NAMES, SIMULATOR_TRANSPORTS, provisionDevices, type ProfileName, type SimulatorTransport } from '../simulator/index.js';
import { UsageError, positiveInteger } from './arguments.js';

export const SIMULATE_USAGE = `Usage: iot-rpc simulate --devices N [options]

Connects N simulated devices that subscribe to server-side RPC and answer it.

Options:
  --devices N            how many devices (required)
  --transport T          mqtt (default), mqtt-ws, coap or http
  --server HOST:PORT     the listener of that transport; default 127.0.0.1:1883 (mqtt), :8080 (mqtt-ws, http), :5683 (coap)
  --token-prefix P       device i uses access token P<i>; default sim-
  --first-index I        number of the first device; default 0
  --profile echo|gpio    echo returns the params (default); gpio answers the RPC widgets'
                         contracts: getGpioStatus, setGpioStatus {pin, enabled} (the full pin map),
                         getValue, setValue (number or boolean), checkStatus, getState, setState
  --reply-delay-ms MS    wait before answering; default 0
  --qos 0|1              QoS of the RPC subscription; default 1
  --mqtt-version 4|5     MQTT 3.1.1 (4, default) or 5
  --provision URL        create missing devices first through the REST API at URL; prints each
                         device's name and the id the server gave it (calls name the id)
  --ids-out FILE         with --provision: write {"name": id, …} to FILE as JSON
                         (e.g. http://127.0.0.1:8080) as --user / --password (a tenant admin)
  --user EMAIL, --password PASSWORD
  --status-every S       seconds between status lines; default 5`;

export async function simulate(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      devices: { type: 'string' },
      transport: { type: 'string', default: 'mqtt' },
      server: { type: 'string' },
      'token-prefix': { type: 'string', default: 'sim-' },
      'first-index': { type: 'string' },
      profile: { type: 'string', default: 'echo' },
      'reply-delay-ms': { type: 'string' },
      qos: { type: 'string', default: '1' },
      'mqtt-version': { type: 'string', default: '4' },
      provision: { type: 'string' },
      'ids-out': { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      'status-every': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(SIMULATE_USAGE);
    return;
  }
  if (values.devices === undefined) throw new UsageError('--devices is required');
  const devices = positiveInteger('--devices', values.devices, 0);
  if (devices < 1) throw new UsageError('--devices must be at least 1');
  const transport = values.transport as SimulatorTransport;
  if (!SIMULATOR_TRANSPORTS.includes(transport)) throw new UsageError(`--transport must be one of ${SIMULATOR_TRANSPORTS.join(', ')}, got "${values.transport}"`);
  const defaultServer = { mqtt: '127.0.0.1:1883', 'mqtt-ws': '127.0.0.1:8080', http: '127.0.0.1:8080', coap: '127.0.0.1:5683' }[transport];
  const profile = values.profile as ProfileName;
  if (!PROFILE_NAMES.includes(profile)) throw new UsageError(`--profile must be one of ${PROFILE_NAMES.join(', ')}, got "${values.profile}"`);
  if (values.qos !== '0' && values.qos !== '1') throw new UsageError(`--qos must be 0 or 1, got "${values.qos}"`);
  if (values['mqtt-version'] !== '4' && values['mqtt-version'] !== '5') throw new UsageError(`--mqtt-version must be 4 or 5, got "${values['mqtt-version']}"`);
  const tokenPrefix = values['token-prefix']!;
  const firstIndex = positiveInteger('--first-index', values['first-index'], 0);
  if (values.provision !== undefined) {
    if (values.user === undefined || values.password === undefined) throw new UsageError('--provision needs --user and --password of a tenant admin');
    const result = await provisionDevices({ httpUrl: values.provision, username: values.user, password: values.password, devices, tokenPrefix, firstIndex });
    console.log(`provisioned: ${result.created} created, ${result.reused} reused`);
    for (const { name, id } of result.devices) console.log(`${name} ${id}`);
    if (values['ids-out'] !== undefined) writeFileSync(values['ids-out'], `${JSON.stringify(Object.fromEntries(result.devices.map(({ name, id }) => [name, id])), null, 2)}\n`);
  }
  const simulator = new DeviceSimulator({
    server: values.server ?? defaultServer,
    transport,
    devices,
    tokenPrefix,
    firstIndex,
    profile,
    replyDelayMs: positiveInteger('--reply-delay-ms', values['reply-delay-ms'], 0),
    qos: values.qos === '0' ? 0 : 1,
    protocolVersion: values['mqtt-version'] === '5' ? 5 : 4,
  });
  const started = Date.now();
  const printStatus = () => {
    const s = simulator.status;
    console.log(`devices ${s.devices} · connected ${s.connected} · subscribed ${s.subscribed} · calls answered ${s.callsAnswered} · reconnects ${s.reconnects}`);
  };
  const timer = setInterval(printStatus, positiveInteger('--status-every', values['status-every'], 5) * 1000);
  const stop = () => {
    clearInterval(timer);
    printStatus();
    void simulator.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    await simulator.start();
  } catch (error) {
    clearInterval(timer);
    await simulator.stop();
    throw error;
  }
  console.log(`all ${devices} devices connected and subscribed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  printStatus();
}
