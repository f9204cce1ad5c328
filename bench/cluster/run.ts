import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { callsPerSecond, redisBenchmark, type CallsFigure } from './calls.js';
import { fanoutTo, type FanoutFigure } from './fanout.js';
import { deliveryLatency, type DeliveryFigures, type Fsync } from './delivery.js';
import { busRatio, revocationLatency } from './inprocess.js';
import { startRedis } from './redis-server.js';

/** What `bench:cluster` measured (also what `--json` prints). */
export interface ClusterReport {
  readonly short: boolean;
  /** The 1-minute load average before and after the run (2 cores, shared). */
  readonly load: { readonly before: number; readonly after: number };
  readonly busRatio: Awaited<ReturnType<typeof busRatio>>;
  readonly delivery: DeliveryFigures[];
  readonly revocation: Awaited<ReturnType<typeof revocationLatency>>;
  readonly calls: { readonly baseline: CallsFigure; readonly redis: (CallsFigure & { fsync: Fsync })[] };
  readonly redisBenchmark: { readonly fsync: Fsync; readonly figures: Record<string, number> | undefined }[];
  /** One node on SQLite, then three on Redis (appendfsync always), the same number of holders. */
  readonly fanout: FanoutFigure[];
}

/**
 * `npm run bench:cluster`: several nodes on one Redis (a redis-server the bench starts with AOF on), each
 * figure beside a single-node baseline from the same run, the fsync modes (`appendfsync always` / `no`,
 * switched with CONFIG SET) interleaved. `--short` runs each part briefly (what the test does).
 */
export async function runClusterBench(short: boolean, fanoutHolders?: number): Promise<ClusterReport> {
  const before = loadavg()[0]!;
  const redis = await startRedis();
  const admin = new Redis(redis.url, { lazyConnect: true });
  await admin.connect();
  const fsync = async (mode: Fsync): Promise<void> => void (await admin.config('SET', 'appendfsync', mode));
  try {
    const ratio = await busRatio(redis.url, short ? 5 : 50, short ? 60 : 600);
    const delivery = await deliveryLatency(
      redis.url,
      short ? [100] : [100, 1000],
      short ? ['always', 'no'] : ['always', 'everysec', 'no'],
      (rate) => (short ? 30 : rate === 1000 ? 3000 : 600),
      short ? 1 : 3,
    );
    const revocation = await revocationLatency(redis.url, short ? 20 : 300);
    const seconds = short ? 0.5 : 4;
    const perNode = short ? 2 : 8;
    const baseline = await callsPerSecond(undefined, 1, perNode, seconds);
    const withRedis: (CallsFigure & { fsync: Fsync })[] = [];
    for (const n of short ? [1] : [1, 2, 3]) {
      for (const mode of short ? (['always'] as const) : (['always', 'no'] as const)) {
        await fsync(mode);
        withRedis.push({ ...(await callsPerSecond(redis.url, n, perNode, seconds)), fsync: mode });
      }
    }
    if (!short) {
      await fsync('always');
      withRedis.push({ ...(await callsPerSecond(redis.url, 3, perNode, seconds, 'shared')), fsync: 'always' });
    }
    const benchmark: ClusterReport['redisBenchmark'][number][] = [];
    for (const mode of ['always', 'no'] as const) {
      await fsync(mode);
      benchmark.push({ fsync: mode, figures: await redisBenchmark(redis.port, short ? 2000 : 50_000) });
    }
    await fsync('always');
    const holders = fanoutHolders ?? (short ? 30 : 10_000);
    const fanout = [await fanoutTo(undefined, 1, holders, short ? 2 : 5), await fanoutTo(redis.url, 3, holders, short ? 2 : 5)];
    return { short, load: { before, after: loadavg()[0]! }, busRatio: ratio, delivery, revocation, calls: { baseline, redis: withRedis }, redisBenchmark: benchmark, fanout };
  } finally {
    admin.disconnect();
    await redis.stop();
  }
}

/** The report as a few readable lines. */
export function formatReport(r: ClusterReport): string {
  const lines = [`bench:cluster${r.short ? ' (short)' : ''}; load average ${r.load.before.toFixed(1)} before, ${r.load.after.toFixed(1)} after (2 cores)`];
  lines.push('bus messages per node / changes to objects its clients hold (3 nodes, disjoint sets; target 1.0):');
  for (const b of r.busRatio) lines.push(`  node ${b.node}: ${b.received} / ${b.relevant} = ${b.ratio}`);
  lines.push('write -> push latency, ms, p50 / p99 (n); the same writes timed on the writer\'s node and on another node:');
  lines.push('  rate/s  appendfsync  ' + ['one node in memory', 'Redis, local', 'Redis, cross-node', 'cross minus local'].map((h) => h.padEnd(24)).join(''));
  const cell = (p: { p50: number; p99: number; n: number }): string => `${p.p50} / ${p.p99} (${p.n})`.padEnd(24);
  for (const d of r.delivery) lines.push(`  ${String(d.rate).padEnd(8)}${d.fsync.padEnd(13)}${cell(d.singleNode)}${cell(d.local)}${cell(d.crossNode)}${cell(d.busAdds)}`);
  lines.push(`revocation applied on every other node, ms: p50 ${r.revocation.p50}, p99 ${r.revocation.p99} (${r.revocation.n})`);
  lines.push('calls/s (set_video_description, back to back, node processes on this machine; node CPU ms per call):');
  const calls = (c: CallsFigure): string => `${c.perSecond} calls/s, ${c.nodeCpuMsPerCall} ms CPU/call${c.staleRefusals > 0 ? `, ${c.staleRefusals} refused (feed stale) and retried` : ''}`;
  lines.push(`  1 node, SQLite in memory (baseline), own videos: ${calls(r.calls.baseline)}`);
  for (const c of r.calls.redis) lines.push(`  ${c.nodes} node(s) on Redis, appendfsync ${c.fsync}, ${c.objects === 'own' ? 'own videos' : 'all on the 3 demo videos'}: ${calls(c)}`);
  for (const b of r.redisBenchmark) {
    lines.push(`redis-benchmark, appendfsync ${b.fsync} (requests/s, 20 clients): ${b.figures ? Object.entries(b.figures).map(([k, v]) => `${k} ${v}`).join(', ') : 'not installed'}`);
  }
  lines.push('fan-out: one write pushed to every holder (time to the last holder, median of the rounds; every arrival p50 / p99), ms:');
  for (const f of r.fanout) lines.push(`  ${f.holders} holders on ${f.nodes === 1 ? '1 node, SQLite (baseline)' : `${f.nodes} nodes on Redis`}: last ${f.lastHolder}, arrivals ${f.arrivals.p50} / ${f.arrivals.p99}${f.missed > 0 ? `, ${f.missed} pushes MISSED` : ''}`);
  return lines.join('\n');
}
