import { describe, expect, it } from 'vitest';
import { VersionConflictError } from '../../protocol/errors.js';
import type { StoreContext } from './object-store-context.js';

/**
 * Writes issued together, without awaiting one another (what one event-loop turn of a busy server does; a
 * store may group them into one commit): each takes effect in the order issued, each gets its own answer,
 * and a write refused among them refuses nothing else.
 */
export function togetherContract({ store: current }: StoreContext): void {
  const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

  describe('writes issued together', () => {
    it('apply in the order issued, each with its own version and seq', async () => {
      const store = current();
      const a = ['youtube_videos', 'a'];
      const b = ['youtube_videos', 'b'];
      const results = await Promise.all([
        store.put(a, 'Video', bytes(1)),
        store.put(b, 'Video', bytes(2)),
        store.put(a, 'Video', bytes(3)),
        store.delete(b),
        store.put(a, 'Video', bytes(4)),
      ]);
      expect(results).toEqual([{ version: 1, seq: 1 }, { version: 1, seq: 2 }, { version: 2, seq: 3 }, { version: 2, seq: 4 }, { version: 3, seq: 5 }]);
      expect(Array.from((await store.get(a))!.state)).toEqual([4]);
      expect(await store.get(b)).toBeUndefined();
      expect((await store.changes(0, 10)).map((c) => [c.address[1], c.seq, c.state === null])).toEqual([['b', 4, true], ['a', 5, false]]);
    });

    it('refuse a conditional write alone: the writes around it still happen', async () => {
      const store = current();
      const a = ['youtube_videos', 'a'];
      const outcomes = await Promise.allSettled([
        store.put(a, 'Video', bytes(1), { ifVersion: 0 }),
        store.put(a, 'Video', bytes(2), { ifVersion: 0 }),
        store.put(a, 'Video', bytes(3), { ifVersion: 1 }),
        store.delete(['youtube_videos', 'none']),
      ]);
      expect(outcomes[0]).toEqual({ status: 'fulfilled', value: { version: 1, seq: 1 } });
      expect(outcomes[1]!.status).toBe('rejected');
      expect((outcomes[1] as PromiseRejectedResult).reason).toBeInstanceOf(VersionConflictError);
      expect(((outcomes[1] as PromiseRejectedResult).reason as VersionConflictError).current).toBe(1);
      expect(outcomes[2]).toEqual({ status: 'fulfilled', value: { version: 2, seq: 2 } });
      expect(outcomes[3]).toEqual({ status: 'fulfilled', value: undefined });
      expect(await store.seq()).toBe(2);
    });

    it('mix object writes and call commits, each answered as if alone', async () => {
      const store = current();
      const now = 1_700_000_000_000;
      const [put, first, second] = await Promise.all([
        store.put(['youtube_videos', 'a'], 'Video', bytes(1)),
        store.commitCalls({ outcomes: [], forget: [], claims: [{ principal: 'u', key: 'k', owner: 'run1', expiresAt: now + 1000 }] }),
        store.commitCalls({ outcomes: [{ principal: 'u', key: 'k', outcome: bytes(7) }], forget: [], claims: [{ principal: 'u', key: 'k', owner: 'run2', expiresAt: now + 2000 }] }),
      ]);
      expect(put).toEqual({ version: 1, seq: 1 });
      expect(first).toEqual([undefined]);
      expect(second).toHaveLength(1);
      expect(second[0]!.owner).toBe('run1');
      expect(Array.from(second[0]!.outcome!)).toEqual([7]);
    });
  });
}
