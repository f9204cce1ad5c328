import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `npm run bench:update` in its `--quick` form, bundled from the current sources with esbuild (as the other
 * bench tests do). Asserts the report's rows and the bench's own no-lost-update check, never a timing.
 */
describe('bench:update', () => {
  let buildDir: string;

  beforeAll(async () => {
    // Inside the worktree, so that the bundle's package imports resolve through its node_modules.
    buildDir = mkdtempSync(join(process.cwd(), '.bench-update-test-'));
    await build({ entryPoints: ['bench/update.ts'], outdir: buildDir, bundle: true, packages: 'external', platform: 'node', format: 'esm', target: 'node20', logLevel: 'error' });
  });

  afterAll(() => rmSync(buildDir, { recursive: true, force: true }));

  it('times update beside put on every store in one run, losing no concurrent update', async () => {
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      const child = spawn(process.execPath, [join(buildDir, 'update.js'), '--quick', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('exit', (exitCode) => resolve({ code: exitCode, output }));
    });
    expect(code, output).toBe(0);
    const rows = JSON.parse(output.trim().split('\n').at(-1)!) as { store: string; putUs: number; updateUs: number; burstUs: number }[];
    expect(rows.map((r) => r.store)).toEqual(['SQLite file (WAL)', 'SQLite :memory:', 'MemoryStore', 'no atomic update (read + ifVersion put)']);
    for (const row of rows) for (const value of [row.putUs, row.updateUs, row.burstUs]) expect(value).toBeGreaterThan(0);
  });
});
