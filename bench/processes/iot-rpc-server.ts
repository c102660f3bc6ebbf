/**
 * iot-rpc under test, embedded as an application would: the caller runs in
 * this process and calls `server.call()` (library API). With --http it also
 * serves the REST API for the rpc-rest scenario; with --coap, CoAP besides
 * MQTT. With --log-level the server logs JSON (pino) to stderr, which the
 * fuzz and soak scenarios read; without it, it logs nothing.
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { createRpcServer } from '../../src/index.js';
import { argument, serveCommands } from '../lib/child.js';
import { runLoad, type LoadOptions } from '../lib/load.js';
import { startPacedCalls, type PacedCalls } from '../lib/paced-calls.js';
import { CALL_TIMEOUT_MS, METHOD, PARAMS, TOKEN_PREFIX } from '../lib/payload.js';
import { round } from '../lib/stats.js';
import { WindowRecorder } from '../lib/window-stats.js';

const deviceCount = Number(argument('devices'));
const ids = Array.from({ length: deviceCount }, (_, i) => `d${i}`);
const logLevel = argument('log-level', '');
/** A gateway device (token `bench-gateway`) for the gateway API. */
const gateway = argument('gateway', 'false') === 'true';
/** Devices f0 … fN-1 with tokens `fuzz-{i}`: far, as bytes, from every `bench-{i}` token. */
const fuzzDevices = Number(argument('fuzz-devices', '0'));
const server = createRpcServer({
  config: {
    jwt: { secret: 'benchmark-secret-benchmark-secret-0123456789' },
    tenants: [{ id: 'bench', name: 'Benchmark' }],
    users: [{ email: 'admin@bench.local', password: 'bench', role: 'TENANT_ADMIN', tenantId: 'bench' }],
    devices: [
      ...ids.map((id, i) => ({ id, name: id, tenantId: 'bench', accessToken: `${TOKEN_PREFIX}${i}` })),
      ...(gateway ? [{ id: 'gw', name: 'gw', tenantId: 'bench', accessToken: `${TOKEN_PREFIX}gateway`, gateway: true }] : []),
      ...Array.from({ length: fuzzDevices }, (_, i) => ({ id: `f${i}`, name: `f${i}`, tenantId: 'bench', accessToken: `fuzz-${i}` })),
    ],
    rpc: { maxPendingPerDevice: Number(argument('max-pending', '100000')) },
  },
  host: '127.0.0.1',
  httpPort: argument('http', 'false') === 'true' || argument('transport', 'mqtt') === 'http' ? 0 : null,
  mqttPort: 0,
  coapPort: argument('coap', 'false') === 'true' || argument('transport', 'mqtt') === 'coap' ? 0 : null,
  logger: logLevel === '' ? false : pino({ level: logLevel, base: { name: 'iot-rpc' } }, pino.destination({ dest: 2, sync: true })),
  redis: argument('redis', '') || undefined,
  nodeId: argument('node-id', '') || undefined,
});
const addresses = await server.listen();

/** RLIMIT_NOFILE of this process: one socket per connected device. */
function openFilesLimit(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line === undefined ? NaN : Number(line.split(/\s{2,}/)[1]);
  return Number.isFinite(soft) ? soft : Infinity;
}

function memory(): { heapUsedBytes: number; rssBytes: number; heapTotalBytes: number; externalBytes: number; arrayBuffersBytes: number } {
  globalThis.gc?.();
  globalThis.gc?.();
  const { heapUsed, rss, heapTotal, external, arrayBuffers } = process.memoryUsage();
  return { heapUsedBytes: heapUsed, rssBytes: rss, heapTotalBytes: heapTotal, externalBytes: external, arrayBuffersBytes: arrayBuffers };
}

/** Application calls at a fixed rate, two-way and one-way: the soak's load, and the fuzz's calls to the devices it fuzzes as. */
let mixed: { calls: PacedCalls; recorder: WindowRecorder } | undefined;

function startMixed(command: Record<string, unknown>): void {
  const targets = command.targets as Array<{ id: string; kind: string }>;
  const onewayShare = Number(command.onewayShare);
  const timeout = Number(command.timeoutMs ?? CALL_TIMEOUT_MS);
  const recorder = new WindowRecorder(new Set(['oneway']));
  const calls = startPacedCalls(Number(command.rate), () => {
    const target = targets[Math.floor(Math.random() * targets.length)]!;
    const oneway = Math.random() < onewayShare;
    return { kind: oneway ? 'oneway' : target.kind, run: () => server.call(target.id, { method: METHOD, params: PARAMS, oneway, timeout }) };
  }, recorder);
  mixed = { calls, recorder };
}

const usage = () => ({ ...process.memoryUsage(), uptimeSeconds: round(process.uptime(), 1) });

serveCommands(
  { mqttPort: addresses.mqttPort, httpPort: addresses.httpPort, coapPort: addresses.coapPort },
  async (command) => {
    switch (command.type) {
      case 'load':
        return runLoad((i) => server.call(ids[i]!, { method: METHOD, params: PARAMS, timeout: CALL_TIMEOUT_MS }), command as unknown as LoadOptions);
      case 'memory':
        return memory();
      case 'bulk': {
        // One bulk call to the first N devices: wall time to the last result, and this process's CPU per device.
        const targets = ids.slice(0, Number(command.devices));
        // The garbage of what ran before is collected first, not counted against this bulk call.
        globalThis.gc?.();
        globalThis.gc?.();
        const cpu = process.cpuUsage();
        const started = performance.now();
        const { summary } = await server.callMany(targets, { method: METHOD, params: PARAMS, timeout: CALL_TIMEOUT_MS });
        const used = process.cpuUsage(cpu);
        return { devices: targets.length, msToLastResult: round(performance.now() - started, 1), cpuMicrosPerDevice: round((used.user + used.system) / targets.length, 1), ok: summary.ok, failed: summary.failed };
      }
      case 'usage':
        // Memory as it is, without a forced GC, for sampling during a run.
        return usage();
      case 'call':
        return server.call(String(command.deviceId), { method: METHOD, params: PARAMS, timeout: Number(command.timeoutMs ?? CALL_TIMEOUT_MS) });
      case 'device-state':
        return server.devices.state(String(command.deviceId));
      case 'mixed-start':
        if (mixed !== undefined) throw new Error('mixed calls already running');
        startMixed(command);
        return true;
      case 'mixed-sample':
        if (mixed === undefined) throw new Error('no mixed calls running');
        return { ...mixed.recorder.take(), ...usage() };
      case 'mixed-stop': {
        if (mixed === undefined) throw new Error('no mixed calls running');
        await mixed.calls.stop();
        const last = { ...mixed.recorder.take(), ...usage() };
        mixed = undefined;
        return last;
      }
      case 'fd-limit':
        return openFilesLimit();
      case 'subscribed':
        return ids.filter((id) => server.devices.state(id) === 'subscribed').length;
      case 'cpu-window': {
        // CPU of this process while another process drives the REST API.
        await new Promise((r) => setTimeout(r, Number(command.warmupMs)));
        const start = process.cpuUsage();
        await new Promise((r) => setTimeout(r, Number(command.durationMs)));
        const cpu = process.cpuUsage(start);
        return { cpuMicros: round(cpu.user + cpu.system, 0), ...process.memoryUsage() };
      }
      default:
        throw new Error(`unknown command ${String(command.type)}`);
    }
  },
  () => server.close(),
);
