import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../../server/store/sqlite.js';
import { tempDir } from '../helpers.js';

describe('SqliteStore durability', () => {
  it('fsyncs every commit by default (synchronous = FULL), NORMAL only when asked for', async () => {
    const dir = tempDir();
    try {
      const durable = new SqliteStore(`${dir.path}/full.sqlite`);
      const fast = new SqliteStore(`${dir.path}/normal.sqlite`, { durability: 'normal' });
      expect(durable.durability).toBe('full');
      expect(fast.durability).toBe('normal');
      expect(new SqliteStore(':memory:').durability).toBe('full');
      // Both still write and read back.
      for (const store of [durable, fast]) {
        await store.put(['x'], 'T', new Uint8Array([1]));
        expect((await store.get(['x']))?.version).toBe(1);
        await store.close();
      }
    } finally {
      dir.remove();
    }
  });
});
