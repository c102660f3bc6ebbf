import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CallRecord } from '../../../src/actors/call-record.js';
import { DeviceEntry, clockRequestId, isAfter } from '../../../src/actors/device-entry.js';
import type { CloseReason, DeliveryResult, OutgoingRequest, SessionLink } from '../../../src/actors/session-link.js';
import { ActorSystem, type CallEvent, type CallStatus, type DeliveryOrder, type SessionEvent } from '../../../src/actors/system.js';
import { Withdrawal } from '../../../src/actors/withdrawal.js';
import { RpcError, type ErrorCode } from '../../../src/errors.js';
import { DeadlineScheduler } from '../../../src/scheduling/deadline-scheduler.js';

const START = Date.UTC(2024, 0, 1, 0, 0, 0);
const DEVICE = 'dev-1';

interface Delivery extends Omit<OutgoingRequest, 'correlation'> {
  readonly at: number;
  readonly result: DeliveryResult;
}

/** A transport session as the actors see it: records what it was asked to write and answers as the test says. */
class FakeLink implements SessionLink {
  readonly transport = 'fake';
  readonly attempts: Delivery[] = [];
  readonly closed: CloseReason[] = [];
  next: DeliveryResult | ((request: OutgoingRequest) => DeliveryResult) = 'sent';

  constructor(readonly remoteAddress = '192.0.2.1:50000') {}

  deliver(request: OutgoingRequest): DeliveryResult {
    const result = typeof this.next === 'function' ? this.next(request) : this.next;
    const { id, method, params, paramsJson, deadline } = request;
    this.attempts.push({ id, method, params, paramsJson, deadline, at: Date.now(), result });
    return result;
  }

  close(reason: CloseReason): void {
    this.closed.push(reason);
  }

  /** Requests actually written (not the failed attempts). */
  get delivered(): Delivery[] {
    return this.attempts.filter((a) => a.result !== 'failed');
  }

  get ids(): number[] {
    return this.delivered.map((d) => d.id);
  }
}

interface Tracked {
  state: 'pending' | 'resolved' | 'rejected';
  value: unknown;
  error: RpcError | undefined;
  settlements: number;
}

/** Watches a call's promise without letting a rejection go unhandled. */
function track(promise: Promise<unknown>): Tracked {
  const tracked: Tracked = { state: 'pending', value: undefined, error: undefined, settlements: 0 };
  promise.then(
    (value) => {
      tracked.settlements++;
      tracked.state = 'resolved';
      tracked.value = value;
    },
    (error: RpcError) => {
      tracked.settlements++;
      tracked.state = 'rejected';
      tracked.error = error;
    },
  );
  return tracked;
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

const isTerminal = (e: CallEvent) =>
  e.status === 'replied' ||
  e.status === 'timeout' ||
  e.status === 'expired' ||
  e.status === 'failed' ||
  e.status === 'deleted' ||
  (e.oneway && e.status === 'delivered');

let scheduler: DeadlineScheduler;
let systems: ActorSystem[] = [];

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(START);
  scheduler = new DeadlineScheduler(10);
  systems = [];
});

afterEach(() => {
  for (const system of systems) system.close();
  scheduler.close();
  vi.useRealTimers();
});

function harness(options: { ordering?: DeliveryOrder; maxPendingPerDevice?: number } = {}) {
  const system = new ActorSystem({
    scheduler,
    ordering: options.ordering ?? 'burst',
    maxPendingPerDevice: options.maxPendingPerDevice ?? 100,
    // Ids count from 1 here so that tests can name them; the clock seed has its own tests.
    requestIdSeed: () => 0,
  });
  systems.push(system);
  const callEvents: CallEvent[] = [];
  const sessionEvents: SessionEvent[] = [];
  const orphanEvents: Array<{ deviceId: string; requestId: number }> = [];
  system.on('call', (e) => callEvents.push(e));
  system.on('session', (e) => sessionEvents.push(e));
  system.on('orphan', (e) => orphanEvents.push(e));
  return {
    system,
    callEvents,
    sessionEvents,
    orphanEvents,
    statuses: (requestId: number, deviceId = DEVICE): CallStatus[] =>
      callEvents.filter((e) => e.deviceId === deviceId && e.requestId === requestId).map((e) => e.status),
    terminalEvents: (requestId: number, deviceId = DEVICE) =>
      callEvents.filter((e) => e.deviceId === deviceId && e.requestId === requestId && isTerminal(e)),
    twoway: (params: unknown = {}, options: { timeout?: number; deviceId?: string; requestUUID?: string; method?: string } = {}) =>
      track(
        system.call(options.deviceId ?? DEVICE, {
          method: options.method ?? 'getTemp',
          params,
          oneway: false,
          deadline: Date.now() + (options.timeout ?? 1000),
          requestUUID: options.requestUUID,
        }),
      ),
    oneway: (params: unknown = {}, options: { timeout?: number; deviceId?: string } = {}) =>
      track(
        system.call(options.deviceId ?? DEVICE, {
          method: 'setLed',
          params,
          oneway: true,
          deadline: Date.now() + (options.timeout ?? 1000),
        }),
      ),
    online: (link: FakeLink, deviceId = DEVICE) => {
      system.attach(deviceId, link);
      system.subscribe(deviceId, link);
    },
  };
}

async function expectRejected(call: Tracked, code: ErrorCode) {
  await flush();
  expect(call.state).toBe('rejected');
  expect(call.error).toBeInstanceOf(RpcError);
  expect(call.error!.code).toBe(code);
}

async function expectResolved(call: Tracked, value: unknown) {
  await flush();
  expect(call.state).toBe('resolved');
  expect(call.value).toEqual(value);
}

