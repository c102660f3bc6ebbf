import type { ActorLogic, ActorScope, AnyEventObject, AnyStateMachine, EventObject } from 'xstate';

/**
 * Actor logic derived, once, from a flat statechart written with xstate's
 * `setup().createMachine()`: its states, the events each handles, their
 * targets and named effects, as a table. An actor runs it by table lookups;
 * xstate's interpreter, which resolves every event through the whole
 * definition, costs ~3× more per call (bench/actors). The machine stays the
 * one place where behaviour is defined; test/unit/actors/machine-logic.test.ts
 * walks every path through both and finds the same states and effects.
 *
 * Only what the project's machines use is supported (flat states, string or
 * `{ target, actions }` transitions, entry actions, final states, named
 * actions with static params); anything else throws when the table is built,
 * so a machine cannot silently mean more than the table runs.
 */

/** A named effect as the machine names it, with its static params. */
export interface EffectRef {
  readonly type: string;
  readonly params: unknown;
}

interface Transition {
  /** undefined: the state stays (actions only). */
  readonly target: string | undefined;
  readonly actions: readonly EffectRef[];
}

interface StateRow {
  readonly final: boolean;
  readonly entry: readonly EffectRef[];
  readonly on: ReadonlyMap<string, Transition>;
}

export interface MachineTable {
  readonly id: string;
  readonly initial: string;
  readonly states: ReadonlyMap<string, StateRow>;
}

/** What one effect is told: where the actor was, and the event (xstate.init for a start state's entry). */
export interface Step<TEvent extends EventObject = AnyEventObject> {
  readonly from: string | undefined;
  readonly event: TEvent;
}

export type Effect<TContext, TEvent extends EventObject> = (context: TContext, params: never, step: Step<TEvent>) => void;

export interface MachineLogicOptions<TContext, TEvent extends EventObject> {
  /** The implementation of every effect the machine names. */
  readonly effects: Record<string, Effect<TContext, TEvent>>;
  /** Told every change of state, before the target's entry effects (counters kept beside the actors). */
  readonly onStateChange?: (context: TContext, from: string | undefined, to: string) => void;
}

/** The snapshot of a table-driven actor: its state's name as `value`, as a machine's snapshot has it. */
export interface TableSnapshot<TContext> {
  readonly status: 'active' | 'done';
  readonly value: string;
  readonly context: TContext;
  readonly output: undefined;
  readonly error: undefined;
}

export type MachineActorLogic<TContext, TEvent extends EventObject> = ActorLogic<TableSnapshot<TContext>, TEvent, TContext> & {
  readonly table: MachineTable;
};

interface StateNodeLike {
  readonly key: string;
  readonly type: string;
  readonly states: Record<string, StateNodeLike>;
  readonly entry: readonly unknown[];
  readonly exit: readonly unknown[];
  readonly invoke: readonly unknown[];
  readonly after: readonly unknown[];
  readonly always?: readonly unknown[];
  readonly transitions: ReadonlyMap<string, ReadonlyArray<{ target?: readonly StateNodeLike[]; actions: readonly unknown[]; guard?: unknown; reenter?: boolean }>>;
}

function unsupported(machineId: string, what: string): never {
  throw new Error(`machine ${machineId}: ${what} is not supported by the derived actor logic`);
}

function effectRefs(machineId: string, where: string, actions: readonly unknown[]): EffectRef[] {
  return actions.map((action) => {
    if (typeof action === 'string') return { type: action, params: undefined };
    if (typeof action === 'object' && action !== null && typeof (action as { type?: unknown }).type === 'string') {
      const { type, params } = action as { type: string; params?: unknown };
      if (typeof params === 'function') unsupported(machineId, `dynamic params of ${type} (${where})`);
      return { type, params };
    }
    return unsupported(machineId, `an inline action (${where})`);
  });
}

