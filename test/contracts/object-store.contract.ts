import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DelegationRecord, ObjectStore } from '../../server/store/types.js';
import { callsContract } from './object-store-calls.contract.js';
import { changesContract } from './object-store-changes.contract.js';
import { conditionalContract } from './object-store-conditional.contract.js';
import { ManualClock, type StoreFactory } from './object-store-context.js';
import { togetherContract } from './object-store-together.contract.js';

/**
 * The `ObjectStore` contract, written against the interface only. Every implementation runs it:
 * `objectStoreContract('MemoryStore', (clock) => new MemoryStore({ clock }))`. `factory` gives a fresh, empty
 * store per test, stamping deletions with the clock it is given; the suite closes it afterwards.
 */
export function objectStoreContract(name: string, factory: StoreFactory): void {
  describe(`${name} (ObjectStore contract)`, () => {
    let store: ObjectStore;
    let clock: ManualClock;
    beforeEach(async () => {
      clock = new ManualClock();
      store = await factory(clock);
    });
    afterEach(async () => {
      await store.close();
    });
    const context = { store: () => store, clock: () => clock, factory };

    const video = ['youtube_videos', 'x'];
    const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
    /** Stored bytes compared as plain arrays: an implementation may hand back a Buffer or another view. */
    const stateOf = async (address: unknown[]) => {
      const found = await store.get(address as never);
      return found && Array.from(found.state);
    };

    describe('objects', () => {
      it('returns what was put, with version 1', async () => {
        expect(await store.put(video, 'Video', bytes(0x81, 0xa1, 0x61, 0x01))).toEqual({ version: 1, seq: 1 });
        const found = await store.get(video);
        expect(found).toMatchObject({ address: video, type: 'Video', version: 1 });
        expect(found!.state).toBeInstanceOf(Uint8Array);
        expect(Array.from(found!.state)).toEqual([0x81, 0xa1, 0x61, 0x01]);
      });

      it('holds any bytes, empty and large ones included, without reading them', async () => {
        const large = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff);
        await store.put(['a'], 'T', new Uint8Array(0));
        await store.put(['b'], 'T', large);
        await store.put(['c'], 'T', bytes(0xc1)); // never valid msgpack: the store must not care
        expect(await stateOf(['a'])).toEqual([]);
        expect(await stateOf(['b'])).toEqual(Array.from(large));
        expect(await stateOf(['c'])).toEqual([0xc1]);
      });

      it('stores the bytes of a view, not the whole buffer behind it', async () => {
        const buffer = bytes(9, 9, 1, 2, 3, 9);
        await store.put(video, 'Video', buffer.subarray(2, 5));
        expect(await stateOf(video)).toEqual([1, 2, 3]);
      });

      it('keeps its own copy: changing the bytes given to put or returned by get changes nothing stored', async () => {
        const given = bytes(1, 2, 3);
        await store.put(video, 'Video', given);
        given[0] = 0xff;
        (await store.get(video))!.state[1] = 0xff;
        expect(await stateOf(video)).toEqual([1, 2, 3]);
      });

      it('keeps its own copy of a Buffer view too (what msgpackr returns), whose slice() is no copy', async () => {
        const whole = Buffer.from([9, 1, 2, 3, 9]);
        await store.put(video, 'Video', whole.subarray(1, 4));
        whole.fill(0xff);
        expect(await stateOf(video)).toEqual([1, 2, 3]);
      });

      it('increases the version through updates, deletion and re-creation', async () => {
        expect((await store.put(video, 'Video', bytes(1))).version).toBe(1);
        expect((await store.put(video, 'Video', bytes(2))).version).toBe(2);
        expect((await store.get(video))?.version).toBe(2);
        expect((await store.delete(video))?.version).toBe(3);
        expect((await store.put(video, 'Video', bytes(3))).version).toBe(4);
        expect(await store.get(video)).toMatchObject({ version: 4 });
        expect(await stateOf(video)).toEqual([3]);
      });

      it('gets nothing for a deleted object or an address never put', async () => {
        await store.put(video, 'Video', bytes(1));
        await store.delete(video);
        expect(await store.get(video)).toBeUndefined();
        expect(await store.get(['youtube_videos', 'never'])).toBeUndefined();
      });

      it('deletes nothing (undefined) when there is no object, and a deletion does not repeat', async () => {
        expect(await store.delete(['nothing', 'here'])).toBeUndefined();
        await store.put(video, 'Video', bytes(1));
        expect((await store.delete(video))?.version).toBe(2);
        expect(await store.delete(video)).toBeUndefined();
        expect((await store.put(video, 'Video', bytes(1))).version).toBe(3);
      });

      it('versions each address on its own', async () => {
        await store.put(['v', 1], 'Video', bytes(1));
        await store.put(['v', 1], 'Video', bytes(1));
        expect((await store.put(['v', 2], 'Video', bytes(1))).version).toBe(1);
        expect((await store.put(['v', '1'], 'Video', bytes(1))).version).toBe(1); // 1 and "1" are different elements
      });

      it('finds an address whatever the key order of a map inside it', async () => {
        await store.put(['docs', { a: 1, b: [2, { c: 3, d: 4 }] }], 'Doc', bytes(1));
        expect((await store.put(['docs', { b: [2, { d: 4, c: 3 }], a: 1 }], 'Doc', bytes(2))).version).toBe(2);
        expect(await stateOf(['docs', { b: [2, { d: 4, c: 3 }], a: 1 }])).toEqual([2]);
        expect(await store.get(['docs', { a: 1, b: [2, { c: 3 }] }])).toBeUndefined();
      });

      it('does not confuse an address with a longer or shorter one', async () => {
        await store.put(['a', 'b'], 'T', bytes(1));
        expect(await store.get(['a'])).toBeUndefined();
        expect(await store.get(['a', 'b', 'c'])).toBeUndefined();
      });

      it('lists the objects of a type in the order their addresses were first put', async () => {
        await store.put(['v', 'first'], 'Video', bytes(1));
        await store.put(['d', 'other'], 'Doc', bytes(9));
        await store.put(['v', 'second'], 'Video', bytes(2));
        await store.put(['v', 'third'], 'Video', bytes(3));
        await store.put(['v', 'first'], 'Video', bytes(4)); // an update does not move it
        await store.delete(['v', 'second']);
        const listed = await store.list('Video');
        expect(listed.map((o) => o.address)).toEqual([['v', 'first'], ['v', 'third']]);
        expect(listed.map((o) => [o.type, o.version, Array.from(o.state)])).toEqual([['Video', 2, [4]], ['Video', 1, [3]]]);
        expect((await store.list('Doc')).map((o) => o.address)).toEqual([['d', 'other']]);
        expect(await store.list('Nothing')).toEqual([]);
      });

      it('lists an object of a new type under that type only', async () => {
        await store.put(['x'], 'Old', bytes(1));
        expect((await store.put(['x'], 'New', bytes(2))).version).toBe(2);
        expect(await store.list('Old')).toEqual([]);
        expect((await store.list('New')).map((o) => o.version)).toEqual([2]);
        expect((await store.get(['x']))?.type).toBe('New');
      });
    });

    describe('issued capabilities', () => {
      const byId = (entries: { id: string }[]) => [...entries].sort((a, b) => a.id.localeCompare(b.id));

      it('remembers what was issued to whom, leaving out what has expired', async () => {
        await store.recordIssued('editor', [{ id: 'a', expiresAt: null }, { id: 'b', expiresAt: 10 }]);
        await store.recordIssued('guest', [{ id: 'c', expiresAt: 100 }]);
        expect(byId(await store.issuedTo('editor', 5))).toEqual([{ id: 'a', expiresAt: null }, { id: 'b', expiresAt: 10 }]);
        expect(byId(await store.issuedTo('editor', 10))).toHaveLength(2); // expiring exactly now: still valid
        expect(await store.issuedTo('editor', 11)).toEqual([{ id: 'a', expiresAt: null }]);
        expect(await store.issuedTo('guest', 0)).toEqual([{ id: 'c', expiresAt: 100 }]);
        expect(await store.issuedTo('nobody', 0)).toEqual([]);
      });

      it('records an id once per user, keeping the first record', async () => {
        await store.recordIssued('editor', [{ id: 'a', expiresAt: 10 }, { id: 'a', expiresAt: null }]);
        await store.recordIssued('editor', [{ id: 'a', expiresAt: 20 }]);
        await store.recordIssued('guest', [{ id: 'a', expiresAt: null }]);
        expect(await store.issuedTo('editor', 0)).toEqual([{ id: 'a', expiresAt: 10 }]);
        expect(await store.issuedTo('guest', 0)).toEqual([{ id: 'a', expiresAt: null }]);
      });

      it('accepts an empty batch', async () => {
        await store.recordIssued('editor', []);
        expect(await store.issuedTo('editor', 0)).toEqual([]);
      });

      it('prunes only records that expired before now, and says how many', async () => {
        await store.recordIssued('editor', [{ id: 'forever', expiresAt: null }, { id: 'old', expiresAt: 10 }, { id: 'now', expiresAt: 20 }]);
        await store.recordIssued('guest', [{ id: 'old2', expiresAt: 5 }]);
        expect(await store.pruneIssued(20)).toBe(2);
        expect(byId(await store.issuedTo('editor', 0))).toEqual([{ id: 'forever', expiresAt: null }, { id: 'now', expiresAt: 20 }]);
        expect(await store.issuedTo('guest', 0)).toEqual([]);
        expect(await store.pruneIssued(20)).toBe(0);
        // A pruned id may be recorded again (a capability re-sent after its record was dropped).
        await store.recordIssued('guest', [{ id: 'old2', expiresAt: 50 }]);
        expect(await store.issuedTo('guest', 0)).toEqual([{ id: 'old2', expiresAt: 50 }]);
      });
    });

    describe('delegations', () => {
      const record = (from: string, to: string, n: number, expiresAt: number | null = null): DelegationRecord => ({
        from, to, scope: ['youtube_videos', `v${n}`, { mode: 'update' }], revocationId: `r${n}`, bound: n % 2 === 0, at: 1000 + n,
        token: bytes(0xc7, n, 1, 2, 3), expiresAt,
      });
      /** Tokens compared as plain arrays: an implementation may hand back a Buffer. */
      const plain = (records: DelegationRecord[]) => records.map((r) => ({ ...r, token: Array.from(r.token) }));

      it('returns delegations filtered by from and to, oldest first, with the token delivered and its expiry', async () => {
        const all = [record('editor', 'guest', 1), record('admin', 'guest', 2, 5000), record('editor', 'editor2', 3), record('editor', 'guest', 4)];
        for (const r of all) await store.recordDelegation(r);
        expect(plain(await store.delegations({}))).toEqual(plain(all));
        expect(plain(await store.delegations({ from: 'editor' }))).toEqual(plain([all[0]!, all[2]!, all[3]!]));
        expect(plain(await store.delegations({ to: 'guest' }))).toEqual(plain([all[0]!, all[1]!, all[3]!]));
        expect(plain(await store.delegations({ from: 'editor', to: 'guest' }))).toEqual(plain([all[0]!, all[3]!]));
        expect(await store.delegations({ from: 'guest' })).toEqual([]);
        expect((await store.delegations({ to: 'guest' }))[0]!.token).toBeInstanceOf(Uint8Array);
      });

      it('keeps every delegation, the same one twice included', async () => {
        await store.recordDelegation(record('a', 'b', 1));
        await store.recordDelegation(record('a', 'b', 1));
        expect(await store.delegations({ from: 'a' })).toHaveLength(2);
      });

      it('keeps its own copy of the token', async () => {
        const given = record('a', 'b', 1);
        await store.recordDelegation(given);
        given.token.fill(0);
        (await store.delegations({ to: 'b' }))[0]!.token.fill(0xff);
        expect(Array.from((await store.delegations({ to: 'b' }))[0]!.token)).toEqual([0xc7, 1, 1, 2, 3]);
      });

      it('leaves out, when asked with now, delegations expired at now (one expiring exactly now is kept)', async () => {
        await store.recordDelegation(record('a', 'guest', 1, 100));
        await store.recordDelegation(record('a', 'guest', 2, null));
        await store.recordDelegation(record('a', 'guest', 3, 200));
        expect((await store.delegations({ to: 'guest', now: 100 })).map((r) => r.revocationId)).toEqual(['r1', 'r2', 'r3']);
        expect((await store.delegations({ to: 'guest', now: 101 })).map((r) => r.revocationId)).toEqual(['r2', 'r3']);
        expect((await store.delegations({ now: 201 })).map((r) => r.revocationId)).toEqual(['r2']);
        expect(await store.delegations({ to: 'guest' })).toHaveLength(3);
      });

      it('prunes the delegations expired before now, and only those', async () => {
        await store.recordDelegation(record('a', 'guest', 1, 100));
        await store.recordDelegation(record('a', 'guest', 2, null));
        await store.recordDelegation(record('a', 'guest', 3, 200));
        expect(await store.pruneDelegations(100)).toBe(0);
        expect(await store.pruneDelegations(150)).toBe(1);
        expect((await store.delegations({})).map((r) => r.revocationId)).toEqual(['r2', 'r3']);
        expect(await store.pruneDelegations(150)).toBe(0);
        expect(await store.pruneDelegations(Number.MAX_SAFE_INTEGER)).toBe(1);
        expect((await store.delegations({})).map((r) => r.revocationId)).toEqual(['r2']);
      });
    });

    describe('settings', () => {
      it('reads back what was set, the last value winning', async () => {
        expect(await store.getSetting('capability-keys')).toBeUndefined();
        await store.setSetting('capability-keys', '[1]');
        await store.setSetting('jwt-secret', '');
        await store.setSetting('capability-keys', '[2]');
        expect(await store.getSetting('capability-keys')).toBe('[2]');
        expect(await store.getSetting('jwt-secret')).toBe('');
      });
    });

    it('has a revocation set of its own, empty at first', async () => {
      expect(store.revocations.size).toBe(0);
      await store.revocations.add([{ id: 'r', expiresAt: null }]);
      expect(store.revocations.has('r')).toBe(true);
    });

    it('closes twice without complaint', async () => {
      await store.close();
      await store.close();
    });

    changesContract(context);
    callsContract(context);
    conditionalContract(context);
    togetherContract(context);
  });
}
