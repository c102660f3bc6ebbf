/**
 * npm run bench -- <scenario> [options]; see bench/README.md.
 * Every scenario uses 127.0.0.1 only, is bounded in time, and stops by itself.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeReport, type ScenarioReport } from './lib/results.js';
import { FUZZ_PROTOCOLS, type FuzzProtocol } from './lib/fuzz-inputs/index.js';
import { baseline } from './scenarios/baseline.js';
import { bulk } from './scenarios/bulk.js';
import { compare } from './scenarios/compare.js';
import { fixedRate } from './scenarios/fixed-rate.js';
import { fuzz } from './scenarios/fuzz.js';
import { idleDevices } from './scenarios/idle-devices.js';
import { rpcMqtt } from './scenarios/rpc-mqtt.js';
import { rpcRest } from './scenarios/rpc-rest.js';
import { DEVICE_TRANSPORTS, type BenchSettings, type DeviceTransport } from './scenarios/settings.js';
import { transports } from './scenarios/transports.js';
import { recovery } from './scenarios/recovery.js';
import { rpcCluster } from './scenarios/rpc-cluster.js';
import { soak } from './scenarios/soak.js';
import { peerBounds } from './scenarios/peer-bounds.js';

const SCENARIOS: Record<string, (s: BenchSettings) => Promise<ScenarioReport>> = {
  'rpc-mqtt': rpcMqtt,
  'rpc-rest': rpcRest,
  'rpc-cluster': rpcCluster,
  bulk,
  'idle-devices': idleDevices,
  'fixed-rate': fixedRate,
  limit: (s) => baseline('limit', s),
  aedes: (s) => baseline('aedes', s),
  mosquitto: (s) => baseline('mosquitto', s),
  compare,
  transports,
  recovery,
  fuzz,
  soak,
  'peer-bounds': peerBounds,
};

const USAGE = `Usage: npm run bench -- <scenario> [options]

Scenarios: ${Object.keys(SCENARIOS).join(', ')}

Options:
  --devices N        MQTT devices (default 1000)
  --concurrency C    calls in flight (default 1000)
  --seconds S        measured window (default 10)
  --warmup S         warm-up before it, not counted (default 3)
  --rounds R         compare: rounds (default 3)
  --rate R           fixed-rate: calls per second (default: half the measured maximum); compare: the
                     fixed offered rate every system also runs at (default 8000);
                     soak: calls per second, library and REST together (default 300)
  --sizes A,B,C      idle-devices: device counts (default 10000,50000,100000); bulk: devices of each
                     bulk call (default 1000,10000)
  --transport T      rpc-mqtt, fixed-rate: devices on mqtt (default), coap or http
  --calls N          recovery: persistent calls in Redis to recover (default 100000)
  --protocol P       fuzz: mqtt, coap, http, ws or all, in turn (default all)
  --count N          fuzz: inputs per protocol (default 100000)
  --seed S           fuzz: PRNG seed, to repeat a run (default random, printed)
  --connections N    fuzz: connections (UDP endpoints) open at a time (default 50)
  --rss-bound MiB    fuzz: how far above its RSS before the fuzz the server may stay (default 64)
  --max-seconds S    fuzz: hard time limit per protocol (default 300)
  --settle-seconds S fuzz: idle time before memory is read after the fuzz (default 5; CoAP holds answers 247 s)
  --minutes M        soak: duration (default 30)
  --scale F          peer-bounds: size of each attack as a fraction of issue 9's (default 1)
  --out DIR          results folder (default bench/results)`;

function number(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`bench: --${name} must be a positive number, got "${value}"\n\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    devices: { type: 'string' },
    concurrency: { type: 'string' },
    seconds: { type: 'string' },
    warmup: { type: 'string' },
    rounds: { type: 'string' },
    rate: { type: 'string' },
    sizes: { type: 'string' },
    transport: { type: 'string' },
    calls: { type: 'string' },
    protocol: { type: 'string' },
    count: { type: 'string' },
    scale: { type: 'string' },
    seed: { type: 'string' },
    connections: { type: 'string' },
    'rss-bound': { type: 'string' },
    'max-seconds': { type: 'string' },
    'settle-seconds': { type: 'string' },
    minutes: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
const scenario = positionals[0];
if (values.help || scenario === undefined) {
  console.log(USAGE);
  process.exit(scenario === undefined && !values.help ? 2 : 0);
}
const run = SCENARIOS[scenario];
if (run === undefined) {
  console.error(`bench: unknown scenario "${scenario}"\n\n${USAGE}`);
  process.exit(2);
}
const transport = (values.transport ?? 'mqtt') as DeviceTransport;
if (!DEVICE_TRANSPORTS.includes(transport)) {
  console.error(`bench: --transport must be one of ${DEVICE_TRANSPORTS.join(', ')}, got "${values.transport}"\n\n${USAGE}`);
  process.exit(2);
}
const protocol = (values.protocol ?? 'all') as FuzzProtocol | 'all';
if (protocol !== 'all' && !FUZZ_PROTOCOLS.includes(protocol)) {
  console.error(`bench: --protocol must be one of ${FUZZ_PROTOCOLS.join(', ')} or all, got "${values.protocol}"\n\n${USAGE}`);
  process.exit(2);
}
const seed = values.seed === undefined ? undefined : Number(values.seed);
if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed < 2 ** 32)) {
  console.error(`bench: --seed must be a whole number from 0 to 4294967295, got "${values.seed}"\n\n${USAGE}`);
  process.exit(2);
}
const settings: BenchSettings = {
  transport,
  calls: Math.round(number('calls', values.calls, 100_000)),
  devices: Math.round(number('devices', values.devices, 1000)),
  concurrency: Math.round(number('concurrency', values.concurrency, 1000)),
  seconds: number('seconds', values.seconds, 10),
  warmup: number('warmup', values.warmup, 3),
  rounds: Math.round(number('rounds', values.rounds, 3)),
  rate: values.rate === undefined ? undefined : number('rate', values.rate, 0),
  sizes: (values.sizes ?? (scenario === 'bulk' ? '1000,10000' : '10000,50000,100000')).split(',').map((v) => Math.round(number('sizes', v, 0))),
  outDir: values.out ?? fileURLToPath(new URL('./results', import.meta.url)),
  protocol,
  count: Math.round(number('count', values.count, 100_000)),
  seed,
  connections: Math.round(number('connections', values.connections, 50)),
  rssBoundMiB: number('rss-bound', values['rss-bound'], 64),
  maxSeconds: number('max-seconds', values['max-seconds'], 300),
  settleSeconds: number('settle-seconds', values['settle-seconds'], 5),
  minutes: number('minutes', values.minutes, 30),
  scale: number('scale', values.scale, 1),
};
try {
  const report = await run(settings);
  writeReport(settings.outDir, report);
  if (report.failures !== undefined && report.failures.length > 0) {
    console.error(`bench ${scenario} failed:\n${report.failures.map((f) => `  ${f}`).join('\n')}`);
    process.exit(1);
  }
  process.exit(0);
} catch (error) {
  console.error(`bench ${scenario} failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
