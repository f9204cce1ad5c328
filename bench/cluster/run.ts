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
  /** Undefined when the part did not run (`--parts`), as `calls`. */
  readonly revocation: Awaited<ReturnType<typeof revocationLatency>> | undefined;
  readonly calls: { readonly baseline: CallsFigure; readonly redis: (CallsFigure & { fsync: Fsync })[] } | undefined;
  readonly redisBenchmark: { readonly fsync: Fsync; readonly figures: Record<string, number> | undefined }[];
  /** One node on SQLite, then three on Redis (appendfsync always), the same number of holders. */
  readonly fanout: FanoutFigure[];
}

/**
 * `npm run bench:cluster`: several nodes on one Redis (a redis-server the bench starts with AOF on), each
 * figure beside a single-node baseline from the same run, the fsync modes (`appendfsync always` / `everysec` / `no`,
 * switched with CONFIG SET) interleaved. `--short` runs each part briefly (what the test does).
 */
/** The parts of the bench, in the order it runs them; `--parts` picks some. */
export const parts = ['bus', 'delivery', 'revocation', 'calls', 'redis-benchmark', 'fanout'] as const;
export type Part = (typeof parts)[number];

export async function runClusterBench(short: boolean, fanoutHolders?: number, only: readonly Part[] = parts): Promise<ClusterReport> {
  const before = loadavg()[0]!;
  const redis = await startRedis();
  const admin = new Redis(redis.url, { lazyConnect: true });
  await admin.connect();
  const fsync = async (mode: Fsync): Promise<void> => void (await admin.config('SET', 'appendfsync', mode));
  const want = (part: Part): boolean => only.includes(part);
  try {
    const ratio = want('bus') ? await busRatio(redis.url, short ? 5 : 50, short ? 60 : 600) : [];
    const delivery = want('delivery')
      ? await deliveryLatency(redis.url, short ? [100] : [100, 500, 1000], ['always', 'everysec'], (rate) => (short ? 30 : Math.max(600, rate * 3)), short ? 1 : 3)
      : [];
    const revocation = want('revocation') ? await revocationLatency(redis.url, short ? 20 : 300) : undefined;
    let calls: ClusterReport['calls'];
    if (want('calls')) {
      const seconds = short ? 0.5 : 4;
      const perNode = short ? 2 : 8;
      const baseline = await callsPerSecond(undefined, 1, perNode, seconds);
      const withRedis: (CallsFigure & { fsync: Fsync })[] = [];
      for (const n of short ? [1] : [1, 2, 3]) {
        for (const mode of short ? (['always'] as const) : (['always', 'no'] as const)) {
          await fsync(mode);
          // Grouped (a turn's writes as one script) beside one script per write, back to back: the grouping's baseline.
          for (const grouped of [true, false]) withRedis.push({ ...(await callsPerSecond(redis.url, n, perNode, seconds, 'own', grouped)), fsync: mode });
        }
      }
      if (!short) {
        await fsync('always');
        withRedis.push({ ...(await callsPerSecond(redis.url, 3, perNode, seconds, 'shared')), fsync: 'always' });
      }
      calls = { baseline, redis: withRedis };
    }
    const benchmark: ClusterReport['redisBenchmark'][number][] = [];
    if (want('redis-benchmark')) {
      for (const mode of ['always', 'no'] as const) {
        await fsync(mode);
        benchmark.push({ fsync: mode, figures: await redisBenchmark(redis.port, short ? 2000 : 50_000) });
      }
    }
    await fsync('always');
    const holders = fanoutHolders ?? (short ? 30 : 10_000);
    const fanout = want('fanout') ? [await fanoutTo(undefined, 1, holders, short ? 2 : 5), await fanoutTo(redis.url, 3, holders, short ? 2 : 5)] : [];
    return { short, load: { before, after: loadavg()[0]! }, busRatio: ratio, delivery, revocation, calls, redisBenchmark: benchmark, fanout };
  } finally {
    admin.disconnect();
    await redis.stop();
  }
}

