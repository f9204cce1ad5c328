import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { CapsyncError } from '../../protocol/errors.js';
import { redisForFile } from './backend.js';

const redis = redisForFile();

/** Scripts Redis has run so far (EVALSHA, or EVAL when ioredis had to load one), from INFO commandstats. */
async function scriptsRun(admin: Redis): Promise<number> {
  const info = await admin.info('commandstats');
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) calls += Number(m[2]);
  return calls;
}

describe('RedisStore: the writes of one turn go to Redis as one script', () => {
  it('sends 40 puts, deletes and call commits issued in one turn as one script, each answered on its own', { timeout: 30_000 }, async () => {
    const backend = await redis.backend();
    const admin = new Redis((await redis.server()).url);
    try {
      const store = backend.store;
      await store.put(['warm'], 'T', Uint8Array.of(0)); // the script is loaded (EVAL once, then EVALSHA)
      const before = await scriptsRun(admin);
      const writes: Promise<unknown>[] = [];
      for (let i = 0; i < 30; i++) writes.push(store.put(['youtube_videos', `v${i % 10}`], 'Video', Uint8Array.of(i)));
      for (let i = 0; i < 5; i++) writes.push(store.delete(['youtube_videos', `v${i}`]));
      for (let i = 0; i < 5; i++) writes.push(store.commitCalls({ outcomes: [], forget: [], claims: [{ principal: 'u', key: `k${i}`, owner: 'run', expiresAt: Date.now() + 60_000 }] }));
      const results = await Promise.all(writes);
      expect(await scriptsRun(admin)).toBe(before + 1);
      expect(results.slice(0, 30).map((r) => (r as { version: number }).version)).toEqual(Array.from({ length: 30 }, (_, i) => Math.floor(i / 10) + 1));
      expect(results.slice(30, 35).map((r) => (r as { version: number }).version)).toEqual([4, 4, 4, 4, 4]);
      expect(results.slice(35)).toEqual(Array.from({ length: 5 }, () => [undefined]));
      expect(await store.seq()).toBe(1 + 35);
    } finally {
      admin.disconnect();
      await backend.store.close();
    }
  });

  it('fails a write Redis refuses alone: the others of its turn are stored and answered', { timeout: 30_000 }, async () => {
    const backend = await redis.backend();
    const admin = new Redis((await redis.server()).url);
    try {
      const store = backend.store;
      await store.put(['youtube_videos', 'a'], 'Video', Uint8Array.of(1));
      // Something else wrote a plain string where the object's hash lives: Redis refuses the script's HMGET on it.
      const keys = await admin.keys('*o:*');
      const broken = keys.find((k) => k.includes('"a"'))!;
      await admin.set(broken, 'not a hash');
      const outcomes = await Promise.allSettled([
        store.put(['youtube_videos', 'b'], 'Video', Uint8Array.of(2)),
        store.put(['youtube_videos', 'a'], 'Video', Uint8Array.of(3)),
        store.put(['youtube_videos', 'c'], 'Video', Uint8Array.of(4)),
      ]);
      expect(outcomes[0]).toEqual({ status: 'fulfilled', value: { version: 1, seq: 2 } });
      expect(outcomes[1]!.status).toBe('rejected');
      expect(((outcomes[1] as PromiseRejectedResult).reason as CapsyncError).code).toBe('ERR_STORE_UNAVAILABLE');
      expect(outcomes[2]).toEqual({ status: 'fulfilled', value: { version: 1, seq: 3 } });
      expect(Array.from((await store.get(['youtube_videos', 'c']))!.state)).toEqual([4]);
    } finally {
      admin.disconnect();
      await backend.store.close();
    }
  });
});
