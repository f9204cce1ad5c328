import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simulateBackoff } from '../../bench/resume/model.js';
import { parseOptions } from '../../bench/resume/options.js';
import type { Report } from '../../bench/resume/report.js';

/**
 * `npm run bench:resume` in a short form, bundled from the current sources with esbuild (as test/bench/peers.test.ts
 * does). Asserts the report's structure and its correctness checks, never a timing.
 */
async function buildBenchmark(outdir: string): Promise<void> {
  await build({
    entryPoints: ['bench/resume/run.ts', 'bench/resume/server.ts', 'bench/resume/load.ts'],
    outbase: 'bench/resume',
    outdir,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'error',
  });
}

function run(script: string, args: string[], children: ChildProcess[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => resolve({ code, output }));
  });
}

describe('bench:resume', () => {
  const children: ChildProcess[] = [];
  let buildDir: string;
  let outDir: string;

  beforeAll(async () => {
    // Inside the worktree, so that the bundles' package imports resolve through its node_modules.
    buildDir = mkdtempSync(join(process.cwd(), '.bench-resume-test-'));
    outDir = mkdtempSync(join(tmpdir(), 'capsync-bench-resume-'));
    await buildBenchmark(buildDir);
  });

  afterAll(() => {
    // The runner's children exit when it does (their IPC channel closes), so ending the runner ends them all.
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(buildDir, { recursive: true, force: true });
    rmSync(outDir, { recursive: true, force: true });
  });

  it('times incremental and snapshot resumes beside their baselines, and a herd after kill -9, with every check met', async () => {
    const args = ['--quick', '--rounds', '1', '--repetitions', '4', '--clients', '40', '--herd-rounds', '1', '--out', outDir];
    const { code, output } = await run(join(buildDir, 'run.js'), args, children);
    expect(code, output).toBe(0);
    expect(output).toContain('Checks and targets:');

    const report = JSON.parse(readFileSync(join(outDir, 'resume.json'), 'utf8')) as Report;
    expect(report.benchmark).toBe('resume');
    const latency = report.latency!;
    expect(latency.result).toMatchObject({ capabilities: 100, cards: 1000, changed: 10 });
    expect(latency.rows.map((r) => r.kind)).toEqual(['incremental', 'snapshot', 'reload', 'floorIncremental', 'floorSnapshot']);
    for (const row of latency.rows) {
      expect(row.p50Ms, row.kind).toBeGreaterThan(0);
      expect(row.p99Ms, row.kind).toBeGreaterThanOrEqual(row.p50Ms);
      expect(Number.isFinite(row.p50xReload), row.kind).toBe(true);
    }
    // Exactly the 10 changed cards, every time, and the client's own instances have their new versions.
    const inc = latency.result.incrementalStates;
    expect(inc.count).toBe(4);
    expect(inc).toMatchObject({ min: 10, max: 10, exact: 4, applied: 4 });
    expect(latency.result.snapshotStates).toMatchObject({ min: 1000, max: 1000, exact: 8, count: 8 });
    expect(latency.result.reloadCards).toBe(1000);

    const herd = report.herd!;
    expect(herd.rounds).toHaveLength(1);
    const [round] = herd.rounds;
    expect(round).toMatchObject({ clients: 40, resumed: 40, gaveUp: 0, exactStates: 40, mismatched: 0 });
    expect(round!.downtimeMs).toBeGreaterThan(0);
    expect(round!.resumeMs.last).toBeGreaterThanOrEqual(round!.resumeMs.p50);
    expect(round!.serverCpu.herdSeconds).toBeGreaterThan(0);
    expect(round!.model.lastMs).toBeGreaterThan(0);
    for (const check of report.checks.filter((c) => c.kind === 'check')) expect(check.met, `${check.what}: ${check.detail}`).toBe(true);
  }, 120_000);

  it('refuses a bad option before starting anything', async () => {
    const { code, output } = await run(join(buildDir, 'run.js'), ['--clients', 'many'], children);
    expect(code).toBe(2);
    expect(output).toContain('--clients');
  });
});

describe('bench:resume options and the backoff model', () => {
  it('has a short form and a full one', () => {
    expect(parseOptions(['--quick'])).toMatchObject({ rounds: 2, repetitions: 8, clients: 200, loadProcesses: 1 });
    expect(parseOptions([])).toMatchObject({ rounds: 5, clients: 10_000, loadProcesses: 2, herdRounds: 3 });
  });

  it('models the default backoff: a server that never went down takes one dial within the first 0.5 s', () => {
    const model = simulateBackoff(1000, 0, 0, 5);
    expect(model.meanDials).toBe(1);
    expect(model.lastMs).toBeLessThan(500);
    const down = simulateBackoff(1000, 0, 2000, 5);
    expect(down.meanDials).toBeGreaterThan(1);
    expect(down.lastMs).toBeGreaterThanOrEqual(2000);
  });
});
