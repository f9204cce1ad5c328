import { describe, expect, it } from 'vitest';
import { CapsyncError, VersionConflictError } from '../../protocol/errors.js';
import type { StoreContext } from './object-store-context.js';

/**
 * Conditional writes: `put(..., { ifVersion })` writes only if the object is at that version now (0: none
 * live), else fails with `VersionConflictError` carrying the current version, and writes nothing. The
 * optional `update` (a read-modify-write in one atomic step) is checked when the store has it.
 */
export function conditionalContract({ store: current }: StoreContext): void {
  const video = ['youtube_videos', 'x'];
  const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);
  const conflict = async (write: Promise<unknown>): Promise<VersionConflictError> => {
    const error = await write.then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(VersionConflictError);
    expect((error as CapsyncError).code).toBe('ERR_VERSION_CONFLICT');
    return error as VersionConflictError;
  };

  describe('conditional writes', () => {
    it('writes when the version matches, and refuses a stale one with the current version, writing nothing', async () => {
      const store = current();
      expect(await store.put(video, 'Video', bytes(1), { ifVersion: 0 })).toEqual({ version: 1, seq: 1 });
      expect(await store.put(video, 'Video', bytes(2), { ifVersion: 1 })).toEqual({ version: 2, seq: 2 });
      expect((await conflict(store.put(video, 'Video', bytes(3), { ifVersion: 1 }))).current).toBe(2);
      expect((await conflict(store.put(video, 'Video', bytes(3), { ifVersion: 0 }))).current).toBe(2);
      const found = await store.get(video);
      expect([found!.version, Array.from(found!.state)]).toEqual([2, [2]]);
      expect(await store.seq()).toBe(2);
    });

    it('counts a deleted object as none (0), while a re-creation continues its versions', async () => {
      const store = current();
      await store.put(video, 'Video', bytes(1));
      await store.delete(video);
      expect((await conflict(store.put(video, 'Video', bytes(2), { ifVersion: 2 }))).current).toBe(0);
      expect(await store.put(video, 'Video', bytes(2), { ifVersion: 0 })).toEqual({ version: 3, seq: 3 });
      expect((await conflict(store.put(['missing'], 'Video', bytes(1), { ifVersion: 4 }))).current).toBe(0);
    });

    it('lets exactly one of many writers from the same version win', async () => {
      const store = current();
      await store.put(video, 'Video', bytes(0));
      const outcomes = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => store.put(video, 'Video', bytes(i + 1), { ifVersion: 1 })));
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
      expect((await store.get(video))!.version).toBe(2);
    });
  });

  describe('atomic update (when the store has one)', () => {
    it('reads, mutates and writes in one step; undefined writes nothing; a throw writes nothing', async () => {
      const store = current();
      if (store.update === undefined) return;
      expect(await store.update(video, (found) => (expect(found).toBeUndefined(), undefined))).toBeUndefined();
      await store.put(video, 'Video', bytes(1));
      const seen: number[] = [];
      const written = await store.update(video, (found) => {
        seen.push(found!.version, ...Array.from(found!.state));
        return { type: 'Video', state: bytes(found!.state[0]! + 1) };
      });
      expect(written).toEqual({ version: 2, seq: 2 });
      expect(seen).toEqual([1, 1]);
      await expect(store.update(video, () => { throw new CapsyncError('ERR_FORBIDDEN'); })).rejects.toMatchObject({ code: 'ERR_FORBIDDEN' });
      expect(await store.update(video, () => undefined)).toBeUndefined();
      const found = await store.get(video);
      expect([found!.version, Array.from(found!.state), await store.seq()]).toEqual([2, [2], 2]);
    });

    it('loses no increment among many concurrent updates', async () => {
      const store = current();
      if (store.update === undefined) return;
      await store.put(video, 'Video', bytes(0));
      await Promise.all(Array.from({ length: 50 }, () => store.update!(video, (found) => ({ type: 'Video', state: bytes(found!.state[0]! + 1) }))));
      const found = await store.get(video);
      expect([found!.version, found!.state[0]]).toEqual([51, 50]);
    });
  });
}
