import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { connect, type CapsyncClient } from '../../client/index.js';
import type { Video } from '../../examples/video/video.js';
import { Authenticator } from '../../server/auth.js';
import { killAll, nodeCpu, SECRET, startNode, whenFresh } from './calls.js';
import type { ChildLink } from '../peers/ipc.js';
import { holder, type Holder } from './fanout.js';
import { percentiles } from './inprocess.js';

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
  /** One node on SQLite in memory, written at the same rate, in the same rounds (after the Redis writes of each). */
  readonly singleNode: ReturnType<typeof percentiles>;
  /**
   * How late the load generator sent its writes (ms after each one's time), both sides: if this grows, the
   * bench saturates, not the server.
   */
  readonly sendLag: ReturnType<typeof percentiles>;
  /** CPU ms per write of the writer's node, the other node, the single node and redis-server. */
  readonly cpuMsPerWrite: { readonly writerNode: number; readonly otherNode: number; readonly singleNode: number; readonly redis: number };
  /** Lua scripts Redis ran per write (a keyed call is a claim, a read-modify-write and an outcome). */
  readonly scriptsPerWrite: number;
  /** Pushes that never arrived (within 10 s), both sides. */
  readonly missed: number;
}

/** Distinct videos the writes go round: writes to one object queue behind each other on its node. */
const OBJECTS = 50;
/** Writer connections (one user): a connection allows 64 calls in flight. */
const WRITERS = 8;

/** A side of the measure: node processes, writers on the first, a raw holder on each. */
interface Side {
  readonly children: ChildLink[];
  readonly writers: CapsyncClient[];
  readonly videos: Video[][];
  readonly holders: Holder[];
  readonly arrived: Map<string, number>[];
}

async function side(nodeArgs: string[], nodes: number): Promise<Side> {
  const children: ChildLink[] = [];
  const urls: string[] = [];
  for (let i = 0; i < nodes; i++) urls.push(await startNode(nodeArgs, children));
  const auth = new Authenticator({ secret: SECRET });
  const token = await auth.issue({ id: 'writer', roles: ['admin'] });
  const writers: CapsyncClient[] = [];
  for (let w = 0; w < WRITERS; w++) writers.push(await connect(urls[0]!, { token }));
  for (let v = 0; v < OBJECTS; v++) await whenFresh(() => writers[0]!.call('add_video', 'bench', ''));
  // Each writer holds the videos itself (its capabilities, bound to the user, come to its own connection).
  const videos = await Promise.all(writers.map(async (w) => (await whenFresh(() => w.call<Video[]>('get_my_videos'))).filter((v) => v.title === 'bench')));
  const arrived = urls.map(() => new Map<string, number>());
  const holders = await Promise.all(
    urls.map(async (url, h) => holder(url, await auth.issue({ id: `holder${h}`, roles: ['editor'] }), (d) => arrived[h]!.set(d, performance.now()))),
  );
  return { children, writers, videos, holders, arrived };
}

async function closeSide(s: Side | undefined): Promise<void> {
  if (s === undefined) return;
  await Promise.all(s.writers.map((w) => w.close()));
  for (const h of s.holders) h.ws.terminate();
  await killAll(s.children);
}

/**
 * Write-to-push latency with the nodes as processes (`node.ts`: the demo's functions; as in production: the bench's own
 * clients do not share their event loop) and the writes open-loop: each `set_video_description` (a keyed
 * call: claim, read-modify-write, outcome) leaves at its time, answered or not, from one of 8 writer
 * connections, round the `OBJECTS` videos. Two Redis nodes: the writers and a holder on node 0, a holder
 * on node 1, so each write is timed locally and across nodes; one SQLite node written at the same rate in
 * the same rounds. `fsync` modes are switched on the bench's Redis between rounds (CONFIG SET appendfsync),
 * so each meets the same load. `rounds` slices of `count` writes per figure.
 */
