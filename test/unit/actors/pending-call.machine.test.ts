import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor } from 'xstate';
import { CallRecord } from '../../../src/actors/call-record.js';
import { DeviceEntry } from '../../../src/actors/device-entry.js';
import {
  pendingCallMachines,
  type CallOutcome,
  type PendingCallEvent,
  type PendingCallMachine,
  type PendingCallState,
} from '../../../src/actors/pending-call.machine.js';

type EventType = PendingCallEvent['type'];
type Effect = { effect: 'answerCaller'; outcome: CallOutcome } | { effect: 'markDelivered' } | { effect: 'requeue' };

const ALL_EVENTS: readonly EventType[] = ['SENT', 'ACKED', 'HANDED_OVER', 'REPLIED', 'DEADLINE', 'SESSION_LOST', 'FAILED', 'DELETED'];

function fakeRecord(oneway: boolean): CallRecord {
  return new CallRecord(
    new DeviceEntry('dev-1'),
    7,
    'setLed',
    { on: true },
    '{"on":true}',
    oneway,
    Date.now() + 10_000,
    undefined,
    { resolve: () => {}, reject: () => {} },
  );
}

/** Runs `machine` with fake effects that record what ran, with which params, on which record. */
function run(machine: PendingCallMachine, oneway: boolean, ...before: EventType[]) {
  const record = fakeRecord(oneway);
  const effects: Effect[] = [];
  const seenRecords = new Set<CallRecord>();
  const provided = machine.provide({
    actions: {
      answerCaller: ({ context }, params) => {
        seenRecords.add(context.record);
        effects.push({ effect: 'answerCaller', outcome: params.outcome });
      },
      markDelivered: ({ context }) => {
        seenRecords.add(context.record);
        effects.push({ effect: 'markDelivered' });
      },
      requeue: ({ context }) => {
        seenRecords.add(context.record);
        effects.push({ effect: 'requeue' });
      },
    },
  });
  const actor = createActor(provided, { input: record });
  actor.start();
  for (const type of before) actor.send({ type });
  return {
    actor,
    record,
    effects,
    seenRecords,
    /** Forget the effects of reaching the state under test. */
    reset: () => effects.splice(0),
    send: (...types: EventType[]) => {
      for (const type of types) actor.send({ type });
    },
    state: () => actor.getSnapshot().value as PendingCallState,
    status: () => actor.getSnapshot().status,
  };
}

const answered = (outcome: CallOutcome): Effect => ({ effect: 'answerCaller', outcome });

interface Transition {
  readonly event: EventType;
  readonly target: PendingCallState;
  readonly effects: readonly Effect[];
}

interface Reach {
  readonly name: string;
  readonly machine: PendingCallMachine;
  readonly before: readonly EventType[];
}

/** Runs each transition from each way of reaching `from`, and checks every other event is ignored there. */
function describeState(oneway: boolean, from: PendingCallState, reaches: readonly Reach[], transitions: readonly Transition[]) {
  const kind = oneway ? 'oneway' : 'twoway';
  const handled = new Set(transitions.map((t) => t.event));
  const ignored = ALL_EVENTS.filter((event) => !handled.has(event));
  for (const reach of reaches) {
    describe(`${kind} - ${from} (${reach.name})`, () => {
      it(`starts in ${from}`, () => {
        const call = run(reach.machine, oneway, ...reach.before);
        expect(call.state()).toBe(from);
        expect(call.status()).toBe('active');
      });

      it.each(transitions)(`$event moves ${from} to $target`, ({ event, target, effects }) => {
        const call = run(reach.machine, oneway, ...reach.before);
        call.reset();
        call.send(event);
        expect(call.state()).toBe(target);
        expect(call.effects).toEqual(effects);
        const final = ['replied', 'timeout', 'expired', 'failed', 'deleted'].includes(target) || (oneway && target === 'delivered');
        expect(call.status()).toBe(final ? 'done' : 'active');
        if (effects.length > 0) expect([...call.seenRecords]).toEqual([call.record]);
      });

      if (ignored.length > 0) {
        it.each(ignored)(`%s is ignored in ${from}`, (event) => {
          const call = run(reach.machine, oneway, ...reach.before);
          call.reset();
          call.send(event);
          expect(call.state()).toBe(from);
          expect(call.status()).toBe('active');
          expect(call.effects).toEqual([]);
        });
      }
    });
  }
}

const twoway = pendingCallMachines.twoway;
const oneway = pendingCallMachines.oneway;

