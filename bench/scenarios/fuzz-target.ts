/**
 * What one fuzz run aims at: a fresh iot-rpc server process (MQTT, HTTP,
 * WebSocket and CoAP, a gateway device, the default pending-call limit,
 * logging JSON at `warn` to stderr, which a LogWatch reads), an echo device
 * connected throughout, and the fuzzer process for one protocol.
 */
import type { FuzzProtocol } from '../lib/fuzz-inputs/index.js';
import type { LogWatch } from '../lib/log-watch.js';
import { startProcess, type BenchProcess } from '../lib/processes.js';

/** d0: the echo device, connected throughout. d1: the device connected only after the fuzz, to check a new session. */
export const ECHO_DEVICE = 0;
export const CHECK_DEVICE = 1;
/**
 * The devices the fuzzer connects as, f0 … f49 (tokens `fuzz-{i}`, which no
 * few byte mutations turn into `bench-0` or `bench-1`): enough that 50
 * sessions at a time seldom take over one another (some still do).
 */
export const FUZZ_DEVICES = 50;

/**
 * glibc raises its mmap threshold after a large block is freed, up to 32 MiB,
 * and from then on keeps freed large blocks in its arenas: after a burst of
 * logins (scrypt, 16 MiB each, four at a time in libuv's threads) RSS stays
 * 120-150 MiB up with the JS heap back where it was. A fixed threshold
 * (glibc's initial 128 KiB) returns freed large blocks to the system and
 * keeps leaked ones mapped, so RSS after the fuzz shows what the server still
 * holds. BENCH_GLIBC_DEFAULTS=1 measures with glibc's defaults instead.
 */
export const ALLOCATOR_ENV: Record<string, string> = process.env.BENCH_GLIBC_DEFAULTS === '1' ? {} : { MALLOC_MMAP_THRESHOLD_: '131072' };

export interface FuzzTarget {
  server: BenchProcess;
  echo: BenchProcess;
  fuzzer: BenchProcess;
  stop(): Promise<void>;
}

export async function startTarget(protocol: FuzzProtocol, seed: number, log: LogWatch): Promise<FuzzTarget> {
  const server = await startProcess(
    'iot-rpc-server',
    ['--devices', '2', '--fuzz-devices', String(FUZZ_DEVICES), '--http', 'true', '--coap', 'true', '--gateway', 'true', '--log-level', 'warn', '--max-pending', '1000'],
    { onStderrLine: log.onLine, env: ALLOCATOR_ENV },
  );
  const started: BenchProcess[] = [server];
  const stop = async () => {
    for (const process of [...started].reverse()) await process.stop();
  };
  try {
    const echo = await startProcess('device-fleet', ['--server', `127.0.0.1:${server.ready.mqttPort as number}`, '--devices', '1', '--first-index', String(ECHO_DEVICE)]);
    started.push(echo);
    const fuzzer = await startProcess('fuzzer', [
      '--protocol', protocol,
      '--seed', String(seed),
      '--mqtt-port', String(server.ready.mqttPort),
      '--http-port', String(server.ready.httpPort),
      '--coap-port', String(server.ready.coapPort),
      '--fuzz-devices', String(FUZZ_DEVICES),
      '--echo-device', `d${ECHO_DEVICE}`,
    ]);
    started.push(fuzzer);
    return { server, echo, fuzzer, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
