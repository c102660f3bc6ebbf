/**
 * Every path through a statechart, from @xstate/graph: the simple paths from
 * its start state, and each simple path ending in a live state followed by
 * one more event of each type (a simple path never closes a loop on its own).
 */
import type { AnyMachineSnapshot, AnyStateMachine, EventObject } from 'xstate';
import { getAdjacencyMap, getShortestPaths, getSimplePaths, serializeEvent, type StatePath } from '@xstate/graph';

/** A path through a machine as the model sees it: `states[i + 1]` is where `events[i]` leads from `states[i]`. */
export interface Walk<S extends string, E extends string> {
  readonly events: readonly E[];
  readonly states: readonly S[];
  /** Whether the model's last state is final (snapshot status `done`). */
  readonly endsFinal: boolean;
  /** `queued -SENT-> sent -ACKED-> delivered`, for assertion messages. */
  readonly label: string;
}

export interface Walks<S extends string, E extends string> {
  /** Every simple path from the start state (the empty path included). */
  readonly simple: readonly Walk<S, E>[];
  /** Every simple path ending in a live state, followed by one more event of each type. */
  readonly extended: readonly Walk<S, E>[];
  /** The end states of @xstate/graph's shortest paths: a second algorithm's view of what is reachable. */
  readonly shortestEnds: ReadonlySet<S>;
}

/** States are told apart by value and status only: the context is always the one record / entry. */
const serializeState = (snapshot: AnyMachineSnapshot) => JSON.stringify({ value: snapshot.value, status: snapshot.status });

export function label(states: readonly string[], events: readonly string[]): string {
  return states.reduce((text, state, i) => (i === 0 ? state : `${text} -${events[i - 1]}-> ${state}`), '');
}

function toWalk<S extends string, E extends string>(path: StatePath<AnyMachineSnapshot, EventObject>): Walk<S, E> {
  const [init, ...rest] = path.steps;
  const events = rest.map((step) => step.event.type as E);
  const states = path.steps.map((step) => step.state.value as S);
  if (init?.event.type !== 'xstate.init' || states.at(-1) !== path.state.value) {
    throw new Error(`unexpected path shape from @xstate/graph: ${JSON.stringify(path.steps.map((s) => [s.event.type, s.state.value]))}`);
  }
  return { events, states, endsFinal: path.state.status === 'done', label: label(states, events) };
}

export function walk<S extends string, E extends string>(machine: AnyStateMachine, input: unknown, eventTypes: readonly E[]): Walks<S, E> {
  const events = eventTypes.map((type) => ({ type }));
  const options = { events, input, serializeState };
  const paths = getSimplePaths(machine, options);
  const simple = paths.map((path) => toWalk<S, E>(path));
  const adjacency = getAdjacencyMap(machine, options);
  const extended: Walk<S, E>[] = [];
  for (const path of paths) {
    if (path.state.status === 'done') continue;
    const { events: before, states } = toWalk<S, E>(path);
    for (const event of events) {
      const next = adjacency[serializeState(path.state) as keyof typeof adjacency]?.transitions[serializeEvent(event)]?.state;
      if (next === undefined) throw new Error(`the adjacency map has no ${event.type} after ${label(states, before)}`);
      const nextStates = [...states, next.value as S];
      const nextEvents = [...before, event.type];
      extended.push({ events: nextEvents, states: nextStates, endsFinal: next.status === 'done', label: label(nextStates, nextEvents) });
    }
  }
  const shortestEnds = new Set(getShortestPaths(machine, options).map((path) => path.state.value as S));
  return { simple, extended, shortestEnds };
}

