import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { CallEvent, RpcServer } from '../../src/index.js';
import { EngineProcess, writeTestConfig } from '../support/cluster.js';
import { startRedis, type RedisProcess } from '../support/redis.js';
import { USERS, startTestServer, testConfig, until, type TestServer } from '../support/server.js';

/*
 * A bounded chaos test over real sockets on 127.0.0.1: MQTT devices (the `mqtt` package, 3.1.1 and 5, QoS 0 and 1,
 * long and short topics) and HTTP long-poll devices (`fetch`) that misbehave on purpose (drop the connection mid-call,
 * reply twice, late, to a wrong id, never, or with non-JSON), and callers through the library, the REST API and the
 * WebSocket API (plus persistent calls through REST). Every request carries a nonce; a device that answers at all
 * answers `{"nonce"}` of the request whose id it names. So a caller's successful answer must carry exactly its own
 * nonce, whatever the devices did. The second part runs the same against two engine processes over Redis, and kills
 * Redis (SIGKILL) mid-run.
 *
 * CHAOS_SEED repeats a run's plan (which caller calls which device, how, with which deadline; what each device does
 * with the n-th request it receives); the interleaving over real sockets is not repeatable. CHAOS_CALLS and
 * CHAOS_CLUSTER_CALLS scale the number of calls, CHAOS_RATE and CHAOS_CLUSTER_RATE the calls started per second;
 * CHAOS_DEBUG=1 lists every caller answered more than 200 ms past its deadline.
 */

const SEED = Number(process.env.CHAOS_SEED ?? Date.now() % 2 ** 31) >>> 0;
const CALLS = Number(process.env.CHAOS_CALLS ?? 1500);
const CLUSTER_CALLS = Number(process.env.CHAOS_CLUSTER_CALLS ?? 400);
const RATE = Number(process.env.CHAOS_RATE ?? 250);
const CLUSTER_RATE = Number(process.env.CHAOS_CLUSTER_RATE ?? 80);
const MAX_IN_FLIGHT = 200;
const MQTT_DEVICES = 20;
const HTTP_DEVICES = 5;
/** Persistent calls among the REST calls. */
const PERSISTENT_SHARE = 0.12;
/** An answer later than this past its caller's deadline breaks the promise. */
const LATE_MS = 1000;
/** No answer this long past the deadline: the caller stops waiting and counts it missing. */
const MISSING_MS = 5000;
const MAX_REQUEST_ID = 2 ** 31 - 1;
const REPEAT = `CHAOS_SEED=${SEED} repeats this run's plan`;

// ── the documented error codes (docs/errors.md), with their /api/rpc status ───────────────────────────────────────

const DOCUMENTED: ReadonlyMap<string, number> = new Map(
  [...readFileSync(fileURLToPath(new URL('../../docs/errors.md', import.meta.url)), 'utf8').matchAll(/^\| `(IOT_ERR_[A-Z_]+)` \| (\d{3}) \|/gm)].map((m) => [m[1]!, Number(m[2])]),
);
const FINAL_PERSISTENT = new Set(['SUCCESSFUL', 'FAILED', 'EXPIRED', 'DELETED']);

// ── a seeded PRNG (mulberry32) ─────────────────────────────────────────────────────────────────────────────────────

class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** lo..hi inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  weighted<T extends string>(weights: ReadonlyArray<readonly [T, number]>): T {
    let r = this.next() * weights.reduce((sum, [, w]) => sum + w, 0);
    for (const [value, w] of weights) if ((r -= w) < 0) return value;
    return weights[weights.length - 1]![0];
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Timers that all end with the fleet. */
class Timers {
  readonly #handles = new Set<NodeJS.Timeout>();
  stopped = false;
  later(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const handle = setTimeout(() => {
      this.#handles.delete(handle);
      if (!this.stopped) fn();
    }, ms);
    this.#handles.add(handle);
  }
  stop(): void {
    this.stopped = true;
    for (const handle of this.#handles) clearTimeout(handle);
    this.#handles.clear();
  }
}

// ── the callers' ledger ───────────────────────────────────────────────────────────────────────────────────────────

type Via = 'lib' | 'rest' | 'ws';

interface Answer {
  readonly at: number;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly code?: string;
  readonly status?: number;
}

interface Caller {
  readonly index: number;
  readonly nonce: string;
  readonly via: Via;
  readonly deviceId: string;
  readonly persistent: boolean;
  readonly started: number;
  /** When the caller must have its answer (plus LATE_MS). */
  readonly deadline: number;
  /** After this, a device's reply is late (a persistent call: its first attempt's end). */
  readonly replyDeadline: number;
  /** Sent as `timeout` rather than `expirationTime` (REST and WebSocket: the server waits at least 5 s then). */
  readonly timeoutField: boolean;
  /** The timeout asked for, 1–4 s. */
  readonly requestedMs: number;
  readonly answers: Answer[];
  missing: boolean;
  duringOutage: boolean;
  rpcId?: string;
  stored?: { status: string; response: unknown };
  storedAgain?: { status: string; response: unknown };
}

class Ledger {
  readonly callers: Caller[] = [];
  readonly #byNonce = new Map<string, Caller>();
  add(caller: Caller): void {
    this.callers.push(caller);
    this.#byNonce.set(caller.nonce, caller);
  }
  byNonce(nonce: unknown): Caller | undefined {
    return typeof nonce === 'string' ? this.#byNonce.get(nonce) : undefined;
  }
  /** When a reply to the request with this nonce is late. */
  replyDeadline(nonce: string): number {
    return this.#byNonce.get(nonce)?.replyDeadline ?? Date.now();
  }
}

// ── the devices ───────────────────────────────────────────────────────────────────────────────────────────────────

type Behaviour = 'good' | 'twice' | 'late' | 'wrongId' | 'drop' | 'never' | 'nonJson';
const BEHAVIOURS: ReadonlyArray<readonly [Behaviour, number]> = [
  ['good', 0.58],
  ['twice', 0.07],
  ['late', 0.07],
  ['wrongId', 0.08],
  ['drop', 0.06],
  ['never', 0.07],
  ['nonJson', 0.07],
];

interface DeviceSpec {
  readonly id: string;
  readonly name: string;
  readonly tenantId: string;
  readonly accessToken: string;
}

const MQTT_SPECS: DeviceSpec[] = Array.from({ length: MQTT_DEVICES }, (_, i) => ({ id: `chaos-mqtt-${i}`, name: `Chaos MQTT ${i}`, tenantId: 'tenant-a', accessToken: `CHAOS_MQTT_TOKEN_${i}` }));
const HTTP_SPECS: DeviceSpec[] = Array.from({ length: HTTP_DEVICES }, (_, i) => ({ id: `chaos-http-${i}`, name: `Chaos HTTP ${i}`, tenantId: 'tenant-a', accessToken: `CHAOS_HTTP_TOKEN_${i}` }));
const CHAOS_DEVICE_IDS = [...MQTT_SPECS, ...HTTP_SPECS].map((d) => d.id);
const chaosDevicesConfig = () => [...(testConfig().devices ?? []), ...MQTT_SPECS, ...HTTP_SPECS];

interface Seen {
  readonly id: number;
  readonly nonce: string;
  readonly correlation?: Buffer;
}

/** What the devices did, and what the server said to their replies. */
class FleetStats {
  readonly behaviours = new Map<string, number>();
  /** Replies the server took (HTTP 200, MQTT 5 PUBACK 0): per device and request id, at most one may be taken. */
  readonly accepted = new Map<string, number>();
  refused = 0;
  unexpected: string[] = [];
  drops = 0;
  connects = 0;
  count(behaviour: string): void {
    this.behaviours.set(behaviour, (this.behaviours.get(behaviour) ?? 0) + 1);
  }
  accept(deviceId: string, id: number): void {
    const key = `${deviceId}#${id}`;
    this.accepted.set(key, (this.accepted.get(key) ?? 0) + 1);
  }
}

abstract class ChaosDevice {
  healed = false;
  readonly recent: Seen[] = [];
  readonly rng: Rng;

