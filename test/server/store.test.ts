import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../server/index.js';
import { tempDir } from '../helpers.js';

describe('the SQLite store', () => {
  it('versions an object through updates, deletion and re-creation', async () => {
    const store = new SqliteStore();
    const address = ['youtube_videos', 'x'];
    expect(await store.put(address, 'Video', { title: 'a' })).toBe(1);
    expect(await store.put(address, 'Video', { title: 'b' })).toBe(2);
    expect(await store.get(address)).toEqual({ address, type: 'Video', state: { title: 'b' }, version: 2 });
    expect(await store.delete(address)).toBe(3);
    expect(await store.get(address)).toBeUndefined();
    expect(await store.delete(address)).toBeUndefined();
    expect(await store.put(address, 'Video', { title: 'c' })).toBe(4);
    expect((await store.list('Video')).map((o) => o.state)).toEqual([{ title: 'c' }]);
    await store.close();
  });

  it('finds an address whatever the key order of a map inside it', async () => {
    const store = new SqliteStore();
    await store.put(['docs', { a: 1, b: 2 }], 'Doc', { n: 1 });
    expect((await store.get(['docs', { b: 2, a: 1 }]))?.state).toEqual({ n: 1 });
    await store.close();
  });

  it('keeps revocations across reopening and prunes those whose capability has expired', async () => {
    const dir = tempDir();
    try {
      const file = `${dir.path}/s.sqlite`;
      const first = new SqliteStore(file);
      const heard: string[] = [];
      first.revocations.subscribe((entries) => heard.push(...entries.map((e) => e.id)));
      await first.revocations.add([{ id: 'forever', expiresAt: null }, { id: 'short', expiresAt: 1000 }]);
      await first.revocations.add([{ id: 'forever', expiresAt: null }]);
      expect(heard).toEqual(['forever', 'short']);
      await first.close();
      const second = new SqliteStore(file);
      expect(second.revocations.has('forever')).toBe(true);
      expect(second.revocations.has('short')).toBe(true);
      expect(await second.revocations.prune(2000)).toBe(1);
      expect(second.revocations.has('short')).toBe(false);
      await second.close();
      const third = new SqliteStore(file);
      expect(third.revocations.size).toBe(1);
      await third.close();
    } finally {
      dir.remove();
    }
  });

  it('remembers what was issued to whom, leaving out what has expired', async () => {
    const store = new SqliteStore();
    await store.recordIssued('editor', [{ id: 'a', expiresAt: null }, { id: 'b', expiresAt: 10 }, { id: 'a', expiresAt: null }]);
    expect(await store.issuedTo('editor', 5)).toHaveLength(2);
    expect(await store.issuedTo('editor', 50)).toEqual([{ id: 'a', expiresAt: null }]);
    expect(await store.issuedTo('guest', 0)).toEqual([]);
    await store.close();
  });
});
