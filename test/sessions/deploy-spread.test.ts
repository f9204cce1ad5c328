import { afterEach, describe, expect, it } from 'vitest';
import type { CapsyncClient } from '../../client/index.js';
import { CloseCode } from '../../server/index.js';
import { startDemo, type DemoHarness } from '../helpers.js';

let demo: DemoHarness | undefined;
afterEach(async () => {
  await demo?.close();
  demo = undefined;
});

describe('a deploy that spreads its closes (closeSpreadMs)', () => {
  it('closes every client with 1001 over the window, not in one instant, and serves the others meanwhile', async () => {
    const spreadMs = 600;
    demo = await startDemo({ closeSpreadMs: spreadMs });
    demo.server.callable('echo', (_ctx, value: unknown) => value);
    // Without reconnecting: what is measured is when the server sent each 1001.
    const clients = await Promise.all(Array.from({ length: 12 }, () => demo!.connectAs('editor', { reconnect: false })));
    const closedAt = new Map<CapsyncClient, number>();
    const codes = clients.map((c) => c.closed.then((info) => (closedAt.set(c, performance.now()), info.code)));
    const firstClosed = Promise.race(clients.map((c) => c.closed));
    const closing = demo.server.close();
    await firstClosed;
    // The ones not closed yet still answer calls: a deploy keeps serving while it drains.
    const open = clients.filter((c) => !closedAt.has(c));
    expect(open.length).toBeGreaterThan(5);
    expect(await Promise.all(open.map((c, i) => c.call('echo', i)))).toEqual(open.map((_, i) => i));
    await closing;
    demo = undefined;
    expect(await Promise.all(codes)).toEqual(clients.map(() => CloseCode.goingAway));
    const times = [...closedAt.values()].sort((a, b) => a - b);
    expect(times[times.length - 1]! - times[0]!).toBeGreaterThanOrEqual(spreadMs / 2);
    // Spread, not two bursts: the closes land in several distinct 50 ms slices of the window.
    expect(new Set(times.map((t) => Math.floor((t - times[0]!) / 50))).size).toBeGreaterThanOrEqual(4);
  });

  it('by default closes every client at once', async () => {
    demo = await startDemo();
    const clients = await Promise.all(Array.from({ length: 6 }, () => demo!.connectAs('editor', { reconnect: false })));
    const started = performance.now();
    await demo.server.close();
    demo = undefined;
    expect((await Promise.all(clients.map((c) => c.closed))).map((c) => c.code)).toEqual(clients.map(() => CloseCode.goingAway));
    // Well under any spread: close() did not wait between closes (a bound, not a timing claim).
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});