describe('ActorSystem - answers', () => {
  it('twoway - a reply answers the caller with the parsed JSON', async () => {
    const h = harness();
    const link = new FakeLink();
    h.online(link);
    const call = h.twoway({ unit: 'C' });
    expect(link.delivered).toEqual([{ id: 1, method: 'getTemp', params: { unit: 'C' }, paramsJson: '{"unit":"C"}', deadline: START + 1000, at: START, result: 'sent' }]);
    expect(h.statuses(1)).toEqual(['queued', 'sent']);
    h.system.acknowledge(DEVICE, 1);
    expect(h.statuses(1)).toEqual(['queued', 'sent', 'delivered']);
    await flush();
    expect(call.state).toBe('pending');
    expect(h.system.reply(DEVICE, 1, '{"t":21.5}')).toBe(true);
    await expectResolved(call, { t: 21.5 });
    expect(h.statuses(1)).toEqual(['queued', 'sent', 'delivered', 'replied']);
    expect(h.system.pendingCalls).toBe(0);
    expect(scheduler.size).toBe(0);
  });

  it('twoway - a reply before the ack completes the call and the late ack changes nothing', async () => {
    const h = harness();
    const link = new FakeLink();
    h.online(link);
    const call = h.twoway();
    expect(h.system.reply(DEVICE, 1, Buffer.from('[1,2]'))).toBe(true);
    await expectResolved(call, [1, 2]);
    h.system.acknowledge(DEVICE, 1);
    expect(h.statuses(1)).toEqual(['queued', 'sent', 'delivered', 'replied']);
    expect(h.system.pendingCalls).toBe(0);
    expect(h.system.orphanReplies).toBe(0);
  });

  it('twoway - a reply given as a Buffer is read as UTF-8 JSON', async () => {
    const h = harness();
    h.online(new FakeLink());
    const call = h.twoway();
    h.system.reply(DEVICE, 1, Buffer.from('{"name":"Zoë"}', 'utf8'));
    await expectResolved(call, { name: 'Zoë' });
  });

  it('oneway - QoS 1: done on the ack, with no value', async () => {
    const h = harness();
    const link = new FakeLink();
    h.online(link);
    const call = h.oneway({ on: true });
    expect(link.delivered.map((d) => d.method)).toEqual(['setLed']);
    await flush();
    expect(call.state).toBe('pending');
    h.system.acknowledge(DEVICE, 1);
    await expectResolved(call, undefined);
    expect(h.statuses(1)).toEqual(['queued', 'sent', 'delivered']);
    expect(h.system.pendingCalls).toBe(0);
    expect(scheduler.size).toBe(0);
  });

  it('oneway - QoS 0: done when handed over', async () => {
    const h = harness();
    const link = new FakeLink();
    link.next = 'delivered';
    h.online(link);
    const call = h.oneway();
    await expectResolved(call, undefined);
    expect(link.ids).toEqual([1]);
    expect(h.statuses(1).at(-1)).toBe('delivered');
    expect(h.statuses(1)).not.toContain('sent');
    expect(h.terminalEvents(1)).toHaveLength(1);
    expect(h.system.pendingCalls).toBe(0);
    expect(scheduler.size).toBe(0);
  });

  it('oneway - QoS 0: queued calls are done when the subscribe hands them over', async () => {
    const h = harness();
    const calls = [h.oneway(), h.oneway()];
    const link = new FakeLink();
    link.next = 'delivered';
    h.online(link);
    for (const call of calls) await expectResolved(call, undefined);
    expect(link.ids).toEqual([1, 2]);
    expect(h.statuses(1)).toEqual(['queued', 'delivered']);
    expect(h.statuses(2)).toEqual(['queued', 'delivered']);
  });

  it('twoway - QoS 0 hand-over leaves the call delivered until its reply', async () => {
    const h = harness();
    const link = new FakeLink();
    link.next = 'delivered';
    h.online(link);
    const call = h.twoway();
    expect(h.statuses(1)).toEqual(['queued', 'delivered']);
    await flush();
    expect(call.state).toBe('pending');
    h.system.reply(DEVICE, 1, '"ok"');
    await expectResolved(call, 'ok');
    expect(h.statuses(1)).toEqual(['queued', 'delivered', 'replied']);
  });

  it('twoway - a call made while offline goes out when the device subscribes before its deadline', async () => {
    const h = harness();
    const call = h.twoway({ x: 1 });
    expect(h.statuses(1)).toEqual(['queued']);
    vi.advanceTimersByTime(500);
    const link = new FakeLink();
    h.system.attach(DEVICE, link);
    expect(link.attempts).toEqual([]);
    h.system.subscribe(DEVICE, link);
    expect(link.delivered).toEqual([{ id: 1, method: 'getTemp', params: { x: 1 }, paramsJson: '{"x":1}', deadline: START + 1000, at: START + 500, result: 'sent' }]);
    h.system.reply(DEVICE, 1, 'true');
    await expectResolved(call, true);
    expect(h.statuses(1)).toEqual(['queued', 'sent', 'delivered', 'replied']);
  });
});

