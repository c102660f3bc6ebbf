import type { LoadResult } from '../lib/load.js';
import { startProcess } from '../lib/processes.js';
import type { ScenarioReport } from '../lib/results.js';
import { round } from '../lib/stats.js';
import { loadSettings, type BenchSettings } from './settings.js';
import { throughputRows } from './throughput-rows.js';

/** Two-way calls through `POST /api/rpc/twoway/{id}` over keep-alive HTTP with a JWT, from a separate load process. */
export async function rpcRest(s: BenchSettings): Promise<ScenarioReport> {
  const server = await startProcess('iot-rpc-server', ['--devices', String(s.devices), '--http', 'true']);
  try {
    const fleet = await startProcess('device-fleet', ['--server', `127.0.0.1:${server.ready.mqttPort as number}`, '--devices', String(s.devices)]);
    try {
      const url = `http://127.0.0.1:${server.ready.httpPort as number}`;
      const login = await fetch(`${url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'admin@bench.local', password: 'bench' }),
      });
      const { token } = (await login.json()) as { token: string };
      const load = await startProcess('rest-load', ['--url', url, '--token', token, '--connections', String(Math.min(s.concurrency, 1000))]);
      try {
        const settings = loadSettings(s);
        const [result, window] = await Promise.all([
          load.request<LoadResult>({ type: 'load', ...settings }),
          server.request<{ cpuMicros: number; heapUsed: number; rss: number }>({ type: 'cpu-window', warmupMs: settings.warmupMs, durationMs: settings.durationMs }),
        ]);
        const serverCpu = result.calls === 0 ? NaN : round(window.cpuMicros / result.calls, 1);
        const rows = throughputRows('REST', result, 'the HTTP load process (undici)').filter((r) => !r.figure.startsWith('REST heap'));
        rows.push({ figure: 'iot-rpc server CPU µs per call', value: serverCpu, includes: 'server process (HTTP, JWT check from cache, engine, MQTT) over the same window' });
        rows.push({ figure: 'iot-rpc server heap / RSS MB', value: `${(window.heapUsed / 2 ** 20).toFixed(1)} / ${(window.rss / 2 ** 20).toFixed(1)}`, includes: 'server process at the end of the window' });
        return {
          scenario: 'rpc-rest',
          settings: { devices: s.devices, concurrency: s.concurrency, seconds: s.seconds, warmup: s.warmup },
          figures: { rest: result, serverCpuMicrosPerCall: serverCpu, serverHeapUsedBytes: window.heapUsed, serverRssBytes: window.rss },
          rows,
        };
      } finally {
        await load.stop();
      }
    } finally {
      await fleet.stop();
    }
  } finally {
    await server.stop();
  }
}