  constructor(
    readonly spec: DeviceSpec,
    readonly ledger: Ledger,
    readonly timers: Timers,
    readonly stats: FleetStats,
    seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  abstract send(id: number, payload: string, correlation?: Buffer): void;

  /** Drops its connection (MQTT) or stops polling for a while (HTTP); `thenReply` goes out once it is back. */
  abstract hangUp(thenReply?: () => void): void;

  /** One request received: what this device does with it. */
  handle(id: number, nonce: string, correlation?: Buffer, echoCorrelation = true): void {
    const seen: Seen = { id, nonce, correlation };
    const others = this.recent.filter((s) => s.id !== id);
    this.recent.push(seen);
    if (this.recent.length > 32) this.recent.shift();
    const behaviour: Behaviour = this.healed ? 'good' : this.rng.weighted(BEHAVIOURS);
    this.stats.count(`${this.kind}:${behaviour}`);
    const mine = correlation !== undefined && echoCorrelation ? correlation : undefined;
    const reply = JSON.stringify({ nonce });
    const rng = this.rng;
    switch (behaviour) {
      case 'good':
        if (rng.chance(0.5)) this.send(id, reply, mine);
        else this.timers.later(rng.int(0, 300), () => this.send(id, reply, mine));
        return;
      case 'twice':
        this.send(id, reply, mine);
        this.timers.later(rng.int(0, 300), () => this.send(id, reply, mine));
        return;
      case 'late': {
        const delay = Math.max(0, this.ledger.replyDeadline(nonce) - Date.now()) + rng.int(50, 1500);
        this.timers.later(delay, () => this.send(id, reply, mine));
        if (rng.chance(0.3)) this.hangUp();
        return;
      }
      case 'wrongId': {
        const other = others.length > 0 ? rng.pick(others) : undefined;
        const variant = rng.int(0, 2);
        if (other !== undefined && variant === 0 && mine !== undefined) {
          // MQTT 5: another call's id with this call's Correlation Data: an orphan, it must answer nothing.
          this.stats.count(`${this.kind}:wrongId/foreign-correlation`);
          this.send(other.id, reply, mine);
        } else if (other !== undefined && variant <= 1) {
          // A stale or early reply to another request of this device, with that request's own nonce.
          this.stats.count(`${this.kind}:wrongId/recent`);
          this.send(other.id, JSON.stringify({ nonce: other.nonce }), echoCorrelation ? other.correlation : undefined);
        } else {
          // An id this server never gave out (far behind every id of this run), with this request's nonce.
          this.stats.count(`${this.kind}:wrongId/made-up`);
          const madeUp = ((id - 1 - rng.int(10_000_000, 100_000_000) + MAX_REQUEST_ID) % MAX_REQUEST_ID) + 1;
          this.send(madeUp, reply, mine);
        }
        if (rng.chance(0.5)) this.timers.later(rng.int(20, 300), () => this.send(id, reply, mine));
        return;
      }
      case 'drop':
        this.hangUp(rng.chance(0.6) ? () => this.send(id, reply, mine) : undefined);
        return;
      case 'never':
        return;
      case 'nonJson':
        this.send(id, `not json <${nonce}`, mine);
        return;
    }
  }

  abstract readonly kind: string;
}

class MqttChaosDevice extends ChaosDevice {
  readonly kind = 'mqtt';
  client: MqttClient | undefined;
  ready = false;
  #reconnectPending = false;
  #generation = 0;
  readonly #outbox: Array<() => void> = [];
  readonly requestPrefix: string;
  readonly responsePrefix: string;

