import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../server/store/memory.js';

// The MemoryStore copies small outcomes into shared slabs (server/store/memory.ts): each record must still
// read back exactly its own bytes, whatever the caller does with its buffer and whatever is stored after it.

function bytesOf(i: number): Uint8Array {
  // Sizes from 1 to 700 bytes: most go to a slab, the largest get arrays of their own.
  const n = 1 + ((i * 37) % 700);
  return Uint8Array.from({ length: n }, (_, j) => (i * 31 + j) & 0xff);
}

describe('MemoryStore call outcomes', () => {
  it('keeps each outcome intact across slabs, caller reuse, acknowledgements and prunes', async () => {
    const store = new MemoryStore({ clock: { now: () => 1_000 } });
    const count = 400;
    const keys = Array.from({ length: count }, (_, i) => ({ principal: `p${i % 7}`, key: `k${i}` }));
    await store.commitCalls({ outcomes: [], forget: [], claims: keys.map((k) => ({ ...k, owner: 'o', expiresAt: 10_000 })) });
    // One buffer the caller refills for every outcome, as a codec reuses its output buffer.
    const scratch = new Uint8Array(1024);
    for (let i = 0; i < count; i++) {
      const b = bytesOf(i);
      scratch.set(b);
      await store.commitCalls({ outcomes: [{ ...keys[i]!, outcome: scratch.subarray(0, b.length) }], forget: [], claims: [] });
      scratch.fill(0xee);
    }
    // Every other record acknowledged, then a prune that keeps the rest (none has expired).
    await store.commitCalls({ outcomes: [], forget: keys.filter((_, i) => i % 2 === 0), claims: [] });
    expect(await store.pruneCalls(2_000)).toBe(0);
    for (let i = 0; i < count; i++) {
      const found = await store.claimCall(keys[i]!.principal, keys[i]!.key, 'o2', 10_000);
      if (i % 2 === 0) {
        expect(found).toBeUndefined();
        continue;
      }
      expect(found?.owner).toBe('o');
      expect(Array.from(found!.outcome!)).toEqual(Array.from(bytesOf(i)));
      // What a claim returns is a copy: changing it does not change the record.
      found!.outcome!.fill(0);
      const again = await store.claimCall(keys[i]!.principal, keys[i]!.key, 'o2', 10_000);
      expect(Array.from(again!.outcome!)).toEqual(Array.from(bytesOf(i)));
    }
  });
});
