import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { Codec } from '../../protocol/codec.js';
import { CloseCode, type CapsyncError } from '../../protocol/errors.js';
import { FrameType } from '../../protocol/frames.js';
import { FairInbox, LoopShare, SharedBudget, SharedBudgets, type FairnessOptions } from '../../server/fairness.js';
import { startDemo, type DemoHarness } from '../helpers.js';

describe('a budget shared by one user\'s connections', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  // Each connection alone may send 1,000 frames/s; the user, 100/s with a burst of 20.
  const own: FairnessOptions = { callsPerSecond: 1_000, callBurst: 100, overBudgetCloseMs: 1_000, maxQueuedBytes: 1_000_000 };
  function connections(n: number, pool: SharedBudget) {
    return Array.from({ length: n }, () => {
      const log: string[] = [];
      let delivered = 0;
      let closed: CapsyncError | undefined;
      const box = new FairInbox(own, {
        deliver: () => delivered++,
        pause: () => log.push('pause'),
        resume: () => log.push('resume'),
        close: (error) => (closed = error),
      }, () => Date.now(), new LoopShare(() => 0), pool);
      return { box, log, delivered: () => delivered, closed: () => closed };
    });
  }

  it('admits at most the user\'s budget over all its connections, each well within its own, pausing every one that sends', () => {
    vi.useFakeTimers();
    const pool = new SharedBudget({ callsPerSecond: 100, callBurst: 20 }, Date.now());
    const four = connections(4, pool);
    // 200 frames/s per connection for 500 ms: 400 frames offered, a fifth of each one's own budget.
    for (let t = 0; t < 500; t += 10) {
      for (const c of four) for (let i = 0; i < 2; i++) c.box.push(Buffer.from([i]), true);
      vi.advanceTimersByTime(10);
    }
    const total = four.reduce((sum, c) => sum + c.delivered(), 0);
    // The burst and 500 ms at 100/s, where four budgets of their own would have admitted all 400.
    expect(total).toBeGreaterThanOrEqual(60);
    expect(total).toBeLessThanOrEqual(72);
    for (const c of four) expect(c.log[0]).toBe('pause');
    expect(four.every((c) => c.closed() === undefined)).toBe(true);
  });

  it('closes each connection kept over the user\'s budget with ERR_OVER_BUDGET, saying it was the user\'s; forgives a user that calmed down', () => {
    vi.useFakeTimers();
    const pool = new SharedBudget({ callsPerSecond: 100, callBurst: 20 }, Date.now());
    const four = connections(4, pool);
    for (let t = 0; t < 2_000 && four.some((c) => c.closed() === undefined); t += 10) {
      for (const c of four) c.box.push(Buffer.from([0]), true); // 100/s each, 400/s together
      vi.advanceTimersByTime(10);
    }
    for (const c of four) {
      expect(c.closed()?.code).toBe('ERR_OVER_BUDGET');
      expect(c.closed()?.closeCode).toBe(CloseCode.overBudget);
      expect(c.closed()?.message).toMatch(/user budget/);
    }
    vi.useRealTimers();

    vi.useFakeTimers();
    const calm = new SharedBudget({ callsPerSecond: 100, callBurst: 20 }, Date.now());
    const two = connections(2, calm);
    for (let round = 0; round < 5; round++) {
      for (const c of two) for (let i = 0; i < 20; i++) c.box.push(Buffer.from([i]), true); // twice the burst together, then quiet
      vi.advanceTimersByTime(1_000);
    }
    expect(two.every((c) => c.closed() === undefined)).toBe(true);
    expect(two.reduce((sum, c) => sum + c.delivered(), 0)).toBe(200);
  });

  it('charges the user for its calls\' loop time: a connection whose frames are cheap still waits once its user spent the shared service budget', () => {
    vi.useFakeTimers();
    let active = 0;
    const share = new LoopShare(() => active);
    const pool = new SharedBudget({ callsPerSecond: 10_000, callBurst: 1_000, serviceMsPerSecond: 100, serviceBurstMs: 100 }, Date.now());
    const marks: number[] = [];
    const delivered: string[] = [];
    const mk = (name: string) => {
      let box!: FairInbox;
      box = new FairInbox(
        { ...own, serviceMsPerSecond: 1_000, serviceBurstMs: 1_000, overBudgetCloseMs: 60_000 },
        { deliver: () => (delivered.push(name), name === 'heavy' && marks.push(box.started())), pause: () => {}, resume: () => {}, close: () => {} },
        () => Date.now(),
        share,
        pool,
      );
      return box;
    };
    const heavy = mk('heavy');
    const light = mk('light');
    for (let i = 0; i < 5; i++) heavy.push(Buffer.from([i]), true);
    for (const mark of marks.splice(0)) {
      active += 30; // each call costs 30 ms after its first turn: 150 ms against the user's 100 ms
      heavy.settled(mark);
    }
    delivered.length = 0;
    light.push(Buffer.from([0]), true);
    // Its own budget (1,000 ms) is untouched; its user's is in debt.
    expect(delivered).toEqual([]);
    vi.advanceTimersByTime(1_000);
    expect(delivered).toEqual(['light']);
  });

  it('keeps a budget that is not full after its principal\'s last connection closed, so new sockets get no fresh burst', () => {
    vi.useFakeTimers();
    const budgets = new SharedBudgets({ callsPerSecond: 100, callBurst: 20 }, () => Date.now());
    const first = budgets.acquire('u:editor');
    for (let i = 0; i < 20; i++) first.frame();
    budgets.release(first);
    expect(budgets.size).toBe(1);
    const again = budgets.acquire('u:editor');
    expect(again).toBe(first);
    again.refill(Date.now());
    expect(again.left()).toBe(false);
    budgets.release(again);
    vi.advanceTimersByTime(300); // 20 frames at 100/s: full after 200 ms, then forgotten
    expect(budgets.size).toBe(0);
    const fresh = budgets.acquire('u:editor');
    expect(fresh).not.toBe(first);
    expect(fresh.tokens).toBe(20);
  });
});