describeState(
  false,
  'queued',
  [
    { name: 'started queued', machine: twoway.queued, before: [] },
    { name: 'requeued after SESSION_LOST', machine: twoway.sent, before: ['SESSION_LOST'] },
  ],
  [
    { event: 'SENT', target: 'sent', effects: [] },
    { event: 'HANDED_OVER', target: 'delivered', effects: [{ effect: 'markDelivered' }] },
    // A request that went out before (session lost, earlier attempt) may still be answered: the system lets only those through.
    { event: 'REPLIED', target: 'replied', effects: [answered('replied')] },
    { event: 'DEADLINE', target: 'expired', effects: [answered('expired')] },
    { event: 'FAILED', target: 'failed', effects: [answered('failed')] },
    { event: 'DELETED', target: 'deleted', effects: [answered('deleted')] },
  ],
);

describeState(
  false,
  'sent',
  [
    { name: 'started sent', machine: twoway.sent, before: [] },
    { name: 'queued then SENT', machine: twoway.queued, before: ['SENT'] },
  ],
  [
    { event: 'ACKED', target: 'delivered', effects: [{ effect: 'markDelivered' }] },
    { event: 'REPLIED', target: 'replied', effects: [answered('replied')] },
    { event: 'DEADLINE', target: 'timeout', effects: [answered('timeout')] },
    { event: 'SESSION_LOST', target: 'queued', effects: [{ effect: 'requeue' }] },
    { event: 'FAILED', target: 'failed', effects: [answered('failed')] },
    { event: 'DELETED', target: 'deleted', effects: [answered('deleted')] },
  ],
);

describeState(
  false,
  'delivered',
  [
    { name: 'started delivered', machine: twoway.delivered, before: [] },
    { name: 'sent then ACKED', machine: twoway.sent, before: ['ACKED'] },
    { name: 'queued then HANDED_OVER', machine: twoway.queued, before: ['HANDED_OVER'] },
  ],
  [
    { event: 'REPLIED', target: 'replied', effects: [answered('replied')] },
    { event: 'DEADLINE', target: 'timeout', effects: [answered('timeout')] },
    { event: 'FAILED', target: 'failed', effects: [answered('failed')] },
    { event: 'DELETED', target: 'deleted', effects: [answered('deleted')] },
  ],
);

describeState(
  true,
  'queued',
  [
    { name: 'started queued', machine: oneway.queued, before: [] },
    { name: 'requeued after SESSION_LOST', machine: oneway.sent, before: ['SESSION_LOST'] },
  ],
  [
    { event: 'SENT', target: 'sent', effects: [] },
    { event: 'HANDED_OVER', target: 'delivered', effects: [answered('delivered')] },
    { event: 'DEADLINE', target: 'expired', effects: [answered('expired')] },
    { event: 'FAILED', target: 'failed', effects: [answered('failed')] },
    { event: 'DELETED', target: 'deleted', effects: [answered('deleted')] },
  ],
);

describeState(
  true,
  'sent',
  [
    { name: 'started sent', machine: oneway.sent, before: [] },
    { name: 'queued then SENT', machine: oneway.queued, before: ['SENT'] },
  ],
  [
    { event: 'ACKED', target: 'delivered', effects: [answered('delivered')] },
    { event: 'DEADLINE', target: 'timeout', effects: [answered('timeout')] },
    { event: 'SESSION_LOST', target: 'queued', effects: [{ effect: 'requeue' }] },
    { event: 'FAILED', target: 'failed', effects: [answered('failed')] },
    { event: 'DELETED', target: 'deleted', effects: [answered('deleted')] },
  ],
);

describe('pending call - start states', () => {
  it('twoway - starting queued or sent runs no effect', () => {
    expect(run(twoway.queued, false).effects).toEqual([]);
    expect(run(twoway.sent, false).effects).toEqual([]);
  });

  it('twoway - starting delivered runs markDelivered once (QoS 0 hand-over at call start)', () => {
    const call = run(twoway.delivered, false);
    expect(call.state()).toBe('delivered');
    expect(call.effects).toEqual([{ effect: 'markDelivered' }]);
    expect([...call.seenRecords]).toEqual([call.record]);
  });

  it('oneway - starting queued or sent runs no effect', () => {
    expect(run(oneway.queued, true).effects).toEqual([]);
    expect(run(oneway.sent, true).effects).toEqual([]);
  });

  it('each machine starts in the state it is named after and keeps the record in context', () => {
    const cases: Array<[PendingCallMachine, boolean, PendingCallState]> = [
      [twoway.queued, false, 'queued'],
      [twoway.sent, false, 'sent'],
      [twoway.delivered, false, 'delivered'],
      [oneway.queued, true, 'queued'],
      [oneway.sent, true, 'sent'],
    ];
    for (const [machine, isOneway, initial] of cases) {
      const call = run(machine, isOneway);
      expect(call.state()).toBe(initial);
      expect(call.actor.getSnapshot().context.record).toBe(call.record);
    }
  });
});

