import { EventEmitter } from 'node:events';
import { createConnection } from 'node:net';
import mqtt, { MqttClient, type IClientOptions } from 'mqtt';
import { CoapSimDevice } from './coap-device.js';
import { HttpSimDevice } from './http-device.js';
import { createBehaviour, type ProfileName } from './profiles.js';

export type SimulatorTransport = 'mqtt' | 'mqtt-ws' | 'coap' | 'http';
export const SIMULATOR_TRANSPORTS: readonly SimulatorTransport[] = ['mqtt', 'mqtt-ws', 'coap', 'http'];

export interface SimulatorOptions {
  /** `host:port` of the MQTT listener (mqtt), the HTTP listener (mqtt-ws, http) or the CoAP listener (coap). */
  readonly server: string;
  readonly transport: SimulatorTransport;
  readonly devices: number;
  /** Device i's access token is `${tokenPrefix}${i}`. */
  readonly tokenPrefix: string;
  readonly firstIndex?: number;
  readonly profile?: ProfileName;
  readonly replyDelayMs?: number;
  readonly protocolVersion?: 4 | 5;
  readonly qos?: 0 | 1;
  /** False: connect and subscribe but never answer (idle devices). */
  readonly answer?: boolean;
  /** Local addresses to spread TCP connections over (past one address's ephemeral ports). */
  readonly sourceAddresses?: readonly string[];
  /** Connections opened at once while starting. */
  readonly connectConcurrency?: number;
  readonly keepaliveSeconds?: number;
  /**
   * `thingsboard` (default): `v1/devices/me/rpc/request/+`, as iot-rpc and ThingsBoard route by session.
   * `per-device`: `devices/{token}/rpc/request/+`, for a plain MQTT broker that routes by topic.
   */
  readonly topicLayout?: 'thingsboard' | 'per-device';
  /** start() gives up when not every device is subscribed by then; default 120 s. */
  readonly startTimeoutMs?: number;
}

export interface SimulatorStatus {
  readonly devices: number;
  readonly connected: number;
  readonly subscribed: number;
  readonly callsAnswered: number;
  readonly reconnects: number;
}

const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 15_000;

interface SimulatedDevice {
  readonly index: number;
  readonly client: MqttClient;
  subscribed: boolean;
  backoffMs: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Settles the start of this device: its first subscription, or its first failure. */
  started: ((error?: Error) => void) | undefined;
}

/**
 * N devices on MQTT (TCP or WebSocket) with the `mqtt` package, one client
 * each, that subscribe to server-side RPC and answer with a profile. Lost
 * connections come back with exponential backoff and jitter.
 */
export class DeviceSimulator extends EventEmitter<{ error: [Error]; answered: [number] }> {
  readonly #options: SimulatorOptions;
  readonly #devices: SimulatedDevice[] = [];
  /** CoAP and HTTP devices, which hold no MQTT client. */
  readonly #polling: Array<CoapSimDevice | HttpSimDevice> = [];
  #callsAnswered = 0;
  #reconnects = 0;
  #stopping = false;

  constructor(options: SimulatorOptions) {
    super();
    if (!Number.isInteger(options.devices) || options.devices < 1) throw new Error('devices must be a positive integer');
    this.#options = options;
  }