/**
 * An inbox (fake-timer clock, loop time from `share`) whose every frame is a call that goes asynchronous:
 * `marks` holds the calls in flight (settle them in order), `delivered` each frame's first byte.
 */
function callInbox(extra: Partial<FairnessOptions>, share: LoopShare, pool?: SharedBudget) {
  const marks: number[] = [];
  const delivered: number[] = [];
  const options: FairnessOptions = { callsPerSecond: 10_000, callBurst: 1_000, overBudgetCloseMs: 60_000, maxQueuedBytes: 1_000_000, serviceMsPerSecond: 1_000, serviceBurstMs: 1_000, maxInFlightMs: 16, ...extra };
  const box: FairInbox = new FairInbox(
    options,
    { deliver: (data) => (delivered.push(data[0]!), marks.push(box.started())), pause: () => {}, resume: () => {}, close: () => {} },
    () => Date.now(),
    share,
    pool,
  );
  return { box, marks, delivered };
}

describe('the first burst: calls in flight bounded by what they are expected to cost, per connection and per user', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lets a new connection start eight calls before any settled, then as many as maxInFlightMs allows at their cost', () => {
    vi.useFakeTimers();
    let active = 0;
    const { box, marks, delivered } = callInbox({ maxInFlight: 64 }, new LoopShare(() => active));
    for (let i = 0; i < 40; i++) box.push(Buffer.from([i]), true);
    vi.advanceTimersByTime(10);
    expect(box.inFlight).toBe(8);
    // The oldest call settles after 4 ms of the loop, and the next turn comes.
    const settleOne = (): void => {
      active += 4;
      box.settled(marks.shift()!);
      vi.advanceTimersByTime(10);
    };
    // Calls of this connection cost 4 ms, so four may be in flight.
    settleOne();
    expect(box.inFlight).toBe(7);
    for (let i = 0; i < 4; i++) settleOne();
    expect(box.inFlight).toBe(4);
    settleOne();
    expect(box.inFlight).toBe(4);
    expect(delivered).toHaveLength(10);
  });

  // Over all of a user's connections too.
  it('holds a connection\'s next call while its user\'s calls in flight, on other connections, are expected to cost maxInFlightMs', () => {
    vi.useFakeTimers();
    let active = 0;
    const share = new LoopShare(() => active);
    const pool = new SharedBudget({ callsPerSecond: 10_000, callBurst: 1_000 }, Date.now());
    const mk = () => callInbox({}, share, pool);
    const a = mk();
    const b = mk();
    // Each learns that its calls cost 4 ms after their first turn.
    for (const c of [a, b]) {
      c.box.push(Buffer.from([0]), true);
      active += 4;
      c.box.settled(c.marks.pop()!);
    }
    for (let i = 0; i < 10; i++) a.box.push(Buffer.from([i]), true);
    vi.advanceTimersByTime(10);
    expect(a.box.inFlight).toBe(4); // 16 ms expected: its own bound, and its user's
    expect(pool.inFlightMs).toBeCloseTo(16);
    for (let i = 0; i < 10; i++) b.box.push(Buffer.from([i]), true);
    vi.advanceTimersByTime(10);
    // One call per connection always goes; the second would take the user past 16 ms.
    expect(b.box.inFlight).toBe(1);
    active += 4;
    a.box.settled(a.marks.shift()!);
    active += 4;
    a.box.settled(a.marks.shift()!);
    vi.advanceTimersByTime(10);
    // Two of A's settled; A and B each start the next they may, within the user's 16 ms.
    expect(a.box.inFlight + b.box.inFlight).toBe(4);
    b.box.dispose();
    expect(pool.inFlightMs).toBeCloseTo(4 * a.box.inFlight);
  });
});

