import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports.js';

const CANDIDATES = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/local/bin/mosquitto'];

/** The mosquitto binary, or undefined when it is not installed (Debian: apt-get install mosquitto). */
export function findMosquitto(): string | undefined {
  return CANDIDATES.find((path) => existsSync(path));
}

export interface Mosquitto {
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * Starts mosquitto on 127.0.0.1 and a free port with a config of its own: no
 * persistence, no limit on in-flight or queued messages (the caller keeps
 * 1000 QoS 1 calls in flight), no connection limit.
 */
export async function startMosquitto(binary: string): Promise<Mosquitto> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'iot-rpc-mosquitto-'));
  const config = join(dir, 'mosquitto.conf');
  writeFileSync(
    config,
    [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence false', 'max_inflight_messages 0', 'max_queued_messages 0', 'max_connections -1', 'set_tcp_nodelay true', 'log_dest none', ''].join('\n'),
  );
  const child: ChildProcess = spawn('bash', ['-c', `ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" -c "$1"`, binary, config], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPort(port, `mosquitto (config ${config})`, () => child.exitCode !== null);
  return {
    port,
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