describe('ActorSystem - deadlines', () => {
  it('twoway - device offline until deadline rejects IOT_ERR_DEVICE_OFFLINE', async () => {
    const h = harness();
    const call = h.twoway({}, { timeout: 1000 });
    vi.advanceTimersByTime(999);
    await flush();
    expect(call.state).toBe('pending');
    vi.advanceTimersByTime(1);
    await expectRejected(call, 'IOT_ERR_DEVICE_OFFLINE');
    expect(call.error!.status).toBe(504);
    expect(call.error!.message).toContain(DEVICE);
    expect(h.statuses(1)).toEqual(['queued', 'expired']);
    expect(h.terminalEvents(1)[0]!.error).toBe(call.error);
    expect(h.system.pendingCalls).toBe(0);
    expect(h.system.deviceState(DEVICE)).toBe('offline');
  });

  it('twoway - connected but not subscribed until deadline rejects IOT_ERR_NOT_SUBSCRIBED', async () => {
    const h = harness();
    const link = new FakeLink();
    h.system.attach(DEVICE, link);
    const call = h.twoway();
    vi.advanceTimersByTime(1000);
    await expectRejected(call, 'IOT_ERR_NOT_SUBSCRIBED');
    expect(link.attempts).toEqual([]);
    expect(h.statuses(1)).toEqual(['queued', 'expired']);
  });

  it('twoway - a device that unsubscribed is not subscribed again: IOT_ERR_NOT_SUBSCRIBED', async () => {
    const h = harness();
    const link = new FakeLink();
    h.online(link);
    h.system.unsubscribe(DEVICE, link);
    const call = h.twoway();
    vi.advanceTimersByTime(1000);
    await expectRejected(call, 'IOT_ERR_NOT_SUBSCRIBED');
    expect(link.attempts).toEqual([]);
  });

  it('twoway - deadline while sent rejects IOT_ERR_NO_REPLY_SENT', async () => {
    const h = harness();
    h.online(new FakeLink());
    const call = h.twoway({}, { timeout: 2000 });
    vi.advanceTimersByTime(1999);
    await flush();
    expect(call.state).toBe('pending');
    vi.advanceTimersByTime(1);
    await expectRejected(call, 'IOT_ERR_NO_REPLY_SENT');
    expect(call.error!.status).toBe(504);
    expect(call.error!.legacyStatus).toBe(408);
    expect(h.statuses(1)).toEqual(['queued', 'sent', 'timeout']);
  });

  it('twoway - deadline while delivered rejects IOT_ERR_NO_REPLY_DELIVERED', async () => {
    const h = harness();
    h.online(new FakeLink());
    const call = h.twoway();
    h.system.acknowledge(DEVICE, 1);
    vi.advanceTimersByTime(1000);
    await expectRejected(call, 'IOT_ERR_NO_REPLY_DELIVERED');
    expect(h.statuses(1)).toEqual(['queued', 'sent', 'delivered', 'timeout']);
  });

  it('twoway - deadline after a QoS 0 hand-over rejects IOT_ERR_NO_REPLY_DELIVERED', async () => {
    const h = harness();
    const link = new FakeLink();
    link.next = 'delivered';
    h.online(link);
    const call = h.twoway();
    vi.advanceTimersByTime(1000);
    await expectRejected(call, 'IOT_ERR_NO_REPLY_DELIVERED');
  });

  it('oneway - no ack before the deadline rejects IOT_ERR_NO_REPLY_SENT', async () => {
    const h = harness();
    h.online(new FakeLink());
    const call = h.oneway();
    vi.advanceTimersByTime(1000);
    await expectRejected(call, 'IOT_ERR_NO_REPLY_SENT');
    expect(h.statuses(1)).toEqual(['queued', 'sent', 'timeout']);
  });

  it('oneway - device offline until deadline rejects IOT_ERR_DEVICE_OFFLINE', async () => {
    const h = harness();
    const call = h.oneway();
    vi.advanceTimersByTime(1000);
    await expectRejected(call, 'IOT_ERR_DEVICE_OFFLINE');
  });

  it('withdrawing with a timeout error ends the call timed out, not deleted (a persistent attempt\'s ack timer)', async () => {
    const h = harness();
    h.online(new FakeLink());
    const withdrawal = new Withdrawal();
    const call = track(h.system.call(DEVICE, { method: 'slowAck', params: {}, oneway: false, deadline: Date.now() + 10_000, withdrawal }));
    withdrawal.withdraw(new RpcError('IOT_ERR_NO_REPLY_SENT', DEVICE));
    await expectRejected(call, 'IOT_ERR_NO_REPLY_SENT');
    expect(h.statuses(1)).toEqual(['queued', 'sent', 'timeout']);
    const other = new Withdrawal();
    const withdrawn = track(h.system.call(DEVICE, { method: 'gone', params: {}, oneway: false, deadline: Date.now() + 10_000, withdrawal: other }));
    other.withdraw();
    await expectRejected(withdrawn, 'IOT_ERR_CALL_DELETED');
    expect(h.statuses(2)).toEqual(['queued', 'sent', 'deleted']);
  });

  it('the rejection carries the stack of the code that made the call', async () => {
    const h = harness();
    const awaitingCaller = async () => {
      await h.system.call(DEVICE, { method: 'getTemp', params: {}, oneway: false, deadline: Date.now() + 1000 });
    };
    const call = track(awaitingCaller());
    vi.advanceTimersByTime(1000);
    await expectRejected(call, 'IOT_ERR_DEVICE_OFFLINE');
    expect(call.error!.stack).toContain('system.test.ts');
    expect(call.error!.stack!.split('\n')[0]).toBe(`RpcError: ${call.error!.message}`);
  });

  it('a session that ends while it delivers a call being started (an HTTP poll) leaves the device able to take the next session', async () => {
    const h = harness();
    const poll = () => {
      const link = new FakeLink();
      link.next = () => {
        h.system.detach(DEVICE, link); // the poll answers and ends inside deliver
        return 'delivered';
      };
      h.online(link);
      return link;
    };
    poll();
    const first = h.twoway({ n: 1 });
    const second = h.twoway({ n: 2 });
    expect(h.system.deviceState(DEVICE)).toBe('offline');
    const next = poll();
    expect(next.ids).toEqual([2]);
    h.system.reply(DEVICE, 1, '"one"');
    h.system.reply(DEVICE, 2, '"two"');
    await expectResolved(first, 'one');
    await expectResolved(second, 'two');
  });

  it('a completed call cancels its deadline', async () => {
    const h = harness();
    h.online(new FakeLink());
    h.twoway();
    h.twoway();
    expect(scheduler.size).toBe(2);
    h.system.reply(DEVICE, 1, '1');
    expect(scheduler.size).toBe(1);
    h.system.reply(DEVICE, 2, '2');
    expect(scheduler.size).toBe(0);
  });
});

describe('ActorSystem - the caller is answered exactly once', () => {
  function permutations<T>(items: readonly T[]): T[][] {
    if (items.length <= 1) return [[...items]];
    return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
  }

  type Action = 'reply' | 'ack' | 'disconnect' | 'deadline';
  type Expected = { value: unknown } | { code: ErrorCode };

  for (const oneway of [false, true]) {
    const kind = oneway ? 'oneway' : 'twoway';
    it.each(permutations<Action>(['reply', 'ack', 'disconnect', 'deadline']).map((order) => [order.join(' → '), order] as const))(
      `${kind} - %s`,
      async (_name, order) => {
        const h = harness();
        const link = new FakeLink();
        h.online(link);
        const call = oneway ? h.oneway() : h.twoway();
        // What the call should do, step by step (SPEC.md; pending-call.machine.ts).
        let phase: 'sent' | 'delivered' | 'queued' | 'done' = 'sent';
        let expected: Expected | undefined;
        let orphans = 0;
        for (const action of order) {
          switch (action) {
            case 'reply': {
              const accepted = h.system.reply(DEVICE, 1, '{"ok":1}');
              // The request went out, so a reply to it answers the call even after its session was lost (back in line).
              if (!oneway && phase !== 'done') {
                expect(accepted).toBe(true);
                phase = 'done';
                expected = { value: { ok: 1 } };
              } else {
                expect(accepted).toBe(false);
                orphans++;
              }
              break;
            }
            case 'ack':
              h.system.acknowledge(DEVICE, 1);
              if (phase === 'sent' && oneway) {
                phase = 'done';
                expected = { value: undefined };
              } else if (phase === 'sent') {
                phase = 'delivered';
              }
              break;
            case 'disconnect':
              h.system.detach(DEVICE, link);
              if (phase === 'sent') phase = 'queued';
              break;
            case 'deadline':
              vi.advanceTimersByTime(1000);
              if (phase === 'sent') expected = { code: 'IOT_ERR_NO_REPLY_SENT' };
              if (phase === 'delivered') expected = { code: 'IOT_ERR_NO_REPLY_DELIVERED' };
              if (phase === 'queued') expected = { code: 'IOT_ERR_DEVICE_OFFLINE' };
              phase = 'done';
              break;
          }
        }
        vi.advanceTimersByTime(10_000);
        await flush();
        expect(phase).toBe('done');
        if ('code' in expected!) await expectRejected(call, expected.code);
        else await expectResolved(call, expected!.value);
        expect(call.settlements).toBe(1);
        expect(h.terminalEvents(1)).toHaveLength(1);
        expect(h.system.orphanReplies).toBe(orphans);
        expect(h.system.pendingCalls).toBe(0);
        expect(scheduler.size).toBe(0);
        expect(link.ids).toEqual([1]);
      },
    );
  }
});

