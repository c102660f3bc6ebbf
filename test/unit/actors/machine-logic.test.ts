/**
 * The actors run logic derived from the machine definitions (src/actors/machine-logic.ts), not xstate's
 * interpreter. Here every path @xstate/graph finds through every machine variant (each simple path, and each one
 * ending in a live state followed by every event type) is replayed through both: xstate's own actor of the machine
 * and an actor of the derived logic, with the same recording effects. At every step both are in the same state
 * with the same status, and ran the same effects with the same params. A machine changed behind the table's back
 * (a mutant) must be told apart.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, setup, type AnyStateMachine } from 'xstate';
import { deriveTable, machineLogic, type Step } from '../../../src/actors/machine-logic.js';
import { pendingCallMachines } from '../../../src/actors/pending-call.machine.js';
import { deviceSessionMachines } from '../../../src/actors/device-session.machine.js';
import { walk, type Walk } from '../../support/machine-walks.js';

const CALL_EVENTS = ['SENT', 'ACKED', 'HANDED_OVER', 'REPLIED', 'DEADLINE', 'SESSION_LOST', 'FAILED', 'DELETED'] as const;
const SESSION_EVENTS = ['CONNECTED', 'SUBSCRIBED', 'UNSUBSCRIBED', 'DISCONNECTED', 'CLOSED'] as const;

const CALL_EFFECTS = ['answerCaller', 'markDelivered', 'requeue'];
const SESSION_EFFECTS = ['deliverQueued', 'sessionLost', 'closeDevice'];

/** What one step shows: the state, the status, and the effects it ran (name and params). */
interface Observed {
  readonly value: string;
  readonly status: string;
  readonly effects: readonly string[];
}

const context = { name: 'the record' };
const effectText = (name: string, params: unknown) => (params === undefined ? name : `${name}(${JSON.stringify(params)})`);

/** Runs `events` through an actor and records what each step shows; the first entry is the started actor. */
function replay(start: (effects: string[]) => { send(event: { type: string }): void; getSnapshot(): { value: unknown; status: string } }, events: readonly string[]): Observed[] {
  const effects: string[] = [];
  const actor = start(effects);
  const observed: Observed[] = [];
  let seen = 0;
  const record = () => {
    const snapshot = actor.getSnapshot();
    observed.push({ value: String(snapshot.value), status: snapshot.status, effects: effects.slice(seen) });
    seen = effects.length;
  };
  record();
  for (const type of events) {
    actor.send({ type });
    record();
  }
  return observed;
}

function throughXstate(machine: AnyStateMachine, effectNames: readonly string[], events: readonly string[]): Observed[] {
  return replay((effects) => {
    const actions = Object.fromEntries(effectNames.map((name) => [name, (_: unknown, params: unknown) => effects.push(effectText(name, params))]));
    const actor = createActor(machine.provide({ actions }), { input: context });
    actor.start();
    return actor;
  }, events);
}

function throughDerived(machine: AnyStateMachine, effectNames: readonly string[], events: readonly string[]): Observed[] {
  return replay((effects) => {
    const implementations = Object.fromEntries(effectNames.map((name) => [name, (ctx: unknown, params: unknown, _step: Step) => {
      expect(ctx).toBe(context);
      effects.push(effectText(name, params));
    }]));
    const actor = createActor(machineLogic(machine, { effects: implementations }), { input: context });
    actor.start();
    return actor;
  }, events);
}

/** The first step at which the derived logic of `derivedFrom` and xstate's actor of `machine` disagree, on any path. */
function firstDisagreement(machine: AnyStateMachine, derivedFrom: AnyStateMachine, effectNames: readonly string[], eventTypes: readonly string[]): string | undefined {
  const walks = walk<string, string>(machine, context, eventTypes);
  const paths: Walk<string, string>[] = [...walks.simple, ...walks.extended];
  for (const path of paths) {
    const expected = throughXstate(machine, effectNames, path.events);
    const actual = throughDerived(derivedFrom, effectNames, path.events);
    for (let i = 0; i < expected.length; i++) {
      if (JSON.stringify(expected[i]) !== JSON.stringify(actual[i])) {
        return `${path.label}, step ${i}: xstate ${JSON.stringify(expected[i])}, derived ${JSON.stringify(actual[i])}`;
      }
    }
    // Each path's last state is also where @xstate/graph says it ends.
    if (expected.at(-1)!.value !== path.states.at(-1)) return `${path.label}: xstate ends in ${expected.at(-1)!.value}`;
  }
  return undefined;
}

// xstate warns (in development builds) about events sent to an actor that is done.
beforeEach(() => {
  vi.spyOn(console, 'warn').mockImplementation(() => {});
});
afterEach(() => {
  vi.restoreAllMocks();
});