/** The machine's states, events, targets and named effects as a table. */
export function deriveTable(machine: AnyStateMachine): MachineTable {
  const root = machine.root as unknown as StateNodeLike & { initial?: { target: readonly StateNodeLike[] } };
  const id = machine.id;
  const initial = root.initial?.target[0]?.key;
  if (initial === undefined) unsupported(id, 'a machine without an initial state');
  if (root.transitions.size > 0 || root.entry.length > 0 || root.exit.length > 0) unsupported(id, 'a root with transitions or actions');
  const states = new Map<string, StateRow>();
  for (const [name, node] of Object.entries(root.states)) {
    if (Object.keys(node.states).length > 0) unsupported(id, `nested states in ${name}`);
    if (node.invoke.length > 0 || node.after.length > 0 || (node.always?.length ?? 0) > 0) unsupported(id, `invoke, after or always in ${name}`);
    if (node.exit.length > 0) unsupported(id, `exit actions in ${name}`);
    if (node.type !== 'atomic' && node.type !== 'final') unsupported(id, `a ${node.type} state (${name})`);
    const on = new Map<string, Transition>();
    for (const [event, candidates] of node.transitions) {
      if (candidates.length !== 1) unsupported(id, `several transitions for ${event} in ${name}`);
      const transition = candidates[0]!;
      if (transition.guard !== undefined) unsupported(id, `a guard on ${event} in ${name}`);
      if (event.includes('*') || event.startsWith('xstate.')) unsupported(id, `the event descriptor ${event} in ${name}`);
      const targets = transition.target ?? [];
      if (targets.length > 1) unsupported(id, `several targets for ${event} in ${name}`);
      const target = targets[0]?.key;
      if (target !== undefined && transition.reenter === true) unsupported(id, `a reentering transition for ${event} in ${name}`);
      on.set(event, { target, actions: effectRefs(id, `${name} ${event}`, transition.actions) });
    }
    states.set(name, { final: node.type === 'final', entry: effectRefs(id, `${name} entry`, node.entry), on });
  }
  return { id, initial, states };
}

/**
 * xstate actor logic that runs a machine's table: `createActor(machineLogic(machine, options), { input: context })`.
 * Like a machine actor it ends (status `done`) on entering a final state, and ignores events its state does not
 * handle; effects run in xstate's order (the transition's actions, then the target's entry effects).
 */
export function machineLogic<TContext, TEvent extends EventObject>(
  machine: AnyStateMachine,
  options: MachineLogicOptions<TContext, TEvent>,
): MachineActorLogic<TContext, TEvent> {
  const table = deriveTable(machine);
  const { effects, onStateChange } = options;
  for (const row of table.states.values()) {
    for (const ref of [...row.entry, ...[...row.on.values()].flatMap((t) => t.actions)]) {
      if (effects[ref.type] === undefined) throw new Error(`machine ${table.id}: no implementation of the effect ${ref.type}`);
    }
  }
  const run = (refs: readonly EffectRef[], context: TContext, step: Step<TEvent>) => {
    for (const ref of refs) effects[ref.type]!(context, ref.params as never, step);
  };
  const snapshot = (value: string, context: TContext): TableSnapshot<TContext> => ({
    status: table.states.get(value)!.final ? 'done' : 'active',
    value,
    context,
    output: undefined,
    error: undefined,
  });
  const start = table.states.get(table.initial)!;
  return {
    table,
    config: table,
    transition(current: TableSnapshot<TContext>, event: TEvent): TableSnapshot<TContext> {
      if (current.status !== 'active') return current;
      const transition = table.states.get(current.value)!.on.get(event.type);
      if (transition === undefined) return current;
      const step: Step<TEvent> = { from: current.value, event };
      const target = transition.target;
      run(transition.actions, current.context, step);
      if (target === undefined) return current;
      onStateChange?.(current.context, current.value, target);
      run(table.states.get(target)!.entry, current.context, step);
      return snapshot(target, current.context);
    },
    getInitialSnapshot(scope: ActorScope<TableSnapshot<TContext>, TEvent>, input: TContext): TableSnapshot<TContext> {
      onStateChange?.(input, undefined, table.initial);
      // As xstate does for a machine: the start state's entry effects run when the actor starts.
      if (start.entry.length > 0) scope.defer(() => run(start.entry, input, { from: undefined, event: { type: 'xstate.init' } as TEvent }));
      return snapshot(table.initial, input);
    },
    getPersistedSnapshot: (current: TableSnapshot<TContext>) => current,
  } as unknown as MachineActorLogic<TContext, TEvent>;
}