describe('ActorSystem - sessions lost and taken over', () => {
  it('twoway - disconnect while sent re-queues the call and the next session re-delivers it with the same request id', async () => {
    const h = harness();
    const first = new FakeLink('192.0.2.1:1');
    h.online(first);
    const call = h.twoway({ n: 7 }, { timeout: 5000 });
    expect(first.ids).toEqual([1]);
    h.system.detach(DEVICE, first);
    expect(h.statuses(1)).toEqual(['queued', 'sent', 'queued']);
    expect(h.system.deviceState(DEVICE)).toBe('offline');
    expect(h.system.pendingCalls).toBe(1);

    vi.advanceTimersByTime(1000);
    const second = new FakeLink('192.0.2.1:2');
    h.system.attach(DEVICE, second);
    expect(second.attempts).toEqual([]);
    h.system.subscribe(DEVICE, second);
    expect(second.delivered).toEqual([{ id: 1, method: 'getTemp', params: { n: 7 }, paramsJson: '{"n":7}', deadline: START + 5000, at: START + 1000, result: 'sent' }]);
    h.system.acknowledge(DEVICE, 1);
    h.system.reply(DEVICE, 1, '{"done":true}');
    await expectResolved(call, { done: true });
    expect(h.statuses(1)).toEqual(['queued', 'sent', 'queued', 'sent', 'delivered', 'replied']);
    expect(first.ids).toEqual([1]);
  });

  it('oneway - disconnect while sent re-queues the call and the next session re-delivers it', async () => {
    const h = harness();
    const first = new FakeLink();
    h.online(first);
    const call = h.oneway();
    h.system.detach(DEVICE, first);
    const second = new FakeLink();
    h.online(second);
    expect(second.ids).toEqual([1]);
    h.system.acknowledge(DEVICE, 1);
    await expectResolved(call, undefined);
  });

  it('twoway - disconnect after the ack keeps the call delivered; its reply may come on the next session', async () => {
    const h = harness();
    const first = new FakeLink();
    h.online(first);
    const call = h.twoway();
    h.system.acknowledge(DEVICE, 1);
    h.system.detach(DEVICE, first);
    expect(h.statuses(1)).toEqual(['queued', 'sent', 'delivered']);
    const second = new FakeLink();
    h.online(second);
    expect(second.attempts).toEqual([]);
    expect(h.system.reply(DEVICE, 1, '3')).toBe(true);
    await expectResolved(call, 3);
  });

  it('re-queued calls go out first, oldest first, ahead of calls that were still queued', async () => {
    const h = harness({ ordering: 'sequential-on-reply' });
    const first = new FakeLink();
    h.online(first);
    h.twoway({ n: 'a' }, { timeout: 5000 });
    vi.advanceTimersByTime(5);
    h.twoway({ n: 'b' }, { timeout: 5000 });
    expect(first.ids).toEqual([1]);
    h.system.detach(DEVICE, first);
    h.twoway({ n: 'c' }, { timeout: 5000 });
    const second = new FakeLink();
    h.online(second);
    expect(second.ids).toEqual([1]);
    h.system.reply(DEVICE, 1, '1');
    h.system.reply(DEVICE, 2, '2');
    expect(second.delivered.map((d) => d.params)).toEqual([{ n: 'a' }, { n: 'b' }, { n: 'c' }]);
  });

  it('calls re-queued together keep the order they were made in', async () => {
    const h = harness();
    const first = new FakeLink();
    h.online(first);
    h.twoway({ n: 'a' });
    vi.advanceTimersByTime(5);
    h.twoway({ n: 'b' });
    first.next = 'failed';
    h.twoway({ n: 'c' });
    h.system.detach(DEVICE, first);
    h.twoway({ n: 'd' });
    const second = new FakeLink();
    h.online(second);
    expect(second.delivered.map((d) => [d.id, d.params])).toEqual([
      [1, { n: 'a' }],
      [2, { n: 'b' }],
      [3, { n: 'c' }],
      [4, { n: 'd' }],
    ]);
  });

  it('takeover - the first link is closed, its sent calls re-queued and delivered on the new link after subscribe', async () => {
    const h = harness();
    const first = new FakeLink('192.0.2.1:1');
    h.online(first);
    const sent = h.twoway({ which: 'sent' });
    const acked = h.twoway({ which: 'acked' });
    h.system.acknowledge(DEVICE, 2);
    h.sessionEvents.length = 0;

    const second = new FakeLink('192.0.2.2:2');
    h.system.attach(DEVICE, second);
    expect(first.closed).toEqual(['takeover']);
    expect(second.closed).toEqual([]);
    expect(h.sessionEvents).toEqual([
      { deviceId: DEVICE, state: 'disconnected', transport: 'fake', remoteAddress: '192.0.2.1:1' },
      { deviceId: DEVICE, state: 'connected', transport: 'fake', remoteAddress: '192.0.2.2:2' },
    ]);
    expect(h.system.deviceState(DEVICE)).toBe('connected');
    expect(h.statuses(1)).toEqual(['queued', 'sent', 'queued']);
    expect(h.statuses(2)).toEqual(['queued', 'sent', 'delivered']);
    expect(second.attempts).toEqual([]);

    h.system.subscribe(DEVICE, second);
    expect(second.delivered.map((d) => [d.id, d.params])).toEqual([[1, { which: 'sent' }]]);
    expect(first.ids).toEqual([1, 2]);

    h.system.reply(DEVICE, 2, '"two"');
    h.system.reply(DEVICE, 1, '"one"');
    await expectResolved(sent, 'one');
    await expectResolved(acked, 'two');
  });

  it('takeover - the replaced link can no longer detach, subscribe or unsubscribe the device', async () => {
    const h = harness();
    const first = new FakeLink('192.0.2.1:1');
    h.online(first);
    const second = new FakeLink('192.0.2.2:2');
    h.online(second);
    h.sessionEvents.length = 0;
    h.system.unsubscribe(DEVICE, first);
    h.system.subscribe(DEVICE, first);
    h.system.detach(DEVICE, first);
    expect(h.sessionEvents).toEqual([]);
    expect(h.system.deviceState(DEVICE)).toBe('subscribed');
    const call = h.twoway();
    expect(second.ids).toEqual([1]);
    expect(first.ids).toEqual([]);
    h.system.reply(DEVICE, 1, 'null');
    await expectResolved(call, null);
  });

  it('a failed delivery leaves the call queued; it goes out on the next subscribe', async () => {
    const h = harness();
    const link = new FakeLink();
    link.next = 'failed';
    h.online(link);
    const call = h.twoway();
    expect(link.attempts.map((a) => a.result)).toEqual(['failed']);
    expect(h.statuses(1)).toEqual(['queued']);
    link.next = 'sent';
    h.system.unsubscribe(DEVICE, link);
    h.system.subscribe(DEVICE, link);
    expect(link.ids).toEqual([1]);
    h.system.reply(DEVICE, 1, '1');
    await expectResolved(call, 1);
    expect(h.statuses(1)).toEqual(['queued', 'sent', 'delivered', 'replied']);
  });
});

