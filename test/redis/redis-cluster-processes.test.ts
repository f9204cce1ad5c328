import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { CapsyncClient } from '../../client/index.js';
import { demoUsers } from '../../examples/video/app.js';
// For its side effect too: registering the portable Video class, so calls' results decode as Videos.
import '../../examples/video/video.js';
import type { Video } from '../../examples/video/video.js';
import { useServerProcesses, type ServerProcess } from '../chaos/server-process.js';
import { PushLog, state } from '../chaos/session-kit.js';
import { TcpProxy } from '../chaos/tcp-proxy.js';
import { SECRET } from '../helpers.js';
import { startHaproxy } from './haproxy.js';
import { clientOf, hostOf, nodeKilled, redisRestarted, sees } from './process-kit.js';
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

/** Three `--redis-cluster` node processes of the built demo on the (shared) Redis Cluster, started one after the other. */
async function nodesOnCluster(): Promise<ServerProcess[]> {
  redis ??= await startRedisCluster();
  const seeds = redis.urls.join(',');
  // A short ping interval: a client of a killed node notices within about two.
  const start = (): Promise<ServerProcess> => processes.start({ heartbeatMs: 250, args: ['--redis', seeds, '--redis-cluster', `--jwt-secret=${SECRET}`] });
  // The first seeds the videos (once per Cluster); the other two start together.
  const nodes = [await start()];
  nodes.push(...(await Promise.all([start(), start()])));
  return nodes;
}

const client = (url: string, user: keyof typeof demoUsers): ReturnType<typeof clientOf> => clientOf(clients, url, user);

describe('three node processes on a real Redis Cluster behind haproxy', { timeout: 90_000 }, () => {
  it('`capsync serve --redis <seeds> --redis-cluster`: a client whose connection drops lands on another node and resumes with no missed update', async () => {
    const nodes = await nodesOnCluster();
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

  it('kill -9 of a node: its client resumes on another with no missed update, the other nodes\' clients see no interruption', async () => {
    const nodes = await nodesOnCluster();
    const lb = await startHaproxy(nodes.map((n) => n.port));
    cleanups.push(() => lb.stop());
    await nodeKilled(nodes, lb.url, client);
  });

  it('every master killed (kill -9) and restarted on its data (AOF, fsync always): nothing acknowledged is lost, and the nodes recover by themselves', async () => {
    const nodes = await nodesOnCluster();
    const cluster = redis!;
    await redisRestarted(nodes, client, async () => {
      await Promise.all(cluster.ports.map((port) => cluster.signal(port, 'SIGKILL')));
      for (const port of cluster.ports) await cluster.restart(port);
    });
  });
});
