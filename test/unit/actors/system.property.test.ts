/**
 * Property-based tests of the real ActorSystem: fast-check generates interleavings of callers, sessions, device
 * acks and replies (right, wrong, repeated, late), deadlines and aborts, on a fake clock; after every run the
 * callers, the replies and the request ids are checked against what a device could have seen.
 *
 * The device side is a model: it replies to an id with the nonce of the request it received under that id, so a
 * call that resolves with another call's nonce was answered by another call's reply.
 *
 * Checked, with the clock seed (the default) and with a seed of 0:
 *   1. every caller's promise settles exactly once (before close(): every call has a deadline), with one terminal status;
 *   2. a resolved two-way call resolved with its own reply (its nonce, and a reply that reply() reported as taken);
 *   3. a one-way call never resolves with a value;
 *   4. no request id is written to a device for a second call while the first holds it, nor at all: ids go forward;
 *   5. between steps, pending callers = system.pendingCalls = scheduler.size; after every deadline, all three are 0;
 *   and reply() returns true exactly when a pending two-way call holds the id (its current one, written at least once,
 *   or an earlier attempt's) and the correlation, if given, is the call's; a repeated reply is never taken twice.
 */
import { Withdrawal } from '../../../src/actors/withdrawal.js';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_REQUEST_ID, isAfter } from '../../../src/actors/device-entry.js';
import type { CloseReason, DeliveryResult, OutgoingRequest, SessionLink } from '../../../src/actors/session-link.js';
import { ActorSystem, type CallStatus, type DeliveryOrder } from '../../../src/actors/system.js';
import { RpcError } from '../../../src/errors.js';
import { DeadlineScheduler } from '../../../src/scheduling/deadline-scheduler.js';

const START = Date.UTC(2024, 0, 1, 0, 0, 0);
/** A start time where the clock seed is a few ms short of MAX_REQUEST_ID: ids wrap around to 1 during the run. */
const NEAR_WRAP = Math.floor(START / MAX_REQUEST_ID) * MAX_REQUEST_ID + MAX_REQUEST_ID - 3;
const MAX_TIMEOUT = 2000;
const BOGUS_NONCE = -1;
const NUM_RUNS = 300;

// ── commands ────────────────────────────────────────────────────────────────

/** What a link answers for each request it is given, in turn (cycled). */
type LinkStep = 'sent' | 'delivered' | 'failed' | 'throw';
type ReplyCorrelation = 'none' | 'echo' | 'wrong';
type ReplyPayload = 'json' | 'buffer' | 'garbage';

type Command =
  | { kind: 'call'; device: number; oneway: boolean; timeout: number; abortable: boolean; preAborted: boolean; correlated: boolean }
  /** A two-way call whose last attempt ended is made again with its earlier ids (a persistent call sent again). */
  | { kind: 'retry'; pick: number; timeout: number }
  | { kind: 'connect'; device: number; subscribe: boolean; steps: LinkStep[] }
  | { kind: 'subscribe'; device: number; stale: boolean }
  | { kind: 'unsubscribe'; device: number }
  | { kind: 'disconnect'; device: number; stale: boolean }
  | { kind: 'resume'; device: number }
  | { kind: 'ack'; device: number; pick: number; pendingOnly: boolean }
  /** The device answers a request it received: one still pending, or any (late, after the call ended or a reconnect). */
  | { kind: 'reply'; device: number; pick: number; pendingOnly: boolean; twice: boolean; correlation: ReplyCorrelation; payload: ReplyPayload }
  /** The device answers an id it was not given (or was given for some other call than the one picked). */
  | { kind: 'replyWrong'; device: number; how: 0 | 1 | 2 | 3 | 4; pick: number; offset: number; correlation: ReplyCorrelation }
  | { kind: 'advance'; ms: number }
  | { kind: 'abort'; pick: number }
  | { kind: 'remove'; device: number };

interface Setup {
  readonly devices: number;
  readonly ordering: DeliveryOrder;
  readonly maxPendingPerDevice: number;
  readonly startAt: number;
}

