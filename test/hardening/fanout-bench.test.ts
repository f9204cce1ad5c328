import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `npm run bench:fanout` in a short form: a few hundred holders, one round per server kind. It checks that
 * every kind delivers the push to every holder (the runner waits for all of them) and reports the figures
 * the README quotes; the timings themselves are the long run's business on a machine this shared.
 */
const outdir = join('node_modules', '.cache', `capsync-bench-fanout-test-${process.pid}`);

beforeAll(async () => {
  await build({
    entryPoints: ['bench/fanout/run.ts'], outbase: 'bench/fanout', outdir,
    bundle: true, packages: 'external', platform: 'node', format: 'esm', target: 'node20', logLevel: 'error',
  });
});
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

function run(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(outdir, 'run.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

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