describe('ActorSystem - request ids', () => {
  it('request ids are per-device integers starting at 1', () => {
    const h = harness();
    const a = new FakeLink();
    const b = new FakeLink();
    h.online(a, 'dev-a');
    h.online(b, 'dev-b');
    h.twoway({}, { deviceId: 'dev-a' });
    h.twoway({}, { deviceId: 'dev-a' });
    h.twoway({}, { deviceId: 'dev-b' });
    h.twoway({}, { deviceId: 'dev-a' });
    expect(a.ids).toEqual([1, 2, 3]);
    expect(b.ids).toEqual([1]);
    for (const id of [...a.ids, ...b.ids]) expect(Number.isInteger(id)).toBe(true);
  });

  it('request ids are never reused while a call holds them', () => {
    const h = harness();
    const link = new FakeLink();
    h.online(link);
    for (let i = 0; i < 5; i++) h.twoway();
    h.system.reply(DEVICE, 1, '1');
    h.system.reply(DEVICE, 3, '1');
    for (let i = 0; i < 5; i++) h.twoway();
    expect(link.ids).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(new Set(link.ids).size).toBe(link.ids.length);
    expect(h.system.pendingCalls).toBe(8);
  });

  it('a connected device keeps counting after all its calls completed', async () => {
    const h = harness();
    const link = new FakeLink();
    h.online(link);
    h.twoway();
    h.system.reply(DEVICE, 1, '1');
    expect(h.system.pendingCalls).toBe(0);
    h.twoway();
    expect(link.ids).toEqual([1, 2]);
  });

  it('a device that disconnects with nothing pending is forgotten, but its next session does not reuse its ids', async () => {
    const h = harness();
    const first = new FakeLink();
    h.online(first);
    h.twoway();
    h.twoway();
    h.system.reply(DEVICE, 1, '1');
    h.system.reply(DEVICE, 2, '2');
    h.system.detach(DEVICE, first);
    const second = new FakeLink();
    h.online(second);
    h.twoway();
    expect(first.ids).toEqual([1, 2]);
    expect(second.ids).toEqual([3]);
  });

  it('a device that disconnects with a call pending keeps counting', () => {
    const h = harness();
    const first = new FakeLink();
    h.online(first);
    h.twoway({}, { timeout: 5000 });
    h.system.acknowledge(DEVICE, 1);
    h.system.detach(DEVICE, first);
    const second = new FakeLink();
    h.online(second);
    h.twoway();
    expect(second.ids).toEqual([2]);
  });

  it('the id counter skips ids that pending calls hold', () => {
    const entry = new DeviceEntry(DEVICE);
    const holder = {} as CallRecord;
    entry.calls.set(1, holder);
    entry.calls.set(2, holder);
    entry.calls.set(4, holder);
    expect([entry.nextRequestId(), entry.nextRequestId(), entry.nextRequestId()]).toEqual([3, 5, 6]);
  });

  it('a device with no session and no pending call is forgotten', async () => {
    const h = harness();
    const call = h.twoway();
    expect(h.system.deviceState(DEVICE)).toBe('offline');
    vi.advanceTimersByTime(1000);
    await expectRejected(call, 'IOT_ERR_DEVICE_OFFLINE');
    const link = new FakeLink();
    h.online(link);
    h.twoway();
    expect(link.ids).toEqual([2]);
  });

  it('by default a forgotten device starts again from the clock in ms, past the ids it had', async () => {
    const system = new ActorSystem({ scheduler, ordering: 'burst', maxPendingPerDevice: 10 });
    systems.push(system);
    const first = new FakeLink();
    system.attach(DEVICE, first);
    system.subscribe(DEVICE, first);
    const call = () => track(system.call(DEVICE, { method: 'm', params: null, oneway: false, deadline: Date.now() + 1000 }));
    call();
    call();
    const [a, b] = first.ids;
    expect(a).toBe((START % (2 ** 31 - 1)) + 1);
    expect(b).toBe(a! + 1);
    system.reply(DEVICE, a!, '1');
    system.reply(DEVICE, b!, '2');
    system.detach(DEVICE, first);
    // Forgotten within the same millisecond: the next counter goes on from where this one was, not from the clock.
    const second = new FakeLink();
    system.attach(DEVICE, second);
    system.subscribe(DEVICE, second);
    call();
    expect(second.ids).toEqual([b! + 1]);
    system.reply(DEVICE, b! + 1, '3');
    system.detach(DEVICE, second);
    vi.advanceTimersByTime(60_000);
    const third = new FakeLink();
    system.attach(DEVICE, third);
    system.subscribe(DEVICE, third);
    call();
    expect(third.ids).toEqual([((START + 60_000) % (2 ** 31 - 1)) + 1]);
  });

  it('the clock seed folds into 1..2^31-1 and the counter wraps past it', () => {
    expect(clockRequestId(2 ** 31 - 2)).toBe(2 ** 31 - 1);
    expect(clockRequestId(2 ** 31 - 1)).toBe(1);
    expect(isAfter(1, 2 ** 31 - 2)).toBe(true);
    expect(isAfter(2 ** 31 - 2, 1)).toBe(false);
    let seed = 2 ** 31 - 100;
    const entry = new DeviceEntry(DEVICE, () => seed, 2 ** 31 - 2);
    expect([entry.nextRequestId(), entry.nextRequestId(), entry.nextRequestId()]).toEqual([2 ** 31 - 1, 1, 2]);
    // A seed ahead of the counter moves it on.
    seed = 50;
    expect(entry.nextRequestId()).toBe(50);
  });
});

describe('ActorSystem - per-device cap', () => {
  it('twoway - a call over the per-device cap rejects IOT_ERR_QUEUE_FULL', async () => {
    const h = harness({ maxPendingPerDevice: 2 });
    const link = new FakeLink();
    h.online(link);
    const first = h.twoway();
    const second = h.twoway();
    const third = h.twoway();
    await expectRejected(third, 'IOT_ERR_QUEUE_FULL');
    expect(third.error!.status).toBe(429);
    expect(third.error!.message).toContain(DEVICE);
    expect(link.ids).toEqual([1, 2]);
    expect(h.callEvents.map((e) => e.requestId)).toEqual([1, 1, 2, 2]); // queued and sent each; none for the refused call
    expect(first.state).toBe('pending');
    expect(second.state).toBe('pending');
  });

  it('the cap counts per device, and frees a slot when a call completes', async () => {
    const h = harness({ maxPendingPerDevice: 1 });
    const link = new FakeLink();
    h.online(link);
    h.twoway();
    const other = h.twoway({}, { deviceId: 'dev-2' });
    await flush();
    expect(other.state).toBe('pending');
    await expectRejected(h.twoway(), 'IOT_ERR_QUEUE_FULL');
    h.system.reply(DEVICE, 1, '1');
    const later = h.twoway();
    await flush();
    expect(later.state).toBe('pending');
    expect(link.ids).toEqual([1, 2]);
  });

  it('the cap applies to a device that is offline', async () => {
    const h = harness({ maxPendingPerDevice: 1 });
    h.twoway();
    await expectRejected(h.twoway(), 'IOT_ERR_QUEUE_FULL');
    expect(h.system.pendingCalls).toBe(1);
  });

  it('a cap of zero refuses every call and keeps nothing for the device', async () => {
    const h = harness({ maxPendingPerDevice: 0 });
    await expectRejected(h.twoway(), 'IOT_ERR_QUEUE_FULL');
    expect(h.system.pendingCalls).toBe(0);
    expect(h.system.deviceState(DEVICE)).toBe('offline');
    expect(scheduler.size).toBe(0);
  });
});