const device = fc.nat({ max: 2 });
const pick = fc.nat({ max: 1000 });
const linkStep = fc.oneof(
  { weight: 5, arbitrary: fc.constant<LinkStep>('sent') },
  { weight: 2, arbitrary: fc.constant<LinkStep>('delivered') },
  { weight: 2, arbitrary: fc.constant<LinkStep>('failed') },
  { weight: 1, arbitrary: fc.constant<LinkStep>('throw') },
);
const replyCorrelation = fc.oneof(
  { weight: 4, arbitrary: fc.constant<ReplyCorrelation>('none') },
  { weight: 2, arbitrary: fc.constant<ReplyCorrelation>('echo') },
  { weight: 1, arbitrary: fc.constant<ReplyCorrelation>('wrong') },
);

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('call' as const),
      device,
      oneway: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      timeout: fc.integer({ min: 0, max: MAX_TIMEOUT }),
      abortable: fc.boolean(),
      preAborted: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      correlated: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('retry' as const), pick, timeout: fc.integer({ min: 0, max: MAX_TIMEOUT }) }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('connect' as const),
      device,
      subscribe: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      steps: fc.array(linkStep, { minLength: 1, maxLength: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('subscribe' as const), device, stale: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unsubscribe' as const), device }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('disconnect' as const), device, stale: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('resume' as const), device }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('ack' as const), device, pick, pendingOnly: fc.boolean() }) },
  {
    weight: 9,
    arbitrary: fc.record({
      kind: fc.constant('reply' as const),
      device,
      pick,
      pendingOnly: fc.oneof({ weight: 2, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
      twice: fc.oneof({ weight: 4, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      correlation: replyCorrelation,
      payload: fc.oneof(
        { weight: 6, arbitrary: fc.constant<ReplyPayload>('json') },
        { weight: 2, arbitrary: fc.constant<ReplyPayload>('buffer') },
        { weight: 1, arbitrary: fc.constant<ReplyPayload>('garbage') },
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('replyWrong' as const),
      device,
      how: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const, 4 as const),
      pick,
      offset: fc.integer({ min: 1, max: 3 }),
      correlation: replyCorrelation,
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 1500 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('abort' as const), pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('remove' as const), device }) },
);

const setup = (seed: 'clock' | 'zero'): fc.Arbitrary<Setup> =>
  fc.record({
    devices: fc.integer({ min: 1, max: 3 }),
    ordering: fc.constantFrom<DeliveryOrder>('burst', 'sequential-on-ack', 'sequential-on-reply'),
    maxPendingPerDevice: fc.oneof({ weight: 3, arbitrary: fc.constant(100) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) }),
    startAt: seed === 'clock' ? fc.oneof({ weight: 3, arbitrary: fc.integer({ min: START, max: START + 10_000 }) }, { weight: 1, arbitrary: fc.constant(NEAR_WRAP) }) : fc.constant(START),
  });

// ── the model ───────────────────────────────────────────────────────────────

interface Logical {
  readonly nonce: number;
  readonly device: number;
  readonly attempts: CallModel[];
}

interface CallModel {
  readonly key: number;
  readonly logical: Logical;
  readonly device: number;
  readonly oneway: boolean;
  readonly params: { readonly nonce: number; readonly attempt: number };
  /** Given by the caller, else learned from the first request written. */
  correlation: string | undefined;
  readonly aliases: readonly number[];
  readonly withdrawal: Withdrawal | undefined;
  /** The request id, from its first write or first status, whichever the system shows first. */
  id: number | undefined;
  written: boolean;
  /** Terminal statuses reported by onStatus (synchronously, before the caller is answered). */
  readonly terminals: CallStatus[];
  settlements: number;
  state: 'pending' | 'resolved' | 'rejected';
  value: unknown;
  error: unknown;
}

interface Delivery {
  readonly id: number;
  readonly call: CallModel;
  readonly correlation: string;
  readonly written: boolean;
}

interface DeviceModel {
  readonly name: string;
  link: FakeLink | null;
  readonly links: FakeLink[];
  readonly deliveries: Delivery[];
  /** What the device received under each id, last write wins. */
  readonly received: Map<number, { nonce: number; correlation: string }>;
  /** The call each id was written for. */
  readonly writtenFor: Map<number, CallModel>;
  lastAllocated: number | undefined;
}

/** A SessionLink that records what it was asked to write and answers with its steps in turn. */
class FakeLink implements SessionLink {
  readonly transport = 'fake';
  readonly closed: CloseReason[] = [];
  #n = 0;

  constructor(
    readonly run: Run,
    readonly device: DeviceModel,
    readonly steps: readonly LinkStep[],
    readonly remoteAddress: string,
  ) {}

  deliver(request: OutgoingRequest): DeliveryResult {
    const step = this.steps[this.#n++ % this.steps.length]!;
    this.run.onDeliver(this, request, step);
    if (step === 'throw') throw new Error('the fake link broke');
    return step;
  }

  close(reason: CloseReason): void {
    this.closed.push(reason);
    if (this.device.link === this) this.device.link = null;
  }
}

const TERMINAL: ReadonlySet<CallStatus> = new Set(['replied', 'timeout', 'expired', 'failed', 'deleted']);

const flush = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

class Run {
  readonly scheduler = new DeadlineScheduler(10);
  readonly system: ActorSystem;
  readonly devices: DeviceModel[];
  readonly calls: CallModel[] = [];
  readonly logicals: Logical[] = [];
  readonly #byParams = new Map<unknown, CallModel>();
  /** Broken rules seen while the run went on (recorded, not thrown, so that the system is not disturbed). */
  readonly violations: string[] = [];
  readonly errors: unknown[] = [];
  /** Replies the system took (true) with a JSON payload: each answers exactly one call. */
  readonly takenTags = new Set<number>();
  readonly refusedTags = new Set<number>();
  takenGarbage = 0;
  #tags = 0;
  #links = 0;

  constructor(
    readonly setup: Setup,
    requestIdSeed: (() => number) | undefined,
  ) {
    this.system = new ActorSystem({
      scheduler: this.scheduler,
      ordering: setup.ordering,
      maxPendingPerDevice: setup.maxPendingPerDevice,
      reportError: (error) => this.errors.push(error),
      ...(requestIdSeed === undefined ? {} : { requestIdSeed }),
    });
    this.devices = Array.from({ length: setup.devices }, (_, i) => ({
      name: `dev-${i}`,
      link: null,
      links: [],
      deliveries: [],
      received: new Map(),
      writtenFor: new Map(),
      lastAllocated: undefined,
    }));
  }

  dev(index: number): DeviceModel {
    return this.devices[index % this.devices.length]!;
  }

  onDeliver(link: FakeLink, request: OutgoingRequest, step: LinkStep): void {
    const call = this.#byParams.get(request.params);
    const d = link.device;
    if (call === undefined) {
      this.violations.push(`a request nobody made was written to ${d.name}: id ${request.id}`);
      return;
    }
    if (call.device !== this.devices.indexOf(d)) this.violations.push(`call #${call.key} for dev-${call.device} was written to ${d.name}`);
    this.learnId(call, request.id);
    if (call.terminals.length > 0) this.violations.push(`call #${call.key} was written after it ended (${call.terminals.join(',')})`);
    const written = step === 'sent' || step === 'delivered';
    const correlation = request.correlation;
    d.deliveries.push({ id: request.id, call, correlation, written });
    if (!written) return;
    call.written = true;
    call.correlation ??= correlation;
    if (correlation !== call.correlation) this.violations.push(`call #${call.key} went out with correlation ${correlation}, not ${call.correlation}`);
    const before = d.writtenFor.get(request.id);
    if (before !== undefined && before !== call) {
      // Property 4 (and its strict form: ids go forward, so an id is never written for a second call at all).
      const pending = before.terminals.length === 0;
      this.violations.push(
        `request id ${request.id} written to ${d.name} for call #${call.key} (nonce ${call.params.nonce}) after call #${before.key} (nonce ${before.params.nonce}), ${pending ? 'which was still pending' : 'which had ended'}`,
      );
    }
    d.writtenFor.set(request.id, call);
    d.received.set(request.id, { nonce: call.params.nonce, correlation });
  }

  /** A call's id, from the first time the system shows it (its first write or its first status). */
  learnId(call: CallModel, id: number): void {
    if (call.id !== undefined) {
      if (call.id !== id) this.violations.push(`call #${call.key} changed id from ${call.id} to ${id}`);
      return;
    }
    call.id = id;
    const d = this.devices[call.device]!;
    // Ids go forward, per device, across the device being forgotten or removed.
    if (d.lastAllocated !== undefined && !isAfter(id, d.lastAllocated)) {
      this.violations.push(`${d.name}: request id ${id} for call #${call.key} (nonce ${call.params.nonce}) does not come after ${d.lastAllocated}`);
    }
    d.lastAllocated = id;
  }

  startCall(deviceIndex: number, logical: Logical, options: { oneway: boolean; timeout: number; abortable: boolean; preAborted: boolean; correlation: string | undefined; earlier: number[] }): void {
    const d = this.dev(deviceIndex);
    const params = { nonce: logical.nonce, attempt: logical.attempts.length + 1 };
    const withdrawal = options.abortable || options.preAborted ? new Withdrawal() : undefined;
    if (options.preAborted) withdrawal!.withdraw();
    const call: CallModel = {
      key: this.calls.length + 1,
      logical,
      device: this.devices.indexOf(d),
      oneway: options.oneway,
      params,
      correlation: options.correlation,
      aliases: options.earlier,
      withdrawal,
      id: undefined,
      written: false,
      terminals: [],
      settlements: 0,
      state: 'pending',
      value: undefined,
      error: undefined,
    };
    this.calls.push(call);
    logical.attempts.push(call);
    this.#byParams.set(params, call);
    const promise = this.system.call(d.name, {
      method: options.oneway ? 'set' : 'get',
      params,
      oneway: options.oneway,
      deadline: Date.now() + options.timeout,
      ...(withdrawal === undefined ? {} : { withdrawal }),
      ...(options.correlation === undefined ? {} : { correlation: options.correlation }),
      ...(options.earlier.length === 0 ? {} : { earlierRequestIds: options.earlier }),
      onStatus: (status, requestId) => {
        this.learnId(call, requestId);
        if (TERMINAL.has(status) || (call.oneway && status === 'delivered')) call.terminals.push(status);
      },
    });
    promise.then(
      (value) => {
        call.settlements++;
        call.state = 'resolved';
        call.value = value;
      },
      (error: unknown) => {
        call.settlements++;
        call.state = 'rejected';
        call.error = error;
      },
    );
  }

  /** Whether the system must take a reply to `id` on a device: a pending two-way call holds it, and it went out (or is an earlier attempt's). */
  expectTaken(deviceIndex: number, id: number, correlation: string | undefined): boolean {
    return this.calls.some(
      (c) =>
        c.device === deviceIndex &&
        !c.oneway &&
        c.state === 'pending' &&
        ((c.id === id && c.written) || c.aliases.includes(id)) &&
        (correlation === undefined || correlation === c.correlation),
    );
  }

  reply(deviceIndex: number, id: number, nonce: number, correlation: string | undefined, payload: ReplyPayload, expected: boolean | undefined, why: string): boolean {
    const d = this.dev(deviceIndex);
    const tag = ++this.#tags;
    const json = JSON.stringify({ nonce, tag });
    const body = payload === 'garbage' ? `not json ${tag}` : payload === 'buffer' ? Buffer.from(json) : json;
    const taken = this.system.reply(d.name, id, body, correlation);
    if (taken) {
      if (payload === 'garbage') this.takenGarbage++;
      else this.takenTags.add(tag);
    } else if (payload !== 'garbage') this.refusedTags.add(tag);
    if (expected !== undefined && taken !== expected) {
      this.violations.push(`${why}: reply(${d.name}, ${id}, nonce ${nonce}, correlation ${correlation}) returned ${taken}, expected ${expected}`);
    }
    return taken;
  }

  correlationFor(mode: ReplyCorrelation, echoed: string | undefined): string | undefined {
    if (mode === 'none') return undefined;
    if (mode === 'wrong') return 'not-this-call';
    return echoed;
  }

  async execute(cmd: Command): Promise<void> {
    switch (cmd.kind) {
      case 'call': {
        const logical: Logical = { nonce: this.logicals.length + 1, device: cmd.device, attempts: [] };
        this.logicals.push(logical);
        this.startCall(cmd.device, logical, {
          oneway: cmd.oneway,
          timeout: cmd.timeout,
          abortable: cmd.abortable,
          preAborted: cmd.preAborted,
          correlation: cmd.correlated ? `L${logical.nonce}` : undefined,
          earlier: [],
        });
        break;
      }
      case 'retry': {
        const candidates = this.logicals.filter((l) => {
          const last = l.attempts.at(-1);
          return last !== undefined && !last.oneway && last.state !== 'pending' && l.attempts.some((a) => a.written);
        });
        if (candidates.length === 0) break;
        const logical = candidates[cmd.pick % candidates.length]!;
        const earlier = [...new Set(logical.attempts.flatMap((a) => (a.written && a.id !== undefined ? [a.id] : [])))];
        this.startCall(logical.device, logical, { oneway: false, timeout: cmd.timeout, abortable: false, preAborted: false, correlation: `L${logical.nonce}`, earlier });
        break;
      }
      case 'connect': {
        const d = this.dev(cmd.device);
        const link = new FakeLink(this, d, cmd.steps, `192.0.2.${++this.#links}:1883`);
        d.links.push(link);
        const previous = d.link;
        d.link = link;
        this.system.attach(d.name, link);
        if (previous !== null && !previous.closed.includes('takeover')) this.violations.push(`${d.name}: the link taken over was not closed`);
        if (cmd.subscribe) this.system.subscribe(d.name, link);
        break;
      }
      case 'subscribe': {
        const d = this.dev(cmd.device);
        const link = cmd.stale ? d.links.find((l) => l !== d.link) : d.link;
        if (link !== undefined && link !== null) this.system.subscribe(d.name, link);
        break;
      }
      case 'unsubscribe': {
        const d = this.dev(cmd.device);
        if (d.link !== null) this.system.unsubscribe(d.name, d.link);
        break;
      }
      case 'disconnect': {
        const d = this.dev(cmd.device);
        const link = cmd.stale ? d.links.find((l) => l !== d.link) : d.link;
        if (link === undefined || link === null) break;
        if (link === d.link) d.link = null;
        this.system.detach(d.name, link);
        break;
      }
      case 'resume':
        this.system.resumeDelivery(this.dev(cmd.device).name);
        break;
      case 'ack': {
        const d = this.dev(cmd.device);
        const options = d.deliveries.filter((x) => x.written && (!cmd.pendingOnly || x.call.state === 'pending'));
        if (options.length === 0) break;
        this.system.acknowledge(d.name, options[cmd.pick % options.length]!.id);
        break;
      }
      case 'reply': {
        const index = cmd.device % this.devices.length;
        const d = this.devices[index]!;
        const options = d.deliveries.filter((x) => x.written && (!cmd.pendingOnly || x.call.state === 'pending'));
        if (options.length === 0) break;
        const delivery = options[cmd.pick % options.length]!;
        // The device answers with what it received in this delivery (for a late reply: what it received then).
        const correlation = this.correlationFor(cmd.correlation, delivery.correlation);
        const expected = this.expectTaken(index, delivery.id, correlation);
        const first = this.reply(index, delivery.id, delivery.call.params.nonce, correlation, cmd.payload, expected, 'reply to a written request');
        if (cmd.twice) {
          const second = this.reply(index, delivery.id, delivery.call.params.nonce, correlation, cmd.payload, undefined, 'repeated reply');
          if (first && second) this.violations.push(`the same reply to ${d.name} id ${delivery.id} was taken twice`);
        }
        break;
      }
      case 'replyWrong': {
        const index = cmd.device % this.devices.length;
        const d = this.devices[index]!;
        let id: number | undefined;
        switch (cmd.how) {
          case 0: {
            // An id some call to another device has.
            const others = this.calls.filter((c) => c.device !== index && c.id !== undefined);
            id = others.length === 0 ? undefined : others[cmd.pick % others.length]!.id;
            break;
          }
          case 1: {
            // An id of a call to this device that never went out (the device cannot know it).
            const unsent = this.calls.filter((c) => c.device === index && c.id !== undefined && !c.written);
            id = unsent.length === 0 ? undefined : unsent[cmd.pick % unsent.length]!.id;
            break;
          }
          case 2:
            // An id just ahead of the last one given out.
            id = d.lastAllocated === undefined ? undefined : (d.lastAllocated + cmd.offset - 1) % MAX_REQUEST_ID + 1;
            break;
          case 3:
            id = 1 + ((cmd.pick * 2_654_435_761) % MAX_REQUEST_ID);
            break;
          case 4:
            id = cmd.offset === 1 ? 0 : -cmd.offset;
            break;
        }
        if (id === undefined) break;
        const received = d.received.get(id);
        const correlation = this.correlationFor(cmd.correlation, received?.correlation ?? 'never-received');
        this.reply(index, id, received?.nonce ?? BOGUS_NONCE, correlation, 'json', this.expectTaken(index, id, correlation), 'reply to a wrong id');
        break;
      }
      case 'advance':
        vi.advanceTimersByTime(cmd.ms);
        break;
      case 'abort': {
        const abortable = this.calls.filter((c) => c.withdrawal !== undefined);
        if (abortable.length === 0) break;
        abortable[cmd.pick % abortable.length]!.withdrawal!.withdraw();
        break;
      }
      case 'remove': {
        const d = this.dev(cmd.device);
        const link = d.link;
        this.system.removeDevice(d.name);
        if (link !== null && !link.closed.includes('removed')) this.violations.push(`${d.name}: removeDevice did not close its link`);
        d.link = null;
        break;
      }
    }
    await flush();
    // Between steps: each pending caller is one call in the system's books and one deadline in the scheduler.
    const pending = this.calls.filter((c) => c.state === 'pending').length;
    if (this.system.pendingCalls !== pending || this.scheduler.size !== pending) {
      this.violations.push(`after ${cmd.kind}: ${pending} callers wait, the system holds ${this.system.pendingCalls} calls and the scheduler ${this.scheduler.size} deadlines`);
    }
  }

  /** Every deadline passed: checks the callers, the replies and the books, then closes. */
  async finish(): Promise<void> {
    vi.advanceTimersByTime(MAX_TIMEOUT + 100);
    await flush();

    expect(this.violations).toEqual([]);
    expect(this.errors).toEqual([]);

    // 5. Nothing left once every deadline passed.
    expect(this.system.pendingCalls).toBe(0);
    expect(this.scheduler.size).toBe(0);

    for (const call of this.calls) {
      const name = `call #${call.key} (dev-${call.device}, nonce ${call.params.nonce}, attempt ${call.params.attempt}, ${call.oneway ? 'one-way' : 'two-way'})`;
      // 1. Settled exactly once, before close() (every call has a deadline), with at most one terminal status.
      expect(call.settlements, name).toBe(1);
      expect(call.terminals.length, `${name}: terminal statuses ${call.terminals.join(',')}`).toBeLessThanOrEqual(1);
      if (call.id !== undefined) expect(call.terminals.length, name).toBe(1);
      if (call.state === 'rejected') {
        expect(call.error, name).toBeInstanceOf(RpcError);
        continue;
      }
      if (call.oneway) {
        // 3. A one-way call never resolves with a value.
        expect(call.value, name).toBeUndefined();
        expect(call.terminals, name).toEqual(['delivered']);
        continue;
      }
      // 2. A two-way call resolves with its own reply, never another call's.
      expect(call.terminals, name).toEqual(['replied']);
      const value = call.value as { nonce: number; tag: number };
      expect(value.nonce, `${name} resolved with ${JSON.stringify(value)}`).toBe(call.params.nonce);
      expect(this.takenTags.has(value.tag), `${name} resolved with reply ${value.tag}, which reply() did not report as taken`).toBe(true);
    }

    // Every reply the system took answered exactly one call; one it refused answered none.
    const resolvedTags = this.calls.filter((c) => !c.oneway && c.state === 'resolved').map((c) => (c.value as { tag: number }).tag);
    expect(new Set(resolvedTags).size).toBe(resolvedTags.length);
    expect([...this.takenTags].sort((a, b) => a - b)).toEqual([...resolvedTags].sort((a, b) => a - b));
    for (const tag of resolvedTags) expect(this.refusedTags.has(tag)).toBe(false);
    const notJson = this.calls.filter((c) => c.state === 'rejected' && (c.error as RpcError).code === 'IOT_ERR_REPLY_NOT_JSON').length;
    expect(notJson).toBe(this.takenGarbage);

    this.system.close();
    await flush();
    for (const call of this.calls) expect(call.settlements).toBe(1);
    this.scheduler.close();
  }
}

async function runCommands(setupValue: Setup, commands: Command[], requestIdSeed: (() => number) | undefined): Promise<void> {
  vi.clearAllTimers();
  vi.setSystemTime(setupValue.startAt);
  const run = new Run(setupValue, requestIdSeed);
  try {
    for (const cmd of commands) await run.execute(cmd);
    await run.finish();
  } finally {
    run.system.close();
    run.scheduler.close();
  }
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(START);
});

afterEach(() => {
  vi.useRealTimers();
});

describe('ActorSystem - properties over random interleavings', () => {
  const commands = fc.array(command, { minLength: 1, maxLength: 60, size: 'max' });

  it('request ids seeded by the clock (the default): callers, replies and ids stay consistent', async () => {
    await fc.assert(
      fc.asyncProperty(setup('clock'), commands, (s, cmds) => runCommands(s, cmds, undefined)),
      { numRuns: NUM_RUNS },
    );
  });

  it('request ids seeded with 0 (counting from 1): callers, replies and ids stay consistent', async () => {
    await fc.assert(
      fc.asyncProperty(setup('zero'), commands, (s, cmds) => runCommands(s, cmds, () => 0)),
      { numRuns: NUM_RUNS },
    );
  });
});
