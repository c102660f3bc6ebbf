import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CallRecord } from '../actors/call-record.js';
import type { ActorSystem } from '../actors/system.js';
import type { HandlerRegistry } from '../client-rpc/handler-registry.js';
import type { RpcError } from '../errors.js';
import type { StoredCall } from '../persistence/call-store.js';

type CallKind = 'oneway' | 'twoway' | 'persistent';
const CALL_KINDS: readonly CallKind[] = ['oneway', 'twoway', 'persistent'];

export interface MetricSources {
  readonly actors: ActorSystem;
  readonly clientRpc: HandlerRegistry;
}

/**
 * The engine's Prometheus metrics (prom-client), in a registry of its own. A call pays one counter step in a Map and
 * one histogram observation as it ends (callEnded); everything else is read from the engine's own state when
 * `/metrics` is scraped, so the hot path pays nothing more for it.
 */
export class EngineMetrics {
  readonly registry = new Registry();
  /** Ended calls by transport, kind and outcome: nested maps, so a call's count is found without building a key. */
  readonly #calls = new Map<string, Record<CallKind, Map<string, number>>>();
  readonly #duration: Histogram;
  readonly #persistent: Counter<'status'>;
  readonly #redisRoundTrip: Histogram;
  readonly #redisOutages: Counter;
  /** WebSocket API sockets open now: set by the server that has them. */
  appSockets: () => number = () => 0;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const calls = this.#calls;
    new Counter({
      name: 'iotrpc_calls_total',
      help: 'Server-side calls answered, by the transport of the device session, kind (oneway, twoway, persistent: one attempt of a stored call) and outcome (ok or the error code).',
      labelNames: ['transport', 'kind', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const [transport, kinds] of calls) {
          for (const kind of CALL_KINDS) for (const [outcome, count] of kinds[kind]) this.inc({ transport, kind, outcome }, count);
        }
      },
    });
    this.#duration = new Histogram({
      name: 'iotrpc_call_duration_seconds',
      help: 'Time from a call being made to its caller being answered.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    new Gauge({ name: 'iotrpc_pending_calls', help: 'Server-side calls not yet answered.', registers, collect() { this.set(sources.actors.pendingCalls); } });
    new Gauge({
      name: 'iotrpc_sessions',
      help: 'Device sessions on this node, by transport and state (connected, subscribed).',
      labelNames: ['transport', 'state'],
      registers,
      collect() {
        this.reset();
        for (const { transport, state, count } of sources.actors.sessionCounts().values()) this.set({ transport, state }, count);
      },
    });
    new Counter({ name: 'iotrpc_orphan_replies_total', help: 'Replies from devices that no pending call was waiting for.', registers, collect() { this.reset(); this.inc(sources.actors.orphanReplies); } });
    new Counter({
      name: 'iotrpc_client_calls_total',
      help: 'Client-side calls (device to server) answered, by outcome.',
      labelNames: ['outcome'],
      registers,
      collect() {
        this.reset();
        for (const [outcome, count] of Object.entries(sources.clientRpc.outcomes)) this.inc({ outcome }, count);
      },
    });
    this.#persistent = new Counter({ name: 'iotrpc_persistent_statuses_total', help: 'Statuses written for persistent calls on this node (QUEUED, SENT, DELIVERED, SUCCESSFUL, …).', labelNames: ['status'], registers });
    this.#redisRoundTrip = new Histogram({
      name: 'iotrpc_redis_publish_seconds',
      help: 'Round trip of a message to another node through Redis (PUBLISH until Redis answered), in a cluster.',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1],
      registers,
    });
    this.#redisOutages = new Counter({ name: 'iotrpc_redis_outages_total', help: 'Times the connection to Redis was lost, in a cluster.', registers });
    const appSockets = () => this.appSockets();
    new Gauge({ name: 'iotrpc_websocket_sockets', help: 'Application WebSocket API sockets open.', registers, collect() { this.set(appSockets()); } });
  }

  callEnded(record: CallRecord, error: RpcError | undefined): void {
    const transport = record.device.link?.transport ?? 'none';
    let kinds = this.#calls.get(transport);
    if (kinds === undefined) this.#calls.set(transport, (kinds = { oneway: new Map(), twoway: new Map(), persistent: new Map() }));
    const outcomes = kinds[record.persistent ? 'persistent' : record.oneway ? 'oneway' : 'twoway'];
    const outcome = error?.code ?? 'ok';
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    this.#duration.observe((Date.now() - record.createdTime) / 1000);
  }

  persistentStatus(call: StoredCall): void {
    this.#persistent.inc({ status: call.status });
  }

  redisRoundTrip(seconds: number): void {
    this.#redisRoundTrip.observe(seconds);
  }

  redisLost(): void {
    this.#redisOutages.inc();
  }

  /** The text format Prometheus scrapes, and its content type. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
