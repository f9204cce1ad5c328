import { afterEach, describe, expect, it } from 'vitest';
import { connect, type Capability, type CapsyncClient } from '../../client/index.js';
import { demoUsers } from '../../examples/video/app.js';
import { Video } from '../../examples/video/video.js';
import { settled, state, when, type Settled } from '../chaos/session-kit.js';
import { TcpProxy } from '../chaos/tcp-proxy.js';
import { redisForFile } from './backend.js';
import { eventually } from './haproxy.js';
import { startNodes } from './nodes.js';

const redis = redisForFile();
let cluster: Awaited<ReturnType<typeof startNodes>> | undefined;
const proxies: TcpProxy[] = [];
const clients: CapsyncClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await cluster?.close();
  cluster = undefined;
  for (const proxy of proxies.splice(0)) await proxy.close();
});

/** Every rejection nobody handled and every uncaught exception while `body` runs (vitest would fail the run on them, later). */
async function escapes(body: () => Promise<void>): Promise<unknown[]> {
  const caught: unknown[] = [];
  const record = (error: unknown): void => void caught.push(error);
  process.on('unhandledRejection', record);
  process.on('uncaughtException', record);
  try {
    await body();
    // A rejection is reported as unhandled at the end of the turn it was left in: let those turns pass.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    process.removeListener('unhandledRejection', record);
    process.removeListener('uncaughtException', record);
  }
  return caught;
}

/** The codes a capability use may end with while the feed is stale (or after it). */
const allowed = new Set(['ERR_REVOCATION_FEED_STALE', 'ERR_CALL_OUTCOME_UNKNOWN', 'ERR_CALL_TIMEOUT', 'ERR_CAPABILITY_REVOKED']);

/** Anything settled with another code, or with a code that is no `ERR_...` at all (an untyped error). */
function untyped(outcomes: readonly Settled<unknown>[]): string[] {
  return outcomes.filter((o) => !o.ok && !allowed.has(o.code)).map((o) => (o as { code: string }).code);
}

async function videosOf(client: CapsyncClient): Promise<Video[]> {
  for (;;) {
    const got = await settled(client.call<Video[]>('get_my_videos'));
    if (got.ok) return got.value;
    if (got.code !== 'ERR_REVOCATION_FEED_STALE') throw new Error(got.code);
  }
}

/**
 * Node A (editor, admin and guest on it; the editor through a proxy that is cut every round, so it resumes on
 * A) and node B (an admin) on one Redis; A reaches Redis through a proxy. Each round sends keyed calls,
 * delegations both ways, presence and grants queries, writes on B pushed to A's holders, and a collection
 * stays open on A, while A's feed is stale: `stallRedis` stalls A's Redis link (Redis away: the feed falls
 * silent), otherwise A's feed counts as stale 1 ms after each read while Redis answers (a loaded node).
 */