describe('ActorSystem - delivery order', () => {
  it('burst - every call goes out at once', () => {
    const h = harness({ ordering: 'burst' });
    const link = new FakeLink();
    h.online(link);
    h.twoway();
    h.twoway();
    h.oneway();
    expect(link.delivered.map((d) => [d.id, d.at])).toEqual([
      [1, START],
      [2, START],
      [3, START],
    ]);
  });

  it('burst - calls queued while offline all go out on subscribe', () => {
    const h = harness({ ordering: 'burst' });
    h.twoway();
    h.twoway();
    h.twoway();
    const link = new FakeLink();
    h.online(link);
    expect(link.ids).toEqual([1, 2, 3]);
  });

  it('sequential-on-ack - the next call goes out when the previous one is acknowledged', () => {
    const h = harness({ ordering: 'sequential-on-ack' });
    const link = new FakeLink();
    h.online(link);
    h.twoway({}, { timeout: 5000 });
    h.twoway({}, { timeout: 5000 });
    h.twoway({}, { timeout: 5000 });
    expect(link.ids).toEqual([1]);
    expect(h.statuses(2)).toEqual(['queued']);
    vi.advanceTimersByTime(100);
    h.system.acknowledge(DEVICE, 1);
    expect(link.ids).toEqual([1, 2]);
    vi.advanceTimersByTime(100);
    h.system.reply(DEVICE, 1, '1');
    expect(link.ids).toEqual([1, 2]);
    vi.advanceTimersByTime(100);
    h.system.acknowledge(DEVICE, 2);
    expect(link.delivered.map((d) => [d.id, d.at])).toEqual([
      [1, START],
      [2, START + 100],
      [3, START + 300],
    ]);
  });

  it('sequential-on-ack - a reply that overtakes its ack also lets the next call go', () => {
    const h = harness({ ordering: 'sequential-on-ack' });
    const link = new FakeLink();
    h.online(link);
    h.twoway();
    h.twoway();
    h.system.reply(DEVICE, 1, '1');
    expect(link.ids).toEqual([1, 2]);
  });

  it('sequential-on-ack - hand-overs with no ack to wait for (QoS 0) all go out', () => {
    const h = harness({ ordering: 'sequential-on-ack' });
    const link = new FakeLink();
    link.next = 'delivered';
    h.online(link);
    h.twoway();
    h.twoway();
    h.twoway();
    expect(link.ids).toEqual([1, 2, 3]);
  });

  it('sequential-on-ack - only the first of the calls queued while offline goes out on subscribe', () => {
    const h = harness({ ordering: 'sequential-on-ack' });
    h.twoway();
    h.twoway();
    const link = new FakeLink();
    h.online(link);
    expect(link.ids).toEqual([1]);
    h.system.acknowledge(DEVICE, 1);
    expect(link.ids).toEqual([1, 2]);
  });

  it('sequential-on-reply - the next call goes out only when the previous one is answered', () => {
    const h = harness({ ordering: 'sequential-on-reply' });
    const link = new FakeLink();
    h.online(link);
    h.twoway({}, { timeout: 5000 });
    h.twoway({}, { timeout: 5000 });
    h.twoway({}, { timeout: 5000 });
    expect(link.ids).toEqual([1]);
    vi.advanceTimersByTime(100);
    h.system.acknowledge(DEVICE, 1);
    expect(link.ids).toEqual([1]);
    vi.advanceTimersByTime(100);
    h.system.reply(DEVICE, 1, '1');
    expect(link.ids).toEqual([1, 2]);
    vi.advanceTimersByTime(100);
    h.system.reply(DEVICE, 2, '2');
    expect(link.delivered.map((d) => [d.id, d.at])).toEqual([
      [1, START],
      [2, START + 200],
      [3, START + 300],
    ]);
  });

  it('sequential-on-reply - a QoS 0 hand-over still waits for its reply', () => {
    const h = harness({ ordering: 'sequential-on-reply' });
    const link = new FakeLink();
    link.next = 'delivered';
    h.online(link);
    h.twoway();
    h.twoway();
    expect(link.ids).toEqual([1]);
    h.system.reply(DEVICE, 1, '1');
    expect(link.ids).toEqual([1, 2]);
  });

  it('sequential-on-reply - a one-way call is answered by its ack', async () => {
    const h = harness({ ordering: 'sequential-on-reply' });
    const link = new FakeLink();
    h.online(link);
    const first = h.oneway();
    h.twoway();
    expect(link.ids).toEqual([1]);
    h.system.acknowledge(DEVICE, 1);
    await expectResolved(first, undefined);
    expect(link.ids).toEqual([1, 2]);
  });

  it('sequential-on-reply - the head call timing out lets the next one go', async () => {
    const h = harness({ ordering: 'sequential-on-reply' });
    const link = new FakeLink();
    h.online(link);
    const head = h.twoway({}, { timeout: 1000 });
    const next = h.twoway({}, { timeout: 5000 });
    expect(link.ids).toEqual([1]);
    vi.advanceTimersByTime(1000);
    await expectRejected(head, 'IOT_ERR_NO_REPLY_SENT');
    expect(link.delivered.map((d) => [d.id, d.at])).toEqual([
      [1, START],
      [2, START + 1000],
    ]);
    h.system.reply(DEVICE, 2, '2');
    await expectResolved(next, 2);
  });

  it('sequential-on-ack - a call that waited in line and expired leaves the line', async () => {
    const h = harness({ ordering: 'sequential-on-ack' });
    const link = new FakeLink();
    h.online(link);
    h.twoway({}, { timeout: 5000 });
    const waiting = h.twoway({}, { timeout: 1000 });
    h.twoway({}, { timeout: 5000 });
    vi.advanceTimersByTime(1000);
    await flush();
    expect(waiting.state).toBe('rejected');
    expect(h.statuses(2)).toEqual(['queued', 'expired']);
    h.system.acknowledge(DEVICE, 1);
    expect(link.ids).toEqual([1, 3]);
  });
});

