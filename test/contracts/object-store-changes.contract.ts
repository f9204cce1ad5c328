import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../../protocol/json-value.js';
import type { StoredChange } from '../../server/store/types.js';
import type { StoreContext } from './object-store-context.js';

/** The change sequence, prefix listing, tombstone pruning and epoch: what a resuming client is answered from. */
export function changesContract({ store: current, clock: currentClock, factory }: StoreContext): void {
  const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
  /** A change with its state as a plain array (or null): implementations may hand back Buffers. */
  const plain = (c: StoredChange) => ({ address: c.address, type: c.type, version: c.version, seq: c.seq, state: c.state && Array.from(c.state) });

  describe('change sequence', () => {
    it('starts at seq 0 and horizon 0, with no changes', async () => {
      const store = current();
      expect(await store.seq()).toBe(0);
      expect(await store.horizon()).toBe(0);
      expect(await store.changes(0, 100)).toEqual([]);
    });

    it('gives every put and deletion the next seq, store-wide, and none to a deletion of nothing', async () => {
      const store = current();
      expect(await store.put(['a'], 'T', bytes(1))).toEqual({ version: 1, seq: 1 });
      expect(await store.put(['b'], 'T', bytes(2))).toEqual({ version: 1, seq: 2 });
      expect(await store.put(['a'], 'T', bytes(3))).toEqual({ version: 2, seq: 3 });
      expect(await store.delete(['b'])).toEqual({ version: 2, seq: 4 });
      expect(await store.delete(['b'])).toBeUndefined();
      expect(await store.delete(['never'])).toBeUndefined();
      expect(await store.seq()).toBe(4);
      expect(await store.put(['b'], 'T', bytes(4))).toEqual({ version: 3, seq: 5 });
      expect((await store.get(['a']))?.seq).toBe(3);
      expect((await store.list('T')).map((o) => o.seq)).toEqual([3, 5]);
    });

    it('reports, from any point, each object changed since once, with its latest change, in seq order', async () => {
      const store = current();
      // A script of puts and deletions; the expected answer for every `since` is worked out from its log.
      const log: { key: string; change: StoredChange }[] = [];
      const put = async (address: JsonValue[], n: number) => {
        const { version, seq } = await store.put(address, 'T', bytes(n));
        log.push({ key: JSON.stringify(address), change: { address, type: 'T', version, seq, state: bytes(n) } });
      };
      const del = async (address: JsonValue[]) => {
        const { version, seq } = (await store.delete(address))!;
        log.push({ key: JSON.stringify(address), change: { address, type: 'T', version, seq, state: null } });
      };
      await put(['a'], 1);
      await put(['b', 1], 2);
      await put(['a'], 3);
      await put(['c', { k: true }], 4);
      await del(['b', 1]);
      await put(['d'], 5);
      await del(['a']);
      await put(['a'], 6);
      await put(['d'], 7);
      await del(['c', { k: true }]);
      const last = await store.seq();
      expect(last).toBe(10);
      for (let since = 0; since <= last + 1; since++) {
        const latest = new Map<string, StoredChange>();
        for (const { key, change } of log) latest.set(key, change);
        const expected = [...latest.values()].filter((c) => c.seq > since).sort((x, y) => x.seq - y.seq);
        expect((await store.changes(since, 100)).map(plain), `since ${since}`).toEqual(expected.map(plain));
      }
    });

    it('shows a deletion as a tombstone: state null, the deletion version and seq, its type', async () => {
      const store = current();
      await store.put(['gone'], 'Doc', bytes(1));
      await store.delete(['gone']);
      expect((await store.changes(0, 10)).map(plain)).toEqual([{ address: ['gone'], type: 'Doc', version: 2, seq: 2, state: null }]);
    });

    it('stops at limit, so a caller pages through by the last seq it got', async () => {
      const store = current();
      for (let n = 0; n < 7; n++) await store.put(['p', n], 'T', bytes(n));
      await store.put(['p', 0], 'T', bytes(9));
      const seen: number[] = [];
      let since = 0;
      for (let page = await store.changes(since, 3); page.length > 0; page = await store.changes(since, 3)) {
        expect(page.length).toBeLessThanOrEqual(3);
        seen.push(...page.map((c) => c.seq));
        since = page.at(-1)!.seq;
      }
      expect(seen).toEqual([2, 3, 4, 5, 6, 7, 8]); // ['p', 0] appears once, as its latest change
      expect(await store.changes(0, 0)).toEqual([]);
    });
  });

  describe('listing under a prefix', () => {
    const under = async (prefix: JsonValue[], limit = 100) => (await current().listUnder(prefix, limit)).map((o) => o.address);

    it('lists the live objects under a prefix, in the order their addresses were first put', async () => {
      const store = current();
      await store.put(['videos', 'b'], 'V', bytes(1));
      await store.put(['docs', 'x'], 'D', bytes(2));
      await store.put(['videos', 'a', 'comments'], 'C', bytes(3));
      await store.put(['videos', 'gone'], 'V', bytes(4));
      await store.put(['videos', 'b'], 'V', bytes(5)); // an update does not move it
      await store.delete(['videos', 'gone']);
      const listed = await store.listUnder(['videos'], 100);
      expect(listed.map((o) => [o.address, o.type, o.version, o.seq, Array.from(o.state)])).toEqual([
        [['videos', 'b'], 'V', 2, 5, [5]],
        [['videos', 'a', 'comments'], 'C', 1, 3, [3]],
      ]);
      expect(await under(['videos'], 1)).toEqual([['videos', 'b']]);
      expect(await under(['nothing'])).toEqual([]);
    });

    it('counts an address as under itself, and lists everything under the empty prefix', async () => {
      const store = current();
      await store.put(['a', 'b'], 'T', bytes(1));
      await store.put(['a'], 'T', bytes(2));
      await store.put(['z'], 'T', bytes(3));
      expect(await under(['a', 'b'])).toEqual([['a', 'b']]);
      expect(await under(['a'])).toEqual([['a', 'b'], ['a']]);
      expect(await under([])).toEqual([['a', 'b'], ['a'], ['z']]);
      expect(await under([], 2)).toEqual([['a', 'b'], ['a']]);
    });

    it('takes no false prefix: ["a","b"] is not under ["a","bc"] nor the other way, nor 1 under 12', async () => {
      const store = current();
      for (const address of [['a', 'bc'], ['a', 'b,c'], ['a', 'b"'], ['ab'], ['n', 12], ['n', 1.5], ['l', [1, 2]], ['m', { k: 1, j: 2 }]] as JsonValue[][]) {
        await store.put(address, 'T', bytes(0));
      }
      expect(await under(['a', 'b'])).toEqual([]);
      expect(await under(['a', 'bc', 'd'])).toEqual([]);
      expect(await under(['a'])).toEqual([['a', 'bc'], ['a', 'b,c'], ['a', 'b"']]);
      expect(await under(['n', 1])).toEqual([]);
      expect(await under(['l', [1]])).toEqual([]);
      expect(await under(['m', { k: 1 }])).toEqual([]);
    });

    it('compares non-string elements as JSON values, map key order ignored', async () => {
      const store = current();
      await store.put(['n', 1, true, null, 'x'], 'T', bytes(1));
      await store.put(['n', 1, false], 'T', bytes(2));
      await store.put(['m', { a: 1, b: [1, { c: 2, d: 3 }] }, 'y'], 'T', bytes(3));
      await store.put(['n', '1', true], 'T', bytes(4)); // "1" is not 1
      expect(await under(['n', 1])).toEqual([['n', 1, true, null, 'x'], ['n', 1, false]]);
      expect(await under(['n', 1, true, null])).toEqual([['n', 1, true, null, 'x']]);
      expect(await under(['m', { b: [1, { d: 3, c: 2 }], a: 1 }])).toEqual([['m', { a: 1, b: [1, { c: 2, d: 3 }] }, 'y']]);
    });
  });

  describe('tombstone pruning', () => {
    it('drops only tombstones older than before, and raises the horizon to the highest seq dropped', async () => {
      const store = current();
      const clock = currentClock();
      clock.set(1000);
      await store.put(['live'], 'T', bytes(1));
      await store.put(['old'], 'T', bytes(2));
      const old = (await store.delete(['old']))!;
      clock.set(2000);
      await store.put(['new'], 'T', bytes(3));
      await store.delete(['new']);
      expect(await store.pruneTombstones(1000)).toBe(0); // deleted at 1000 is not older than 1000
      expect(await store.pruneTombstones(1500)).toBe(1);
      expect(await store.horizon()).toBe(old.seq);
      expect((await store.changes(0, 100)).map((c) => [c.address, c.state === null])).toEqual([[['live'], false], [['new'], true]]);
      expect(await store.get(['live'])).toMatchObject({ version: 1 });
      expect(await store.pruneTombstones(1500)).toBe(0);
      expect(await store.pruneTombstones(3000)).toBe(1);
      expect(await store.horizon()).toBe(5);
      expect(await store.seq()).toBe(5);
    });

    it('never lowers seq nor hands one out twice, even after dropping the latest change', async () => {
      const store = current();
      await store.put(['a'], 'T', bytes(1));
      await store.delete(['a']);
      currentClock().set(currentClock().now() + 1);
      expect(await store.pruneTombstones(currentClock().now())).toBe(1);
      expect(await store.seq()).toBe(2);
      expect(await store.horizon()).toBe(2);
      expect(await store.changes(0, 10)).toEqual([]);
      // Its tombstone gone, a re-created object starts its versions again; its seq still goes on.
      expect(await store.put(['a'], 'T', bytes(2))).toEqual({ version: 1, seq: 3 });
    });

    it('never lowers the horizon when a later prune drops an older seq (the clock stepped back)', async () => {
      const store = current();
      const clock = currentClock();
      clock.set(3000);
      await store.put(['x'], 'T', bytes(1));
      await store.delete(['x']); // seq 2, at 3000
      clock.set(1000);
      await store.put(['y'], 'T', bytes(1));
      await store.delete(['y']); // seq 4, at 1000
      expect(await store.pruneTombstones(2000)).toBe(1);
      expect(await store.horizon()).toBe(4);
      expect(await store.pruneTombstones(4000)).toBe(1);
      expect(await store.horizon()).toBe(4);
    });

    it('prunes nothing in a store without tombstones, leaving the horizon at 0', async () => {
      const store = current();
      await store.put(['a'], 'T', bytes(1));
      expect(await store.pruneTombstones(Number.MAX_SAFE_INTEGER)).toBe(0);
      expect(await store.horizon()).toBe(0);
    });
  });

  describe('epoch', () => {
    it('has an epoch, the same on every call and after writes, and another store has another', async () => {
      const store = current();
      const epoch = await store.epoch();
      expect(typeof epoch).toBe('string');
      expect(epoch.length).toBeGreaterThanOrEqual(16);
      await store.put(['a'], 'T', bytes(1));
      await store.pruneTombstones(Number.MAX_SAFE_INTEGER);
      expect(await store.epoch()).toBe(epoch);
      const other = await factory(currentClock());
      try {
        expect(await other.epoch()).not.toBe(epoch);
      } finally {
        await other.close();
      }
    });
  });
}
