import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeadlineScheduler, type DeadlineTarget } from '../../../src/scheduling/deadline-scheduler.js';

const START = Date.UTC(2024, 0, 1, 0, 0, 0); // a multiple of every resolution used here

class Target implements DeadlineTarget {
  readonly firedAt: number[] = [];
  readonly clockAt: number[] = [];
  constructor(readonly name = 'target') {}
  onDeadline(now: number): void {
    this.firedAt.push(now);
    this.clockAt.push(Date.now());
  }
}

describe('DeadlineScheduler', () => {
  let scheduler: DeadlineScheduler;

  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(START);
    scheduler = new DeadlineScheduler(10);
  });

  afterEach(() => {
    scheduler.close();
    vi.useRealTimers();
  });

  it('fires at the deadline, not a millisecond before, when the deadline falls on a bucket edge', () => {
    const target = new Target();
    scheduler.schedule(START + 100, target);
    vi.advanceTimersByTime(99);
    expect(target.firedAt).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(target.firedAt).toEqual([START + 100]);
  });

  it('fires after a deadline inside a bucket, at most one resolution late, never before', () => {
    const target = new Target();
    const at = START + 123;
    scheduler.schedule(at, target);
    vi.advanceTimersByTime(123);
    expect(target.firedAt).toEqual([]);
    vi.advanceTimersByTime(10);
    expect(target.firedAt).toHaveLength(1);
    expect(target.firedAt[0]).toBeGreaterThanOrEqual(at);
    expect(target.firedAt[0]! - at).toBeLessThanOrEqual(10);
  });

  it('passes the current time to onDeadline', () => {
    const target = new Target();
    scheduler.schedule(START + 50, target);
    vi.advanceTimersByTime(1000);
    expect(target.firedAt).toEqual(target.clockAt);
  });

  it('a deadline already past fires on the next timer turn, not synchronously', () => {
    const target = new Target();
    scheduler.schedule(START - 5000, target);
    expect(target.firedAt).toEqual([]);
    vi.advanceTimersByTime(0);
    expect(target.firedAt).toEqual([START]);
  });

  it('never fires early across many random deadlines', () => {
    const targets: Array<{ at: number; target: Target }> = [];
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 500; i++) {
      const at = START + Math.floor(random() * 5000);
      const target = new Target(String(i));
      scheduler.schedule(at, target);
      targets.push({ at, target });
    }
    for (let t = 0; t <= 5010; t += 7) {
      vi.setSystemTime(START + t);
      vi.advanceTimersByTime(0);
      for (const { at, target } of targets) {
        if (target.firedAt.length > 0) expect(target.firedAt[0]).toBeGreaterThanOrEqual(at);
      }
    }
    vi.advanceTimersByTime(100);
    for (const { at, target } of targets) {
      expect(target.firedAt).toHaveLength(1);
      expect(target.firedAt[0]).toBeGreaterThanOrEqual(at);
    }
    expect(scheduler.size).toBe(0);
  });

  it('fires deadlines in order of their buckets', () => {
    const order: string[] = [];
    const named = (name: string): DeadlineTarget => ({ onDeadline: () => order.push(name) });
    scheduler.schedule(START + 300, named('c'));
    scheduler.schedule(START + 100, named('a'));
    scheduler.schedule(START + 200, named('b'));
    scheduler.schedule(START + 50, named('first'));
    vi.advanceTimersByTime(1000);
    expect(order).toEqual(['first', 'a', 'b', 'c']);
  });

  it('cancel stops a deadline from firing and leaves the others in its bucket', () => {
    const kept = new Target();
    const cancelled = new Target();
    const keyKept = scheduler.schedule(START + 101, kept);
    const keyCancelled = scheduler.schedule(START + 109, cancelled);
    expect(keyKept).toBe(keyCancelled);
    scheduler.cancel(keyCancelled, cancelled);
    vi.advanceTimersByTime(1000);
    expect(cancelled.firedAt).toEqual([]);
    expect(kept.firedAt).toHaveLength(1);
  });

  it('cancel with another key or another target, or twice, changes nothing else', () => {
    const a = new Target('a');
    const b = new Target('b');
    const keyA = scheduler.schedule(START + 100, a);
    scheduler.schedule(START + 500, b);
    scheduler.cancel(keyA + 1, a);
    scheduler.cancel(keyA, b);
    expect(scheduler.size).toBe(2);
    scheduler.cancel(keyA, a);
    scheduler.cancel(keyA, a);
    expect(scheduler.size).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(a.firedAt).toEqual([]);
    expect(b.firedAt).toHaveLength(1);
  });

  it('cancel after a deadline fired is harmless', () => {
    const target = new Target();
    const key = scheduler.schedule(START + 10, target);
    vi.advanceTimersByTime(10);
    expect(target.firedAt).toHaveLength(1);
    scheduler.cancel(key, target);
    expect(scheduler.size).toBe(0);
  });

  it('many targets in one bucket fire together from one timer', () => {
    const targets = Array.from({ length: 1000 }, (_, i) => new Target(String(i)));
    const keys = new Set(targets.map((target, i) => scheduler.schedule(START + 991 + (i % 9), target)));
    expect(keys.size).toBe(1);
    expect(vi.getTimerCount()).toBe(1);
    expect(scheduler.size).toBe(1000);
    vi.advanceTimersByTime(999);
    expect(targets.every((t) => t.firedAt.length === 0)).toBe(true);
    vi.advanceTimersByTime(1);
    expect(targets.every((t) => t.firedAt.length === 1 && t.firedAt[0] === START + 1000)).toBe(true);
    expect(scheduler.size).toBe(0);
  });

  it('keeps one timer however many buckets are scheduled', () => {
    for (let i = 1; i <= 50; i++) scheduler.schedule(START + i * 100, new Target());
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(2550);
    expect(vi.getTimerCount()).toBe(1);
    expect(scheduler.size).toBe(25);
    vi.advanceTimersByTime(2500);
    expect(vi.getTimerCount()).toBe(0);
    expect(scheduler.size).toBe(0);
  });

  it('an earlier deadline re-arms the timer for itself', () => {
    const late = new Target('late');
    const early = new Target('early');
    scheduler.schedule(START + 10_000, late);
    scheduler.schedule(START + 100, early);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(100);
    expect(early.firedAt).toEqual([START + 100]);
    expect(late.firedAt).toEqual([]);
    vi.advanceTimersByTime(9_899);
    expect(late.firedAt).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(late.firedAt).toEqual([START + 10_000]);
  });

  it('a later deadline does not delay the armed earlier one', () => {
    const early = new Target('early');
    scheduler.schedule(START + 100, early);
    scheduler.schedule(START + 10_000, new Target('late'));
    vi.advanceTimersByTime(100);
    expect(early.firedAt).toEqual([START + 100]);
  });

  it('an earlier bucket whose targets were all cancelled does not stop later ones', () => {
    const gone = new Target('gone');
    const later = new Target('later');
    const key = scheduler.schedule(START + 100, gone);
    scheduler.schedule(START + 300, later);
    scheduler.cancel(key, gone);
    vi.advanceTimersByTime(300);
    expect(gone.firedAt).toEqual([]);
    expect(later.firedAt).toEqual([START + 300]);
  });

  it('a target may schedule a new deadline from onDeadline', () => {
    const fired: number[] = [];
    const repeating: DeadlineTarget = {
      onDeadline: (now) => {
        fired.push(now);
        if (fired.length < 3) scheduler.schedule(now + 100, repeating);
      },
    };
    scheduler.schedule(START + 100, repeating);
    vi.advanceTimersByTime(1000);
    expect(fired).toEqual([START + 100, START + 200, START + 300]);
    expect(scheduler.size).toBe(0);
  });

  it('size counts scheduled, fired and cancelled deadlines', () => {
    expect(scheduler.size).toBe(0);
    const a = new Target('a');
    const b = new Target('b');
    const c = new Target('c');
    scheduler.schedule(START + 100, a);
    const keyB = scheduler.schedule(START + 200, b);
    scheduler.schedule(START + 200, c);
    expect(scheduler.size).toBe(3);
    vi.advanceTimersByTime(100);
    expect(scheduler.size).toBe(2);
    scheduler.cancel(keyB, b);
    expect(scheduler.size).toBe(1);
    vi.advanceTimersByTime(100);
    expect(scheduler.size).toBe(0);
    expect(c.firedAt).toHaveLength(1);
  });

  it('close drops every deadline and the timer, and the scheduler can be used again', () => {
    const before = new Target('before');
    scheduler.schedule(START + 100, before);
    scheduler.schedule(START + 200, new Target());
    scheduler.close();
    expect(scheduler.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(before.firedAt).toEqual([]);

    const after = new Target('after');
    scheduler.schedule(Date.now() + 50, after);
    expect(scheduler.size).toBe(1);
    vi.advanceTimersByTime(50);
    expect(after.firedAt).toEqual([START + 1050]);
  });

  it('honours its resolution: a coarse scheduler rounds deadlines up to its bucket edge', () => {
    scheduler.close();
    scheduler = new DeadlineScheduler(1000);
    const target = new Target();
    scheduler.schedule(START + 1, target);
    vi.advanceTimersByTime(999);
    expect(target.firedAt).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(target.firedAt).toEqual([START + 1000]);
  });
});