describe('ActorSystem - removing a device and closing', () => {
  it('removeDevice fails pending calls with IOT_ERR_DEVICE_REMOVED and closes the link with "removed"', async () => {
    const h = harness();
    const link = new FakeLink();
    h.online(link);
    const sent = h.twoway();
    const delivered = h.twoway();
    h.system.acknowledge(DEVICE, 2);
    link.next = 'failed';
    const queued = h.twoway();
    const oneway = h.oneway();
    h.sessionEvents.length = 0;

    h.system.removeDevice(DEVICE);
    for (const call of [sent, delivered, queued, oneway]) {
      await expectRejected(call, 'IOT_ERR_DEVICE_REMOVED');
      expect(call.error!.status).toBe(410);
      expect(call.settlements).toBe(1);
    }
    expect(link.closed).toEqual(['removed']);
    expect(h.sessionEvents).toEqual([{ deviceId: DEVICE, state: 'disconnected', transport: 'fake', remoteAddress: link.remoteAddress }]);
    for (const id of [1, 2, 3, 4]) expect(h.statuses(id).at(-1)).toBe('failed');
    expect(h.system.pendingCalls).toBe(0);
    expect(h.system.deviceState(DEVICE)).toBe('offline');
    expect(scheduler.size).toBe(0);

    // The closed link's late events are harmless.
    expect(h.system.reply(DEVICE, 1, '1')).toBe(false);
    h.system.acknowledge(DEVICE, 1);
    h.system.detach(DEVICE, link);
    expect(h.sessionEvents).toHaveLength(1);
  });

  it('removeDevice of an offline device fails its queued calls', async () => {
    const h = harness();
    const call = h.twoway();
    h.system.removeDevice(DEVICE);
    await expectRejected(call, 'IOT_ERR_DEVICE_REMOVED');
    expect(h.statuses(1)).toEqual(['queued', 'failed']);
  });

  it('removeDevice of an unknown device does nothing', () => {
    const h = harness();
    expect(() => h.system.removeDevice('nobody')).not.toThrow();
    expect(h.system.deviceState('nobody')).toBe('offline');
  });

  it('a removed device can be called again as a new device', async () => {
    const h = harness();
    h.twoway();
    h.system.removeDevice(DEVICE);
    const call = h.twoway();
    const link = new FakeLink();
    h.online(link);
    expect(link.ids).toEqual([2]);
    h.system.reply(DEVICE, 2, '5');
    await expectResolved(call, 5);
  });

  it('close() rejects pending calls with IOT_ERR_SHUTTING_DOWN and closes every link with "shutdown"', async () => {
    const h = harness();
    const a = new FakeLink('192.0.2.1:1');
    const b = new FakeLink('192.0.2.2:2');
    h.online(a, 'dev-a');
    h.online(b, 'dev-b');
    const calls = [h.twoway({}, { deviceId: 'dev-a' }), h.oneway({}, { deviceId: 'dev-b' }), h.twoway({}, { deviceId: 'dev-offline' })];
    h.system.acknowledge('dev-a', 1);
    h.system.close();
    for (const call of calls) {
      await expectRejected(call, 'IOT_ERR_SHUTTING_DOWN');
      expect(call.error!.status).toBe(503);
    }
    expect(a.closed).toEqual(['shutdown']);
    expect(b.closed).toEqual(['shutdown']);
    expect(h.system.pendingCalls).toBe(0);
    expect(scheduler.size).toBe(0);
  });

  it('after close() a new call rejects IOT_ERR_SHUTTING_DOWN and nothing is sent', async () => {
    const h = harness();
    const link = new FakeLink();
    h.online(link);
    h.system.close();
    const call = h.twoway();
    await expectRejected(call, 'IOT_ERR_SHUTTING_DOWN');
    expect(link.attempts).toEqual([]);
    expect(h.callEvents).toEqual([]);
  });

  it('close() fails the calls waiting in a sequential line without delivering them', async () => {
    const h = harness({ ordering: 'sequential-on-reply' });
    const link = new FakeLink();
    h.online(link);
    const calls = [h.twoway(), h.twoway(), h.twoway()];
    h.system.close();
    for (const call of calls) await expectRejected(call, 'IOT_ERR_SHUTTING_DOWN');
    expect(link.ids).toEqual([1]);
  });
});

describe('ActorSystem - replies that do not fit', () => {
  it('twoway - a reply that is not JSON rejects IOT_ERR_REPLY_NOT_JSON', async () => {
    const h = harness();
    h.online(new FakeLink());
    const call = h.twoway();
    expect(h.system.reply(DEVICE, 1, 'hello, not json')).toBe(true);
    await expectRejected(call, 'IOT_ERR_REPLY_NOT_JSON');
    expect(call.error!.status).toBe(406);
    expect(call.error!.message).toContain('hello, not json');
    const last = h.callEvents.at(-1)!;
    expect(last.status).toBe('replied');
    expect(last.error).toBe(call.error);
    expect(h.system.pendingCalls).toBe(0);
  });

  it('twoway - a long non-JSON reply is cut to 120 characters in the error', async () => {
    const h = harness();
    h.online(new FakeLink());
    const call = h.twoway();
    h.system.reply(DEVICE, 1, 'x'.repeat(500));
    await expectRejected(call, 'IOT_ERR_REPLY_NOT_JSON');
    expect(call.error!.message).toContain(`${'x'.repeat(120)}…`);
    expect(call.error!.message).not.toContain('x'.repeat(121));
  });

  it('a reply to an unknown request id is an orphan: false, counted, never thrown', () => {
    const h = harness();
    h.online(new FakeLink());
    h.twoway();
    expect(h.system.reply(DEVICE, 99, '{}')).toBe(false);
    expect(h.system.orphanReplies).toBe(1);
    expect(h.orphanEvents).toEqual([{ deviceId: DEVICE, requestId: 99 }]);
    expect(h.system.pendingCalls).toBe(1);
  });

  it('a reply from an unknown device is an orphan', () => {
    const h = harness();
    expect(() => h.system.reply('ghost', 1, '{}')).not.toThrow();
    expect(h.system.orphanReplies).toBe(1);
    expect(h.orphanEvents).toEqual([{ deviceId: 'ghost', requestId: 1 }]);
  });

  it('a late reply after the call completed is an orphan and changes nothing', async () => {
    const h = harness();
    h.online(new FakeLink());
    const call = h.twoway();
    h.system.reply(DEVICE, 1, '"first"');
    expect(h.system.reply(DEVICE, 1, '"second"')).toBe(false);
    await expectResolved(call, 'first');
    expect(h.system.orphanReplies).toBe(1);
    expect(h.terminalEvents(1)).toHaveLength(1);
  });

  it('a late reply after the deadline is an orphan', async () => {
    const h = harness();
    h.online(new FakeLink());
    const call = h.twoway();
    vi.advanceTimersByTime(1000);
    expect(h.system.reply(DEVICE, 1, '1')).toBe(false);
    await expectRejected(call, 'IOT_ERR_NO_REPLY_SENT');
    expect(h.system.orphanReplies).toBe(1);
  });

  it('a reply to a call not yet sent is an orphan and the call keeps waiting', async () => {
    const h = harness();
    const call = h.twoway();
    expect(h.system.reply(DEVICE, 1, '1')).toBe(false);
    expect(h.system.orphanReplies).toBe(1);
    const link = new FakeLink();
    h.online(link);
    expect(h.system.reply(DEVICE, 1, '2')).toBe(true);
    await expectResolved(call, 2);
  });

  it('an ack for an unknown id, device or a call not sent is ignored', () => {
    const h = harness();
    h.twoway();
    expect(() => {
      h.system.acknowledge(DEVICE, 1);
      h.system.acknowledge(DEVICE, 42);
      h.system.acknowledge('ghost', 1);
    }).not.toThrow();
    expect(h.statuses(1)).toEqual(['queued']);
  });
});

