import { connect, type Socket } from 'node:net';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { startProcess, type BenchProcess } from '../lib/processes.js';
import type { Row, ScenarioReport } from '../lib/results.js';
import type { BenchSettings } from './settings.js';

/**
 * What one hostile or broken peer can make the server hold: each attack runs against a fresh server process, whose
 * RSS (after a GC) is read before, while the attacker is still connected, and after it left. The attacks are
 * issue 9's: one-way calls of 60 KB to a device that never reads its socket; client-side calls from a device that
 * reads no answers; subscription filters of 20 KB on one connection; persistent calls of 60 KB for one offline
 * device. `--scale F` scales them (1 = the issue's sizes: 3,000, 20,000, 3,000, 2,000).
 */
interface AttackResult {
  readonly attack: string;
  readonly rssBeforeMiB: number;
  readonly rssDuringMiB: number;
  readonly rssAfterMiB: number;
  readonly outcome: string;
}

const MiB = 2 ** 20;
const mib = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

class RawMqtt {
  closed = false;
  readonly packets: Packet[] = [];
  private constructor(readonly socket: Socket) {
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    parser.on('packet', (packet) => this.packets.push(packet));
    parser.on('error', () => {});
    socket.on('data', (chunk) => parser.parse(chunk));
    socket.on('error', () => {});
    socket.on('close', () => (this.closed = true));
  }

  static async connected(port: number, token: string): Promise<RawMqtt> {
    const socket = connect(port, '127.0.0.1');
    await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    const client = new RawMqtt(socket);
    client.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: token, clean: true, keepalive: 0, username: token });
    for (let i = 0; i < 200 && !client.packets.some((p) => p.cmd === 'connack'); i++) await sleep(10);
    return client;
  }

  send(packet: Packet): boolean {
    return this.socket.write(mqttPacket.generate(packet));
  }
}

async function measure(attack: string, run: (server: BenchProcess) => Promise<{ outcome: string; leave: () => void | Promise<void> }>): Promise<AttackResult> {
  const server = await startProcess('bounds-target', ['--devices', '4']);
  try {
    const before = await server.request<{ rssBytes: number }>({ type: 'memory' });
    const { outcome, leave } = await run(server);
    const during = await server.request<{ rssBytes: number }>({ type: 'memory' }, 60_000);
    await leave();
    await sleep(1000);
    const after = await server.request<{ rssBytes: number }>({ type: 'memory' });
    return { attack, rssBeforeMiB: mib(before.rssBytes), rssDuringMiB: mib(during.rssBytes), rssAfterMiB: mib(after.rssBytes), outcome };
  } finally {
    await server.stop();
  }
}

async function login(httpPort: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin@bounds.local', password: 'bounds' }) });
  return ((await res.json()) as { token: string }).token;
}

export async function peerBounds(s: BenchSettings): Promise<ScenarioReport> {
  const scale = s.scale;
  const n = (full: number) => Math.max(1, Math.round(full * scale));
  const results: AttackResult[] = [];

  results.push(
    await measure(`${n(3000)} one-way calls of 60 KB to a device that never reads`, async (server) => {
      const device = await RawMqtt.connected(server.ready.mqttPort as number, 'bounds-token-0');
      device.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'v1/devices/me/rpc/request/+', qos: 0 }] });
      await sleep(200);
      device.socket.pause();
      const { counts } = await server.request<{ counts: Record<string, number> }>({ type: 'oneway-burst', deviceId: 'b0', count: n(3000), bytes: 60_000, timeoutMs: 5000 }, 120_000);
      return { outcome: Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', '), leave: () => void device.socket.destroy() };
    }),
  );

  results.push(
    await measure(`${n(20_000)} client-side calls from a device that reads no answers`, async (server) => {
      const device = await RawMqtt.connected(server.ready.mqttPort as number, 'bounds-token-1');
      device.socket.pause();
      const payload = JSON.stringify({ method: 'echo', params: { blob: 'y'.repeat(4000) } });
      let sent = 0;
      for (let i = 1; i <= n(20_000) && !device.closed; i++) {
        device.send({ cmd: 'publish', topic: `v1/devices/me/rpc/request/${i}`, payload, qos: 0, dup: false, retain: false });
        sent++;
        if (i % 200 === 0) await sleep(2);
      }
      await sleep(1000);
      const rssWhilePaused = await server.request<{ rssBytes: number }>({ type: 'memory' });
      // Only a socket that reads can see its end.
      device.socket.resume();
      await sleep(3000);
      return {
        outcome: `${sent} sent; RSS while it read nothing ${mib(rssWhilePaused.rssBytes)} MiB; connection ${device.closed ? 'closed by the server' : 'still open'}`,
        leave: () => void device.socket.destroy(),
      };
    }),
  );

  results.push(
    await measure(`${n(3000)} subscription filters of 20 KB on one connection`, async (server) => {
      const device = await RawMqtt.connected(server.ready.mqttPort as number, 'bounds-token-2');
      for (let i = 0; i < n(3000) && !device.closed; i++) {
        device.send({ cmd: 'subscribe', messageId: (i % 65535) + 1, subscriptions: [{ topic: `v1/devices/me/attributes/${i}/${'f'.repeat(20_000)}`, qos: 0 }] });
        if (i % 100 === 0) await sleep(2);
      }
      await sleep(1000);
      const granted = device.packets.filter((p) => p.cmd === 'suback').flatMap((p) => (p as { granted: number[] }).granted);
      const accepted = granted.filter((g) => g === 0 || g === 1).length;
      return { outcome: `${accepted} of ${granted.length} answered filters granted`, leave: () => void device.socket.destroy() };
    }),
  );

  results.push(
    await measure(`${n(2000)} persistent calls of 60 KB for one offline device`, async (server) => {
      const httpPort = server.ready.httpPort as number;
      const token = await login(httpPort);
      const body = JSON.stringify({ method: 'later', params: { blob: 'z'.repeat(60_000) }, persistent: true, timeout: 60_000, expirationTime: Date.now() + 20 * 86_400_000 });
      const statuses: Record<string, number> = {};
      for (let start = 0; start < n(2000); start += 50) {
        const batch = Array.from({ length: Math.min(50, n(2000) - start) }, () =>
          fetch(`http://127.0.0.1:${httpPort}/api/rpc/oneway/b3`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-authorization': `Bearer ${token}` }, body }).then((res) => {
            statuses[res.status] = (statuses[res.status] ?? 0) + 1;
            return res.arrayBuffer();
          }),
        );
        await Promise.all(batch);
      }
      return { outcome: Object.entries(statuses).map(([status, count]) => `HTTP ${status}: ${count}`).join(', '), leave: () => {} };
    }),
  );

  const rows: Row[] = results.flatMap((r) => [
    { figure: `${r.attack}: RSS before → during → after (MiB)`, value: `${r.rssBeforeMiB} → ${r.rssDuringMiB} → ${r.rssAfterMiB}`, includes: 'server process, after a forced GC; "during": the attacker still connected' },
    { figure: `${r.attack}: what the server did`, value: r.outcome, includes: 'outcomes seen by the application or the attacker' },
  ]);
  return { scenario: 'peer-bounds', settings: { scale }, figures: { results }, rows };
}
