import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { Codec } from '../../protocol/codec.js';
import { CloseCode, type CapsyncError } from '../../protocol/errors.js';
import { FrameType } from '../../protocol/frames.js';
import { FairInbox, type FairnessOptions } from '../../server/fairness.js';
import { startDemo, type DemoHarness } from '../helpers.js';

describe('FairInbox (a token bucket with backpressure)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const options: FairnessOptions = { callsPerSecond: 100, callBurst: 10, overBudgetCloseMs: 1_000, maxQueuedBytes: 1_000 };
  function inbox(opts: FairnessOptions = options) {
    vi.useFakeTimers();
    const log: string[] = [];
    const delivered: number[] = [];
    let closed: CapsyncError | undefined;
    const box = new FairInbox(opts, {
      deliver: (data) => delivered.push(data[0]!),
      pause: () => log.push('pause'),
      resume: () => log.push('resume'),
      close: (error) => (closed = error),
    }, () => Date.now());
    return { box, log, delivered, closed: () => closed };
  }
  const frame = (n: number) => Buffer.from([n % 256]);

  it('admits a burst, then queues and pauses the socket, and drains at the budget in order', () => {
    const { box, log, delivered } = inbox();
    for (let i = 0; i < 30; i++) box.push(frame(i), true);
    expect(delivered).toHaveLength(10);
    expect(log).toEqual(['pause']);
    expect(box.queued).toBe(20);
    vi.advanceTimersByTime(100); // 100 ms at 100/s: 10 more
    expect(delivered.length).toBeGreaterThanOrEqual(19);
    expect(delivered.length).toBeLessThanOrEqual(21);
    vi.advanceTimersByTime(200);
    expect(delivered).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(log).toEqual(['pause', 'resume']);
  });

  it('closes a connection that stays over its budget with ERR_OVER_BUDGET, and forgives one that calmed down', () => {
    const abuser = inbox();
    for (let t = 0; t < 1_500 && abuser.closed() === undefined; t += 10) {
      for (let i = 0; i < 5; i++) abuser.box.push(frame(i), true); // 500/s against a budget of 100/s
      vi.advanceTimersByTime(10);
    }
    expect(abuser.closed()?.code).toBe('ERR_OVER_BUDGET');
    expect(abuser.closed()?.closeCode).toBe(CloseCode.overBudget);
    vi.useRealTimers();

    const bursty = inbox();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 20; i++) bursty.box.push(frame(i), true); // twice the burst, then quiet for a second
      vi.advanceTimersByTime(1_000);
    }
    expect(bursty.closed()).toBeUndefined();
    expect(bursty.delivered).toHaveLength(100);
  });

  it('closes at once when what was read before the pause passes maxQueuedBytes', () => {
    const { box, closed } = inbox();
    for (let i = 0; i < 10; i++) box.push(frame(i), true);
    box.push(Buffer.alloc(1_001), true);
    expect(closed()?.code).toBe('ERR_OVER_BUDGET');
  });
});

describe('FairInbox charging by cost', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('admits fewer costly frames than cheap ones under the same frame budget, and drains them as CPU time refills', () => {
    vi.useFakeTimers();
    // A CPU clock the frames advance: each costly frame takes 20 ms of handling, a cheap one nothing.
    let cpu = 0;
    const delivered: number[] = [];
    const log: string[] = [];
    const box = new FairInbox(
      { callsPerSecond: 1_000, callBurst: 100, overBudgetCloseMs: 60_000, maxQueuedBytes: 1_000_000, serviceMsPerSecond: 100, serviceBurstMs: 100 },
      { deliver: (data) => (delivered.push(data[0]!), (cpu += data[0] === 1 ? 20 : 0)), pause: () => log.push('pause'), resume: () => log.push('resume'), close: () => log.push('close') },
      () => Date.now(),
      () => cpu,
    );
    for (let i = 0; i < 20; i++) box.push(Buffer.from([1]), true);
    // 100 ms of burst buys five 20 ms frames; the frame budget alone would have admitted all twenty.
    expect(delivered).toHaveLength(5);
    expect(log).toEqual(['pause']);
    vi.advanceTimersByTime(1_000); // 100 ms of CPU per second: five more
    expect(delivered.length).toBeGreaterThanOrEqual(9);
    expect(delivered.length).toBeLessThanOrEqual(11);
    vi.advanceTimersByTime(2_000);
    expect(delivered).toHaveLength(20);
    expect(log).toEqual(['pause', 'resume']);
  });

  it('leaves cheap frames to the frame budget alone', () => {
    vi.useFakeTimers();
    const delivered: number[] = [];
    const box = new FairInbox(
      { callsPerSecond: 1_000, callBurst: 100, overBudgetCloseMs: 60_000, maxQueuedBytes: 1_000_000, serviceMsPerSecond: 100, serviceBurstMs: 100 },
      { deliver: (data) => delivered.push(data[0]!), pause: () => {}, resume: () => {}, close: () => {} },
      () => Date.now(),
      () => 0,
    );
    for (let i = 0; i < 100; i++) box.push(Buffer.from([0]), true);
    expect(delivered).toHaveLength(100);
  });
});

describe('fair service on a real server', () => {
  let demo: DemoHarness | undefined;
  afterEach(async () => {
    await demo?.close();
    demo = undefined;
  });

  it('serves a bystander during a flood, and closes the flooding socket with 4004', async () => {
    demo = await startDemo({ connection: { callsPerSecond: 500, callBurst: 50, overBudgetCloseMs: 500 } });
    const bystander = await demo.connectAs('admin', { reconnect: false });
    const ws = new WebSocket(demo.url, ['capsync.v1'], { headers: { authorization: `Bearer ${await demo.token('editor')}` } });
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await new Promise((resolve) => ws.once('open', resolve));
    const ping = new Codec().encode([FrameType.ping, 1]);
    let flooding = true;
    const flood = () => {
      // As fast as the socket takes them (its unsent bytes bounded, as a real sender's TCP window bounds them).
      for (let i = 0; i < 500 && flooding && ws.readyState === ws.OPEN && ws.bufferedAmount < 256 * 1024; i++) ws.send(ping);
      if (flooding && ws.readyState === ws.OPEN) setImmediate(flood);
    };
    flood();
    const started = performance.now();
    for (let i = 0; i < 20; i++) await bystander.call('get_my_videos');
    const bystanderMs = performance.now() - started;
    expect(await closed).toBe(CloseCode.overBudget);
    flooding = false;
    await expect(bystander.call('get_my_videos')).resolves.toHaveLength(3);
    // Generous: without fairness a flood kept single calls waiting for seconds.
    expect(bystanderMs).toBeLessThan(5_000);
  });
});
