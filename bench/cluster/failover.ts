import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { benchArgs } from '../args.js';
import { connectRedis, type RedisBackend } from '../../server/redis/index.js';
import { slotOf } from '../../server/redis/wait-replicas.js';
import { startRedisCluster, type RedisCluster } from './redis-cluster.js';
import { traffic } from './traffic.js';

/**
 * `npm run build && node dist/bench/cluster/failover.js [--short] [--json]`: what `waitReplicas` costs and buys on
 * a Redis Cluster of 3 masters and 3 replicas (AOF, appendfsync always, cluster-node-timeout 1 s), one node's store:
 * - write rate: acknowledged puts per second with `lanes` puts in flight, without and with `waitReplicas: 1`,
 *   rounds interleaved (the median of each);
 * - loss at a failover: the same traffic, the master of the store's slot killed (kill -9) under it, the replica
 *   promoted, the old master started again as its replica; then every acknowledged put (4 KiB states, to keep
 *   the replication stream busy) is read back and the missing ones counted, without and with `waitReplicas: 1`.
 */

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const started = performance.now();
/** A step done, on stderr with the seconds since the start: a run that never ends shows where it was. */
const step = (what: string): void => void process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${what}\n`);

/** A node's backend under a fresh prefix (so on whichever master its slot lands), and that slot. */
async function backendOn(cluster: RedisCluster, wait: boolean): Promise<{ backend: RedisBackend; slot: number }> {
  const prefix = `{b${randomUUID().slice(0, 8)}}:`;
  const backend = await connectRedis({ url: cluster.urls.join(','), cluster: true, prefix, ...(wait ? { waitReplicas: { replicas: 1, timeoutMs: 1000 } } : {}) });
  return { backend, slot: slotOf(prefix) };
}

/** Acknowledged puts per second over `ms` (after a short warm-up). */
async function writeRate(cluster: RedisCluster, wait: boolean, lanes: number, ms: number): Promise<number> {
  const { backend } = await backendOn(cluster, wait);
  try {
    const t = traffic(backend, lanes, 64);
    await pause(200);
    const from = t.acked.length;
    const start = performance.now();
    await pause(ms);
    const rate = ((t.acked.length - from) * 1000) / (performance.now() - start);
    await t.stop();
    return rate;
  } finally {
    await backend.store.close();
  }
}

/** One failover under traffic: acknowledged puts, how many of them are lost, and how many failed. */
async function failover(cluster: RedisCluster, wait: boolean, lanes: number, bytes: number): Promise<{ acked: number; lost: number; failed: number; gapMs: number }> {
  const { backend, slot } = await backendOn(cluster, wait);
  try {
    const { master, replicas } = await cluster.roles(slot);
    const replica = replicas[0]!;
    const t = traffic(backend, lanes, bytes);
    await pause(500);
    await cluster.signal(master, 'SIGKILL');
    step(`failover (waitReplicas ${wait ? 1 : 'off'}): master ${master} killed`);
    await cluster.logged(replica, /Failover election won/);
    step(`replica ${replica} won the election`);
    await cluster.restart(master);
    await cluster.synced(replica, master);
    step(`${master} restarted and synced as its replica`);
    // Traffic goes on until writes are acknowledged again for a while.
    const resumed = t.acked.length;
    const deadline = Date.now() + 20_000;
    while (t.acked.length < resumed + 200 && Date.now() < deadline) await pause(50);
    step(`${t.acked.length - resumed} puts acknowledged since`);
    await t.stop();
    step('traffic stopped');
    const found = await Promise.all(t.acked.map((k) => backend.store.get(['w', k])));
    step(`${found.length} acknowledged puts read back`);
    return { acked: t.acked.length, lost: found.filter((o) => o === undefined).length, failed: t.failed, gapMs: Math.round(t.longestGapMs) };
  } finally {
    await backend.store.close();
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const { values } = benchArgs('bench:failover', { options: { short: { type: 'boolean' }, json: { type: 'boolean' } } });
const short = values.short ?? false;
const load = { before: loadavg()[0]! };
const cluster = await startRedisCluster({ replicas: 1, nodeTimeoutMs: 1000 });
try {
  const lanes = [1, 64];
  const rounds = short ? 1 : 3;
  const ms = short ? 500 : 2000;
  const rates: Record<string, { off: number[]; on: number[] }> = {};
  // A warm-up round, not counted (the replicas' first sync and AOF rewrite may still run).
  await writeRate(cluster, false, 64, ms);
  await writeRate(cluster, true, 64, ms);
  for (const l of lanes) {
    rates[l] = { off: [], on: [] };
    for (let r = 0; r < rounds; r++) {
      rates[l]!.off.push(await writeRate(cluster, false, l, ms));
      rates[l]!.on.push(await writeRate(cluster, true, l, ms));
    }
  }
  step('write rates measured');
  const losses: { wait: boolean; acked: number; lost: number; failed: number; gapMs: number }[] = [];
  for (let r = 0; r < (short ? 1 : 3); r++) {
    for (const wait of [false, true]) losses.push({ wait, ...(await failover(cluster, wait, 64, 4096)) });
  }
  const report = {
    short,
    load: { ...load, after: loadavg()[0]! },
    writeRate: Object.fromEntries(lanes.map((l) => [l, { off: Math.round(median(rates[l]!.off)), on: Math.round(median(rates[l]!.on)), ratio: +(median(rates[l]!.on) / median(rates[l]!.off)).toFixed(2) }])),
    losses,
  };
  if (values.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else {
    const lines = [`load average ${report.load.before.toFixed(2)} -> ${report.load.after.toFixed(2)} (1 min)`];
    for (const l of lanes) {
      const w = report.writeRate[l]!;
      lines.push(`acknowledged puts/s, ${l} in flight: ${w.off} without waitReplicas, ${w.on} with waitReplicas 1 (x${w.ratio})`);
    }
    for (const x of losses) lines.push(`failover under 64 puts of 4 KiB in flight, waitReplicas ${x.wait ? 1 : 'off'}: ${x.acked} acknowledged, ${x.lost} lost, ${x.failed} failed, writes stopped for ${x.gapMs} ms`);
    process.stdout.write(lines.join('\n') + '\n');
  }
} finally {
  await cluster.stop();
}
process.exit(0);
