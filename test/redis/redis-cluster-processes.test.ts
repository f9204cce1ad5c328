import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect, type CapsyncClient } from '../../client/index.js';
import { demoUsers } from '../../examples/video/app.js';
// For its side effect too: registering the portable Video class, so calls' results decode as Videos.
import '../../examples/video/video.js';
import type { Video } from '../../examples/video/video.js';
import { Authenticator } from '../../server/auth.js';
import { useServerProcesses, type ServerProcess } from '../chaos/server-process.js';
import { fastReconnect, PushLog, state, when } from '../chaos/session-kit.js';
import { TcpProxy } from '../chaos/tcp-proxy.js';
import { SECRET } from '../helpers.js';
import { eventually, getJson, startHaproxy } from './haproxy.js';
import { startRedisCluster, type RedisCluster } from './redis-cluster.js';

const processes = useServerProcesses();
const cleanups: (() => Promise<void>)[] = [];
const clients: CapsyncClient[] = [];
let redis: RedisCluster | undefined;
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await processes.disposeAll();
});
afterAll(async () => {
  await redis?.stop();
});

const auth = new Authenticator({ secret: SECRET });

async function client(url: string, user: keyof typeof demoUsers): Promise<{ client: CapsyncClient; video: Video }> {
  const c = await connect(url, { token: () => auth.issue(demoUsers[user]!), reconnect: fastReconnect, callTimeoutMs: 20_000, connectTimeoutMs: 3_000 });
  clients.push(c);
  const video = (await whenFresh(() => c.call<Video[]>('get_my_videos')))[0]!;
  return { client: c, video };
}

/** Sessions per node process, from `/healthz`. */
async function sessions(nodes: readonly ServerProcess[]): Promise<number[]> {
  return Promise.all(nodes.map(async (n) => (((await getJson(n.port, '/healthz'))?.body as { sessions?: number } | undefined)?.sessions ?? 0)));
}

/** The node holding the one session that `baseline` (sessions per node of the other clients) does not count. */
async function hostOf(nodes: readonly ServerProcess[], baseline: readonly number[] = [0, 0, 0]): Promise<number> {
  let host = -1;
  await eventually(async () => {
    const extra = (await sessions(nodes)).map((c, i) => c - baseline[i]!);
    host = extra.findIndex((c) => c === 1);
    return host >= 0 && extra.reduce((a, b) => a + b, 0) === 1;
  }, 'host of the client');
  return host;
}

function sees(c: CapsyncClient, id: string, text: string): Promise<unknown> {
  return when(c.changes, (ch) => ch.address[1] === id && (ch.state as { description?: string } | null)?.description === text, `${id} = ${text}`, 15_000);
}

/** A call retried while the node refuses capability use because its revocation feed is catching up. */
async function whenFresh<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_REVOCATION_FEED_STALE' || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe('three node processes on a real Redis Cluster behind haproxy', { timeout: 90_000 }, () => {
  it('`capsync serve --redis <seeds> --redis-cluster`: a client whose connection drops lands on another node and resumes with no missed update', async () => {
    redis ??= await startRedisCluster();
    const seeds = redis.urls.join(',');
    const start = (): Promise<ServerProcess> => processes.start({ heartbeatMs: 250, args: ['--redis', seeds, '--redis-cluster', `--jwt-secret=${SECRET}`] });
    // The first seeds the videos; the other two start together.
    const nodes = [await start()];
    nodes.push(...(await Promise.all([start(), start()])));
    const lb = await startHaproxy(nodes.map((n) => n.port));
    cleanups.push(() => lb.stop());
    const cut = await TcpProxy.start(lb.port);
    cleanups.push(() => cut.close());
    const x = await client(cut.url, 'editor');
    const before = await hostOf(nodes);
    const log = new PushLog(x.client);
    cut.refuse(true);
    await cut.cut();
    await state(x.client, 'reconnecting');
    const writer = await client(nodes[(before + 1) % 3]!.url, 'admin');
    const caughtUp = sees(x.client, x.video.id, 'while away');
    const cap = (await writer.client.call<Video[]>('get_my_videos')).find((v) => v.id === x.video.id)!.cap;
    const version = await writer.client.call<number>('set_video_description', cap, 'while away');
    cut.refuse(false);
    await state(x.client, 'connected');
    await caughtUp;
    const baseline = [0, 0, 0];
    baseline[(before + 1) % 3] = 1;
    expect(await hostOf(nodes, baseline)).not.toBe(before);
    // Live again on its new node: a write on another node reaches it over the Cluster's sharded bus.
    const live = sees(x.client, x.video.id, 'after the move');
    await writer.client.call('set_video_description', cap, 'after the move');
    await live;
    expect(log.of(x.video.id).map((p) => p.version)).toEqual(expect.arrayContaining([version]));
  });
});