export async function deliveryLatency(url: string, rates: readonly number[], modes: readonly Fsync[], count: (rate: number) => number, rounds = 3): Promise<DeliveryFigures[]> {
  const admin = new Redis(url, { lazyConnect: true });
  await admin.connect();

  let cluster: Side | undefined;
  let single: Side | undefined;
  try {
    // The nodes check nothing: the bench changes appendfsync under them.
    cluster = await side(['--redis', url], 2);
    single = await side([], 1);
    type Cell = { local: number[]; cross: number[]; adds: number[]; single: number[]; lag: number[]; cpu: number[]; redisCpu: number; scripts: number; writes: number; missed: number };
    const cells = new Map<string, Cell>();
    let tag = 0;
    for (let round = 0; round < rounds; round++) {
      for (const rate of rates) {
        for (const fsync of modes) {
          await admin.config('SET', 'appendfsync', fsync);
          const n = Math.ceil(count(rate) / rounds);
          const cell = cells.get(`${rate} ${fsync}`) ?? { local: [], cross: [], adds: [], single: [], lag: [], cpu: [0, 0, 0], redisCpu: 0, scripts: 0, writes: 0, missed: 0 };
          cells.set(`${rate} ${fsync}`, cell);
          const [cpu0, redis0, scripts0] = [nodeCpu(cluster.children), await redisCpuMs(admin), await scriptsRun(admin)];
          const c = await writeAt(rate, n, cluster, `r${tag++}`);
          const cpu1 = nodeCpu(cluster.children);
          cell.redisCpu += (await redisCpuMs(admin)) - redis0;
          // The nodes' own scripts (bus marks, presence) are counted too: a few a second.
          cell.scripts += (await scriptsRun(admin)) - scripts0;
          const singleCpu0 = nodeCpu(single.children);
          const s = await writeAt(rate, n, single, `r${tag++}`);
          cell.cpu[0]! += cpu1[0]! - cpu0[0]!;
          cell.cpu[1]! += cpu1[1]! - cpu0[1]!;
          cell.cpu[2]! += nodeCpu(single.children)[0]! - singleCpu0[0]!;
          cell.writes += n;
          for (const [text, at] of c.sent) {
            const local = cluster.arrived[0]!.get(text);
            const cross = cluster.arrived[1]!.get(text);
            if (local !== undefined) cell.local.push(local - at);
            if (cross !== undefined) cell.cross.push(cross - at);
            if (local !== undefined && cross !== undefined) cell.adds.push(cross - local);
            cell.missed += (local === undefined ? 1 : 0) + (cross === undefined ? 1 : 0);
          }
          for (const [text, at] of s.sent) {
            const got = single.arrived[0]!.get(text);
            if (got !== undefined) cell.single.push(got - at);
            else cell.missed++;
          }
          cell.lag.push(...c.lag, ...s.lag);
          for (const x of [cluster, single]) x.arrived.forEach((m) => m.clear());
        }
      }
    }
    await admin.config('SET', 'appendfsync', 'always');
    const figures: DeliveryFigures[] = [];
    const perWrite = (ms: number, writes: number): number => Math.round((ms / Math.max(1, writes)) * 1000) / 1000;
    for (const rate of rates) {
      for (const fsync of modes) {
        const s = cells.get(`${rate} ${fsync}`)!;
        figures.push({
          rate,
          fsync,
          local: percentiles(s.local),
          crossNode: percentiles(s.cross),
          busAdds: percentiles(s.adds),
          singleNode: percentiles(s.single),
          sendLag: percentiles(s.lag),
          cpuMsPerWrite: { writerNode: perWrite(s.cpu[0]!, s.writes), otherNode: perWrite(s.cpu[1]!, s.writes), singleNode: perWrite(s.cpu[2]!, s.writes), redis: perWrite(s.redisCpu, s.writes) },
          scriptsPerWrite: Math.round((Math.max(0, s.scripts) / Math.max(1, s.writes)) * 100) / 100,
          missed: s.missed,
        });
      }
    }
    return figures;
  } finally {
    admin.disconnect();
    await Promise.all([closeSide(cluster), closeSide(single)]);
  }
}

/**
 * `n` writes at `rate` per second (open loop: each leaves at its time, answered or not; a timer tick sends
 * every write whose time has come), then waits for their pushes on every holder of the side. Returns each
 * write's send time by its text, and how late each was sent.
 */
async function writeAt(rate: number, n: number, s: Side, tag: string): Promise<{ sent: Map<string, number>; lag: number[] }> {
  const sent = new Map<string, number>();
  const lag: number[] = [];
  const calls: Promise<unknown>[] = [];
  const start = performance.now();
  for (let i = 0; i < n; ) {
    const now = performance.now();
    for (; i < n && start + (i * 1000) / rate <= now; i++) {
      const text = `${tag}.${i}`;
      const w = i % WRITERS;
      const at = performance.now();
      sent.set(text, at);
      lag.push(at - (start + (i * 1000) / rate));
      const video = s.videos[w]![i % s.videos[w]!.length]!;
      calls.push(s.writers[w]!.call('set_video_description', video.cap, text).catch(() => sent.delete(text)));
    }
    if (i < n) await new Promise((resolve) => setTimeout(resolve, Math.max(0, start + (i * 1000) / rate - performance.now())));
  }
  await Promise.all(calls);
  const deadline = performance.now() + 10_000;
  while (!s.arrived.every((m) => [...sent.keys()].every((t) => m.has(t))) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  return { sent, lag };
}

/** redis-server's CPU time so far (user + system), ms. */
async function redisCpuMs(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
}

/** Lua scripts redis-server ran so far (EVALSHA and EVAL calls). */
async function scriptsRun(admin: Redis): Promise<number> {
  const info = await admin.info('commandstats');
  let calls = 0;
  for (const m of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) calls += Number(m[2]);
  return calls;
}
