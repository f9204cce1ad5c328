import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { Codec } from '../../protocol/codec.js';
import { CloseCode, type CapsyncError } from '../../protocol/errors.js';
import { FrameType } from '../../protocol/frames.js';
import { FairInbox, LoopShare, type FairnessOptions } from '../../server/fairness.js';
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

  /** A wall clock the frames advance: the fake timers' time plus what each delivery took. */
  function costClock() {
    let spent = 0;
    return { now: () => Date.now() + spent, spend: (ms: number) => (spent += ms) };
  }

  it('admits fewer costly frames than cheap ones under the same frame budget, and drains them as time refills', () => {
    vi.useFakeTimers();
    const clock = costClock();
    const delivered: number[] = [];
    const log: string[] = [];
    const box = new FairInbox(
      { callsPerSecond: 1_000, callBurst: 100, overBudgetCloseMs: 60_000, maxQueuedBytes: 1_000_000, serviceMsPerSecond: 100, serviceBurstMs: 100, sliceMs: Infinity },
      { deliver: (data) => (delivered.push(data[0]!), clock.spend(data[0] === 1 ? 20 : 0)), pause: () => log.push('pause'), resume: () => log.push('resume'), close: () => log.push('close') },
      clock.now,
      new LoopShare(() => 0),
    );
    for (let i = 0; i < 20; i++) box.push(Buffer.from([1]), true);
    // 100 ms of burst (and what refilled while they ran) buys five or six 20 ms frames; the frame budget
    // alone would have admitted all twenty.
    expect(delivered.length).toBeGreaterThanOrEqual(5);
    expect(delivered.length).toBeLessThanOrEqual(6);
    expect(log).toEqual(['pause']);
    vi.advanceTimersByTime(1_000); // 100 ms per second: about five more
    expect(delivered.length).toBeGreaterThanOrEqual(9);
    expect(delivered.length).toBeLessThanOrEqual(12);
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
      new LoopShare(() => 0),
    );
    for (let i = 0; i < 100; i++) box.push(Buffer.from([0]), true);
    expect(delivered).toHaveLength(100);
  });

  it('reads the clock once per frame besides the read on arrival', () => {
    let reads = 0;
    const box = new FairInbox(
      { callsPerSecond: 1_000, callBurst: 100, overBudgetCloseMs: 60_000, maxQueuedBytes: 1_000_000, serviceMsPerSecond: 100, serviceBurstMs: 100 },
      { deliver: () => {}, pause: () => {}, resume: () => {}, close: () => {} },
      () => (reads++, performance.now()),
      new LoopShare(() => 0),
    );
    reads = 0;
    for (let i = 0; i < 50; i++) box.push(Buffer.from([0]), true);
    expect(reads).toBe(100);
  });

  it('ends a connection\'s run of frames after sliceMs, and hands it the rest at the next turn', () => {
    vi.useFakeTimers();
    const clock = costClock();
    const delivered: number[] = [];
    const log: string[] = [];
    const box = new FairInbox(
      { callsPerSecond: 10_000, callBurst: 1_000, overBudgetCloseMs: 60_000, maxQueuedBytes: 1_000_000, serviceMsPerSecond: 1_000, serviceBurstMs: 1_000, sliceMs: 2 },
      { deliver: (data) => (delivered.push(data[0]!), clock.spend(0.5)), pause: () => log.push('pause'), resume: () => log.push('resume'), close: () => log.push('close') },
      clock.now,
      new LoopShare(() => 0),
    );
    // Ten frames of one socket read, back to back, each 0.5 ms: four fit in the 2 ms slice.
    for (let i = 0; i < 10; i++) box.push(Buffer.from([i]), true);
    expect(delivered).toEqual([0, 1, 2, 3]);
    expect(log).toEqual(['pause']);
    vi.advanceTimersToNextTimer(); // the next turn (setImmediate): four more
    expect(delivered).toHaveLength(8);
    vi.advanceTimersToNextTimer();
    expect(delivered).toHaveLength(10);
    expect(log).toEqual(['pause', 'resume']);
  });
});

