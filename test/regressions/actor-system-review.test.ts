import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ActorSystem, type DeliveryOrder, type OutgoingRequest, type SessionLink } from '../../src/actors/index.js';
import { DeadlineScheduler } from '../../src/scheduling/index.js';
import { MemoryDevice } from '../../src/transports/memory/index.js';

// Findings of the first review of the actor system, each a way a caller could
// be left unanswered, answered wrongly, or the process brought down.
let scheduler: DeadlineScheduler;
const systems: ActorSystem[] = [];
beforeEach(() => {
  vi.useFakeTimers();
  scheduler = new DeadlineScheduler();
});
afterEach(() => {
  for (const system of systems.splice(0)) system.close();
  scheduler.close();
  vi.useRealTimers();
});

function system(ordering: DeliveryOrder = 'burst', maxPendingPerDevice = 1000): ActorSystem {
  const actors = new ActorSystem({ scheduler, ordering, maxPendingPerDevice, requestIdSeed: () => 0 });
  systems.push(actors);
  return actors;
}

const call = (actors: ActorSystem, deviceId: string, method: string, params: unknown = {}, ms = 1000, requestUUID?: string) =>
  actors.call(deviceId, { method, params, oneway: false, deadline: Date.now() + ms, requestUUID });

describe('actor system review findings', () => {
  it('params that cannot be JSON are refused at the call, and take no slot', async () => {
    const actors = system('burst', 1);
    new MemoryDevice(actors, 'd').connect().subscribe();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    await expect(call(actors, 'd', 'm', { n: 1n })).rejects.toMatchObject({ code: 'IOT_ERR_BAD_REQUEST' });
    await expect(call(actors, 'd', 'm', circular)).rejects.toMatchObject({ code: 'IOT_ERR_BAD_REQUEST' });
    await expect(call(actors, 'd', 'm', () => 1)).rejects.toMatchObject({ code: 'IOT_ERR_BAD_REQUEST' });
    const ok = call(actors, 'd', 'm', { fine: true }, 50);
    vi.advanceTimersByTime(100);
    await expect(ok).rejects.toMatchObject({ code: 'IOT_ERR_NO_REPLY_SENT' });
  });

  it('a transport that throws fails that call only, at the start or when the queue drains', async () => {
    const actors = system();
    let throwing = true;
    const link: SessionLink = {
      transport: 'flaky',
      remoteAddress: 'here',
      deliver: () => {
        if (throwing) throw new Error('socket on fire');
        return 'sent';
      },
      close: () => {},
    };
    const queued = call(actors, 'd', 'queued-first');
    actors.attach('d', link);
    actors.subscribe('d', link);
    await expect(queued).rejects.toMatchObject({ code: 'IOT_ERR_INTERNAL', message: expect.stringContaining('socket on fire') });
    await expect(call(actors, 'd', 'at-start')).rejects.toMatchObject({ code: 'IOT_ERR_INTERNAL' });
    throwing = false;
    const fine = call(actors, 'd', 'fine');
    actors.reply('d', 3, '{"ok":true}');
    await expect(fine).resolves.toEqual({ ok: true });
    expect(() => actors.close()).not.toThrow();
  });

  it('a device that answers as soon as it is handed a request completes the call', async () => {
    const actors = system();
    const onRequest = (request: OutgoingRequest, device: MemoryDevice) => {
      device.acknowledge(request.id);
      device.reply(request.id, { echo: request.params });
    };
    new MemoryDevice(actors, 'd', { onRequest }).connect().subscribe();
    await expect(call(actors, 'd', 'm', { x: 1 })).resolves.toEqual({ echo: { x: 1 } });
    expect(actors.orphanReplies).toBe(0);
  });

  it('a call still queued behind another on a subscribed device expires with IOT_ERR_STILL_QUEUED', async () => {
    const actors = system('sequential-on-ack');
    new MemoryDevice(actors, 'd').connect().subscribe();
    const first = call(actors, 'd', 'first', {}, 1000);
    const second = call(actors, 'd', 'second', {}, 50);
    first.catch(() => {});
    vi.advanceTimersByTime(100);
    await expect(second).rejects.toMatchObject({ code: 'IOT_ERR_STILL_QUEUED', status: 504, legacyStatus: 408 });
  });

  it('every caller of a removed device gets its own error, with its own stack', async () => {
    const actors = system();
    new MemoryDevice(actors, 'd').connect().subscribe();
    const one = call(actors, 'd', 'one').catch((e: unknown) => e);
    const two = call(actors, 'd', 'two').catch((e: unknown) => e);
    actors.removeDevice('d');
    const [a, b] = (await Promise.all([one, two])) as Error[];
    expect(a).toMatchObject({ code: 'IOT_ERR_DEVICE_REMOVED' });
    expect(b).toMatchObject({ code: 'IOT_ERR_DEVICE_REMOVED' });
    expect(a).not.toBe(b);
  });

  it('a requestUUID reused for another device starts a call of its own', async () => {
    const actors = system();
    const a = new MemoryDevice(actors, 'a').connect().subscribe();
    const b = new MemoryDevice(actors, 'b').connect().subscribe();
    const uuid = '0b6f3f5e-8a61-4c1e-9d7e-5a8b0c1d2e3f';
    const toA = call(actors, 'a', 'who', {}, 1000, uuid);
    const toB = call(actors, 'b', 'who', {}, 1000, uuid);
    expect(a.received).toHaveLength(1);
    expect(b.received).toHaveLength(1);
    a.reply(a.received[0]!.id, '"a"');
    b.reply(b.received[0]!.id, '"b"');
    await expect(toA).resolves.toBe('a');
    await expect(toB).resolves.toBe('b');
  });

  it('scheduling one target twice in one bucket counts once', () => {
    const fired: number[] = [];
    const target = { onDeadline: (now: number) => fired.push(now) };
    scheduler.schedule(Date.now() + 100, target);
    scheduler.schedule(Date.now() + 100, target);
    expect(scheduler.size).toBe(1);
    vi.advanceTimersByTime(200);
    expect(fired).toHaveLength(1);
    expect(scheduler.size).toBe(0);
  });
});
