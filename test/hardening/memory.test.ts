import { describe, expect, it } from 'vitest';
import { bundledBench } from '../bench-kit.js';

/**
 * `npm run bench:memory` in a short form: the server child measures, after full collections (`--expose-gc`),
 * what it keeps per held capability. A deterministic figure (retained bytes), not a timing. Before the fix
 * each held capability kept about 29 KB (its block and token bytes were views into fresh 8 KiB buffers).
 */
const bench = bundledBench('memory', 'bench/memory', ['bench/memory/run.ts', 'bench/memory/child.ts']);
const run = (args: string[]) => bench.run('run.js', args);

describe('bench:memory (short form)', () => {
  it('keeps a held capability under 8 KB of server memory (it was about 29 KB), ArrayBuffers under 1 KB', async () => {
    const { code, output } = await run(['--held', '1500', '--connections', '50', '--waves', '1', '--json']);
    expect(code, output).toBe(0);
    const report = JSON.parse(output.trim().split('\n').pop()!) as {
      held: { held: number; arrayBuffersPerCap: number; totalPerCap: number }[];
      idle: { mode: string; heapPerConnection: number }[];
    };
    expect(report.held[0]!.held).toBeGreaterThanOrEqual(1500);
    expect(report.held[0]!.arrayBuffersPerCap).toBeLessThan(1_000);
    expect(report.held[0]!.totalPerCap).toBeLessThan(8_000);
    expect(report.idle.map((r) => r.mode)).toEqual(['ws', 'capsync']);
  }, 120_000);
});