describe('FairInbox holding at maxInFlight', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('holds the next frame (socket paused) while maxInFlight calls run, never closing for it, and delivers it when one settles', () => {
    vi.useFakeTimers();
    const delivered: number[] = [];
    const marks: number[] = [];
    const log: string[] = [];
    let box!: FairInbox;
    box = new FairInbox(
      { callsPerSecond: 1_000, callBurst: 100, overBudgetCloseMs: 1_000, maxQueuedBytes: 1_000_000, serviceMsPerSecond: 100, serviceBurstMs: 100, maxInFlight: 3 },
      // Each frame is a call that goes asynchronous.
      { deliver: (data) => (delivered.push(data[0]!), marks.push(box.started())), pause: () => log.push('pause'), resume: () => log.push('resume'), close: () => log.push('close') },
      () => Date.now(),
      new LoopShare(() => 0),
    );
    for (let i = 0; i < 5; i++) box.push(Buffer.from([i]), true);
    expect(delivered).toEqual([0, 1, 2]);
    expect(log).toEqual(['pause']);
    vi.advanceTimersByTime(5_000); // held five times overBudgetCloseMs: waiting for its own calls is no abuse
    expect(delivered).toEqual([0, 1, 2]);
    box.settled(marks[0]!);
    vi.advanceTimersToNextTimer();
    expect(delivered).toEqual([0, 1, 2, 3]);
    box.settled(marks[1]!);
    vi.advanceTimersToNextTimer();
    expect(delivered).toEqual([0, 1, 2, 3, 4]);
    expect(log).toEqual(['pause', 'resume']);
    expect(box.inFlight).toBe(3);
  });
});