async function storm(options: { stallRedis: boolean; rounds: number }): Promise<{ escaped: unknown[]; outcomes: Settled<unknown>[]; collectionEnd: string[]; liveEnd: string[]; editor: CapsyncClient; video: Video; writer: Video }> {
  const server = await redis.server();
  const toRedis = await TcpProxy.start(server.port);
  proxies.push(toRedis);
  const feed = options.stallRedis ? { staleMs: 300, blockMs: 100 } : { staleMs: 1, blockMs: 100 };
  cluster = await startNodes(server.url, 2, { urls: [`redis://127.0.0.1:${toRedis.port}`, server.url], presenceGraceMs: 0, feeds: [feed, {}] });
  const [a, b] = cluster.nodes;
  const toA = await TcpProxy.start(Number(new URL(a!.server.url).port));
  proxies.push(toA);
  const editor = await connect(toA.url, { token: () => a!.server.auth.issue(demoUsers['editor']!), reconnect: { baseDelayMs: 20, maxDelayMs: 100 }, callTimeoutMs: options.stallRedis ? 20_000 : 4_000 });
  clients.push(editor);
  const admin = await a!.connectAs('admin');
  const guest = await a!.connectAs('guest');
  const onB = await b!.connectAs('admin');
  const [editorVideos, adminVideos, bVideos] = await Promise.all([videosOf(editor), videosOf(admin), videosOf(onB)]);
  const everything = await admin.call<Capability>('get_video_collection');
  const revocations = a!.backend.store.revocations;
  const outcomes: Promise<Settled<unknown>>[] = [];
  const collectionEnd: string[] = [];
  const lists = admin.collection(everything, { type: Video }).subscribe({ error: (e: unknown) => collectionEnd.push((e as { code?: string }).code ?? String(e)) });
  // The guest watches presence on A: B's joins and leaves are told while A cannot check capabilities.
  const presence = guest.presenceChanges.subscribe(() => undefined);
  // The editor's live copies: a resume on a node whose feed is behind must not end them (the right is unknown, not gone).
  const liveEnd: string[] = [];
  for (const v of editorVideos) editor.live(v).subscribe({ error: (e: unknown) => liveEnd.push(`${v.id} ${(e as { code?: string }).code ?? String(e)}`) });
  const escaped = await escapes(async () => {
    for (let round = 0; round < options.rounds; round++) {
      if (options.stallRedis) toRedis.stall();
      for (const v of editorVideos) outcomes.push(settled(editor.call('set_video_description', v.cap, `editor ${round}`)));
      outcomes.push(settled(admin.delegate(adminVideos[0]!.cap.narrow(['update']), { to: 'guest' })));
      outcomes.push(settled(onB.delegate(bVideos[1]!.cap.narrow(['update']), { to: 'guest' })));
      outcomes.push(settled(admin.presence()), settled(admin.grants()), settled(guest.grants()));
      for (const v of bVideos) outcomes.push(settled(onB.call('set_video_description', v.cap, `b ${round}`)));
      await eventually(() => !revocations.fresh, 'feed stale', 10_000);
      await toA.cut();
      outcomes.push(settled(editor.call('set_video_description', editorVideos[0]!.cap, `editor after cut ${round}`)));
      outcomes.push(settled(admin.call('set_video_description', adminVideos[1]!.cap, `admin ${round}`)));
      outcomes.push(settled(admin.call('add_video', `new ${round}`, 'while stale')));
      outcomes.push(settled(admin.revoke(adminVideos[2]!.cap.narrow(['update']))));
      const late = await b!.connectAs('editor2');
      outcomes.push(settled(late.close()));
      if (options.stallRedis) {
        toRedis.resume();
        await eventually(() => revocations.fresh, 'feed caught up', 15_000);
      }
      // A node always behind cannot take the editor's resume: it closes with 1013 and the editor tries again
      // (through a load balancer it would land on another node); its calls meanwhile time out.
      if (options.stallRedis) await state(editor, 'connected', 15_000);
    }
    await Promise.all(outcomes);
  });
  lists.unsubscribe();
  presence.unsubscribe();
  return { escaped, outcomes: await Promise.all(outcomes), collectionEnd, liveEnd, editor, video: editorVideos[0]!, writer: bVideos.find((v) => v.id === editorVideos[0]!.id)! };
}

const codes = (errors: readonly unknown[]): string[] => errors.map((e) => `${(e as { code?: string }).code ?? ''} ${String(e)} ${(e as Error).stack ?? ''}`);

describe('a node whose revocation feed goes stale while calls, pushes, delegations, resumes, collections and presence are in flight', { timeout: 60_000 }, () => {
  it('Redis away (its link stalled): each use is answered (ERR_REVOCATION_FEED_STALE or its result), no rejection is left unhandled, and it serves again once caught up', async () => {
    const run = await storm({ stallRedis: true, rounds: 3 });
    expect(codes(run.escaped)).toEqual([]);
    expect(untyped(run.outcomes)).toEqual([]);
    // A resume or a collection change on the stale node ended nothing: the live copies and the collection go on.
    expect(run.liveEnd).toEqual([]);
    expect(run.collectionEnd).toEqual([]);
    await expect(run.editor.call('set_video_description', run.video.cap, 'caught up')).resolves.toBeTypeOf('number');
    // And pushes reach the resumed editor: a write on B arrives.
    const seen = when(run.editor.live(run.video), (v) => v.description === 'from B, after', 'push from B after the storm', 15_000);
    await run.writer.set_description('from B, after');
    await seen;
  });

  it('a node that is always behind (commands answer, the feed counts as stale 1 ms after each read): every capability use is refused with a typed error, none escapes', async () => {
    const run = await storm({ stallRedis: false, rounds: 3 });
    expect(codes(run.escaped)).toEqual([]);
    expect(untyped(run.outcomes)).toEqual([]);
    // The stale check did refuse: the editor's calls through A.
    expect(run.outcomes.filter((o) => !o.ok && o.code === 'ERR_REVOCATION_FEED_STALE').length).toBeGreaterThan(0);
    // The editor resumed on A every round: the resume waited for the feed (or closed with 1013 and came again)
    // instead of refusing its capabilities, which would have ended its live copies for good.
    expect(run.liveEnd).toEqual([]);
  });
});