  constructor(
    spec: DeviceSpec,
    ledger: Ledger,
    timers: Timers,
    stats: FleetStats,
    seed: number,
    readonly url: string,
    readonly version: 4 | 5,
    readonly subscribeQos: 0 | 1,
    readonly replyQos: 0 | 1,
    style: 'v1' | 'v2',
    readonly echoCorrelation: boolean,
  ) {
    super(spec, ledger, timers, stats, seed);
    this.requestPrefix = style === 'v1' ? 'v1/devices/me/rpc/request/' : 'v2/r/req/';
    this.responsePrefix = style === 'v1' ? 'v1/devices/me/rpc/response/' : 'v2/r/res/';
  }

  connect(): void {
    if (this.timers.stopped || this.client !== undefined) return;
    const client = mqtt.connect(this.url, {
      username: this.spec.accessToken,
      clientId: `${this.spec.id}-${++this.#generation}`,
      protocolVersion: this.version,
      reconnectPeriod: 0,
      connectTimeout: 3000,
      clean: true,
    });
    this.client = client;
    this.stats.connects++;
    client.on('error', () => {});
    client.on('message', (topic, payload, packet) => {
      if (this.client !== client || !topic.startsWith(this.requestPrefix)) return;
      const id = Number(topic.slice(this.requestPrefix.length));
      let nonce: string;
      try {
        nonce = (JSON.parse(payload.toString()) as { params: { nonce: string } }).params.nonce;
      } catch {
        this.stats.unexpected.push(`${this.spec.id}: request ${id} is not {"method","params":{"nonce"}}: ${payload.toString().slice(0, 100)}`);
        return;
      }
      this.handle(id, nonce, this.version === 5 ? packet.properties?.correlationData : undefined, this.echoCorrelation);
    });
    // MQTT 5 QoS 1 replies: the PUBACK's reason code says whether the server took the reply (0) or found no call (0x10).
    const replies = new Map<number, number>();
    client.on('packetsend', (packet) => {
      if (packet.cmd === 'publish' && packet.qos === 1 && packet.messageId !== undefined) replies.set(packet.messageId, Number(packet.topic.slice(this.responsePrefix.length)));
    });
    client.on('packetreceive', (packet) => {
      if (packet.cmd !== 'puback' || this.version !== 5 || packet.messageId === undefined) return;
      const id = replies.get(packet.messageId);
      if (id === undefined) return;
      replies.delete(packet.messageId);
      if ((packet.reasonCode ?? 0) === 0) this.stats.accept(this.spec.id, id);
      else this.stats.refused++;
    });
    client.on('close', () => {
      if (this.client !== client) return;
      this.client = undefined;
      this.ready = false;
      this.reconnectSoon(100);
    });
    client.once('connect', () => {
      client.subscribe(`${this.requestPrefix}+`, { qos: this.subscribeQos }, (error) => {
        if (error !== null || this.client !== client) return;
        this.ready = true;
        for (const send of this.#outbox.splice(0)) send();
      });
    });
  }

  reconnectSoon(ms: number): void {
    if (this.#reconnectPending || this.timers.stopped) return;
    this.#reconnectPending = true;
    this.timers.later(ms, () => {
      this.#reconnectPending = false;
      this.connect();
    });
  }

  hangUp(thenReply?: () => void): void {
    const client = this.client;
    if (thenReply !== undefined) this.#outbox.push(thenReply);
    if (client === undefined) return;
    this.client = undefined;
    this.ready = false;
    this.stats.drops++;
    client.end(true);
    this.reconnectSoon(this.rng.int(50, 500));
  }

  send(id: number, payload: string, correlation?: Buffer): void {
    const publish = () => {
      const client = this.client!;
      const options: IClientPublishOptions = { qos: this.replyQos };
      if (this.version === 5 && correlation !== undefined) options.properties = { correlationData: correlation };
      client.publish(`${this.responsePrefix}${id}`, payload, options);
    };
    if (this.ready && this.client !== undefined) publish();
    else this.#outbox.push(() => this.send(id, payload, correlation));
  }

  close(): void {
    const client = this.client;
    this.client = undefined;
    this.ready = false;
    client?.end(true);
  }
}

class HttpChaosDevice extends ChaosDevice {
  readonly kind = 'http';
  #poll: AbortController | undefined;
  #pausedUntil = 0;
  #loop: Promise<void> = Promise.resolve();
  readonly #posts = new Set<Promise<void>>();

  constructor(spec: DeviceSpec, ledger: Ledger, timers: Timers, stats: FleetStats, seed: number, readonly url: string) {
    super(spec, ledger, timers, stats, seed);
  }

  start(): void {
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    while (!this.timers.stopped) {
      const pause = this.#pausedUntil - Date.now();
      if (pause > 0) {
        await sleep(pause);
        continue;
      }
      const controller = new AbortController();
      this.#poll = controller;
      const timeout = this.rng.int(300, 2000);
      // A device that hangs up mid-poll; it polls again 50–500 ms later.
      if (!this.healed && this.rng.chance(0.08)) this.timers.later(this.rng.int(10, timeout), () => controller.abort());
      try {
        const res = await fetch(`${this.url}/api/v1/${this.spec.accessToken}/rpc?timeout=${timeout}`, { signal: controller.signal });
        if (res.status === 200) {
          const request = (await res.json()) as { id: number; params: { nonce: string } };
          this.handle(request.id, request.params.nonce);
        } else {
          await res.arrayBuffer();
          if (res.status !== 408) {
            this.stats.unexpected.push(`${this.spec.id}: poll answered ${res.status}`);
            await sleep(100);
          }
        }
      } catch {
        if (this.timers.stopped) return;
        if (controller.signal.aborted) this.stats.drops++;
        else this.stats.unexpected.push(`${this.spec.id}: poll failed`);
        await sleep(this.rng.int(50, 500));
      }
    }
  }

  hangUp(thenReply?: () => void): void {
    const away = this.rng.int(50, 500);
    this.#pausedUntil = Date.now() + away;
    this.stats.drops++;
    if (thenReply !== undefined) this.timers.later(away, thenReply);
  }

  send(id: number, payload: string): void {
    const post = fetch(`${this.url}/api/v1/${this.spec.accessToken}/rpc/${id}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload }).then(
      async (res) => {
        await res.arrayBuffer();
        if (res.status === 200) this.stats.accept(this.spec.id, id);
        else if (res.status === 404) this.stats.refused++;
        else this.stats.unexpected.push(`${this.spec.id}: reply to ${id} answered ${res.status}`);
      },
      () => {
        if (!this.timers.stopped) this.stats.unexpected.push(`${this.spec.id}: reply to ${id} failed`);
      },
    );
    this.#posts.add(post);
    void post.finally(() => this.#posts.delete(post));
  }

  async close(): Promise<void> {
    this.#poll?.abort();
    await this.#loop;
    await Promise.all(this.#posts);
  }
}

class Fleet {
  readonly timers = new Timers();
  readonly stats = new FleetStats();
  readonly mqtt: MqttChaosDevice[];
  readonly http: HttpChaosDevice[];

  constructor(ledger: Ledger, seed: number, mqttUrl: string, httpUrl: string) {
    this.mqtt = MQTT_SPECS.map((spec, i) => {
      const version = i % 3 === 0 ? 5 : 4;
      return new MqttChaosDevice(spec, ledger, this.timers, this.stats, seed + 1000 + i, mqttUrl, version, (i % 2) as 0 | 1, ((i >> 1) % 2) as 0 | 1, i % 4 === 3 ? 'v2' : 'v1', version === 5 && i % 2 === 0);
    });
    this.http = HTTP_SPECS.map((spec, i) => new HttpChaosDevice(spec, ledger, this.timers, this.stats, seed + 2000 + i, httpUrl));
  }

  get devices(): ChaosDevice[] {
    return [...this.mqtt, ...this.http];
  }

  async start(): Promise<void> {
    for (const device of this.mqtt) device.connect();
    await until(() => this.mqtt.every((d) => d.ready), 10_000);
    for (const device of this.http) device.start();
  }

  /** From now on every device answers well, and every MQTT device gets connected again. */
  async heal(): Promise<void> {
    for (const device of this.devices) device.healed = true;
    for (const device of this.mqtt) if (device.client === undefined) device.reconnectSoon(0);
    await until(() => this.mqtt.every((d) => d.ready), 10_000);
  }

  describe(): string {
    const v5 = this.mqtt.filter((d) => d.version === 5).length;
    return `${this.mqtt.length} MQTT (${v5} MQTT 5, ${this.mqtt.filter((d) => d.subscribeQos === 1).length} QoS 1) + ${this.http.length} HTTP devices`;
  }

  async stop(): Promise<void> {
    this.timers.stop();
    for (const device of this.mqtt) device.close();
    await Promise.all(this.http.map((d) => d.close()));
  }
}

// ── the WebSocket API as a caller ─────────────────────────────────────────────────────────────────────────────────

type Frame = { cmdId?: unknown; result?: unknown; error?: { status: number; code: string; message: string } };

class WsCaller {
  /** Every frame received, by cmdId: exactly one each is the promise. */
  readonly frames = new Map<string, Frame[]>();
  readonly strays: string[] = [];
  readonly #waiters = new Map<string, (frame: Frame) => void>();
  closedWith: number | undefined;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const text = data.toString();
      const frame = JSON.parse(text) as Frame;
      if (typeof frame.cmdId !== 'string') return void this.strays.push(text.slice(0, 200));
      const list = this.frames.get(frame.cmdId) ?? [];
      list.push(frame);
      this.frames.set(frame.cmdId, list);
      const waiter = this.#waiters.get(frame.cmdId);
      if (waiter !== undefined) {
        this.#waiters.delete(frame.cmdId);
        waiter(frame);
      }
    });
    ws.on('close', (code) => (this.closedWith = code));
    ws.on('error', () => {});
  }

  static open(httpUrl: string, token: string): Promise<WsCaller> {
    const ws = new WebSocket(`${httpUrl.replace(/^http/, 'ws')}/api/ws?token=${encodeURIComponent(token)}`);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new WsCaller(ws)));
      ws.once('error', reject);
    });
  }

  call(cmdId: string, frame: Record<string, unknown>): Promise<Frame> {
    return new Promise((resolve) => {
      this.#waiters.set(cmdId, resolve);
      this.ws.send(JSON.stringify({ ...frame, cmdId }));
    });
  }

  close(): void {
    this.ws.close();
  }
}

// ── the callers ───────────────────────────────────────────────────────────────────────────────────────────────────

interface Entry {
  /** REST API and WebSocket API base, e.g. http://127.0.0.1:port */
  readonly apiUrl: string;
  readonly token: string;
  readonly server?: RpcServer;
  readonly sockets: WsCaller[];
}

/** Resolves with the promise's value, or `missing` once `ms` have passed. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof MISSING> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(MISSING), Math.max(0, ms));
    void promise.then((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}
const MISSING = Symbol('missing');

async function restAnswer(res: Response): Promise<Answer> {
  const at = Date.now();
  let text: string;
  try {
    text = await res.text();
  } catch (error) {
    return { at, ok: false, code: `(${res.status}, body lost: ${(error as Error).name})`, status: res.status };
  }
  if (res.status === 200) {
    try {
      return { at, ok: true, value: JSON.parse(text) as unknown };
    } catch {
      return { at, ok: false, code: `(200 with a body that is not JSON: ${text.slice(0, 80)})`, status: 200 };
    }
  }
  let code = '(no code)';
  try {
    code = (JSON.parse(text) as { code: string }).code;
  } catch {
    code = `(not JSON: ${text.slice(0, 80)})`;
  }
  return { at, ok: false, code, status: res.status };
}

async function place(entry: Entry, caller: Caller): Promise<void> {
  const params = { nonce: caller.nonce };
  const timing = caller.persistent
    ? { timeout: 5000, expirationTime: caller.deadline }
    : caller.timeoutField
      ? { timeout: caller.requestedMs }
      : { expirationTime: caller.deadline };
  let answer: Promise<Answer>;
  switch (caller.via) {
    case 'lib':
      answer = entry.server!.call(caller.deviceId, { method: 'chaos', params, timeout: caller.deadline - caller.started }).then(
        (value): Answer => ({ at: Date.now(), ok: true, value }),
        (error: { code?: string; status?: number }): Answer => ({ at: Date.now(), ok: false, code: error.code ?? String(error), status: error.status }),
      );
      break;
    case 'rest': {
      const body = { method: 'chaos', params, ...timing, ...(caller.persistent ? { persistent: true, retries: caller.index % 3 } : {}) };
      answer = fetch(`${entry.apiUrl}/api/rpc/twoway/${caller.deviceId}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-authorization': `Bearer ${entry.token}` },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(caller.deadline - Date.now() + MISSING_MS + 1000),
      }).then(restAnswer, (error: Error): Answer => ({ at: Date.now(), ok: false, code: `(fetch failed: ${error.name})` }));
      break;
    }
    case 'ws': {
      const socket = entry.sockets[caller.index % entry.sockets.length]!;
      answer = socket.call(`c${caller.index}`, { type: 'rpc', deviceId: caller.deviceId, method: 'chaos', params, ...timing }).then(
        (frame): Answer => (frame.error === undefined ? { at: Date.now(), ok: true, value: frame.result } : { at: Date.now(), ok: false, code: frame.error.code, status: frame.error.status }),
      );
      break;
    }
  }
  void answer.then((a) => caller.answers.push(a));
  const settled = await within(answer, caller.deadline - Date.now() + MISSING_MS);
  if (settled === MISSING) caller.missing = true;
  if (caller.persistent && settled !== MISSING && settled.ok) caller.rpcId = (settled.value as { rpcId?: string }).rpcId;
}

interface Plan {
  readonly calls: number;
  readonly rate: number;
  readonly vias: readonly Via[];
  readonly label: string;
  /** Told as each call is started (its index). */
  readonly onStarted?: (index: number) => void;
  readonly inOutage?: () => boolean;
}

/** Starts `plan.calls` calls, at most MAX_IN_FLIGHT at once and `plan.rate` a second; resolves when every caller is answered or given up on. */
async function drive(entry: Entry, ledger: Ledger, plan: Plan, seed: number): Promise<void> {
  const rng = new Rng(seed);
  let inFlight = 0;
  const slots: Array<() => void> = [];
  const all: Promise<void>[] = [];
  const t0 = Date.now();
  for (let index = 0; index < plan.calls; index++) {
    const via = rng.pick(plan.vias);
    const deviceId = rng.pick(CHAOS_DEVICE_IDS);
    const persistent = via === 'rest' && rng.chance(PERSISTENT_SHARE);
    const ms = rng.int(1000, 4000);
    const timeoutField = via !== 'lib' && !persistent && rng.chance(0.15);
    const persistentMs = rng.int(6000, 9000);
    while (inFlight >= MAX_IN_FLIGHT) await new Promise<void>((resolve) => slots.push(resolve));
    const due = t0 + (index * 1000) / plan.rate;
    if (due - Date.now() > 1) await sleep(due - Date.now());
    const started = Date.now();
    const deadline = persistent ? started + persistentMs : started + (timeoutField ? Math.max(5000, ms) : ms);
    const caller: Caller = {
      index,
      nonce: `${plan.label}-${seed}-${index}-${rng.int(0, 1e9).toString(36)}`,
      via,
      deviceId,
      persistent,
      started,
      deadline,
      replyDeadline: persistent ? started + 5000 : deadline,
      timeoutField,
      requestedMs: ms,
      answers: [],
      missing: false,
      duringOutage: plan.inOutage?.() ?? false,
    };
    ledger.add(caller);
    inFlight++;
    all.push(
      place(entry, caller).finally(() => {
        inFlight--;
        slots.shift()?.();
      }),
    );
    plan.onStarted?.(index);
  }
  await Promise.all(all);
}

/** Reads each persistent call back until its status is final, or until `timeoutMs` have passed. */
async function readBackPersistent(apiUrl: string, token: string, callers: Caller[], timeoutMs: number): Promise<void> {
  const read = async (rpcId: string) => {
    const res = await fetch(`${apiUrl}/api/rpc/persistent/${rpcId}`, { headers: { 'x-authorization': `Bearer ${token}` } });
    if (res.status !== 200) return { status: `(GET answered ${res.status})`, response: null };
    return (await res.json()) as { status: string; response: unknown };
  };
  const stored = callers.filter((c) => c.rpcId !== undefined);
  const giveUp = Date.now() + timeoutMs;
  for (;;) {
    const open = stored.filter((c) => c.stored === undefined || !FINAL_PERSISTENT.has(c.stored.status));
    if (open.length === 0 || Date.now() > giveUp) break;
    await Promise.all(open.map(async (c) => (c.stored = await read(c.rpcId!).catch(() => ({ status: '(GET failed)', response: null })))));
    if (open.some((c) => !FINAL_PERSISTENT.has(c.stored!.status))) await sleep(250);
  }
  await Promise.all(stored.map(async (c) => (c.storedAgain = await read(c.rpcId!).catch(() => ({ status: '(GET failed)', response: null })))));
}

/** Waits until every late or repeated reply a device may still send has gone out, so that a second answer would be seen. */
async function afterLastReply(ledger: Ledger): Promise<void> {
  const last = Math.max(0, ...ledger.callers.map((c) => c.replyDeadline)) + 1500 + 500;
  await sleep(Math.max(0, last - Date.now()) + 300);
}

// ── the verdict ───────────────────────────────────────────────────────────────────────────────────────────────────

const isOwn = (value: unknown, nonce: string) => typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 1 && (value as { nonce?: unknown }).nonce === nonce;
const tally = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
const show = (map: Map<string, number>) => `{${[...map].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k.replace(/^IOT_ERR_/, '')}: ${v}`).join(', ')}}`;

interface Verdict {
  readonly line: string;
  readonly problems: string[];
}

function judge(label: string, ledger: Ledger, sockets: WsCaller[], fleet: Fleet, runMs: number, extra = ''): Verdict {
  const problems: string[] = [];
  const byCode = new Map<string, number>();
  const persistentStatus = new Map<string, number>();
  const vias = new Map<string, number>();
  const frames = new Map<string, Frame[]>();
  for (const socket of sockets) for (const [cmdId, list] of socket.frames) frames.set(cmdId, list);
  let answered = 0;
  let ok = 0;
  let failed = 0;
  let wrong = 0;
  let doubles = 0;
  let missing = 0;
  let late = 0;
  let worst = -Infinity;
  let worstCaller: Caller | undefined;
  for (const c of ledger.callers) {
    tally(vias, c.persistent ? 'persistent' : c.via);
    const who = `#${c.index} (${c.via}${c.persistent ? ' persistent' : ''} → ${c.deviceId}, deadline ${c.deadline - c.started} ms${c.duringOutage ? ', during the Redis outage' : ''})`;
    const count = c.via === 'ws' ? (frames.get(`c${c.index}`)?.length ?? 0) : c.answers.length;
    if (count > 1) {
      doubles++;
      problems.push(`${who}: ${count} answers: ${JSON.stringify(c.via === 'ws' ? frames.get(`c${c.index}`) : c.answers)}`);
    }
    const first = c.answers[0];
    if (c.missing || first === undefined) {
      missing++;
      problems.push(`${who}: no answer ${MISSING_MS} ms past its deadline`);
      if (first === undefined) continue;
    }
    answered++;
    const lateness = first.at - c.deadline;
    if (lateness > worst) {
      worst = lateness;
      worstCaller = c;
    }
    if (lateness > LATE_MS) {
      late++;
      problems.push(`${who}: answered ${lateness} ms after its deadline (${first.ok ? 'ok' : first.code})`);
    }
    if (first.ok) {
      if (c.persistent) {
        if (typeof (first.value as { rpcId?: unknown } | null)?.rpcId !== 'string') problems.push(`${who}: accepted without an rpcId: ${JSON.stringify(first.value)}`);
        ok++;
      } else if (isOwn(first.value, c.nonce)) {
        ok++;
      } else {
        wrong++;
        const owner = ledger.byNonce((first.value as { nonce?: unknown } | null)?.nonce);
        problems.push(`${who}: WRONG ANSWER ${JSON.stringify(first.value)}${owner === undefined ? '' : ` (the nonce of #${owner.index}, ${owner.via} → ${owner.deviceId})`}`);
      }
    } else {
      failed++;
      tally(byCode, first.code ?? '(none)');
      const documented = first.code === undefined ? undefined : DOCUMENTED.get(first.code);
      if (documented === undefined) problems.push(`${who}: failed with an undocumented code ${first.code} (${first.status})`);
      else if (first.status !== undefined && first.status !== documented) problems.push(`${who}: ${first.code} with status ${first.status}, docs/errors.md says ${documented}`);
    }
    if (c.persistent && c.rpcId !== undefined) {
      const status = c.stored?.status ?? '(never read)';
      tally(persistentStatus, status);
      if (!FINAL_PERSISTENT.has(status)) problems.push(`${who}: persistent call ${c.rpcId} still ${status} after the run`);
      if (status === 'SUCCESSFUL' && !isOwn(c.stored!.response, c.nonce)) {
        wrong++;
        const owner = ledger.byNonce((c.stored!.response as { nonce?: unknown } | null)?.nonce);
        problems.push(`${who}: persistent call ${c.rpcId} stored a WRONG response ${JSON.stringify(c.stored!.response)}${owner === undefined ? '' : ` (the nonce of #${owner.index})`}`);
      }
      if (c.storedAgain !== undefined && c.storedAgain.status !== status) problems.push(`${who}: persistent call ${c.rpcId} went from final ${status} to ${c.storedAgain.status}`);
    }
  }
  for (const socket of sockets) {
    for (const stray of socket.strays) problems.push(`a WebSocket frame without a cmdId: ${stray}`);
    if (socket.closedWith !== undefined) problems.push(`a caller's WebSocket closed during the run (${socket.closedWith})`);
  }
  for (const [key, n] of fleet.stats.accepted) if (n > 1) problems.push(`the server took ${n} replies to request ${key}`);
  for (const message of fleet.stats.unexpected.slice(0, 20)) problems.push(`device: ${message}`);
  const worstAnswer = worstCaller?.answers[0];
  const worstText = worstCaller === undefined ? 'n/a' : `${worst >= 0 ? '+' : ''}${worst} ms (#${worstCaller.index} ${worstCaller.via} → ${worstCaller.deviceId}, ${worstAnswer?.ok === true ? 'ok' : worstAnswer?.code?.replace(/^IOT_ERR_/, '')})`;
  if (process.env.CHAOS_DEBUG !== undefined) {
    for (const c of ledger.callers) {
      const a = c.answers[0];
      if (a !== undefined && a.at - c.deadline > 200) console.log(`late-ish #${c.index} ${c.via} ${c.deviceId} started=+${c.started - ledger.callers[0]!.started} deadline=${c.deadline - c.started} lateness=${a.at - c.deadline} ${a.ok ? 'ok' : a.code}`);
    }
  }
  const line =
    `CHAOS ${label} seed=${SEED} calls=${ledger.callers.length} ${show(vias)} answered=${answered} ok=${ok} failed=${failed} ${show(byCode)} ` +
    `wrong=${wrong} double=${doubles} missing=${missing} late(>deadline+1s)=${late} worst-lateness=${worstText} ` +
    `persistent=${show(persistentStatus)} device-replies-taken=${fleet.stats.accepted.size} refused=${fleet.stats.refused} drops=${fleet.stats.drops} ` +
    `connects=${fleet.stats.connects}${extra} run=${(runMs / 1000).toFixed(1)}s`;
  return { line, problems };
}

function expectClean(verdict: Verdict): void {
  const shown = verdict.problems.slice(0, 40).join('\n  ');
  expect(verdict.problems, `${REPEAT}\n${verdict.line}\n  ${shown}${verdict.problems.length > 40 ? `\n  … and ${verdict.problems.length - 40} more` : ''}`).toEqual([]);
}

/** Calls every chaos device once, well-behaved now, through `call`; each must answer its own nonce. */
async function callEachDevice(call: (deviceId: string, nonce: string) => Promise<unknown>): Promise<string[]> {
  const problems: string[] = [];
  await Promise.all(
    CHAOS_DEVICE_IDS.map(async (deviceId) => {
      const nonce = `after-${deviceId}-${SEED}`;
      try {
        const value = await call(deviceId, nonce);
        if (!isOwn(value, nonce)) problems.push(`${deviceId}: answered ${JSON.stringify(value)} after the run`);
      } catch (error) {
        problems.push(`${deviceId}: failed after the run: ${(error as { code?: string }).code ?? String(error)}`);
      }
    }),
  );
  return problems;
}

// ── one node, in process ──────────────────────────────────────────────────────────────────────────────────────────

describe(`chaos over real sockets, one node (seed ${SEED}, ${CALLS} calls)`, () => {
  let t: TestServer;
  let fleet: Fleet;
  let token: string;
  const sockets: WsCaller[] = [];
  const ledger = new Ledger();
  /** Engine calls seen through the 'call' events that have not reached an outcome yet (deviceId#requestId → status). */
  const open = new Map<string, string>();
  let orphans = 0;
  const onCall = (e: CallEvent) => {
    const key = `${e.deviceId}#${e.requestId}`;
    const final = e.status !== 'queued' && e.status !== 'sent' && (e.status !== 'delivered' || e.oneway);
    if (final) open.delete(key);
    else open.set(key, e.status);
  };
  const onOrphan = () => orphans++;

  beforeAll(async () => {
    t = await startTestServer({ devices: chaosDevicesConfig() });
    t.server.on('call', onCall);
    t.server.on('orphan', onOrphan);
    token = await t.login(USERS.tenant);
    fleet = new Fleet(ledger, SEED, t.mqttUrl, t.httpUrl);
    await fleet.start();
    for (let i = 0; i < 2; i++) sockets.push(await WsCaller.open(t.httpUrl, token));
  }, 20_000);

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await fleet?.stop();
    t?.server.off('call', onCall);
    await t?.close();
  }, 20_000);

  it(
    'every caller (library, REST, WebSocket, persistent) gets exactly one answer, its own, by its deadline + 1 s',
    async () => {
      const t0 = Date.now();
      const entry: Entry = { apiUrl: t.httpUrl, token, server: t.server, sockets };
      await drive(entry, ledger, { calls: CALLS, rate: RATE, vias: ['lib', 'rest', 'ws'], label: 'single' }, SEED);
      const runMs = Date.now() - t0;
      const lastExpiry = Math.max(0, ...ledger.callers.filter((c) => c.persistent).map((c) => c.deadline));
      await readBackPersistent(t.httpUrl, token, ledger.callers, Math.max(0, lastExpiry - Date.now()) + 8000);
      await afterLastReply(ledger);
      const verdict = judge('one-node', ledger, sockets, fleet, runMs, ` orphans=${orphans} (${fleet.describe()})`);
      console.log(verdict.line);
      console.log(`CHAOS one-node behaviours ${show(fleet.stats.behaviours)}`);
      expectClean(verdict);
    },
    30_000 + (CALLS / RATE) * 1500,
  );

  it('afterwards every device can be called normally, and nothing is left pending', async () => {
    await fleet.heal();
    await until(() => MQTT_SPECS.every((d) => t.server.devices.state(d.id) === 'subscribed'), 5000);
    expect(await callEachDevice((deviceId, nonce) => t.server.call(deviceId, { method: 'after', params: { nonce }, timeout: 5000 }))).toEqual([]);
    expect(await callEachDevice(async (deviceId, nonce) => (await restAnswer(await t.post(`/api/rpc/twoway/${deviceId}`, { method: 'after', params: { nonce }, timeout: 5000 }, token))).value)).toEqual([]);
    const ws = await sockets[0]!.call('after', { type: 'rpc', deviceId: 'chaos-mqtt-0', method: 'after', params: { nonce: 'after-ws' } });
    expect(ws).toEqual({ cmdId: 'after', result: { nonce: 'after-ws' } });
    // Every engine call reached an outcome (a persistent attempt too).
    await until(() => open.size === 0, 5000).catch(() => {});
    expect([...open].slice(0, 20), REPEAT).toEqual([]);
    await fleet.stop();
    await until(() => CHAOS_DEVICE_IDS.every((id) => t.server.devices.state(id) === 'offline'), 5000).catch(() => {});
    expect(CHAOS_DEVICE_IDS.map((id) => [id, t.server.devices.state(id)]).filter(([, state]) => state !== 'offline'), REPEAT).toEqual([]);
  }, 30_000);
});