describe('charging the asynchronous part of calls', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('LoopShare gives the loop time before a settle to the settling call, and time before a start to every call in flight, less what frames were charged', () => {
    let active = 0;
    const share = new LoopShare(() => active);
    const neighbour = [share.started(), share.started(), share.started()];
    const bystander = share.started();
    active += 30; // the neighbour's first call runs 30 ms after its await, then returns
    share.charged(5); // of which 5 ms were a frame's synchronous handling, charged already
    expect(share.settled(neighbour[0]!)).toBeCloseTo(25);
    active += 30;
    expect(share.settled(neighbour[1]!)).toBeCloseTo(30);
    // Work that ended no call (12 ms), then a call starts: the three in flight share it.
    active += 12;
    const late = share.started();
    active += 1; // the bystander's own continuation
    expect(share.settled(bystander)).toBeCloseTo(6 + 1);
    expect(share.settled(neighbour[2]!)).toBeCloseTo(6);
    expect(share.settled(late)).toBe(0);
    expect(share.calls).toBe(0);
    active += 1_000; // nobody in flight: nobody pays
    const c = share.started();
    expect(share.settled(c)).toBe(0);
  });

  it('LoopShare with a quick clock reads the CPU clock for an interval of 1 ms or more, and otherwise only every 50 ms of it', () => {
    let cpu = 0;
    let quick = 0;
    let cpuReads = 0;
    const share = new LoopShare(() => (cpuReads++, cpu), () => quick);
    cpuReads = 0;
    // 300 calls of 0.125 ms each (exact in binary), one after another: 37.5 ms of short intervals, no CPU read.
    for (let i = 0; i < 300; i++) {
      const mark = share.started();
      quick += 0.125;
      cpu += 0.125;
      expect(share.settled(mark)).toBeCloseTo(0.125);
    }
    expect(cpuReads).toBe(0);
    // One interval of 3 ms of which 1 ms was CPU (the process was descheduled for the rest): read, and charged as CPU.
    const a = share.started();
    quick += 3;
    cpu += 1;
    expect(share.settled(a)).toBeCloseTo(1);
    expect(cpuReads).toBe(1);
    // Short intervals again: the next read comes once the quick clock has run 50 ms past the last one.
    let reads = 0;
    for (let i = 0; i < 600 && cpuReads === 1; i++, reads++) {
      const mark = share.started();
      quick += 0.125;
      cpu += 0.125;
      share.settled(mark);
    }
    expect(cpuReads).toBe(2);
    expect(reads).toBe(400);
  });

  it('LoopShare with a quick clock reads the CPU clock only for a long interval, and takes back what the quick clock gave beyond the CPU time', () => {
    let cpu = 0;
    let quick = 0;
    let cpuReads = 0;
    const share = new LoopShare(() => (cpuReads++, cpu), () => quick);
    cpuReads = 0;
    const a = share.started();
    const b = share.started();
    quick += 0.3;
    cpu += 0.3;
    expect(share.settled(a)).toBeCloseTo(0.3);
    quick += 0.2;
    cpu += 0.2;
    share.charged(0.05);
    const c = share.started(); // 0.15 ms that ended no call, shared by b alone
    expect(cpuReads).toBe(0);
    // The process is descheduled for 20 ms: the quick clock counts it, the CPU clock does not. The CPU
    // clock is read, and the interval gets what the process used since its last read, less what was given.
    quick += 20;
    cpu += 0.6;
    expect(share.settled(b)).toBeCloseTo(0.15 + 0.6);
    expect(cpuReads).toBe(1);
    quick += 0.4;
    cpu += 0.4;
    expect(share.settled(c)).toBeCloseTo(0.4);
    expect(cpuReads).toBe(1);
  });

  it('pauses a connection whose calls are cheap to start but expensive to finish', () => {
    vi.useFakeTimers();
    let active = 0;
    const share = new LoopShare(() => active);
    const delivered: number[] = [];
    const log: string[] = [];
    const marks: number[] = [];
    let box!: FairInbox;
    box = new FairInbox(
      { callsPerSecond: 1_000, callBurst: 100, overBudgetCloseMs: 60_000, maxQueuedBytes: 1_000_000, serviceMsPerSecond: 100, serviceBurstMs: 100 },
      { deliver: (data) => (delivered.push(data[0]!), marks.push(box.started())), pause: () => log.push('pause'), resume: () => log.push('resume'), close: () => log.push('close') },
      () => Date.now(),
      share,
    );
    // Each call costs nothing to start, and 30 ms of the loop after its first turn.
    for (let i = 0; i < 5; i++) box.push(Buffer.from([i]), true);
    expect(delivered).toHaveLength(5);
    for (const mark of marks.splice(0)) {
      active += 30;
      box.settled(mark);
    }
    // 150 ms charged against a 100 ms burst: the next frame waits until the debt is repaid.
    box.push(Buffer.from([5]), true);
    expect(delivered).toHaveLength(5);
    expect(log).toEqual(['pause']);
    vi.advanceTimersByTime(600);
    expect(delivered).toHaveLength(6);
  });
});

