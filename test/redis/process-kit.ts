import { connect, type CapsyncClient } from '../../client/index.js';
import { demoUsers } from '../../examples/video/app.js';
// For its side effect too: registering the portable Video class, so calls' results decode as Videos.
import '../../examples/video/video.js';
import type { Video } from '../../examples/video/video.js';
import { Authenticator } from '../../server/auth.js';
import type { ServerProcess } from '../chaos/server-process.js';
import { fastReconnect, when } from '../chaos/session-kit.js';
import { SECRET } from '../helpers.js';
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

/** Issues the demo users' tokens with the secret the node processes are started with. */
export const auth = new Authenticator({ secret: SECRET });

/**
 * A client of `user` on `url` (kept in `clients`, which the test closes), reconnecting fast, and its first
 * video, read once the node's revocation feed is current.
 */
export async function clientOf(clients: CapsyncClient[], url: string, user: keyof typeof demoUsers): Promise<{ client: CapsyncClient; video: Video }> {
  const c = await connect(url, { token: () => auth.issue(demoUsers[user]!), reconnect: fastReconnect, callTimeoutMs: 20_000, connectTimeoutMs: 3_000 });
  clients.push(c);
  const video = (await whenFresh(() => c.call<Video[]>('get_my_videos')))[0]!;
  return { client: c, video };
}
