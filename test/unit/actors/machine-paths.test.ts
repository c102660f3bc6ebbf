/**
 * Model-based tests of both statecharts: @xstate/graph enumerates every simple
 * path of every machine variant over every event type (not only the events a
 * state handles), and each path is replayed through a real actor whose effects
 * are recorded fakes.
 *
 * A simple path never enters a state twice, so on its own it never takes a
 * transition that closes a loop (SESSION_LOST from sent back to queued when the
 * call started queued, DISCONNECTED back to offline, a second SUBSCRIBED). Each
 * simple path ending in a live state is therefore also replayed once more with
 * every event type appended: together these walks try every event in every
 * reachable state, which one test checks.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, type AnyStateMachine } from 'xstate';
import { walk, type Walk } from '../../support/machine-walks.js';
import { CallRecord } from '../../../src/actors/call-record.js';
import { DeviceEntry } from '../../../src/actors/device-entry.js';
import {
  pendingCallMachines,
  type CallOutcome,
  type PendingCallEvent,
  type PendingCallMachine,
  type PendingCallState,
} from '../../../src/actors/pending-call.machine.js';
import {
  deviceSessionMachines,
  type DeviceSessionEvent,
  type DeviceSessionMachine,
  type DeviceSessionState,
} from '../../../src/actors/device-session.machine.js';

/** The states a machine's definition names, and which of them are final. */
function definedStates<S extends string>(machine: AnyStateMachine): { all: S[]; finals: Set<S> } {
  const nodes = machine.root.states as Record<string, { type: string }>;
  const all = Object.keys(nodes) as S[];
  return { all, finals: new Set(all.filter((name) => nodes[name]!.type === 'final')) };
}

const sorted = <T extends string>(values: Iterable<T>) => [...new Set(values)].sort();

/** One step of a replay: what the actor was in, the event, where it went, and the effects that ran meanwhile. */
interface ReplayStep<S, E, F> {
  readonly event: E;
  readonly from: S;
  readonly to: S;
  readonly effects: readonly F[];
}

// xstate warns (in development builds) about events sent to an actor that is done.
beforeEach(() => {
  vi.spyOn(console, 'warn').mockImplementation(() => {});
});
afterEach(() => {
  vi.restoreAllMocks();
});

// ── pending call ─────────────────────────────────────────────────────────────

type CallEventType = PendingCallEvent['type'];
type CallEffect = { effect: 'answerCaller'; outcome: CallOutcome } | { effect: 'markDelivered' } | { effect: 'requeue' };

const CALL_EVENTS: readonly CallEventType[] = ['SENT', 'ACKED', 'HANDED_OVER', 'REPLIED', 'DEADLINE', 'SESSION_LOST', 'FAILED', 'DELETED'];

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

/** `answerCaller(replied)`, `markDelivered`: readable in assertion messages. */
const show = (effect: CallEffect) => (effect.effect === 'answerCaller' ? `answerCaller(${effect.outcome})` : effect.effect);

function replayCall(machine: PendingCallMachine, oneway: boolean, path: Walk<PendingCallState, CallEventType>) {
  const effects: CallEffect[] = [];
  const actor = createActor(
    machine.provide({
      actions: {
        answerCaller: (_, params) => {
          effects.push({ effect: 'answerCaller', outcome: params.outcome });
        },
        markDelivered: () => {
          effects.push({ effect: 'markDelivered' });
        },
        requeue: () => {
          effects.push({ effect: 'requeue' });
        },
      },
    }),
    { input: fakeRecord(oneway) },
  );
  actor.start();
  const state = () => actor.getSnapshot().value as PendingCallState;
  expect(state(), `${path.label}: the actor starts where the model does`).toBe(path.states[0]);
  const startEffects = effects.slice();
  const steps: ReplayStep<PendingCallState, CallEventType, CallEffect>[] = [];
  path.events.forEach((event, i) => {
    const from = state();
    const before = effects.length;
    actor.send({ type: event });
    steps.push({ event, from, to: state(), effects: effects.slice(before) });
    expect(state(), `${path.label}: after step ${i + 1} (${event}) the actor is where the model is`).toBe(path.states[i + 1]);
  });
  expect(actor.getSnapshot().status, `${path.label}: the actor is done exactly when the model is`).toBe(path.endsFinal ? 'done' : 'active');
  return { actor, effects, startEffects, steps, state };
}

