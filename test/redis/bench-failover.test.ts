import { describe, expect, it } from 'vitest';
import { bundledBench } from '../bench-kit.js';

/**
 * `npm run bench:failover` in a short form (one round of each rate, one failover without and one with
 * `waitReplicas`), bundled from its sources: a real Cluster of 3 masters and 3 replicas. Asserts what the
 * report counts, never a timing: with `waitReplicas 1`, no acknowledged put is lost at a kill -9 failover.
 */
const bench = bundledBench('failover', 'bench/cluster', ['bench/cluster/failover.ts']);

describe('bench:failover --short', () => {
  // About 35 s alone; a full parallel run on 2 CPUs once took it past 120 s (the bound it had then, with no
  // output to say where): it now has 240 s, and is ended with what it printed by then at 225 s.
  it('reports both write rates, and loses no acknowledged put at a failover with waitReplicas', { timeout: 240_000 }, async () => {
    const { code, output } = await bench.run('failover.js', ['--short', '--json'], 225_000);
    expect(code, output).toBe(0);
    const report = JSON.parse(output.slice(output.indexOf('{'), output.lastIndexOf('}') + 1)) as {
      writeRate: Record<string, { off: number; on: number }>;
      losses: { wait: boolean; acked: number; lost: number }[];
    };
    for (const lanes of ['1', '64']) expect(report.writeRate[lanes]!.on, output).toBeGreaterThan(0);
    expect(report.losses.map((l) => l.wait)).toEqual([false, true]);
    for (const l of report.losses) expect(l.acked, output).toBeGreaterThan(0);
    expect(report.losses[1]!.lost, output).toBe(0);
  });
});