  get status(): SimulatorStatus {
    let connected = 0;
    let subscribed = 0;
    let answered = 0;
    for (const device of this.#polling) {
      if (device.connected) connected++;
      if (device.subscribed) subscribed++;
      answered += device.answered;
    }
    for (const device of this.#devices) {
      if (device.client.connected) connected++;
      if (device.subscribed) subscribed++;
    }
    return { devices: this.#options.devices, connected, subscribed, callsAnswered: this.#callsAnswered + answered, reconnects: this.#reconnects };
  }

  /**
   * Connects and subscribes every device, retrying broken connections with
   * backoff; rejects when the server refuses a device (CONNACK) or when not
   * every device is subscribed within `startTimeoutMs`.
   */
  async start(): Promise<void> {
    const { devices, connectConcurrency = 200, startTimeoutMs = 120_000 } = this.#options;
    const first = this.#options.firstIndex ?? 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const s = this.status;
        reject(new Error(`only ${s.subscribed} of ${devices} devices subscribed to ${this.#options.server} within ${startTimeoutMs} ms`));
      }, startTimeoutMs);
    });
    const connectAll = async () => {
      for (let start = 0; start < devices; start += connectConcurrency) {
        const batch: Promise<void>[] = [];
        for (let i = start; i < Math.min(devices, start + connectConcurrency); i++) {
          batch.push(this.#options.transport === 'coap' || this.#options.transport === 'http' ? this.#openPolling(first + i) : this.#open(first + i, i));
        }
        await Promise.all(batch);
      }
    };
    try {
      await Promise.race([connectAll(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#polling.map((device) => device.stop()));
    await Promise.all(
      this.#devices.map((device) => {
        if (device.timer !== undefined) clearTimeout(device.timer);
        return new Promise<void>((resolve) => device.client.end(true, {}, () => resolve()));
      }),
    );
  }

  #openPolling(index: number): Promise<void> {
    const { server, transport, tokenPrefix, answer = true, replyDelayMs = 0, profile = 'echo' } = this.#options;
    const [host, port] = splitHostPort(server);
    const device =
      transport === 'coap'
        ? new CoapSimDevice(host, Number(port), `${tokenPrefix}${index}`, createBehaviour(profile), answer, replyDelayMs)
        : new HttpSimDevice(`http://${host.includes(':') ? `[${host}]` : host}:${port}`, `${tokenPrefix}${index}`, createBehaviour(profile), answer, replyDelayMs);
    this.#polling.push(device);
    return device.start();
  }

  #open(index: number, position: number): Promise<void> {
    const { server, transport, tokenPrefix, protocolVersion = 4, keepaliveSeconds = 60, sourceAddresses } = this.#options;
    const [host, portText] = splitHostPort(server);
    const options: IClientOptions = {
      username: `${tokenPrefix}${index}`,
      clientId: `sim-${tokenPrefix}${index}`,
      protocolVersion,
      keepalive: keepaliveSeconds,
      reconnectPeriod: 0,
      resubscribe: false,
      connectTimeout: 30_000,
    };
    let client: MqttClient;
    if (transport === 'mqtt-ws') {
      client = mqtt.connect(`ws://${host}:${portText}/mqtt`, options);
    } else {
      const localAddress = sourceAddresses?.[position % sourceAddresses.length];
      client = new MqttClient(() => createConnection({ host, port: Number(portText), localAddress }), options);
    }
    return new Promise((resolve, reject) => {
      const started = (error?: Error) => {
        device.started = undefined;
        if (error === undefined) resolve();
        else reject(new Error(`device ${tokenPrefix}${index} could not connect to ${server}: ${error.message}`));
      };
      const device: SimulatedDevice = { index, client, subscribed: false, backoffMs: BACKOFF_FIRST_MS, timer: undefined, started };
      this.#devices.push(device);
      this.#wire(device);
    });
  }

  #wire(device: SimulatedDevice): void {
    const { client } = device;
    const { qos = 1, answer = true, replyDelayMs = 0, profile = 'echo', topicLayout = 'thingsboard', tokenPrefix } = this.#options;
    const base = topicLayout === 'per-device' ? `devices/${tokenPrefix}${device.index}/rpc/` : 'v1/devices/me/rpc/';
    const behaviour = createBehaviour(profile);
    client.on('connect', () => {
      device.backoffMs = BACKOFF_FIRST_MS;
      client.subscribe(`${base}request/+`, { qos }, (error) => {
        if (error) {
          device.started?.(error);
          return;
        }
        device.subscribed = true;
        device.started?.();
      });
    });
    client.on('close', () => {
      device.subscribed = false;
      if (this.#stopping || device.timer !== undefined) return;
      const delay = device.backoffMs * (0.5 + Math.random());
      device.backoffMs = Math.min(BACKOFF_MAX_MS, device.backoffMs * 2);
      device.timer = setTimeout(() => {
        device.timer = undefined;
        if (this.#stopping) return;
        this.#reconnects++;
        client.reconnect();
      }, delay);
    });
    client.on('error', (error: Error & { code?: unknown }) => {
      // A CONNACK refusal (numeric code) will not get better by retrying: the start fails.
      // A broken or refused connection does: 'close' follows and schedules the retry.
      if (typeof error.code === 'number') device.started?.(error);
    });
    if (!answer) return;
    client.on('message', (topic, payload) => {
      const id = topic.slice(topic.lastIndexOf('/') + 1);
      let reply: unknown;
      try {
        const request = JSON.parse(payload.toString()) as { method?: unknown; params?: unknown };
        reply = behaviour(String(request.method), request.params);
      } catch {
        reply = { error: 'request is not JSON' };
      }
      const send = () => {
        client.publish(`${base}response/${id}`, JSON.stringify(reply ?? null));
        this.#callsAnswered++;
      };
      if (replyDelayMs > 0) setTimeout(send, replyDelayMs);
      else send();
    });
  }
}

export function splitHostPort(server: string): [string, string] {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(server);
  if (match === null) throw new Error(`server must be host:port, got "${server}"`);
  return [match[1]!, match[2]!];
}
