import type { CapsyncClient } from '../../client/index.js';
import type { Video } from '../../examples/video/video.js';
import type { RedisBackend } from '../../server/redis/index.js';

export { traffic, type Traffic } from '../../bench/cluster/traffic.js';

/** Helpers of the tests that write to a Redis store while its servers fail over or move slots. */

/** Resolves once `condition()` holds, checked every 20 ms; rejects after `limitMs` (a guard, not a synchronisation). */
export async function until(condition: () => boolean | Promise<boolean>, limitMs: number, what: string): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** How many of `keys` (acknowledged puts of {@link traffic}) the store no longer has. */
export async function lost(backend: RedisBackend, keys: readonly string[]): Promise<number> {
  const found = await Promise.all(keys.map((k) => backend.store.get(['w', k])));
  return found.filter((o) => o === undefined).length;
}

/** The first of the client's videos (`get_my_videos`). */
export async function firstVideo(client: CapsyncClient): Promise<Video> {
  return (await client.call<Video[]>('get_my_videos'))[0]!;
}
