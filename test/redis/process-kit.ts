import { connect, type CapsyncClient } from '../../client/index.js';
import { demoUsers } from '../../examples/video/app.js';
// For its side effect too: registering the portable Video class, so calls' results decode as Videos.
import '../../examples/video/video.js';
import type { Video } from '../../examples/video/video.js';
import { Authenticator } from '../../server/auth.js';
import type { ServerProcess } from '../chaos/server-process.js';
import { fastReconnect, state, when } from '../chaos/session-kit.js';
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

/** Makes a client of `user` on `url` (see {@link clientOf}). */
type ClientOn = (url: string, user: keyof typeof demoUsers) => ReturnType<typeof clientOf>;

/** The first of `client`'s videos with id `id`, with the capability `client` holds for it. */
/**
 * The version of `video` once `description` is set by one write: a call the client had to send again after a
 * reconnect, refused by a node whose feed is catching up, is `ERR_CALL_OUTCOME_UNKNOWN` (the first attempt may
 * have run), so the video is read to tell, and the write is sent again only if it did not run.
 */
async function writtenOnce(client: CapsyncClient, video: Video, description: string, limitMs = 30_000): Promise<number> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      return await whenFresh(() => client.call<number>('set_video_description', video.cap, description));
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_CALL_OUTCOME_UNKNOWN' || Date.now() > deadline) throw error;
      const read = await whenFresh(() => videoFor(client, video.id));
      if (read.description === description) return read.version ?? 0;
    }
  }
}

async function videoFor(client: CapsyncClient, id: string): Promise<Video> {
  return (await client.call<Video[]>('get_my_videos')).find((v) => v.id === id)!;
}

/**
 * kill -9 of the node a client reached through the load balancer at `lbUrl`: the client resumes on another node
 * with no missed update (a write made while it was away reaches it), is pushed to live from a third node after,
 * and the clients of the other two nodes never leave 'connected'.
 */
export async function nodeKilled(nodes: readonly ServerProcess[], lbUrl: string, client: ClientOn): Promise<void> {
  const x = await client(lbUrl, 'editor');
  const host = await hostOf(nodes);
  const [i, j] = [0, 1, 2].filter((n) => n !== host) as [number, number];
  const y = await client(nodes[i]!.url, 'admin');
  const z = await client(nodes[j]!.url, 'editor2');
  const states: string[] = [];
  for (const c of [y.client, z.client]) c.connectionState.subscribe((s) => states.push(s));
  await nodes[host]!.kill9();
  await state(x.client, 'reconnecting');
  const adminCap = (await videoFor(y.client, x.video.id)).cap;
  // Watched before the write: x may resume elsewhere before the writer hears its answer.
  const caughtUp = sees(x.client, x.video.id, 'while its node was dead');
  await y.client.call('set_video_description', adminCap, 'while its node was dead');
  await state(x.client, 'connected');
  await caughtUp;
  // Pushed live from a write on the third node, and the survivors never left 'connected'.
  const live = sees(x.client, x.video.id, 'written on the third node');
  await z.client.call('set_video_description', (await videoFor(z.client, x.video.id)).cap, 'written on the third node');
  await live;
  if (!states.every((s) => s === 'connected')) throw new Error(`a survivor's client left 'connected': ${states.join(', ')}`);
}

/**
 * `crash()` kills Redis (every server of it) and starts it again on its data: what was acknowledged before is
 * still there (the version continues from it), a write after is pushed to another node's client, and a new
 * client on the third node reads it; the nodes recover by themselves.
 */
export async function redisRestarted(nodes: readonly ServerProcess[], client: ClientOn, crash: () => Promise<void>): Promise<void> {
  const writer = await client(nodes[0]!.url, 'editor');
  const watcher = await client(nodes[1]!.url, 'editor2');
  const acknowledged = await writer.client.call<number>('set_video_description', writer.video.cap, 'acknowledged before the crash');
  await crash();
  const pushed = when(watcher.client.changes, (ch) => (ch.state as { description?: string } | null)?.description === 'after the restart', 'pushed after the restart', 40_000);
  pushed.catch(() => {}); // awaited below; a failure before that must not leave it unhandled when the clients close
  const next = await writtenOnce(writer.client, writer.video, 'after the restart');
  // The write before the crash survived: the version continues from it.
  if (next !== acknowledged + 1) throw new Error(`the write after the restart has version ${next}, not ${acknowledged + 1}: an acknowledged write was lost`);
  await pushed;
  const fresh = await client(nodes[2]!.url, 'editor');
  const read = await whenFresh(() => videoFor(fresh.client, writer.video.id));
  if (read.description !== 'after the restart') throw new Error(`a new client read ${JSON.stringify(read.description)}`);
}
