/**
 * The fuzzer for one protocol, in its own process so that it neither shares
 * the server's CPU accounting nor can take the runner down. It logs in once
 * (a JWT for the REST and WebSocket inputs), then answers `run` (the whole
 * fuzz), `sessions-at` (which sessions were under way at given times) and
 * `replay` (one session alone, or some of its inputs: for triage).
 */
import { argument, serveCommands } from '../lib/child.js';
import { SessionTimeline, runFuzz, runSession, sessionAt, type FuzzOptions } from '../lib/fuzz-driver.js';
import { FUZZERS, type FuzzProtocol, type FuzzTargets } from '../lib/fuzz-inputs/index.js';
import { TOKEN_PREFIX } from '../lib/payload.js';

const fuzzer = FUZZERS[argument('protocol') as FuzzProtocol];
const seed = Number(argument('seed'));
const httpPort = Number(argument('http-port'));
const fuzzDevices = Array.from({ length: Number(argument('fuzz-devices')) }, (_, i) => i);
const username = 'admin@bench.local';
const password = 'bench';

const login = await fetch(`http://127.0.0.1:${httpPort}/api/auth/login`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ username, password }),
});
if (login.status !== 200) throw new Error(`fuzzer: login answered ${login.status} ${await login.text()}`);
const tokens = (await login.json()) as { token: string; refreshToken: string };

const targets: FuzzTargets = {
  mqttPort: Number(argument('mqtt-port')),
  httpPort,
  coapPort: Number(argument('coap-port')),
  deviceTokens: fuzzDevices.map((i) => `fuzz-${i}`),
  deviceIds: fuzzDevices.map((i) => `f${i}`),
  gatewayToken: `${TOKEN_PREFIX}gateway`,
  echoDeviceId: argument('echo-device'),
  username,
  password,
  jwt: tokens.token,
  refreshToken: tokens.refreshToken,
};
const timeline = new SessionTimeline();

/**
 * Session `index`, with its inputs in hex: as generated, or only the inputs at
 * `keep` one write each, or (`coalesce`) all of them in one write, as a
 * server under load reads what arrived meanwhile (UDP: one datagram each).
 */
async function replay(index: number, keep: number[] | undefined, coalesce: boolean, probeTimeoutMs: number) {
  let session = sessionAt(fuzzer, targets, seed, index);
  if (keep !== undefined || coalesce) {
    const inputs = (keep ?? session.inputs.map((_, i) => i)).map((i) => session.inputs[i]!);
    const bytes = inputs.map((input) => input.bytes);
    session = { ...session, inputs, writes: coalesce && fuzzer.transport === 'tcp' ? [Buffer.concat(bytes)] : bytes };
  }
  const result = await runSession(fuzzer, targets, session, probeTimeoutMs);
  return {
    outcome: result.outcome,
    answers: result.answers.map((a) => a.key),
    inputs: session.inputs.map((input) => ({ label: input.label, bytes: input.bytes.length, hex: input.bytes.toString('hex') })),
  };
}

serveCommands({ protocol: fuzzer.protocol }, async (command) => {
  switch (command.type) {
    case 'run':
      return runFuzz(fuzzer, targets, { seed, ...(command.options as Omit<FuzzOptions, 'seed'>) }, timeline);
    case 'sessions-at':
      return [...new Set((command.times as number[]).flatMap((at) => timeline.around(at, Number(command.slackMs), Number(command.most))))];
    case 'replay':
      return replay(Number(command.index), command.keep as number[] | undefined, command.coalesce === true, Number(command.probeTimeoutMs));
    default:
      throw new Error(`unknown command ${String(command.type)}`);
  }
});