describe('pending call - paths', () => {
  beforeEach(() => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('twoway - reply before ack (REPLIED in sent) completes the call without markDelivered', () => {
    const call = run(twoway.sent, false);
    call.send('REPLIED', 'ACKED');
    expect(call.state()).toBe('replied');
    expect(call.effects).toEqual([answered('replied')]);
  });

  it('twoway - SESSION_LOST in sent requeues, and the call goes out again to a reply', () => {
    const call = run(twoway.queued, false);
    call.send('SENT', 'SESSION_LOST', 'SENT', 'ACKED', 'REPLIED');
    expect(call.state()).toBe('replied');
    expect(call.effects).toEqual([{ effect: 'requeue' }, { effect: 'markDelivered' }, answered('replied')]);
  });

  it('twoway - SESSION_LOST in delivered is ignored and the reply still completes the call', () => {
    const call = run(twoway.sent, false);
    call.send('ACKED', 'SESSION_LOST');
    expect(call.state()).toBe('delivered');
    call.send('REPLIED');
    expect(call.effects).toEqual([{ effect: 'markDelivered' }, answered('replied')]);
  });

  it('twoway - requeued twice runs requeue each time', () => {
    const call = run(twoway.sent, false);
    call.send('SESSION_LOST', 'SENT', 'SESSION_LOST');
    expect(call.state()).toBe('queued');
    expect(call.effects).toEqual([{ effect: 'requeue' }, { effect: 'requeue' }]);
  });

  it('oneway - REPLIED in sent is ignored: a one-way call ends on its ack', () => {
    const call = run(oneway.sent, true);
    call.send('REPLIED');
    expect(call.state()).toBe('sent');
    call.send('ACKED');
    expect(call.state()).toBe('delivered');
    expect(call.effects).toEqual([answered('delivered')]);
  });

  it('oneway - never runs markDelivered', () => {
    const paths: EventType[][] = [['HANDED_OVER'], ['SENT', 'ACKED'], ['SENT', 'SESSION_LOST', 'HANDED_OVER']];
    for (const path of paths) {
      const call = run(oneway.queued, true, ...path);
      expect(call.state()).toBe('delivered');
      expect(call.effects.filter((e) => e.effect === 'markDelivered')).toEqual([]);
      expect(call.effects.filter((e) => e.effect === 'answerCaller')).toEqual([answered('delivered')]);
    }
  });
});

describe('pending call - final states ignore every event', () => {
  // xstate warns (in development builds) about events sent to an actor that is done.
  beforeEach(() => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  const finals: Array<{ name: string; machine: PendingCallMachine; oneway: boolean; path: EventType[]; outcome: CallOutcome }> = [
    { name: 'twoway replied', machine: twoway.sent, oneway: false, path: ['REPLIED'], outcome: 'replied' },
    { name: 'twoway replied after delivered', machine: twoway.delivered, oneway: false, path: ['REPLIED'], outcome: 'replied' },
    { name: 'twoway timeout from sent', machine: twoway.sent, oneway: false, path: ['DEADLINE'], outcome: 'timeout' },
    { name: 'twoway timeout from delivered', machine: twoway.delivered, oneway: false, path: ['DEADLINE'], outcome: 'timeout' },
    { name: 'twoway expired', machine: twoway.queued, oneway: false, path: ['DEADLINE'], outcome: 'expired' },
    { name: 'twoway failed', machine: twoway.queued, oneway: false, path: ['FAILED'], outcome: 'failed' },
    { name: 'twoway deleted', machine: twoway.sent, oneway: false, path: ['DELETED'], outcome: 'deleted' },
    { name: 'oneway delivered by ack', machine: oneway.sent, oneway: true, path: ['ACKED'], outcome: 'delivered' },
    { name: 'oneway delivered by hand-over', machine: oneway.queued, oneway: true, path: ['HANDED_OVER'], outcome: 'delivered' },
    { name: 'oneway timeout', machine: oneway.sent, oneway: true, path: ['DEADLINE'], outcome: 'timeout' },
    { name: 'oneway expired', machine: oneway.queued, oneway: true, path: ['DEADLINE'], outcome: 'expired' },
    { name: 'oneway failed', machine: oneway.sent, oneway: true, path: ['FAILED'], outcome: 'failed' },
    { name: 'oneway deleted', machine: oneway.queued, oneway: true, path: ['DELETED'], outcome: 'deleted' },
  ];

  it.each(finals)('$name - answerCaller runs exactly once whatever comes after', ({ machine, oneway: isOneway, path, outcome }) => {
    const call = run(machine, isOneway, ...path);
    const stateAfter = call.state();
    expect(call.status()).toBe('done');
    call.send(...ALL_EVENTS, ...ALL_EVENTS);
    expect(call.state()).toBe(stateAfter);
    expect(call.effects.filter((e) => e.effect === 'answerCaller')).toEqual([answered(outcome)]);
    expect(call.effects.filter((e) => e.effect === 'requeue')).toEqual([]);
  });
});
