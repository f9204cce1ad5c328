import { describe, expect, it } from 'vitest';
import { PushSlicer, type PushTarget } from '../../server/push-slices.js';

/** Targets that record what they were sent, and in which turn of the event loop. */
function targets(n: number, log: [number, number, string][], turn: { n: number }): PushTarget[] {
  return Array.from({ length: n }, (_, i) => ({ sendBytes: (bytes: Uint8Array) => log.push([turn.n, i, new TextDecoder().decode(bytes)]) }));
}

/** Counts turns of the event loop (each setImmediate callback that runs before ours is one turn's work). */
async function settle(slicer: PushSlicer, turn: { n: number }): Promise<void> {
  while (slicer.pending > 0) {
    await new Promise((resolve) => setImmediate(resolve));
    turn.n++;
  }
}

describe('PushSlicer (sliced fan-out)', () => {
  it('writes a push to an audience within one slice at once', () => {
    const log: [number, number, string][] = [];
    const slicer = new PushSlicer(10);
    slicer.send(targets(10, log, { n: 0 }), new TextEncoder().encode('a'));
    expect(log).toHaveLength(10);
    expect(slicer.pending).toBe(0);
  });

  it('writes a large audience in slices that yield to the event loop, each holder once', async () => {
    const log: [number, number, string][] = [];
    const turn = { n: 0 };
    const slicer = new PushSlicer(100);
    slicer.send(targets(1_000, log, turn), new TextEncoder().encode('a'));
    expect(log).toHaveLength(100); // the first slice at once, the rest later
    // Other work queued now (another connection's frame, say) runs before the push reached everyone.
    let sentWhenOtherWorkRan = -1;
    setImmediate(() => (sentWhenOtherWorkRan = log.length));
    await settle(slicer, turn);
    expect(sentWhenOtherWorkRan).toBeGreaterThanOrEqual(100);
    expect(sentWhenOtherWorkRan).toBeLessThan(1_000);
    expect(log.map(([, i]) => i)).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
  });

  it('keeps pushes in order for every holder: a later push waits behind one still being sliced', async () => {
    const log: [number, number, string][] = [];
    const turn = { n: 0 };
    const slicer = new PushSlicer(64);
    const audience = targets(300, log, turn);
    slicer.send(audience, new TextEncoder().encode('v1'));
    slicer.send(audience.slice(0, 5), new TextEncoder().encode('v2')); // small, but queued behind v1
    await settle(slicer, turn);
    for (let i = 0; i < 5; i++) expect(log.filter(([, j]) => j === i).map(([, , v]) => v)).toEqual(['v1', 'v2']);
    expect(log).toHaveLength(305);
  });
});
