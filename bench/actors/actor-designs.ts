/**
 * The two ways a PendingCall actor can run its machine, side by side, CPU µs
 * per call lifecycle (createActor, start, SENT, ACKED, REPLIED, answer), each
 * actor hosted in one shared system as the engine does:
 *
 * - `interpreter`: createActor(machine.provide(effects)): xstate's interpreter
 *   (the engine's design before the derived logic);
 * - `derived`: createActor(machineLogic(machine, { effects })): the table
 *   derived from the same machine (src/actors/machine-logic.ts), as the engine
 *   runs today.
 *
 *   npx tsx bench/actors/actor-designs.ts [--calls 200000] [--rounds 3]
 */
import { parseArgs } from 'node:util';
import { createActor, fromTransition, type AnyActorRef } from 'xstate';
import { machineLogic } from '../../src/actors/machine-logic.js';
import { pendingCallMachines } from '../../src/actors/pending-call.machine.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '3' } } });
const calls = Number(values.calls);
const rounds = Number(values.rounds);

const host: AnyActorRef = createActor(fromTransition((state: null) => state, null));
host.start();

const machine = pendingCallMachines.twoway.sent;
let answered = 0;
const answer = () => {
  answered++;
};
const noop = () => {};
const designs = {
  interpreter: machine.provide({ actions: { answerCaller: answer, markDelivered: noop, requeue: noop } }),
  derived: machineLogic(machine, { effects: { answerCaller: answer, markDelivered: noop, requeue: noop } }),
};

function lifecycle(logic: (typeof designs)[keyof typeof designs], count: number): number {
  const start = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    const actor = createActor(logic as typeof designs.derived, { input: { n: i }, parent: host });
    actor.start();
    actor.send({ type: 'ACKED' });
    actor.send({ type: 'REPLIED' });
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / count;
}

const results: Record<string, number[]> = { interpreter: [], derived: [] };
for (const name of Object.keys(designs) as Array<keyof typeof designs>) lifecycle(designs[name], Math.min(20_000, calls)); // warm-up
for (let round = 0; round < rounds; round++) {
  for (const name of Object.keys(designs) as Array<keyof typeof designs>) results[name]!.push(Number(lifecycle(designs[name], calls).toFixed(2)));
}
if (answered !== (2 * Math.min(20_000, calls) + 2 * rounds * calls)) throw new Error(`expected every call answered once, got ${answered}`);
console.log(JSON.stringify({ bench: 'PendingCall actor: xstate interpreter vs derived table (create, start, ACKED, REPLIED)', calls, cpuMicrosPerCall: results }));
