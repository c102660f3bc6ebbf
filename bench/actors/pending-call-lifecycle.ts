/**
 * CPU per call of the actor layer alone (ActorSystem + PendingCall actors +
 * deadline scheduler), through the in-memory transport: 1000 devices, 1000
 * calls in flight, ack and reply arriving on later ticks as in a server.
 * DESIGN.md's lean variant measured ~28 µs for this lifecycle.
 *
 *   npx tsx bench/actors/pending-call-lifecycle.ts [--calls 200000] [--qos 1|0]
 */
import { parseArgs } from 'node:util';
import { ActorSystem } from '../../src/actors/index.js';
import type { OutgoingRequest } from '../../src/actors/index.js';
import { DeadlineScheduler } from '../../src/scheduling/index.js';
import { MemoryDevice } from '../../src/transports/memory/index.js';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '200000' }, qos: { type: 'string', default: '1' }, devices: { type: 'string', default: '1000' } } });
const total = Number(values.calls);
const deviceCount = Number(values.devices);
const qos1 = values.qos === '1';
const scheduler = new DeadlineScheduler();
const actors = new ActorSystem({ scheduler, ordering: 'burst', maxPendingPerDevice: 100000 });

const inbox: Array<[MemoryDevice, OutgoingRequest]> = [];
const devices = Array.from({ length: deviceCount }, (_, i) =>
  new MemoryDevice(actors, `d${i}`, { delivery: qos1 ? 'sent' : 'delivered', onRequest: (request, device) => inbox.push([device, request]) }).connect().subscribe(),
);

async function run(calls: number): Promise<number> {
  let started = 0;
  let done = 0;
  const inFlight = 1000;
  const start = process.cpuUsage();
  await new Promise<void>((resolve) => {
    const launch = () => {
      const device = devices[started++ % deviceCount]!;
      actors.call(device.deviceId, { method: 'echo', params: { n: started }, oneway: false, deadline: Date.now() + 10_000 }).then(() => {
        done++;
        if (started < calls) launch();
        else if (done === calls) resolve();
      });
    };
    for (let i = 0; i < inFlight; i++) launch();
    // the device side: acks on one tick, replies on the next
    const pump = () => {
      const batch = inbox.splice(0);
      if (qos1) for (const [device, request] of batch) device.acknowledge(request.id);
      setImmediate(() => {
        for (const [device, request] of batch) device.reply(request.id, request.params);
        if (done < calls) setImmediate(pump);
      });
    };
    setImmediate(pump);
  });
  const cpu = process.cpuUsage(start);
  return (cpu.user + cpu.system) / calls;
}

await run(Math.min(20000, total)); // warm-up
const micros = await run(total);
console.log(JSON.stringify({ bench: 'pending-call lifecycle (actors only, memory transport)', qos: qos1 ? 1 : 0, calls: total, cpuMicrosPerCall: Number(micros.toFixed(1)) }));
actors.close();
scheduler.close();
