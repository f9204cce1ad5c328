import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { framePush } from '../../server/node/listener.js';
import { PushSlicer, type PushTarget, type SharedPush } from '../../server/push-slices.js';

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
    const slicer = new PushSlicer({ maxPerSlice: 10, sliceMs: Infinity });
    slicer.send(targets(10, log, { n: 0 }), new TextEncoder().encode('a'));
    expect(log).toHaveLength(10);
    expect(slicer.pending).toBe(0);
  });

  it('writes a large audience in slices that yield to the event loop, each holder once', async () => {
    const log: [number, number, string][] = [];
    const turn = { n: 0 };
    const slicer = new PushSlicer({ maxPerSlice: 100, sliceMs: Infinity });
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
    const slicer = new PushSlicer({ maxPerSlice: 64, sliceMs: Infinity });
    const audience = targets(300, log, turn);
    slicer.send(audience, new TextEncoder().encode('v1'));
    slicer.send(audience.slice(0, 5), new TextEncoder().encode('v2')); // small, but queued behind v1
    await settle(slicer, turn);
    for (let i = 0; i < 5; i++) expect(log.filter(([, j]) => j === i).map(([, , v]) => v)).toEqual(['v1', 'v2']);
    expect(log).toHaveLength(305);
  });

  it('ends a slice when it has run sliceMs, however few holders it wrote', async () => {
    const log: [number, number, string][] = [];
    const turn = { n: 0 };
    // Each write takes 1 ms of this clock: a 4 ms slice writes 4 holders, whatever maxPerSlice says.
    let clock = 0;
    const slow = targets(10, log, turn).map((t) => ({ sendBytes: (b: Uint8Array) => ((clock += 1), t.sendBytes(b)) }));
    const slicer = new PushSlicer({ maxPerSlice: 1_000, minPerSlice: 1, sliceMs: 4, now: () => clock });
    slicer.send(slow, new TextEncoder().encode('a'));
    // 4 + 4 + 2: three slices, each in its own turn of the event loop.
    const sizes = [log.length];
    while (slicer.pending > 0) {
      await new Promise((resolve) => setImmediate(resolve));
      sizes.push(log.length);
    }
    expect(sizes).toEqual([4, 8, 10]);
    expect(log.map(([, i]) => i)).toEqual(Array.from({ length: 10 }, (_, i) => i));
  });

  it('writes at least minPerSlice holders per slice, however slow the clock says they were', () => {
    const log: [number, number, string][] = [];
    let clock = 0;
    const slow = targets(10, log, { n: 0 }).map((t) => ({ sendBytes: (b: Uint8Array) => ((clock += 100), t.sendBytes(b)) }));
    new PushSlicer({ maxPerSlice: 1_000, minPerSlice: 6, sliceMs: 4, now: () => clock }).send(slow, new TextEncoder().encode('a'));
    expect(log).toHaveLength(6);
  });

  it('writes a whole audience at once while the clock says the slice is young', () => {
    const log: [number, number, string][] = [];
    const slicer = new PushSlicer({ maxPerSlice: 100_000, sliceMs: 4, now: () => 0 });
    slicer.send(targets(5_000, log, { n: 0 }), new TextEncoder().encode('a'));
    expect(log).toHaveLength(5_000);
    expect(slicer.pending).toBe(0);
  });
});

describe('pre-framed fan-out (one frame built per push, written to every holder)', () => {
  it('hands every holder of a push the same shared push, so a frame built by the first is reused by the rest', async () => {
    const seen: SharedPush[] = [];
    let framings = 0;
    const holder = (): PushTarget => ({
      sendBytes: (_bytes, _alone, shared) => {
        if (shared === undefined) throw new Error('no shared push');
        if (shared.framed === undefined) {
          framings++;
          shared.framed = framePush(shared.bytes);
        }
        seen.push(shared);
      },
    });
    const slicer = new PushSlicer({ maxPerSlice: 100, sliceMs: Infinity });
    slicer.send(Array.from({ length: 1_000 }, holder), new Uint8Array([1, 2, 3]));
    while (slicer.pending > 0) await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toHaveLength(1_000);
    expect(new Set(seen).size).toBe(1);
    expect(new Set(seen.map((s) => s.framed)).size).toBe(1);
    expect(framings).toBe(1);
  });

  it.each([0, 1, 125, 126, 65_535, 65_536, 70_000])('frames %i bytes exactly as ws frames a server binary message', (n) => {
    const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff);
    // ws's own framing (lib/sender.js), which @types/ws does not declare.
    const { Sender } = createRequire(import.meta.url)('ws') as { Sender: { frame(data: Buffer, options: object): Buffer[] } };
    const expected = Buffer.concat(Sender.frame(Buffer.from(bytes), { fin: true, opcode: 2, mask: false, readOnly: true, rsv1: false }));
    expect(framePush(bytes).equals(expected)).toBe(true);
  });
});