/** The report as a few readable lines. */
export function formatReport(r: ClusterReport): string {
  const lines = [`bench:cluster${r.short ? ' (short)' : ''}; load average ${r.load.before.toFixed(1)} before, ${r.load.after.toFixed(1)} after (2 cores)`];
  if (r.busRatio.length > 0) lines.push('bus messages per node / changes to objects its clients hold (3 nodes, disjoint sets; target 1.0):');
  for (const b of r.busRatio) lines.push(`  node ${b.node}: ${b.received} / ${b.relevant} = ${b.ratio}`);
  if (r.delivery.length > 0) lines.push('write -> push latency, ms, p50 / p99 (n): set_video_description (keyed) open loop from 8 connections over 50 videos; node processes;');
  if (r.delivery.length > 0) lines.push('the same writes timed on the writer\'s node and on another node; send lag: how late the bench sent them (its own saturation):');
  if (r.delivery.length > 0) lines.push('  rate/s  appendfsync  ' + ['one node, SQLite', 'Redis, local', 'Redis, cross-node', 'cross minus local', 'send lag'].map((h) => h.padEnd(24)).join('') + 'CPU ms/write: writer node, other, single, redis; scripts/write');
  const cell = (p: { p50: number; p99: number; n: number }): string => `${p.p50} / ${p.p99} (${p.n})`.padEnd(24);
  for (const d of r.delivery) {
    const cpu = d.cpuMsPerWrite;
    lines.push(`  ${String(d.rate).padEnd(8)}${d.fsync.padEnd(13)}${cell(d.singleNode)}${cell(d.local)}${cell(d.crossNode)}${cell(d.busAdds)}${`${d.sendLag.p50} / ${d.sendLag.p99}`.padEnd(24)}${cpu.writerNode}, ${cpu.otherNode}, ${cpu.singleNode}, ${cpu.redis}; ${d.scriptsPerWrite}${d.missed > 0 ? `; ${d.missed} pushes MISSED` : ''}`);
  }
  if (r.revocation) lines.push(`revocation applied on every other node, ms: p50 ${r.revocation.p50}, p99 ${r.revocation.p99} (${r.revocation.n})`);
  if (r.calls) lines.push('calls/s (set_video_description, back to back, node processes on this machine; node CPU ms per call):');
  const calls = (c: CallsFigure): string => `${c.perSecond} calls/s, ${c.nodeCpuMsPerCall} ms CPU/call${c.staleRefusals > 0 ? `, ${c.staleRefusals} refused (feed stale) and retried` : ''}`;
  if (r.calls) lines.push(`  1 node, SQLite in memory (baseline), own videos: ${calls(r.calls.baseline)}`);
  for (const c of r.calls?.redis ?? []) {
    lines.push(`  ${c.nodes} node(s) on Redis, appendfsync ${c.fsync}, ${c.objects === 'own' ? 'own videos' : 'all on the 3 demo videos'}${c.grouped ? '' : ', one script per write'}: ${calls(c)}`);
  }
  for (const b of r.redisBenchmark) {
    lines.push(`redis-benchmark, appendfsync ${b.fsync} (requests/s, 20 clients): ${b.figures ? Object.entries(b.figures).map(([k, v]) => `${k} ${v}`).join(', ') : 'not installed'}`);
  }
  if (r.fanout.length > 0) lines.push('fan-out: one write pushed to every holder, presence off (time to the last holder, median of the rounds; every arrival p50 / p99), ms:');
  for (const f of r.fanout) {
    lines.push(`  ${f.holders} holders on ${f.nodes === 1 ? '1 node, SQLite (baseline)' : `${f.nodes} nodes on Redis`}: last ${f.lastHolder}, arrivals ${f.arrivals.p50} / ${f.arrivals.p99}${f.missed > 0 ? `, ${f.missed} pushes MISSED` : ''}`);
    f.perNode.forEach((n, i) => lines.push(`    node ${i}: last holder ${n.lastHolder}, stall ${n.stallMs} ms wall / ${n.stallCpuMs} ms CPU (worst ${n.worstStallMs})`));
  }
  return lines.join('\n');
}