const variants: Array<[string, AnyStateMachine, readonly string[], readonly string[]]> = [
  ...Object.entries(pendingCallMachines.twoway).map(([start, machine]) => [`pending call, twoway, starts ${start}`, machine, CALL_EFFECTS, CALL_EVENTS] as [string, AnyStateMachine, readonly string[], readonly string[]]),
  ...Object.entries(pendingCallMachines.oneway).map(([start, machine]) => [`pending call, oneway, starts ${start}`, machine, CALL_EFFECTS, CALL_EVENTS] as [string, AnyStateMachine, readonly string[], readonly string[]]),
  ...Object.entries(deviceSessionMachines).map(([start, machine]) => [`device session, starts ${start}`, machine, SESSION_EFFECTS, SESSION_EVENTS] as [string, AnyStateMachine, readonly string[], readonly string[]]),
];

describe('derived actor logic', () => {
  for (const [name, machine, effects, events] of variants) {
    it(`${name}: every path gives the same states, statuses and effects as xstate's interpreter`, () => {
      expect(firstDisagreement(machine, machine, effects, events)).toBeUndefined();
    });
  }

  it('tells a machine from a mutant of it: one changed target, one missing entry effect, one extra transition', () => {
    const base = setup({ actions: { requeue: () => {}, markDelivered: () => {}, answerCaller: (_, _params: { outcome: string }) => {} } });
    const define = (change: 'none' | 'target' | 'entry' | 'extra') =>
      base.createMachine({
        id: `mutant.${change}`,
        initial: 'queued',
        states: {
          queued: { on: { SENT: 'sent', ...(change === 'extra' ? { ACKED: 'delivered' } : {}) } },
          sent: { on: { ACKED: change === 'target' ? 'replied' : 'delivered', SESSION_LOST: { target: 'queued', actions: 'requeue' } } },
          delivered: { ...(change === 'entry' ? {} : { entry: 'markDelivered' }), on: { REPLIED: 'replied' } },
          replied: { type: 'final', entry: { type: 'answerCaller', params: { outcome: 'replied' } } },
        },
      });
    const original = define('none');
    expect(firstDisagreement(original, original, CALL_EFFECTS, CALL_EVENTS)).toBeUndefined();
    for (const change of ['target', 'entry', 'extra'] as const) {
      expect(firstDisagreement(original, define(change), CALL_EFFECTS, CALL_EVENTS), change).toBeDefined();
    }
  });

  it('refuses machines that use what the table does not run: guards, delays, nested states, unimplemented effects', () => {
    const base = setup({ guards: { ok: () => true }, actions: { act: () => {} } });
    const guarded = base.createMachine({ id: 'guarded', initial: 'a', states: { a: { on: { GO: { target: 'b', guard: 'ok' } } }, b: {} } });
    const delayed = base.createMachine({ id: 'delayed', initial: 'a', states: { a: { after: { 100: 'b' } }, b: {} } });
    const nested = base.createMachine({ id: 'nested', initial: 'a', states: { a: { initial: 'x', states: { x: {} } } } });
    const exiting = base.createMachine({ id: 'exiting', initial: 'a', states: { a: { exit: 'act', on: { GO: 'b' } }, b: {} } });
    expect(() => deriveTable(guarded)).toThrow(/guard/);
    expect(() => deriveTable(delayed)).toThrow(/after/);
    expect(() => deriveTable(nested)).toThrow(/nested/);
    expect(() => deriveTable(exiting)).toThrow(/exit/);
    const acting = base.createMachine({ id: 'acting', initial: 'a', states: { a: { entry: 'act' } } });
    expect(() => machineLogic(acting, { effects: {} })).toThrow(/no implementation of the effect act/);
  });

  it('tells effects the state left and the event; a start state\'s entry effects run when the actor starts, told xstate.init', () => {
    const steps: Array<[string, string | undefined, string]> = [];
    const record = (name: string) => (_: unknown, _params: unknown, step: Step) => steps.push([name, step.from, step.event.type]);
    const actor = createActor(
      machineLogic(pendingCallMachines.twoway.delivered, { effects: { answerCaller: record('answerCaller'), markDelivered: record('markDelivered'), requeue: record('requeue') } }),
      { input: context },
    );
    expect(steps).toEqual([]);
    actor.start();
    actor.send({ type: 'DEADLINE' });
    expect(steps).toEqual([
      ['markDelivered', undefined, 'xstate.init'],
      ['answerCaller', 'delivered', 'DEADLINE'],
    ]);
    expect(actor.getSnapshot()).toMatchObject({ status: 'done', value: 'timeout' });
  });
});
