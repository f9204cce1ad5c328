import { afterEach, describe, expect, it } from 'vitest';
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
import { startRedis, type RedisServer } from './redis-server.js';

const processes = useServerProcesses();
const cleanups: (() => Promise<void>)[] = [];
const clients: CapsyncClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  await processes.disposeAll();
});

/** Redis (AOF, fsync always) and three node processes of the built demo on it, started one after the other. */
async function cluster(): Promise<{ redis: RedisServer; nodes: ServerProcess[] }> {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  const nodes: ServerProcess[] = [];
  // A short ping interval: a client of a killed node notices within about two.
  const start = (): Promise<ServerProcess> => processes.start({ heartbeatMs: 250, args: ['--redis', redis.url, `--jwt-secret=${SECRET}`] });
  // The first seeds the videos; the other two start together.
  nodes.push(await start());
  nodes.push(...(await Promise.all([start(), start()])));
  return { redis, nodes };
}

const client = (url: string, user: keyof typeof demoUsers): ReturnType<typeof clientOf> => clientOf(clients, url, user);

// Each test starts Redis, three node processes and haproxy: slower than the default limit on a loaded machine.
describe('three node processes on one Redis behind haproxy (round-robin, no stickiness)', { timeout: 60_000 }, () => {
  it('a client whose connection drops reconnects through haproxy to another node and resumes with no missed update', async () => {
    const { nodes } = await cluster();
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
    const version = await writer.client.call<number>('set_video_description', (await writer.client.call<Video[]>('get_my_videos')).find((v) => v.id === x.video.id)!.cap, 'while away');
    cut.refuse(false);
    await state(x.client, 'connected');
    await caughtUp;
    const baseline = [0, 0, 0];
    baseline[(before + 1) % 3] = 1;
    const after = await hostOf(nodes, baseline);
    expect(after).not.toBe(before);
    // Live again on the new node: a write on a third node reaches it.
    const live = sees(x.client, x.video.id, 'after the move');
    await writer.client.call('set_video_description', writer.video.id === x.video.id ? writer.video.cap : (await writer.client.call<Video[]>('get_my_videos')).find((v) => v.id === x.video.id)!.cap, 'after the move');
    await live;
    expect(log.of(x.video.id).map((p) => p.version)).toEqual(expect.arrayContaining([version]));
  });

  it('kill -9 of a node: its client resumes on another with no missed update, the other nodes\' clients see no interruption', async () => {
    const { nodes } = await cluster();
    const lb = await startHaproxy(nodes.map((n) => n.port));
    cleanups.push(() => lb.stop());
    await nodeKilled(nodes, lb.url, client);
  });

  it('Redis killed and restarted (AOF, fsync always): nothing acknowledged is lost, and the nodes recover by themselves', async () => {
    const { redis, nodes } = await cluster();
    await redisRestarted(nodes, client, async () => {
      await redis.kill9();
      const restarted = await redis.restart();
      cleanups.push(() => restarted.stop());
    });
  });
});
