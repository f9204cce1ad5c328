import { describe, expect, it } from 'vitest';
import type { CallRecord } from '../../server/store/types.js';
import type { StoreContext } from './object-store-context.js';

/** Call records: what makes a call re-sent after a reconnect run once. */
export function callsContract({ store: current }: StoreContext): void {
  /** A record with its outcome as a plain array: implementations may hand back Buffers. */
  const plain = (r: CallRecord | undefined) => r && { ...r, outcome: r.outcome && Array.from(r.outcome) };

  describe('call records', () => {
    it('lets the first claim of a key win; a second sees the record, untouched', async () => {
      const store = current();
      expect(await store.claimCall('editor', 'k1', 'run-a', 5000)).toBeUndefined();
      expect(plain(await store.claimCall('editor', 'k1', 'run-b', 9000))).toEqual({ owner: 'run-a', outcome: null, expiresAt: 5000 });
      expect(plain(await store.claimCall('editor', 'k1', 'run-c', 1))).toEqual({ owner: 'run-a', outcome: null, expiresAt: 5000 });
    });

    it('returns the outcome to a claim after the call finished', async () => {
      const store = current();
      await store.claimCall('editor', 'k1', 'run-a', 5000);
      await store.finishCall('editor', 'k1', Uint8Array.of(0x92, 1, 2));
      const found = await store.claimCall('editor', 'k1', 'run-b', 5000);
      expect(found?.outcome).toBeInstanceOf(Uint8Array);
      expect(plain(found)).toEqual({ owner: 'run-a', outcome: [0x92, 1, 2], expiresAt: 5000 });
    });

    it('keeps keys apart per principal, and principals apart per key', async () => {
      const store = current();
      expect(await store.claimCall('editor', 'k', 'run', 5000)).toBeUndefined();
      expect(await store.claimCall('guest', 'k', 'run', 5000)).toBeUndefined();
      expect(await store.claimCall('editor', 'k2', 'run', 5000)).toBeUndefined();
      // No separator to confuse: a principal and key that concatenate alike are still two.
      expect(await store.claimCall('a', 'bc', 'run', 5000)).toBeUndefined();
      expect(await store.claimCall('ab', 'c', 'run', 5000)).toBeUndefined();
      await store.finishCall('guest', 'k', Uint8Array.of(7));
      expect(plain(await store.claimCall('editor', 'k', 'run', 5000))?.outcome).toBeNull();
    });

    it('has exactly one winner when two claims of a key race', async () => {
      const store = current();
      const results = await Promise.all([store.claimCall('editor', 'race', 'run-a', 5000), store.claimCall('editor', 'race', 'run-b', 5000)]);
      expect(results.filter((r) => r === undefined)).toHaveLength(1);
      const loser = results.find((r) => r !== undefined)!;
      const winner = results[0] === undefined ? 'run-a' : 'run-b';
      expect(plain(loser)).toEqual({ owner: winner, outcome: null, expiresAt: 5000 });
    });

    it('keeps its own copy of an outcome', async () => {
      const store = current();
      await store.claimCall('editor', 'k', 'run', 5000);
      const outcome = Uint8Array.of(1, 2, 3);
      await store.finishCall('editor', 'k', outcome);
      outcome.fill(0);
      (await store.claimCall('editor', 'k', 'run', 5000))!.outcome!.fill(0xff);
      expect(plain(await store.claimCall('editor', 'k', 'run', 5000))?.outcome).toEqual([1, 2, 3]);
    });

    it('finishes nothing for a key never claimed', async () => {
      const store = current();
      await store.finishCall('editor', 'never', Uint8Array.of(1));
      expect(await store.claimCall('editor', 'never', 'run', 5000)).toBeUndefined();
    });

    it('prunes the records expired before now, and only those', async () => {
      const store = current();
      await store.claimCall('editor', 'early', 'run', 1000);
      await store.claimCall('editor', 'late', 'run', 3000);
      await store.claimCall('guest', 'done', 'run', 1500);
      await store.finishCall('guest', 'done', Uint8Array.of(1));
      expect(await store.pruneCalls(1000)).toBe(0); // expiring exactly now: kept
      expect(await store.pruneCalls(2000)).toBe(2);
      expect(await store.claimCall('editor', 'early', 'run-2', 9000)).toBeUndefined();
      expect(await store.claimCall('guest', 'done', 'run-2', 9000)).toBeUndefined();
      expect(plain(await store.claimCall('editor', 'late', 'run-2', 9000))).toEqual({ owner: 'run', outcome: null, expiresAt: 3000 });
      expect(await store.pruneCalls(2000)).toBe(0);
    });

    it('commits a turn of claims, outcomes and forgets as one step, claims answered in order', async () => {
      const store = current();
      expect(await store.claimCall('editor', 'done', 'run-a', 5000)).toBeUndefined();
      expect(await store.claimCall('editor', 'acked', 'run-a', 5000)).toBeUndefined();
      const found = await store.commitCalls({
        outcomes: [{ principal: 'editor', key: 'done', outcome: Uint8Array.of(9) }],
        forget: [{ principal: 'editor', key: 'acked' }, { principal: 'editor', key: 'never-claimed' }],
        claims: [
          { principal: 'editor', key: 'fresh', owner: 'run-b', expiresAt: 6000 },
          { principal: 'editor', key: 'done', owner: 'run-b', expiresAt: 6000 },
          { principal: 'guest', key: 'fresh', owner: 'run-b', expiresAt: 6000 },
          { principal: 'editor', key: 'fresh', owner: 'run-c', expiresAt: 7000 },
        ],
      });
      expect(found.map(plain)).toEqual([
        undefined,
        { owner: 'run-a', outcome: [9], expiresAt: 5000 },
        undefined,
        // The first claim of a key in one commit wins; the second sees it.
        { owner: 'run-b', outcome: null, expiresAt: 6000 },
      ]);
      // Forgotten: a claim of it now wins again.
      expect(await store.claimCall('editor', 'acked', 'run-d', 9000)).toBeUndefined();
      expect(await store.claimCall('editor', 'never-claimed', 'run-d', 9000)).toBeUndefined();
    });

    it('stores no outcome for a key a commit never claimed, and keeps its own copy of each', async () => {
      const store = current();
      await store.claimCall('editor', 'k', 'run', 5000);
      const outcome = Uint8Array.of(1, 2, 3);
      expect(await store.commitCalls({ outcomes: [{ principal: 'editor', key: 'k', outcome }, { principal: 'editor', key: 'ghost', outcome }], forget: [], claims: [] })).toEqual([]);
      outcome.fill(0);
      expect(plain(await store.claimCall('editor', 'k', 'run-2', 5000))?.outcome).toEqual([1, 2, 3]);
      expect(await store.claimCall('editor', 'ghost', 'run-2', 5000)).toBeUndefined();
    });

    it('prunes in a commit before it claims', async () => {
      const store = current();
      await store.claimCall('editor', 'old', 'run', 1000);
      await store.claimCall('guest', 'kept', 'run', 3000);
      const found = await store.commitCalls({
        outcomes: [], forget: [], pruneBefore: 2000,
        claims: [{ principal: 'editor', key: 'old', owner: 'run-2', expiresAt: 9000 }, { principal: 'guest', key: 'kept', owner: 'run-2', expiresAt: 9000 }],
      });
      expect(found.map(plain)).toEqual([undefined, { owner: 'run', outcome: null, expiresAt: 3000 }]);
    });

    it('has exactly one winner when two commits claim the same key', async () => {
      const store = current();
      const claim = (owner: string) => store.commitCalls({ outcomes: [], forget: [], claims: [{ principal: 'editor', key: 'race', owner, expiresAt: 5000 }] });
      const [a, b] = await Promise.all([claim('run-a'), claim('run-b')]);
      expect([a[0], b[0]].filter((r) => r === undefined)).toHaveLength(1);
    });
  });
}