interface CallVariant {
  readonly oneway: boolean;
  readonly start: 'queued' | 'sent' | 'delivered';
  readonly machine: PendingCallMachine;
  /** States the definition names that no path from this start can enter, and why. */
  readonly unreachable: readonly PendingCallState[];
  readonly why?: string;
}

const callVariants: readonly CallVariant[] = [
  { oneway: false, start: 'queued', machine: pendingCallMachines.twoway.queued, unreachable: [] },
  { oneway: false, start: 'sent', machine: pendingCallMachines.twoway.sent, unreachable: [] },
  {
    oneway: false,
    start: 'delivered',
    machine: pendingCallMachines.twoway.delivered,
    unreachable: ['queued', 'sent', 'expired'],
    why: 'a delivered call never goes back in line',
  },
  // One-way machines name `replied` (so every machine has the same states) but nothing leads there.
  { oneway: true, start: 'queued', machine: pendingCallMachines.oneway.queued, unreachable: ['replied'], why: 'a one-way call gets no reply' },
  { oneway: true, start: 'sent', machine: pendingCallMachines.oneway.sent, unreachable: ['replied'], why: 'a one-way call gets no reply' },
];

for (const variant of callVariants) {
  const { oneway, start, machine, unreachable } = variant;
  const name = `pending call (${oneway ? 'oneway' : 'twoway'}, starts ${start})`;
  const walks = walk<PendingCallState, CallEventType>(machine, fakeRecord(oneway), CALL_EVENTS);
  const all = [...walks.simple, ...walks.extended];
  const defined = definedStates<PendingCallState>(machine);

  describe(name, () => {
    const reachNote = unreachable.length === 0 ? '' : ` but ${unreachable.join(', ')} (${variant.why})`;
    it(`has paths, and they reach every state the machine defines${reachNote}`, () => {
      expect(walks.simple.length).toBeGreaterThan(0);
      const reached = sorted(walks.simple.flatMap((path) => path.states));
      expect(reached).toEqual(sorted(defined.all.filter((state) => !unreachable.includes(state))));
      expect(sorted(walks.shortestEnds), 'shortest paths and simple paths agree on what is reachable').toEqual(reached);
      expect(walks.simple.every((path) => path.states[0] === start)).toBe(true);
    });

    it('its paths try every event type in every live state they reach', () => {
      const live = sorted(all.flatMap((path) => path.states)).filter((state) => !defined.finals.has(state));
      const tried = new Set(all.flatMap((path) => path.events.map((event, i) => `${path.states[i]} ${event}`)));
      for (const state of live) for (const event of CALL_EVENTS) expect(tried.has(`${state} ${event}`), `${event} in ${state}`).toBe(true);
    });

    it('every path ends in at most one answer, and a final one in exactly one', () => {
      for (const path of all) {
        const { effects, steps, state } = replayCall(machine, oneway, path);
        const answers = effects.filter((e) => e.effect === 'answerCaller');
        const end = state();
        expect(defined.finals.has(end), `${path.label}: the end state is final exactly when the actor is done`).toBe(path.endsFinal);
        if (path.endsFinal) {
          expect(answers.map(show), `${path.label}: one answer, naming the final state`).toEqual([`answerCaller(${end})`]);
          expect(effects.map(show).at(-1), `${path.label}: no effect runs after the answer (effects: ${effects.map(show)})`).toBe(`answerCaller(${end})`);
          const lastStep = steps.at(-1)?.effects.filter((e) => e.effect === 'answerCaller') ?? [];
          expect(lastStep.map(show), `${path.label}: answered on entering ${end}`).toEqual([`answerCaller(${end})`]);
        } else {
          expect(answers.map(show), `${path.label}: a live call has not been answered`).toEqual([]);
        }
      }
    });

    it('once final, no further event changes the state or runs an effect', () => {
      const finalPaths = all.filter((path) => path.endsFinal);
      expect(finalPaths.length).toBeGreaterThan(0);
      for (const path of finalPaths) {
        const { actor, effects, state } = replayCall(machine, oneway, path);
        const end = state();
        const effectsAtEnd = effects.slice();
        for (const event of [...CALL_EVENTS, ...CALL_EVENTS]) {
          actor.send({ type: event });
          expect(state(), `${path.label}, then ${event}: the state stays`).toBe(end);
          expect(actor.getSnapshot().status, `${path.label}, then ${event}: the actor stays done`).toBe('done');
          expect(effects.map(show), `${path.label}, then ${event}: no effect runs`).toEqual(effectsAtEnd.map(show));
        }
      }
    });

    const deliveredNote = oneway ? 'markDelivered never runs' : 'markDelivered runs on each entry to delivered';
    it(`${deliveredNote}, requeue on each SESSION_LOST from sent, and nothing else runs`, () => {
      for (const path of all) {
        const { startEffects, steps } = replayCall(machine, oneway, path);
        const startsDelivered = !oneway && start === 'delivered';
        expect(startEffects.map(show), `${path.label}: effects of starting in ${start}`).toEqual(startsDelivered ? ['markDelivered'] : []);
        steps.forEach(({ event, from, to, effects }, i) => {
          const at = `${path.label}: step ${i + 1} (${from} -${event}-> ${to})`;
          const entersDelivered = !oneway && from !== 'delivered' && to === 'delivered';
          const requeues = event === 'SESSION_LOST' && from === 'sent';
          const entersFinal = !defined.finals.has(from) && defined.finals.has(to);
          const expected: CallEffect[] = [
            ...(requeues ? [{ effect: 'requeue' } as const] : []),
            ...(entersDelivered ? [{ effect: 'markDelivered' } as const] : []),
            ...(entersFinal ? [{ effect: 'answerCaller', outcome: to as CallOutcome } as const] : []),
          ];
          expect(effects.map(show), at).toEqual(expected.map(show));
        });
      }
    });
  });
}

