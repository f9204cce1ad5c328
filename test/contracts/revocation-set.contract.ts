import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RevocationEntry, RevocationSet } from '../../protocol/revocation.js';

/** A revocation set under test and how to release what it holds (a store, a connection). */
export interface RevocationSetSubject {
  readonly set: RevocationSet;
  close(): Promise<void>;
}

/**
 * The `RevocationSet` contract, written against the interface only. `factory` gives a fresh, empty set per
 * test; the suite calls `close()` afterwards.
 */
export function revocationSetContract(name: string, factory: () => RevocationSetSubject | Promise<RevocationSetSubject>): void {
  describe(`${name} (RevocationSet contract)`, () => {
    let subject: RevocationSetSubject;
    let set: RevocationSet;
    beforeEach(async () => {
      subject = await factory();
      set = subject.set;
    });
    afterEach(async () => {
      await subject.close();
    });

    /** Every batch a new subscriber hears, as lists of ids. */
    const listen = (): { batches: string[][]; stop: () => void } => {
      const batches: string[][] = [];
      const stop = set.subscribe((entries: readonly RevocationEntry[]) => batches.push(entries.map((e) => e.id)));
      return { batches, stop };
    };

    it('starts empty', () => {
      expect(set.size).toBe(0);
      expect(set.has('anything')).toBe(false);
    });

    it('has what was added, and counts it', async () => {
      await set.add([{ id: 'a', expiresAt: null }, { id: 'b', expiresAt: 1000 }]);
      expect(set.has('a')).toBe(true);
      expect(set.has('b')).toBe(true);
      expect(set.has('c')).toBe(false);
      expect(set.size).toBe(2);
    });

    it('adds idempotently: an id added twice counts once', async () => {
      await set.add([{ id: 'a', expiresAt: null }]);
      await set.add([{ id: 'a', expiresAt: null }, { id: 'a', expiresAt: 5 }]);
      expect(set.size).toBe(1);
    });

    it('tells subscribers only the fresh ids of a batch, and nothing for a batch of known ones', async () => {
      const heard = listen();
      await set.add([{ id: 'a', expiresAt: null }, { id: 'b', expiresAt: 10 }]);
      await set.add([{ id: 'a', expiresAt: null }, { id: 'c', expiresAt: null }, { id: 'c', expiresAt: null }]);
      await set.add([{ id: 'b', expiresAt: 10 }]);
      await set.add([]);
      expect(heard.batches).toEqual([['a', 'b'], ['c']]);
      heard.stop();
    });

    it('passes each fresh entry with its expiry', async () => {
      const entries: RevocationEntry[] = [];
      const stop = set.subscribe((batch) => entries.push(...batch));
      await set.add([{ id: 'a', expiresAt: 1234 }, { id: 'b', expiresAt: null }]);
      expect(entries).toEqual([{ id: 'a', expiresAt: 1234 }, { id: 'b', expiresAt: null }]);
      stop();
    });

    it('tells every subscriber, and no longer one that unsubscribed', async () => {
      const first = listen();
      const second = listen();
      await set.add([{ id: 'a', expiresAt: null }]);
      first.stop();
      await set.add([{ id: 'b', expiresAt: null }]);
      expect(first.batches).toEqual([['a']]);
      expect(second.batches).toEqual([['a'], ['b']]);
      first.stop(); // unsubscribing twice is harmless
      second.stop();
    });

    it('prunes only entries that expired before now, and says how many', async () => {
      await set.add([
        { id: 'forever', expiresAt: null },
        { id: 'old', expiresAt: 100 },
        { id: 'now', expiresAt: 200 },
        { id: 'later', expiresAt: 300 },
      ]);
      expect(await set.prune(200)).toBe(1);
      expect(['forever', 'old', 'now', 'later'].filter((id) => set.has(id))).toEqual(['forever', 'now', 'later']);
      expect(set.size).toBe(3);
      expect(await set.prune(200)).toBe(0);
      expect(await set.prune(Number.MAX_SAFE_INTEGER)).toBe(2);
      expect(set.has('forever')).toBe(true);
      expect(set.size).toBe(1);
    });

    it('starts every user at generation 0 and bumps one user at a time', async () => {
      expect(set.generation('alice')).toBe(0);
      expect(await set.bumpGeneration('alice')).toBe(1);
      expect(await set.bumpGeneration('alice')).toBe(2);
      expect(set.generation('alice')).toBe(2);
      expect(set.generation('bob')).toBe(0);
      expect(await set.bumpGeneration('bob')).toBe(1);
      // A generation is not a revoked id: the id set is untouched, and pruning never lowers a generation.
      expect(set.size).toBe(0);
      await set.prune(Number.MAX_SAFE_INTEGER);
      expect(set.generation('alice')).toBe(2);
    });

    it('tells generation subscribers every raise, and no longer one that unsubscribed', async () => {
      const heard: [string, number][] = [];
      const stop = set.subscribeGenerations((user, generation) => heard.push([user, generation]));
      const ids = listen();
      await set.bumpGeneration('alice');
      await set.bumpGeneration('bob');
      stop();
      await set.bumpGeneration('alice');
      expect(heard).toEqual([['alice', 1], ['bob', 1]]);
      expect(ids.batches).toEqual([]); // a raise is not an id batch
      ids.stop();
      stop(); // unsubscribing twice is harmless
    });

    it('announces a pruned id again when it is revoked again', async () => {
      await set.add([{ id: 'a', expiresAt: 100 }]);
      await set.prune(200);
      const heard = listen();
      await set.add([{ id: 'a', expiresAt: 300 }]);
      expect(heard.batches).toEqual([['a']]);
      expect(set.has('a')).toBe(true);
      heard.stop();
    });
  });
}
