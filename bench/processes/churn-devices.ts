/**
 * MQTT devices that come and go, for the soak: each connects (MQTT.js; every
 * other one MQTT 5, every third QoS 0), subscribes to server-side RPC,
 * echoes what it is asked, and makes one client-side call (getCurrentTime)
 * per session. Every --every-ms a --fraction of the connected ones
 * disconnect and come back 0-1 s later with a new connection.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { argument, serveCommands } from '../lib/child.js';
import { TOKEN_PREFIX } from '../lib/payload.js';

const server = argument('server');
const first = Number(argument('first-index'));
const count = Number(argument('devices'));
const everyMs = Number(argument('every-ms', '3000'));
const fraction = Number(argument('fraction', '0.25'));
const BASE = 'v1/devices/me/rpc/';

interface Device {
  index: number;
  client: MqttClient | undefined;
  connected: boolean;
  /** Being cycled on purpose: its close is no surprise. */
  cycling: boolean;
  nextRequestId: number;
}

const counters = { sessions: 0, cycled: 0, unexpectedCloses: 0, answered: 0, clientCalls: 0, clientAnswers: 0, errors: 0 };
let stopping = false;
const devices: Device[] = Array.from({ length: count }, (_, i) => ({ index: first + i, client: undefined, connected: false, cycling: false, nextRequestId: 0 }));

function open(device: Device): void {
  const token = `${TOKEN_PREFIX}${device.index}`;
  const qos = device.index % 3 === 0 ? 0 : 1;
  const client = mqtt.connect(`mqtt://${server}`, {
    username: token,
    clientId: `churn-${token}`,
    protocolVersion: device.index % 2 === 0 ? 4 : 5,
    reconnectPeriod: 0,
    keepalive: 60,
    connectTimeout: 10_000,
    clean: true,
  });
  device.client = client;
  client.on('connect', () => {
    device.connected = true;
    counters.sessions++;
    client.subscribe([`${BASE}request/+`, `${BASE}response/+`], { qos }, (error) => {
      if (error) return void counters.errors++;
      client.publish(`${BASE}request/${++device.nextRequestId}`, '{"method":"getCurrentTime","params":{}}', { qos });
      counters.clientCalls++;
    });
  });
  client.on('message', (topic, payload) => {
    if (topic.startsWith(`${BASE}request/`)) {
      let params: unknown = null;
      try {
        params = (JSON.parse(payload.toString()) as { params?: unknown }).params ?? null;
      } catch {
        params = { error: 'request is not JSON' };
      }
      client.publish(`${BASE}response/${topic.slice(topic.lastIndexOf('/') + 1)}`, JSON.stringify(params));
      counters.answered++;
    } else if (topic.startsWith(`${BASE}response/`)) {
      counters.clientAnswers++;
    }
  });
  client.on('error', () => counters.errors++);
  client.on('close', () => {
    if (client !== device.client) return;
    const wasConnected = device.connected;
    device.connected = false;
    if (stopping || device.cycling) return;
    // Not on purpose (refused, dropped): come back in a second, as a device would.
    if (wasConnected) counters.unexpectedCloses++;
    client.removeAllListeners();
    client.end(true);
    setTimeout(() => !stopping && open(device), 1000);
  });
}

function cycle(): void {
  const connected = devices.filter((d) => d.connected && !d.cycling);
  const n = Math.max(1, Math.round(connected.length * fraction));
  for (let i = 0; i < n && connected.length > 0; i++) {
    const device = connected.splice(Math.floor(Math.random() * connected.length), 1)[0]!;
    device.cycling = true;
    counters.cycled++;
    device.client!.end(true, {}, () => {
      setTimeout(() => {
        device.cycling = false;
        if (!stopping) open(device);
      }, Math.random() * 1000);
    });
  }
}

for (const device of devices) open(device);
const deadline = Date.now() + 60_000;
while (devices.some((d) => !d.connected) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
const timer = setInterval(cycle, everyMs);

/** Counted from the start: the first sample includes the first connections. */
let last = Object.fromEntries(Object.keys(counters).map((k) => [k, 0])) as typeof counters;
serveCommands(
  { devices: count, connected: devices.filter((d) => d.connected).length },
  (command) => {
    if (command.type !== 'sample') throw new Error(`unknown command ${String(command.type)}`);
    const since = Object.fromEntries(Object.entries(counters).map(([k, v]) => [k, v - last[k as keyof typeof counters]]));
    last = { ...counters };
    return { ...since, connected: devices.filter((d) => d.connected).length };
  },
  async () => {
    stopping = true;
    clearInterval(timer);
    await Promise.all(devices.map((d) => new Promise<void>((resolve) => (d.client === undefined ? resolve() : d.client.end(true, {}, () => resolve())))));
  },
);