describe('pending call - start states together', () => {
  const reachedFrom = (variants: readonly CallVariant[]) => {
    const reached = new Set<PendingCallState>();
    for (const { machine, oneway } of variants) {
      for (const path of walk<PendingCallState, CallEventType>(machine, fakeRecord(oneway), CALL_EVENTS).simple) {
        for (const state of path.states) reached.add(state);
      }
    }
    return sorted(reached);
  };

  it('every state a twoway call defines is reached from one of its start states', () => {
    const twoway = callVariants.filter((v) => !v.oneway);
    expect(reachedFrom(twoway)).toEqual(sorted(definedStates<PendingCallState>(twoway[0]!.machine).all));
  });

  it('every state a oneway call defines but replied is reached from one of its start states', () => {
    const oneway = callVariants.filter((v) => v.oneway);
    const defined = definedStates<PendingCallState>(oneway[0]!.machine).all;
    expect(reachedFrom(oneway)).toEqual(sorted(defined.filter((state) => state !== 'replied')));
  });
});

// ── device session ───────────────────────────────────────────────────────────

type SessionEventType = DeviceSessionEvent['type'];
type SessionEffect = 'deliverQueued' | 'sessionLost' | 'closeDevice';

const SESSION_EVENTS: readonly SessionEventType[] = ['CONNECTED', 'SUBSCRIBED', 'UNSUBSCRIBED', 'DISCONNECTED', 'CLOSED'];

function replaySession(machine: DeviceSessionMachine, path: Walk<DeviceSessionState, SessionEventType>) {
  const effects: SessionEffect[] = [];
  const actor = createActor(
    machine.provide({
      actions: {
        deliverQueued: () => {
          effects.push('deliverQueued');
        },
        sessionLost: () => {
          effects.push('sessionLost');
        },
        closeDevice: () => {
          effects.push('closeDevice');
        },
      },
    }),
    { input: new DeviceEntry('dev-1') },
  );
  actor.start();
  const state = () => actor.getSnapshot().value as DeviceSessionState;
  expect(state(), `${path.label}: the actor starts where the model does`).toBe(path.states[0]);
  const startEffects = effects.slice();
  const steps: ReplayStep<DeviceSessionState, SessionEventType, SessionEffect>[] = [];
  path.events.forEach((event, i) => {
    const from = state();
    const before = effects.length;
    actor.send({ type: event });
    steps.push({ event, from, to: state(), effects: effects.slice(before) });
    expect(state(), `${path.label}: after step ${i + 1} (${event}) the actor is where the model is`).toBe(path.states[i + 1]);
  });
  expect(actor.getSnapshot().status, `${path.label}: the actor is done exactly when the model is`).toBe(path.endsFinal ? 'done' : 'active');
  return { actor, effects, startEffects, steps, state };
}

const count = <T>(values: readonly T[], value: T) => values.filter((v) => v === value).length;