describe('FairInbox slices by what calls cost after their first turn', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('counts the expected cost of the calls a run starts into its slice, so such a run ends sooner', () => {
    vi.useFakeTimers();
    let active = 0;
    const share = new LoopShare(() => active);
    const delivered: number[] = [];
    const marks: number[] = [];
    let box!: FairInbox;
    box = new FairInbox(
      { callsPerSecond: 100_000, callBurst: 10_000, overBudgetCloseMs: 60_000, maxQueuedBytes: 1_000_000, serviceMsPerSecond: 1_000, serviceBurstMs: 10_000, sliceMs: 2 },
      // Each frame is a call that costs nothing in its own turn.
      { deliver: (data) => (delivered.push(data[0]!), marks.push(box.started())), pause: () => {}, resume: () => {}, close: () => {} },
      () => Date.now(),
      share,
    );
    // Sixteen calls, each its own run, that cost 1 ms of the loop after their first turn: the average is
    // 1 ms (the first call's cost is taken as it is, later ones weigh in by an eighth).
    for (let i = 0; i < 16; i++) {
      box.push(Buffer.from([100]), true);
      active += 1;
      box.settled(marks.pop()!);
      vi.advanceTimersByTime(1);
    }
    delivered.length = 0;
    // Ten frames back to back that take no time at all: two calls expected to cost 1 ms each fill the 2 ms slice.
    for (let i = 0; i < 10; i++) box.push(Buffer.from([i]), true);
    expect(delivered).toEqual([0, 1]);
    vi.advanceTimersToNextTimer();
    expect(delivered).toEqual([0, 1, 2, 3]);
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

describe('fair service on a real server: calls in flight and their asynchronous cost', () => {
  let demo: DemoHarness | undefined;
  let raw: WebSocket | undefined;
  afterEach(async () => {
    raw?.terminate();
    raw = undefined;
    await demo?.close();
    demo = undefined;
  });

  it('holds a connection at maxInFlight calls instead of refusing, serving a bystander meanwhile', async () => {
    demo = await startDemo({ connection: { maxInFlight: 4 } });
    let started = 0;
    let fourStarted!: () => void;
    const four = new Promise<void>((resolve) => (fourStarted = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    demo.server.callable('held', async () => {
      if (++started === 4) fourStarted();
      await gate;
      return started;
    });
    const client = await demo.connectAs('editor', { reconnect: false });
    const bystander = await demo.connectAs('admin', { reconnect: false });
    const calls = Array.from({ length: 10 }, () => client.call('held'));
    await four;
    // Served while the other connection's frames wait; and they do wait: none of the six ran.
    await expect(bystander.call('get_my_videos')).resolves.toHaveLength(3);
    await expect(bystander.call('get_my_videos')).resolves.toHaveLength(3);
    expect(started).toBe(4);
    release();
    // Every call ran (none refused with ERR_RATE_LIMITED), the last six as the first ones settled.
    const results = await Promise.all(calls);
    expect(results).toHaveLength(10);
    expect(started).toBe(10);
  });

  it('does not take a socket held at maxInFlight for a dead peer: its pongs wait unread, as its frames do', async () => {
    demo = await startDemo({ heartbeatMs: 40, connection: { maxInFlight: 1 } });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    demo.server.callable('held', async () => {
      await gate;
      return 'done';
    });
    raw = new WebSocket(demo.url, ['capsync.v1'], { headers: { authorization: `Bearer ${await demo.token('editor')}` } });
    const ws = raw;
    let closeCode: number | undefined;
    ws.once('close', (code) => (closeCode = code));
    await new Promise((resolve) => ws.once('open', resolve));
    const codec = new Codec();
    const results: unknown[] = [];
    ws.on('message', (data: Buffer) => {
      const frame = codec.decode(data) as unknown[];
      if (frame[0] === FrameType.result || frame[0] === FrameType.error) results.push(frame);
    });
    for (let id = 1; id <= 3; id++) ws.send(codec.encode([FrameType.call, id, 'held', []]));
    // Six heartbeats while the first call runs and the other two wait: each ping is answered, but the
    // server, not reading the socket, cannot see the pongs. Ends early if the server gives the peer up.
    await new Promise<void>((resolve) => {
      let pings = 0;
      ws.on('ping', () => ++pings === 6 && resolve());
      ws.once('close', () => resolve());
    });
    expect(closeCode).toBeUndefined();
    release();
    await new Promise<void>((resolve) => {
      const check = () => (results.length === 3 || closeCode !== undefined ? resolve() : ws.once('message', () => setImmediate(check)));
      check();
    });
    expect(results.map((frame) => (frame as unknown[])[2])).toEqual(['done', 'done', 'done']);
  });

  it('keeps a client whose frames are held hearing the server: its own pings wait unread, so the server sends pongs', async () => {
    demo = await startDemo({ clientPingIntervalMs: 60, connection: { maxInFlight: 1 } });
    let started!: () => void;
    const first = new Promise<void>((resolve) => (started = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    demo.server.callable('held', async () => {
      started();
      await gate;
      return 'done';
    });
    const client = await demo.connectAs('editor', { reconnect: false });
    const calls = [client.call('held'), client.call('held')];
    await first;
    // Eight pongs heard (four ping intervals, twice the silence after which the client gives up), or the
    // connection given up (what happened before: nothing reached the client while its frames were held).
    let pongs = 0;
    await new Promise<void>((resolve) => {
      const frames = client.frames.subscribe((frame) => frame[0] === FrameType.pong && ++pongs === 8 && resolve());
      const state = client.connectionState.subscribe((value) => value !== 'connected' && resolve());
      void Promise.resolve(gate).then(() => (frames.unsubscribe(), state.unsubscribe()));
    });
    expect(client.connectionState.value).toBe('connected');
    expect(pongs).toBe(8);
    release();
    await expect(Promise.all(calls)).resolves.toEqual(['done', 'done']);
  });

  it('pauses, then closes with 4004, a connection whose calls are cheap to start but expensive to finish; a bystander is served', async () => {
    demo = await startDemo({ connection: { serviceMsPerSecond: 100, serviceBurstMs: 100, overBudgetCloseMs: 1_000 } });
    demo.server.callable('burn', async () => {
      // Nothing to pay for in the frame's own turn; 4 ms of the event loop after it.
      await new Promise((resolve) => setImmediate(resolve));
      const end = performance.now() + 4;
      while (performance.now() < end);
      return 1;
    });
    // The bystander's calls are cheap and answered in their own turn. (It once called get_my_videos back to
    // back: about 1 ms each of this test's 100 ms/s budget, so alone it used about all of it, and an
    // asynchronous call is sometimes charged a neighbour's continuation that ran unseen in its last interval,
    // see README "Fair service": it was then closed with 4004 itself, in about half the runs on a quiet machine.)
    demo.server.callable('peek', () => 3);
    const bystander = await demo.connectAs('admin', { reconnect: false });
    raw = new WebSocket(demo.url, ['capsync.v1'], { headers: { authorization: `Bearer ${await demo.token('editor')}` } });
    const ws = raw;
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    await new Promise((resolve) => ws.once('open', resolve));
    const codec = new Codec();
    let next = 1;
    let refused = 0;
    const send = () => ws.readyState === ws.OPEN && ws.send(codec.encode([FrameType.call, next++, 'burn', []]));
    // 32 calls in flight at all times: each answer sends the next call (the frame rate stays far below callsPerSecond).
    ws.on('message', (data: Buffer) => {
      const frame = codec.decode(data) as unknown[];
      if (frame[0] === FrameType.error && frame[1] !== null) refused++;
      if (frame[0] === FrameType.result || frame[0] === FrameType.error) send();
    });
    for (let i = 0; i < 32; i++) send();
    const latencies: number[] = [];
    let done = false;
    void closed.then(() => (done = true));
    while (!done && latencies.length < 200) {
      const t = performance.now();
      await expect(bystander.call('peek')).resolves.toBe(3);
      latencies.push(performance.now() - t);
    }
    const code = await Promise.race([closed, new Promise<string>((resolve) => setTimeout(() => resolve('still open'), 15_000).unref())]);
    expect(code).toBe(CloseCode.overBudget);
    expect(refused).toBe(0);
    await expect(bystander.call('get_my_videos')).resolves.toHaveLength(3);
    latencies.sort((a, b) => a - b);
    // Generous (a loaded machine): the bystander's calls never waited behind the neighbour's for long.
    expect(latencies[Math.floor(latencies.length * 0.9)]!).toBeLessThan(500);
  });
});