describe('fair service per user on a real server', () => {
  let demo: DemoHarness | undefined;
  const sockets: WebSocket[] = [];
  afterEach(async () => {
    for (const ws of sockets.splice(0)) ws.terminate();
    await demo?.close();
    demo = undefined;
  });

  it('holds one user flooding from 16 connections to one user\'s share, closes its connections with 4004, and serves a bystander', async () => {
    // Each connection may send 1,000 frames/s; the user 200/s (burst 100). Each flooding socket sends about
    // 500 pings/s, half its own budget: today's per-connection budgets alone would admit all 8,000/s.
    demo = await startDemo({ connection: { callsPerSecond: 1_000, callBurst: 100, userCallsPerSecond: 200, userCallBurst: 100, overBudgetCloseMs: 500 } });
    const bystander = await demo.connectAs('admin', { reconnect: false });
    const token = await demo.token('editor');
    const codec = new Codec();
    const ping = codec.encode([FrameType.ping, 1]);
    let pongs = 0;
    const closes: Promise<{ code: number; reason: string }>[] = [];
    for (let i = 0; i < 16; i++) {
      const ws = new WebSocket(demo.url, ['capsync.v1'], { headers: { authorization: `Bearer ${token}` } });
      sockets.push(ws);
      closes.push(new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))));
      ws.on('message', (data: Buffer) => (codec.decode(data) as unknown[])[0] === FrameType.pong && pongs++);
      await new Promise((resolve) => ws.once('open', resolve));
    }
    const started = performance.now();
    const flood = setInterval(() => {
      for (const ws of sockets) for (let i = 0; i < 10 && ws.readyState === ws.OPEN && ws.bufferedAmount < 256 * 1024; i++) ws.send(ping);
    }, 20);
    const latencies: number[] = [];
    let allClosed = false;
    const closed = Promise.all(closes).then((all) => ((allClosed = true), all));
    try {
      while (!allClosed && latencies.length < 500) {
        const t = performance.now();
        await expect(bystander.call('get_my_videos')).resolves.toHaveLength(3);
        latencies.push(performance.now() - t);
      }
      const ends = await Promise.race([closed, new Promise<string>((resolve) => setTimeout(() => resolve('still open'), 15_000).unref())]);
      const elapsedS = (performance.now() - started) / 1000;
      expect(ends).not.toBe('still open');
      for (const end of ends as { code: number; reason: string }[]) {
        expect(end.code).toBe(CloseCode.overBudget);
        expect(end.reason).toMatch(/user budget/);
      }
      // One user's share: the burst and 200/s while it flooded (and a little for timer granularity).
      expect(pongs).toBeLessThanOrEqual(100 + 200 * elapsedS + 50);
    } finally {
      clearInterval(flood);
    }
    await expect(bystander.call('get_my_videos')).resolves.toHaveLength(3);
    latencies.sort((a, b) => a - b);
    expect(latencies.length).toBeGreaterThan(0);
    // Generous (a loaded machine): the bystander was served all along.
    expect(latencies[Math.floor(latencies.length * 0.9)]!).toBeLessThan(200);
  });

  it('starts no more of a neighbour\'s slow calls at once than their cost allows, where maxInFlight alone let 64 start', async () => {
    demo = await startDemo();
    let running = 0;
    let most = 0;
    let done = 0;
    let finished!: () => void;
    const all = new Promise<void>((resolve) => (finished = resolve));
    demo.server.callable('slow', async () => {
      most = Math.max(most, ++running);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const end = performance.now() + 3;
      while (performance.now() < end);
      running--;
      if (++done === 100) finished();
      return 1;
    });
    const ws = new WebSocket(demo.url, ['capsync.v1'], { headers: { authorization: `Bearer ${await demo.token('editor')}` } });
    sockets.push(ws);
    await new Promise((resolve) => ws.once('open', resolve));
    const codec = new Codec();
    for (let id = 1; id <= 100; id++) ws.send(codec.encode([FrameType.call, id, 'slow', []]));
    await all;
    // Eight before the first settled; then 16 ms over about 3 ms a call: five.
    expect(most).toBeLessThanOrEqual(8);
  });
});