for (const [start, machine] of Object.entries(deviceSessionMachines) as Array<['offline' | 'connected', DeviceSessionMachine]>) {
  const walks = walk<DeviceSessionState, SessionEventType>(machine, new DeviceEntry('dev-1'), SESSION_EVENTS);
  const all = [...walks.simple, ...walks.extended];
  const defined = definedStates<DeviceSessionState>(machine);

  describe(`device session (starts ${start})`, () => {
    it('has paths, and they reach every state the machine defines', () => {
      expect(walks.simple.length).toBeGreaterThan(0);
      const reached = sorted(walks.simple.flatMap((path) => path.states));
      expect(reached).toEqual(sorted(defined.all));
      expect(sorted(walks.shortestEnds), 'shortest paths and simple paths agree on what is reachable').toEqual(reached);
      expect(walks.simple.every((path) => path.states[0] === start)).toBe(true);
    });

    it('its paths try every event type in every live state they reach', () => {
      const live = sorted(all.flatMap((path) => path.states)).filter((state) => !defined.finals.has(state));
      const tried = new Set(all.flatMap((path) => path.events.map((event, i) => `${path.states[i]} ${event}`)));
      for (const state of live) for (const event of SESSION_EVENTS) expect(tried.has(`${state} ${event}`), `${event} in ${state}`).toBe(true);
    });

    it('starting runs no effect', () => {
      for (const path of walks.simple) expect(replaySession(machine, path).startEffects, path.label).toEqual([]);
    });

    it('closeDevice runs exactly once on every path reaching closed, last, and never otherwise', () => {
      for (const path of all) {
        const { effects, steps, state } = replaySession(machine, path);
        const closes = path.states.includes('closed');
        expect(state() === 'closed', `${path.label}: closed is the end of any path that reaches it`).toBe(closes);
        expect(count(effects, 'closeDevice'), `${path.label}: closeDevice runs`).toBe(closes ? 1 : 0);
        if (closes) {
          expect(effects.at(-1), `${path.label}: no effect runs after closeDevice`).toBe('closeDevice');
          expect(count(steps.at(-1)!.effects, 'closeDevice'), `${path.label}: closeDevice runs on entering closed`).toBe(1);
        }
      }
    });

    it('deliverQueued runs each time subscribed is entered, and only then', () => {
      for (const path of all) {
        const { effects: allEffects, steps } = replaySession(machine, path);
        steps.forEach(({ event, from, to, effects }, i) => {
          const entersSubscribed = from !== 'subscribed' && to === 'subscribed';
          expect(count(effects, 'deliverQueued'), `${path.label}: step ${i + 1} (${from} -${event}-> ${to})`).toBe(entersSubscribed ? 1 : 0);
        });
        const entries = path.states.filter((state, i) => state === 'subscribed' && path.states[i - 1] !== 'subscribed').length;
        expect(count(allEffects, 'deliverQueued'), `${path.label}: one delivery per entry`).toBe(entries);
      }
    });

    it('sessionLost runs each time DISCONNECTED leaves connected or subscribed, and only then', () => {
      let disconnects = 0;
      for (const path of all) {
        const { steps } = replaySession(machine, path);
        steps.forEach(({ event, from, to, effects }, i) => {
          const at = `${path.label}: step ${i + 1} (${from} -${event}-> ${to})`;
          const loses = event === 'DISCONNECTED' && (from === 'connected' || from === 'subscribed');
          if (loses) {
            disconnects++;
            expect(to, `${at}: DISCONNECTED leaves a live session for offline`).toBe('offline');
          }
          expect(count(effects, 'sessionLost'), at).toBe(loses ? 1 : 0);
        });
      }
      expect(disconnects, 'the paths disconnect at least once').toBeGreaterThan(0);
    });

    it('after closed, no further event changes the state or runs an effect', () => {
      const closedPaths = all.filter((path) => path.endsFinal);
      expect(closedPaths.length).toBeGreaterThan(0);
      for (const path of closedPaths) {
        const { actor, effects, state } = replaySession(machine, path);
        expect(state()).toBe('closed');
        const effectsAtEnd = effects.slice();
        for (const event of [...SESSION_EVENTS, ...SESSION_EVENTS]) {
          actor.send({ type: event });
          expect(state(), `${path.label}, then ${event}: the state stays`).toBe('closed');
          expect(actor.getSnapshot().status, `${path.label}, then ${event}: the actor stays done`).toBe('done');
          expect(effects, `${path.label}, then ${event}: no effect runs`).toEqual(effectsAtEnd);
        }
      }
    });
  });
}
