import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { Deadlines } from '../../server/deadlines.js';

describe('one deadline heap for every expiry', () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());
  const clock = { now: () => Date.now() };

  it('runs deadlines in time order on one timer, and never a cancelled one', () => {
    const d = new Deadlines(clock);
    const ran: string[] = [];
    d.schedule(Date.now() + 300, () => ran.push('c'));
    const b = d.schedule(Date.now() + 200, () => ran.push('b'));
    d.schedule(Date.now() + 100, () => ran.push('a'));
    expect(vi.getTimerCount()).toBe(1);
    d.cancel(b);
    vi.advanceTimersByTime(150);
    expect(ran).toEqual(['a']);
    vi.advanceTimersByTime(1000);
    expect(ran).toEqual(['a', 'c']);
    expect(d.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('leaves nothing behind when everything is cancelled: no entry, no timer', () => {
    const d = new Deadlines(clock);
    const all = Array.from({ length: 1000 }, (_, i) => d.schedule(Date.now() + 3_600_000 + i, () => {}));
    for (const x of all) d.cancel(x);
    expect(d.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('waits past the platform timer limit by re-arming', () => {
    const d = new Deadlines(clock);
    let ran = false;
    d.schedule(Date.now() + 2 ** 31 + 5000, () => (ran = true));
    vi.advanceTimersByTime(2 ** 31 - 1);
    expect(ran).toBe(false);
    vi.advanceTimersByTime(6000);
    expect(ran).toBe(true);
  });

  it('keeps going when one deadline throws', () => {
    const d = new Deadlines(clock);
    const ran: number[] = [];
    d.schedule(Date.now() + 1, () => {
      throw new Error('boom');
    });
    d.schedule(Date.now() + 2, () => ran.push(2));
    vi.advanceTimersByTime(10);
    expect(ran).toEqual([2]);
  });

  it('fires exactly the uncancelled deadlines, in order of time, for any schedule and cancel sequence', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 10_000 }), fc.boolean()), { maxLength: 200 }), (plan) => {
        const d = new Deadlines(clock);
        const start = Date.now();
        const fired: number[] = [];
        const handles = plan.map(([offset], i) => d.schedule(start + offset, () => fired.push(i)));
        plan.forEach(([, cancel], i) => cancel && d.cancel(handles[i]));
        vi.advanceTimersByTime(10_001);
        const expected = plan.map(([offset, cancel], i) => ({ offset, cancel, i })).filter((x) => !x.cancel);
        expect(fired.sort((a, b) => a - b)).toEqual(expected.map((x) => x.i));
        const times = fired.map((i) => plan[i]![0]);
        expect(d.size).toBe(0);
        return times.length === expected.length;
      }),
    );
  });
});
