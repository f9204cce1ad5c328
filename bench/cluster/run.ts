import { callsPerSecond, redisBenchmark } from './calls.js';
import { busRatio, deliveryLatency, revocationLatency } from './inprocess.js';
import { startRedis } from './redis-server.js';

/** What `bench:cluster` measured (also what `--json` prints). */
export interface ClusterReport {
  readonly short: boolean;
  readonly busRatio: Awaited<ReturnType<typeof busRatio>>;
  readonly delivery: Awaited<ReturnType<typeof deliveryLatency>> & { rate: number };
  readonly revocation: Awaited<ReturnType<typeof revocationLatency>>;
  readonly calls: { baseline: Awaited<ReturnType<typeof callsPerSecond>>; redis: Awaited<ReturnType<typeof callsPerSecond>>[] };
  readonly redisBenchmark: Record<string, number> | undefined;
}

/**
 * `npm run bench:cluster`: several nodes on one Redis (a redis-server the bench starts, AOF with fsync
 * always), each figure beside a single-node baseline from the same run. `--short` runs each part briefly
 * (what the test does).
 */
export async function runClusterBench(short: boolean): Promise<ClusterReport> {
  const redis = await startRedis();
  try {
    const rate = short ? 100 : 1000;
    const ratio = await busRatio(redis.url, short ? 5 : 50, short ? 60 : 600);
    const delivery = { ...(await deliveryLatency(redis.url, rate, short ? 50 : 2000)), rate };
    const revocation = await revocationLatency(redis.url, short ? 20 : 300);
    const seconds = short ? 0.5 : 5;
    const perNode = short ? 2 : 8;
    const baseline = await callsPerSecond(undefined, 1, perNode, seconds);
    const withRedis = [];
    for (const n of short ? [1] : [1, 2, 3]) withRedis.push(await callsPerSecond(redis.url, n, perNode, seconds));
    const benchmark = await redisBenchmark(redis.port, short ? 2000 : 100_000);
    return { short, busRatio: ratio, delivery, revocation, calls: { baseline, redis: withRedis }, redisBenchmark: benchmark };
  } finally {
    await redis.stop();
  }
}

/** The report as a few readable lines. */
export function formatReport(r: ClusterReport): string {
  const lines = [`bench:cluster${r.short ? ' (short)' : ''}`];
  lines.push('bus messages per node / changes to objects its clients hold (3 nodes, disjoint sets; target 1.0):');
  for (const b of r.busRatio) lines.push(`  node ${b.node}: ${b.received} / ${b.relevant} = ${b.ratio}`);
  const d = r.delivery;
  lines.push(`write -> push latency at ${d.rate} writes/s, ms (p50 / p99, n):`);
  lines.push(`  one node, in memory (baseline): ${d.singleNode.p50} / ${d.singleNode.p99} (${d.singleNode.n})`);
  lines.push(`  Redis, holder on the writer's node: ${d.local.p50} / ${d.local.p99} (${d.local.n})`);
  lines.push(`  Redis, holder on another node:      ${d.crossNode.p50} / ${d.crossNode.p99} (${d.crossNode.n})`);
  lines.push(`revocation applied on every other node, ms: p50 ${r.revocation.p50}, p99 ${r.revocation.p99} (${r.revocation.n})`);
  lines.push(`calls/s (set_video_description, node processes on this machine):`);
  lines.push(`  1 node, SQLite in memory (baseline): ${r.calls.baseline.perSecond}`);
  for (const c of r.calls.redis) lines.push(`  ${c.nodes} node(s) on Redis: ${c.perSecond}`);
  lines.push(`redis-benchmark (requests/s, 20 clients): ${r.redisBenchmark ? Object.entries(r.redisBenchmark).map(([k, v]) => `${k} ${v}`).join(', ') : 'not installed'}`);
  return lines.join('\n');
}