describe('DeadlineScheduler - far deadlines', () => {
  it('a deadline past setTimeout\'s limit neither fires early nor spins, and a cancelled one leaves no timer behind', () => {
    vi.useFakeTimers();
    try {
      const scheduler = new DeadlineScheduler();
      const fired: number[] = [];
      const target = { onDeadline: (now: number) => fired.push(now) };
      const key = scheduler.schedule(Date.now() + 30 * 24 * 3600 * 1000, target);
      vi.advanceTimersByTime(1000);
      expect(fired).toEqual([]);
      scheduler.cancel(key, target);
      expect(scheduler.size).toBe(0);
      vi.advanceTimersByTime(2 ** 31);
      expect(fired).toEqual([]);
      expect(vi.getTimerCount()).toBe(0);
      scheduler.close();
    } finally {
      vi.useRealTimers();
    }
  });

  // Issue 9, finding 8.
  it('a cancelled deadline is forgotten at once: calls that end early leave no bucket behind until their deadline', () => {
    vi.useFakeTimers();
    vi.setSystemTime(START);
    try {
      const scheduler = new DeadlineScheduler(10);
      const targets = Array.from({ length: 10_000 }, () => new Target());
      const keys = targets.map((target, i) => scheduler.schedule(Date.now() + 60_000 + i * 10, target));
      expect(scheduler.bucketCount).toBe(10_000);
      targets.forEach((target, i) => scheduler.cancel(keys[i]!, target));
      expect(scheduler.size).toBe(0);
      expect(scheduler.bucketCount).toBe(0);
      expect(vi.getTimerCount()).toBe(0);
      // Cancelling in any order keeps the earliest one armed.
      const a = new Target('a');
      const b = new Target('b');
      const c = new Target('c');
      const keyA = scheduler.schedule(Date.now() + 100, a);
      scheduler.schedule(Date.now() + 200, b);
      const keyC = scheduler.schedule(Date.now() + 300, c);
      scheduler.cancel(keyC, c);
      scheduler.cancel(keyA, a);
      vi.advanceTimersByTime(199);
      expect(b.firedAt).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(b.firedAt).toHaveLength(1);
      expect(a.firedAt).toEqual([]);
      expect(c.firedAt).toEqual([]);
      scheduler.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a target that throws is reported, and every other deadline, now and later, still fires', () => {
    vi.useFakeTimers();
    vi.setSystemTime(START);
    try {
      const errors: unknown[] = [];
      const scheduler = new DeadlineScheduler(10, (error) => errors.push(error));
      const before = new Target('before');
      const after = new Target('after');
      const later = new Target('later');
      scheduler.schedule(Date.now() + 100, before);
      scheduler.schedule(Date.now() + 100, { onDeadline: () => { throw new Error('broken target'); } });
      scheduler.schedule(Date.now() + 100, after);
      scheduler.schedule(Date.now() + 5000, later);
      vi.advanceTimersByTime(100);
      expect(errors).toEqual([new Error('broken target')]);
      expect(before.firedAt).toHaveLength(1);
      expect(after.firedAt).toHaveLength(1);
      vi.advanceTimersByTime(4900);
      expect(later.firedAt).toHaveLength(1);
      scheduler.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('a deadline scheduled while others fire does not push back an earlier one already waiting', () => {
    vi.useFakeTimers();
    vi.setSystemTime(START);
    try {
      const scheduler = new DeadlineScheduler(10);
      const waiting = new Target('waiting');
      const late = new Target('late');
      scheduler.schedule(Date.now() + 500, waiting);
      scheduler.schedule(Date.now() + 100, { onDeadline: (now) => void scheduler.schedule(now + 10_000, late) });
      vi.advanceTimersByTime(500);
      expect(waiting.firedAt).toEqual([START + 500]);
      vi.advanceTimersByTime(9600);
      expect(late.firedAt).toEqual([START + 10_100]);
      scheduler.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
