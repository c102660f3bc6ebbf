import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor } from 'xstate';
import { DeviceEntry } from '../../../src/actors/device-entry.js';
import {
  deviceSessionMachines,
  type DeviceSessionEvent,
  type DeviceSessionMachine,
  type DeviceSessionState,
} from '../../../src/actors/device-session.machine.js';

type EventType = DeviceSessionEvent['type'];
type Effect = 'deliverQueued' | 'sessionLost' | 'closeDevice';

const ALL_EVENTS: readonly EventType[] = ['CONNECTED', 'SUBSCRIBED', 'UNSUBSCRIBED', 'DISCONNECTED', 'CLOSED'];

function run(machine: DeviceSessionMachine, ...before: EventType[]) {
  const entry = new DeviceEntry('dev-1');
  const effects: Effect[] = [];
  const seenEntries = new Set<DeviceEntry>();
  const record = (effect: Effect) => ({ context }: { context: { entry: DeviceEntry } }) => {
    seenEntries.add(context.entry);
    effects.push(effect);
  };
  const provided = machine.provide({
    actions: {
      deliverQueued: record('deliverQueued'),
      sessionLost: record('sessionLost'),
      closeDevice: record('closeDevice'),
    },
  });
  const actor = createActor(provided, { input: entry });
  actor.start();
  for (const type of before) actor.send({ type });
  return {
    actor,
    entry,
    effects,
    seenEntries,
    reset: () => effects.splice(0),
    send: (...types: EventType[]) => {
      for (const type of types) actor.send({ type });
    },
    state: () => actor.getSnapshot().value as DeviceSessionState,
    status: () => actor.getSnapshot().status,
  };
}

interface Transition {
  readonly event: EventType;
  readonly target: DeviceSessionState;
  readonly effects: readonly Effect[];
}

interface Reach {
  readonly name: string;
  readonly machine: DeviceSessionMachine;
  readonly before: readonly EventType[];
}

function describeState(from: DeviceSessionState, reaches: readonly Reach[], transitions: readonly Transition[]) {
  const handled = new Set(transitions.map((t) => t.event));
  const ignored = ALL_EVENTS.filter((event) => !handled.has(event));
  for (const reach of reaches) {
    describe(`device session - ${from} (${reach.name})`, () => {
      it(`starts in ${from}`, () => {
        const session = run(reach.machine, ...reach.before);
        expect(session.state()).toBe(from);
        expect(session.status()).toBe('active');
      });

      it.each(transitions)(`$event moves ${from} to $target`, ({ event, target, effects }) => {
        const session = run(reach.machine, ...reach.before);
        session.reset();
        session.send(event);
        expect(session.state()).toBe(target);
        expect(session.effects).toEqual(effects);
        expect(session.status()).toBe(target === 'closed' ? 'done' : 'active');
        if (effects.length > 0) expect([...session.seenEntries]).toEqual([session.entry]);
      });

      it.each(ignored)(`%s is ignored in ${from}`, (event) => {
        const session = run(reach.machine, ...reach.before);
        session.reset();
        session.send(event);
        expect(session.state()).toBe(from);
        expect(session.effects).toEqual([]);
      });
    });
  }
}

const { offline, connected } = deviceSessionMachines;

describeState(
  'offline',
  [
    { name: 'started offline', machine: offline, before: [] },
    { name: 'connected then DISCONNECTED', machine: connected, before: ['DISCONNECTED'] },
    { name: 'subscribed then DISCONNECTED', machine: connected, before: ['SUBSCRIBED', 'DISCONNECTED'] },
  ],
  [
    { event: 'CONNECTED', target: 'connected', effects: [] },
    { event: 'SUBSCRIBED', target: 'subscribed', effects: ['deliverQueued'] },
    { event: 'CLOSED', target: 'closed', effects: ['closeDevice'] },
  ],
);

describeState(
  'connected',
  [
    { name: 'started connected', machine: connected, before: [] },
    { name: 'offline then CONNECTED', machine: offline, before: ['CONNECTED'] },
    { name: 'subscribed then UNSUBSCRIBED', machine: connected, before: ['SUBSCRIBED', 'UNSUBSCRIBED'] },
  ],
  [
    { event: 'SUBSCRIBED', target: 'subscribed', effects: ['deliverQueued'] },
    { event: 'DISCONNECTED', target: 'offline', effects: ['sessionLost'] },
    { event: 'CLOSED', target: 'closed', effects: ['closeDevice'] },
  ],
);

describeState(
  'subscribed',
  [
    { name: 'connected then SUBSCRIBED', machine: connected, before: ['SUBSCRIBED'] },
    { name: 'offline, CONNECTED, SUBSCRIBED', machine: offline, before: ['CONNECTED', 'SUBSCRIBED'] },
  ],
  [
    { event: 'UNSUBSCRIBED', target: 'connected', effects: [] },
    { event: 'DISCONNECTED', target: 'offline', effects: ['sessionLost'] },
    { event: 'CLOSED', target: 'closed', effects: ['closeDevice'] },
  ],
);

describe('device session - start and paths', () => {
  it('starting offline or connected runs no effect', () => {
    expect(run(offline).effects).toEqual([]);
    expect(run(connected).effects).toEqual([]);
    expect(run(offline).state()).toBe('offline');
    expect(run(connected).state()).toBe('connected');
  });

  it('the entry is the actor context', () => {
    const session = run(connected);
    expect(session.actor.getSnapshot().context.entry).toBe(session.entry);
  });

  it('every SUBSCRIBED after an UNSUBSCRIBED delivers the queue again', () => {
    const session = run(connected, 'SUBSCRIBED', 'UNSUBSCRIBED', 'SUBSCRIBED', 'SUBSCRIBED');
    expect(session.effects).toEqual(['deliverQueued', 'deliverQueued']);
  });

  it('a session that drops and comes back: lost once, delivered on each subscribe', () => {
    const session = run(offline, 'CONNECTED', 'SUBSCRIBED', 'DISCONNECTED', 'CONNECTED', 'SUBSCRIBED');
    expect(session.state()).toBe('subscribed');
    expect(session.effects).toEqual(['deliverQueued', 'sessionLost', 'deliverQueued']);
  });

  it('CLOSED from a live session closes the device without sessionLost', () => {
    const session = run(connected, 'SUBSCRIBED', 'CLOSED');
    expect(session.effects).toEqual(['deliverQueued', 'closeDevice']);
  });
});

describe('device session - closed is final', () => {
  beforeEach(() => {
    vi.spyOn(console, 'warn').mockImplementation(() => {});
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it.each<[string, DeviceSessionMachine, EventType[]]>([
    ['offline', offline, []],
    ['connected', connected, []],
    ['subscribed', connected, ['SUBSCRIBED']],
  ])('closed from %s ignores every later event and closes the device exactly once', (_name, machine, before) => {
    const session = run(machine, ...before, 'CLOSED');
    session.reset();
    expect(session.state()).toBe('closed');
    session.send(...ALL_EVENTS);
    expect(session.state()).toBe('closed');
    expect(session.status()).toBe('done');
    expect(session.effects).toEqual([]);
  });
});