// ── two engine processes over Redis; Redis killed mid-run ─────────────────────────────────────────────────────────

describe(`chaos with two engine processes, Redis killed (SIGKILL) mid-run and restarted (seed ${SEED}, ${CLUSTER_CALLS} calls)`, () => {
  let redis: RedisProcess | undefined;
  const nodes: EngineProcess[] = [];
  let fleet: Fleet;
  let token: string;
  const sockets: WsCaller[] = [];
  const ledger = new Ledger();
  const n1 = () => nodes[0]!;
  const n2 = () => nodes[1]!;

  beforeAll(async () => {
    redis = await startRedis();
    const config = writeTestConfig({ devices: chaosDevicesConfig() });
    nodes.push(await EngineProcess.start('node-1', redis.url, config));
    nodes.push(await EngineProcess.start('node-2', redis.url, config));
    token = await n1().login();
    fleet = new Fleet(ledger, SEED + 7, n2().mqtt, n2().http);
    await fleet.start();
    const client = new Redis(redis.url);
    try {
      // The directory names node 2 for every MQTT device (written as each connects).
      const giveUp = Date.now() + 5000;
      for (const d of MQTT_SPECS) {
        while ((await client.get(`iotrpc:dir:{d:${d.id}}`)) !== 'node-2') {
          if (Date.now() > giveUp) throw new Error(`${d.id} is not in the directory as node-2`);
          await sleep(20);
        }
      }
    } finally {
      client.disconnect();
    }
    for (let i = 0; i < 2; i++) sockets.push(await WsCaller.open(n1().http, token));
  }, 40_000);

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await fleet?.stop();
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
  }, 30_000);

  it(
    'REST and WebSocket callers on node 1, devices on node 2: one answer each, never another call\'s, 503s while Redis is away, and calls work again once it is back',
    async () => {
      const t0 = Date.now();
      const entry: Entry = { apiUrl: n1().http, token, sockets };
      let outage: Promise<void> = Promise.resolve();
      let down = false;
      let killedAt = 0;
      let backAt = 0;
      const killAt = Math.floor(CLUSTER_CALLS * 0.3);
      await drive(
        entry,
        ledger,
        {
          calls: CLUSTER_CALLS,
          rate: CLUSTER_RATE,
          vias: ['rest', 'rest', 'ws'],
          label: 'cluster',
          inOutage: () => down,
          onStarted: (index) => {
            if (index !== killAt) return;
            outage = (async () => {
              down = true;
              killedAt = Date.now();
              await redis!.kill();
              await sleep(1500);
              redis = await redis!.restart();
              backAt = Date.now();
              down = false;
            })();
          },
        },
        SEED + 7,
      );
      await outage;
      const runMs = Date.now() - t0;
      // After Redis is back, calls through node 1 reach node 2's devices again.
      await fleet.heal();
      const recoveredAt = Date.now();
      await expect
        .poll(async () => (await restAnswer(await n1().request('POST', '/api/rpc/twoway/chaos-mqtt-1', token, { method: 'again', params: { nonce: 'again' }, timeout: 5000 }))).value, { timeout: 20_000, interval: 250 })
        .toEqual({ nonce: 'again' });
      const recoveryMs = Date.now() - recoveredAt;
      const lastExpiry = Math.max(0, ...ledger.callers.filter((c) => c.persistent).map((c) => c.deadline));
      await readBackPersistent(n1().http, token, ledger.callers, Math.max(0, lastExpiry - Date.now()) + 10_000);
      await afterLastReply(ledger);
      // Outcomes by phase: in flight when Redis was killed, started while it was away, started after it was back.
      const outcome = (c: Caller) => (c.answers[0] === undefined ? 'missing' : c.answers[0].ok ? 'ok' : c.answers[0].code!);
      const phase = (pick: (c: Caller) => boolean) => {
        const codes = new Map<string, number>();
        const picked = ledger.callers.filter(pick);
        for (const c of picked) tally(codes, outcome(c));
        return `${picked.length} ${show(codes)}`;
      };
      const inFlight = phase((c) => c.started < killedAt && (c.answers[0]?.at ?? Infinity) >= killedAt);
      const during = phase((c) => c.duringOutage);
      const afterBack = phase((c) => c.started >= backAt);
      const after503 = Math.max(0, ...ledger.callers.filter((c) => c.answers[0]?.code === 'IOT_ERR_CLUSTER_UNAVAILABLE').map((c) => c.answers[0]!.at)) - backAt;
      const verdict = judge(
        'two-nodes+redis-kill',
        ledger,
        sockets,
        fleet,
        runMs,
        ` outage=${backAt - killedAt}ms in-flight-at-kill=${inFlight} started-during-outage=${during} started-after-restart=${afterBack} last-CLUSTER_UNAVAILABLE=${after503 >= 0 ? '+' : ''}${after503}ms-after-restart first-good-call-after-run=${recoveryMs}ms (${fleet.describe()} on node 2)`,
      );
      console.log(verdict.line);
      console.log(`CHAOS two-nodes behaviours ${show(fleet.stats.behaviours)}`);
      expectClean(verdict);
      // Every device, well-behaved now, answers a call entering node 1.
      expect(
        await callEachDevice(async (deviceId, nonce) => {
          const answer = await restAnswer(await n1().request('POST', `/api/rpc/twoway/${deviceId}`, token, { method: 'after', params: { nonce }, timeout: 5000 }));
          if (!answer.ok) throw Object.assign(new Error(answer.code), { code: answer.code });
          return answer.value;
        }),
      ).toEqual([]);
      // Nothing left behind on node 2 once the devices are gone.
      await fleet.stop();
      const state = async (id: string) => ((await (await n2().request('GET', `/api/device/${id}`, token)).json()) as { state: string }).state;
      await expect.poll(async () => (await Promise.all(CHAOS_DEVICE_IDS.map(state))).filter((s) => s !== 'offline'), { timeout: 5000, interval: 100 }).toEqual([]);
    },
    60_000 + (CLUSTER_CALLS / CLUSTER_RATE) * 1500,
  );
});
