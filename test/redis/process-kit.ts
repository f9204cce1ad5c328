import type { CapsyncClient } from '../../client/index.js';
import type { ServerProcess } from '../chaos/server-process.js';
import { when } from '../chaos/session-kit.js';
import { eventually, getJson } from './haproxy.js';

/** Helpers of the tests that run node processes (on one Redis or a Redis Cluster) behind haproxy. */

/** Sessions per node process (0 for a dead one), from `/healthz`. */
export async function sessions(nodes: readonly ServerProcess[]): Promise<number[]> {
  return Promise.all(nodes.map(async (n) => (n.running ? (((await getJson(n.port, '/healthz'))?.body as { sessions?: number } | undefined)?.sessions ?? 0) : 0)));
}

/** The node holding the one session that `baseline` (sessions per node of the other clients) does not count. */
export async function hostOf(nodes: readonly ServerProcess[], baseline: readonly number[] = [0, 0, 0]): Promise<number> {
  let host = -1;
  await eventually(async () => {
    const extra = (await sessions(nodes)).map((c, i) => c - baseline[i]!);
    host = extra.findIndex((c) => c === 1);
    return host >= 0 && extra.reduce((a, b) => a + b, 0) === 1;
  }, 'host of the client');
  return host;
}

/** Resolves once `c`'s copy of the video has `text` as description (pushed live or caught up on resume). */
export function sees(c: CapsyncClient, id: string, text: string): Promise<unknown> {
  return when(c.changes, (ch) => ch.address[1] === id && (ch.state as { description?: string } | null)?.description === text, `${id} = ${text}`, 15_000);
}

/** A call retried while the node refuses capability use because its revocation feed is catching up (bounded). */
export async function whenFresh<T>(call: () => Promise<T>, limitMs = 30_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_REVOCATION_FEED_STALE' || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
