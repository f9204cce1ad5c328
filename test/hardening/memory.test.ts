import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `npm run bench:memory` in a short form: the server child measures, after full collections (`--expose-gc`),
 * what it keeps per held capability. A deterministic figure (retained bytes), not a timing. Before the fix
 * each held capability kept about 29 KB (its block and token bytes were views into fresh 8 KiB buffers).
 */
const outdir = join('node_modules', '.cache', `capsync-bench-memory-test-${process.pid}`);

beforeAll(async () => {
  await build({
    entryPoints: ['bench/memory/run.ts', 'bench/memory/child.ts'], outbase: 'bench/memory', outdir,
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