describe('ActorSystem - requestUUID', () => {
  const UUID = '7f1c2a5e-3b1d-4a57-9a0e-2f4d7c1b9e01';

  it('a repeat while pending joins the same call: one delivery, both callers get the reply', async () => {
    const h = harness();
    const link = new FakeLink();
    h.online(link);
    const first = h.twoway({ a: 1 }, { requestUUID: UUID });
    const repeat = h.twoway({ a: 1 }, { requestUUID: UUID });
    expect(link.ids).toEqual([1]);
    expect(h.system.pendingCalls).toBe(1);
    h.system.reply(DEVICE, 1, '{"r":1}');
    await expectResolved(first, { r: 1 });
    await expectResolved(repeat, { r: 1 });
    expect(h.callEvents.every((e) => e.requestId === 1)).toBe(true);
  });

  it('a repeat that joined gets the same rejection', async () => {
    const h = harness();
    const first = h.twoway({}, { requestUUID: UUID });
    vi.advanceTimersByTime(500);
    const repeat = h.twoway({}, { requestUUID: UUID, timeout: 10_000 });
    vi.advanceTimersByTime(500);
    await expectRejected(first, 'IOT_ERR_DEVICE_OFFLINE');
    await expectRejected(repeat, 'IOT_ERR_DEVICE_OFFLINE');
  });

  it('after the call completed, the same requestUUID starts a new call', async () => {
    const h = harness();
    const link = new FakeLink();
    h.online(link);
    const first = h.twoway({}, { requestUUID: UUID });
    h.system.reply(DEVICE, 1, '1');
    await expectResolved(first, 1);
    const again = h.twoway({}, { requestUUID: UUID });
    expect(link.ids).toEqual([1, 2]);
    h.system.reply(DEVICE, 2, '2');
    await expectResolved(again, 2);
  });

  it('calls with different requestUUIDs are different calls', () => {
    const h = harness();
    const link = new FakeLink();
    h.online(link);
    h.twoway({}, { requestUUID: UUID });
    h.twoway({}, { requestUUID: 'another-uuid' });
    h.twoway();
    expect(link.ids).toEqual([1, 2, 3]);
  });
});

describe('ActorSystem - events', () => {
  it("'session' events follow connect, subscribe, unsubscribe and disconnect", () => {
    const h = harness();
    const link = new FakeLink('198.51.100.7:1883');
    const states: string[] = [];
    h.system.attach(DEVICE, link);
    states.push(h.system.deviceState(DEVICE));
    h.system.subscribe(DEVICE, link);
    h.system.subscribe(DEVICE, link); // a second SUBSCRIBE changes nothing
    states.push(h.system.deviceState(DEVICE));
    h.system.unsubscribe(DEVICE, link);
    h.system.unsubscribe(DEVICE, link);
    states.push(h.system.deviceState(DEVICE));
    h.system.detach(DEVICE, link);
    h.system.detach(DEVICE, link);
    states.push(h.system.deviceState(DEVICE));
    const base = { deviceId: DEVICE, transport: 'fake', remoteAddress: '198.51.100.7:1883' };
    expect(h.sessionEvents).toEqual([
      { ...base, state: 'connected' },
      { ...base, state: 'subscribed' },
      { ...base, state: 'unsubscribed' },
      { ...base, state: 'disconnected' },
    ]);
    expect(states).toEqual(['connected', 'subscribed', 'connected', 'offline']);
  });

  it("subscribe or detach for a device never attached does nothing", () => {
    const h = harness();
    const link = new FakeLink();
    h.system.subscribe(DEVICE, link);
    h.system.unsubscribe(DEVICE, link);
    h.system.detach(DEVICE, link);
    expect(h.sessionEvents).toEqual([]);
    expect(h.system.deviceState(DEVICE)).toBe('offline');
  });

  it("'call' events carry the call's identity, status and error", async () => {
    const h = harness();
    const link = new FakeLink();
    h.online(link);
    h.twoway({}, { method: 'reboot' });
    h.oneway();
    vi.advanceTimersByTime(1000);
    await flush();
    expect(h.callEvents.map(({ error, ...rest }) => ({ ...rest, code: error?.code }))).toEqual([
      { deviceId: DEVICE, requestId: 1, method: 'reboot', oneway: false, status: 'queued', code: undefined },
      { deviceId: DEVICE, requestId: 1, method: 'reboot', oneway: false, status: 'sent', code: undefined },
      { deviceId: DEVICE, requestId: 2, method: 'setLed', oneway: true, status: 'queued', code: undefined },
      { deviceId: DEVICE, requestId: 2, method: 'setLed', oneway: true, status: 'sent', code: undefined },
      { deviceId: DEVICE, requestId: 1, method: 'reboot', oneway: false, status: 'timeout', code: 'IOT_ERR_NO_REPLY_SENT' },
      { deviceId: DEVICE, requestId: 2, method: 'setLed', oneway: true, status: 'timeout', code: 'IOT_ERR_NO_REPLY_SENT' },
    ]);
  });

  it('works with no listeners at all', async () => {
    const system = new ActorSystem({ scheduler, ordering: 'burst', maxPendingPerDevice: 10 });
    systems.push(system);
    const link = new FakeLink();
    system.attach(DEVICE, link);
    system.subscribe(DEVICE, link);
    const call = track(system.call(DEVICE, { method: 'm', params: null, oneway: false, deadline: Date.now() + 1000 }));
    const [id] = link.ids;
    system.reply(DEVICE, id!, '{"quiet":true}');
    expect(system.reply(DEVICE, id!, '{}')).toBe(false);
    await expectResolved(call, { quiet: true });
  });
});
