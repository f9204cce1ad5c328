import { describe, expect, it } from 'vitest';
import { bundledBench } from '../bench-kit.js';

/**
 * `npm run bench:fanout` in a short form: a few hundred holders, one round per server kind. It checks that
 * every kind delivers the push to every holder (the runner waits for all of them) and reports the figures
 * the README quotes; the timings themselves are the long run's business on a machine this shared.
 */
const bench = bundledBench('fanout', 'bench/fanout', ['bench/fanout/run.ts']);
const run = (args: string[]) => bench.run('run.js', args);

describe('bench:fanout (short form)', () => {
  it('pushes one write to every holder of a raw ws server and of capsync in timed slices, beside a bystander', async () => {
    const { code, output } = await run(['--holders', '100', '--kinds', 'ws,time', '--rounds', '1', '--quiet-ms', '200', '--json']);
    expect(code, output).toBe(0);
    const rows = JSON.parse(output.trim().split('\n').pop()!) as {
      kind: string; holders: number; rounds: number; lastDeliveryMs: number; maxStallCpuMs: number; bystanderP99BetweenMs: number;
    }[];
    expect(rows.map((r) => r.kind)).toEqual(['ws', 'time']);
    for (const r of rows) {
      expect(r.holders).toBe(100);
      expect(r.rounds).toBe(1);
      expect(r.lastDeliveryMs).toBeGreaterThan(0);
      expect(r.maxStallCpuMs).toBeGreaterThanOrEqual(0);
    }
    // The bystander was served while the server had 100 holders.
    expect(rows[1]!.bystanderP99BetweenMs).toBeGreaterThan(0);
  }, 120_000);
});
