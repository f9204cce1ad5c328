import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type { CapsyncClient } from '../../client/index.js';
import { whenFresh } from './calls.js';
import { memoryNode, percentiles, redisNodes, seed, until, type BenchNode } from './inprocess.js';

/** Redis's `appendfsync`: fsync the AOF before each reply, once a second, or never (the OS decides). */
export type Fsync = 'always' | 'everysec' | 'no';

/** One rate and fsync mode: write-to-push latencies (ms) of the same writes seen by two holders, and the baseline's. */
export interface DeliveryFigures {
  readonly rate: number;
  readonly fsync: Fsync;
  /** The writer's own node: the push leaves as soon as the write script answered. */
  readonly local: ReturnType<typeof percentiles>;
  /** Another node: the same writes, through the bus (SPUBLISH in the write script, then this node's SSUBSCRIBE). */
  readonly crossNode: ReturnType<typeof percentiles>;
  /** Per write, cross-node arrival minus local arrival (what the bus adds). */
  readonly busAdds: ReturnType<typeof percentiles>;
  /** One node on the in-memory store, written at the same rate, interleaved with the Redis writes. */
  readonly singleNode: ReturnType<typeof percentiles>;
}

/** A writer pool and a holder on each side of one measure. */
interface Side {
  readonly writers: CapsyncClient[];
  readonly sent: Map<string, number>;
  readonly arrived: Map<string, number>[];
}

async function side(writerNode: BenchNode, holderNodes: BenchNode[]): Promise<Side> {
  // Several writers: one connection allows 64 calls in flight, fewer than a loaded machine holds at 1,000/s.
  const writers = await Promise.all(Array.from({ length: 8 }, (_, i) => writerNode.client(`writer${i}`)));
  const sent = new Map<string, number>();
  const arrived = holderNodes.map(() => new Map<string, number>());
  await Promise.all(
    holderNodes.map(async (n, h) => {
      const holder = await n.client(`holder${h}`);
      await whenFresh(() => holder.call('hold', ['lat']));
      holder.changes.subscribe((ch) => {
        const text = (ch.state as { description?: string } | null)?.description ?? '';
        if (sent.has(text)) arrived[h]!.set(text, performance.now());
      });
    }),
  );
  for (const n of holderNodes) if (n.backend) await until(() => n.backend!.fanout.channels.length > 0);
  return { writers, sent, arrived };
}

/**
 * Write-to-push latency, every figure from the same run with its rounds interleaved (the machine's load
 * drifts; a figure measured minutes after its baseline compares nothing). Two Redis nodes: a writer and a
 * holder on node 0, a holder on node 1, so each write is timed both locally and across nodes; one in-memory
 * node written at the same rate alongside. `fsync` modes are switched on the bench's Redis between rounds
 * (CONFIG SET appendfsync), so each mode meets the same load. `rounds` slices of `count` writes per figure.
 */
export async function deliveryLatency(url: string, rates: readonly number[], modes: readonly Fsync[], count: (rate: number) => number, rounds = 3): Promise<DeliveryFigures[]> {
  const admin = new Redis(url, { lazyConnect: true });
  await admin.connect();
  // The nodes check nothing: the bench changes appendfsync under them.
  const nodes = await redisNodes(url, 2, { durability: 'none' });
  const single = await memoryNode();
  try {
    await seed(nodes[0]!, ['lat']);
    await seed(single, ['lat']);
    const redisSide = await side(nodes[0]!, nodes);
    const memorySide = await side(single, [single]);
    const samples = new Map<string, { local: number[]; cross: number[]; adds: number[]; single: number[] }>();
    for (let round = 0; round < rounds; round++) {
      for (const rate of rates) {
        for (const fsync of modes) {
          await admin.config('SET', 'appendfsync', fsync);
          const n = Math.ceil(count(rate) / rounds);
          await writeAt(rate, n, [redisSide, memorySide]);
          const s = samples.get(`${rate} ${fsync}`) ?? { local: [], cross: [], adds: [], single: [] };
          samples.set(`${rate} ${fsync}`, s);
          for (const [text, at] of redisSide.sent) {
            const local = redisSide.arrived[0]!.get(text);
            const cross = redisSide.arrived[1]!.get(text);
            if (local !== undefined) s.local.push(local - at);
            if (cross !== undefined) s.cross.push(cross - at);
            if (local !== undefined && cross !== undefined) s.adds.push(cross - local);
          }
          for (const [text, at] of memorySide.sent) {
            const got = memorySide.arrived[0]!.get(text);
            if (got !== undefined) s.single.push(got - at);
          }
          for (const x of [redisSide, memorySide]) (x.sent.clear(), x.arrived.forEach((m) => m.clear()));
        }
      }
    }
    await admin.config('SET', 'appendfsync', 'always');
    const figures: DeliveryFigures[] = [];
    for (const rate of rates) {
      for (const fsync of modes) {
        const s = samples.get(`${rate} ${fsync}`)!;
        figures.push({ rate, fsync, local: percentiles(s.local), crossNode: percentiles(s.cross), busAdds: percentiles(s.adds), singleNode: percentiles(s.single) });
      }
    }
    return figures;
  } finally {
    admin.disconnect();
    await Promise.all([...nodes, single].map((n) => n.close()));
  }
}

/** `n` writes at `rate` per second on each side (open loop: each write leaves at its time, answered or not), then waits for their pushes. */
async function writeAt(rate: number, n: number, sides: readonly Side[]): Promise<void> {
  const start = performance.now();
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    for (const s of sides) {
      const text = randomUUID();
      s.sent.set(text, performance.now());
      calls.push(s.writers[i % s.writers.length]!.call('write', 'lat', text).catch(() => s.sent.delete(text)));
    }
  }
  await Promise.all(calls);
  await until(() => sides.every((s) => s.arrived.every((m) => m.size >= s.sent.size)));
}
