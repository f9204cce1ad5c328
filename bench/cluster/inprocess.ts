import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { connect, type CapsyncClient } from '../../client/index.js';
import { Video } from '../../examples/video/video.js';
import { CapsyncServer, MemoryStore, silentLogger, type Fanout, type ObjectStore } from '../../server/index.js';
import { connectRedis, type RedisBackend, type RedisOptions } from '../../server/redis/index.js';
import { whenFresh } from './calls.js';

const SECRET = 'bench-cluster-secret-bench-cluster-secret-0123';

/** A bench node: a server with two functions (hand out videos by id, write one), on Redis or alone. */
export interface BenchNode {
  readonly server: CapsyncServer;
  readonly backend?: RedisBackend;
  client(user?: string): Promise<CapsyncClient>;
  close(): Promise<void>;
}

async function node(store: ObjectStore, fanout: Fanout | undefined, backend?: RedisBackend): Promise<BenchNode> {
  const server = await CapsyncServer.create({
    auth: { secret: SECRET },
    store,
    ...(fanout ? { fanout } : {}),
    ...(backend ? { cluster: backend.cluster } : {}),
    logger: silentLogger,
  });
  // Grants exactly the videos asked for: each node's clients hold their own set, nothing else.
  server.callable('hold', async (_ctx, ids: string[]) => Promise.all(ids.map(async (id) => (await server.live.get(Video, ['youtube_videos', id]))!.grant(false))), {
    args: z.tuple([z.array(z.string())]),
  });
  server.callable('write', async (_ctx, id: string, description: string) => {
    const video = (await server.live.get(Video, ['youtube_videos', id]))!;
    video.description = description;
    return server.live.put(video);
  }, { args: z.tuple([z.string(), z.string()]) });
  await server.listen(0, '127.0.0.1');
  const clients: CapsyncClient[] = [];
  return {
    server,
    ...(backend ? { backend } : {}),
    async client(user = 'bench') {
      const c = await connect(server.url, { token: await server.auth.issue({ id: user, roles: [] }) });
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await server.close();
    },
  };
}

/** `count` nodes on one Redis under a fresh prefix. */
export async function redisNodes(url: string, count: number, options: Partial<RedisOptions> = {}): Promise<BenchNode[]> {
  const prefix = `{b${randomUUID().slice(0, 8)}}:`;
  const nodes: BenchNode[] = [];
  for (let i = 0; i < count; i++) {
    const backend = await connectRedis({ url, prefix, node: `bench${i}`, ...options });
    nodes.push(await node(backend.store, backend.fanout, backend));
  }
  return nodes;
}

/** One node with the in-memory store and in-process fan-out: the single-node baseline. */
export function memoryNode(): Promise<BenchNode> {
  return node(new MemoryStore(), undefined);
}

export async function seed(n: BenchNode, ids: readonly string[]): Promise<void> {
  for (const id of ids) await n.server.live.put(new Video(id, { title: id, description: '' }));
}

/** Percentiles of a list of latencies (ms). */
export function percentiles(values: number[]): { p50: number; p99: number; n: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: round(at(0.5)), p99: round(at(0.99)), n: sorted.length };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/**
 * Bus messages each node received divided by the changes to objects its clients hold: 3 nodes, each with a
 * client holding its own disjoint set of `perNode` videos; `writes` writes spread over all videos from a
 * writer on node 0. Target 1.0.
 */
export async function busRatio(url: string, perNode: number, writes: number): Promise<{ node: number; received: number; relevant: number; ratio: number }[]> {
  const nodes = await redisNodes(url, 3);
  try {
    const sets = nodes.map((_, i) => Array.from({ length: perNode }, (_, k) => `n${i}v${k}`));
    await seed(nodes[0]!, sets.flat());
    const holders = await Promise.all(nodes.map((n) => n.client()));
    await Promise.all(holders.map((c, i) => whenFresh(() => c.call('hold', sets[i]))));
    const pushes = holders.map(() => 0);
    holders.forEach((c, i) => c.changes.subscribe(() => pushes[i]!++));
    // The channels open asynchronously: wait until each node has them before counting.
    await until(() => nodes.every((n) => n.backend!.fanout.channels.length >= perNode));
    const before = nodes.map((n) => n.backend!.fanout.received);
    const writer = await nodes[0]!.client('writer');
    const all = sets.flat();
    const relevant = nodes.map(() => 0);
    for (let w = 0; w < writes; w++) {
      const id = all[w % all.length]!;
      relevant[Number(id.slice(1, id.indexOf('v')))]!++;
      await whenFresh(() => writer.call('write', id, `w${w}`));
    }
    await until(() => pushes.every((p, i) => p >= relevant[i]!));
    return nodes.map((n, i) => {
      const received = n.backend!.fanout.received - before[i]!;
      return { node: i, received, relevant: relevant[i]!, ratio: round(received / relevant[i]!) };
    });
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
}

/** Time from `revocations.add` on node 0 until nodes 1 and 2 have applied it (the later of the two), `count` times. */
export async function revocationLatency(url: string, count: number): Promise<ReturnType<typeof percentiles>> {
  const nodes = await redisNodes(url, 3);
  try {
    const latencies: number[] = [];
    for (let i = 0; i < count; i++) {
      const id = randomUUID();
      const start = performance.now();
      const applied = nodes.slice(1).map(
        (n) => new Promise<void>((resolve) => {
          const stop = n.server.store.revocations.subscribe((entries) => {
            if (entries.some((e) => e.id === id)) (stop(), resolve());
          });
        }),
      );
      await nodes[0]!.server.store.revocations.add([{ id, expiresAt: null }]);
      await Promise.all(applied);
      latencies.push(performance.now() - start);
    }
    return percentiles(latencies);
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
}

/** Polls `condition` every 10 ms, for at most 10 s (a guard: the bench reports, it never hangs). */
export async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
}
