import type { LoadResult } from '../lib/load.js';
import { startProcess } from '../lib/processes.js';
import { startRedisServer } from '../lib/redis.js';
import type { ScenarioReport } from '../lib/results.js';
import { round } from '../lib/stats.js';
import { loadSettings, type BenchSettings } from './settings.js';
import { measureIotRpc } from './systems.js';
import { throughputRows } from './throughput-rows.js';

/**
 * Two nodes and a Redis: the caller runs in node A (library call()), every
 * device is connected to node B, so each call goes A → Redis → B → device →
 * B → Redis → A. Single-node rpc-mqtt is measured in the same run, with the
 * same devices and load, to set the two side by side.
 */
export async function rpcCluster(s: BenchSettings): Promise<ScenarioReport> {
  const load = loadSettings(s);
  const single = await measureIotRpc(load);
  const redis = await startRedisServer();
  try {
    const nodeA = await startProcess('iot-rpc-server', ['--devices', String(s.devices), '--redis', redis.url, '--node-id', 'bench-a']);
    const nodeB = await startProcess('iot-rpc-server', ['--devices', String(s.devices), '--redis', redis.url, '--node-id', 'bench-b']);
    try {
      const fleet = await startProcess('device-fleet', ['--server', `127.0.0.1:${nodeB.ready.mqttPort as number}`, '--devices', String(s.devices), '--layout', 'thingsboard']);
      try {
        // Let node B register the last sessions in the directory before the first call leaves node A.
        await new Promise((resolve) => setTimeout(resolve, 500));
        const [cluster, owner] = await Promise.all([
          nodeA.request<LoadResult>({ type: 'load', devices: load.devices, concurrency: load.concurrency, warmupMs: load.warmupMs, durationMs: load.durationMs }),
          nodeB.request<{ cpuMicros: number }>({ type: 'cpu-window', warmupMs: load.warmupMs, durationMs: load.durationMs }),
        ]);
        const ownerMicrosPerCall = cluster.calls > 0 ? round(owner.cpuMicros / cluster.calls, 1) : 0;
        return {
          scenario: 'rpc-cluster',
          settings: { devices: s.devices, concurrency: s.concurrency, seconds: s.seconds, warmup: s.warmup, nodes: 2 },
          figures: { cluster, singleNode: single, ownerCpuMicrosPerCall: ownerMicrosPerCall },
          rows: [
            ...throughputRows('cluster (A → B)', cluster, 'node A: the caller, the router and the Redis client (the calls leave through Redis)'),
            { figure: 'cluster node B CPU µs per call', value: ownerMicrosPerCall, includes: 'node B: inbox, actors, MQTT to the devices, the reply back through Redis' },
            ...throughputRows('single node', single, 'the same load on one node, no Redis (rpc-mqtt), measured first in this run'),
            { figure: 'cluster / single node calls/s', value: single.callsPerSecond > 0 ? round(cluster.callsPerSecond / single.callsPerSecond, 2) : 0, includes: 'both on this machine: Redis, two nodes and the device fleet share its cores' },
          ],
        };
      } finally {
        await fleet.stop();
      }
    } finally {
      await nodeA.stop();
      await nodeB.stop();
    }
  } finally {
    await redis.stop();
  }
}
