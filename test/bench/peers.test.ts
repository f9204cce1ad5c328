import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOptions } from '../../bench/peers/options.js';
import type { Report } from '../../bench/peers/report.js';
import { median, quantile } from '../../bench/peers/stats.js';

const SYSTEMS = ['floor', 'capsync', 'socketio', 'capnweb'];
/** The calls benchmark also runs capsync without call keys (its fan-out would be capsync's). */
const CALL_SYSTEMS = ['floor', 'capsync', 'capsync-unkeyed', 'socketio', 'capnweb'];

/**
 * The benchmark runs compiled children (`child_process.fork`). They are bundled from the current sources with
 * esbuild, under node_modules/.cache so that their package imports resolve, rather than taken from a dist/
 * that may be stale.
 */
async function buildBenchmark(outdir: string): Promise<void> {
  const entry = (dir: string) => readdirSync(join('bench/peers', dir)).filter((f) => f.endsWith('.ts') && f !== 'harness.ts').map((f) => join('bench/peers', dir, f));
  await build({
    entryPoints: ['bench/peers/run.ts', 'bench/peers/inproc.ts', ...entry('servers'), ...entry('clients')],
    outbase: 'bench/peers',
    outdir,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    // Shared chunks: the one-process form loads a server and its client into one process, which must then
    // share one copy of capsync (msgpackr's extension registry is global).
    splitting: true,
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

describe('bench:peers', () => {
  const children: ChildProcess[] = [];
  let buildDir: string;
  let outDir: string;

  beforeAll(async () => {
    buildDir = join('node_modules', '.cache', `capsync-bench-test-${process.pid}`);
    outDir = mkdtempSync(join(tmpdir(), 'capsync-bench-'));
    await buildBenchmark(buildDir);
  });

  afterAll(() => {
    // The runner's children exit when it does (their IPC channel closes), so ending the runner ends them all.
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(buildDir, { recursive: true, force: true });
    rmSync(outDir, { recursive: true, force: true });
  });

  it('gets an answer from every system and writes the report and the chart', async () => {
    const { code, output } = await run(
      join(buildDir, 'run.js'),
      ['--rounds', '1', '--fanout-rounds', '1', '--duration', '0.7', '--warmup', '0.2', '--connections', '4', '--fanout', '20', '--updates', '2', '--holdings', '5', '--out', outDir],
      children,
    );
    expect(code, output).toBe(0);
    expect(output).toContain('Targets (issues 6 and 15)');
    expect(output).toContain('in one process');

    const report = JSON.parse(readFileSync(join(outDir, 'peers.json'), 'utf8')) as Report;
    expect(report.calls.map((r) => r.system)).toEqual(CALL_SYSTEMS);
    for (const row of report.calls) {
      expect(row.errors, row.system).toBe(0);
      expect(row.callsPerSecond, row.system).toBeGreaterThan(0);
      expect(row.p99Ms, row.system).toBeGreaterThan(0);
      expect(row.serverCpuSeconds, row.system).toBeGreaterThan(0);
      expect(row.serverPeakRssMb, row.system).toBeGreaterThan(0);
    }
    expect(report.calls[0]!.ratio).toBe(1);
    // The same calls with each server and its load in one process.
    expect(report.callsInProcess.map((r) => r.system)).toEqual(CALL_SYSTEMS);
    for (const row of report.callsInProcess) {
      expect(row.errors, row.system).toBe(0);
      expect(row.callsPerSecond, row.system).toBeGreaterThan(0);
    }
    expect(report.options.holdings).toBe(5);
    expect(report.fanout.map((r) => r.system)).toEqual(SYSTEMS);
    for (const row of report.fanout) {
      expect(row.minReceived, row.system).toBe(20);
      expect(row.lastDeliveryMs, row.system).toBeGreaterThan(0);
    }
    expect(report.targets).toHaveLength(8);

    const svg = readFileSync(join(outDir, 'peers.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('capsync');
  }, 180_000);

  it('refuses an unknown system before starting anything', async () => {
    const { code, output } = await run(join(buildDir, 'run.js'), ['--systems', 'grpc', '--out', outDir], children);
    expect(code).toBe(2);
    expect(output).toContain('unknown system "grpc"');
  });
});

describe('bench:peers options and statistics', () => {
  it('runs one short round with --quick, and always keeps the floor', () => {
    const options = parseOptions(['--quick', '--systems', 'capsync']);
    expect(options).toMatchObject({ rounds: 1, inProcessRounds: 1, holdings: 100, fanoutRounds: 1, durationSeconds: 2, fanout: [1000], systems: ['floor', 'capsync'] });
  });

  it('skips the fan-out with --fanout 0 and the one-process calls with --in-process-rounds 0', () => {
    expect(parseOptions(['--fanout', '0', '--in-process-rounds', '0'])).toMatchObject({ fanout: [], inProcessRounds: 0 });
  });

  it('runs the baseline build only when given one with --baseline', () => {
    expect(parseOptions([]).systems).not.toContain('capsync-baseline');
    expect(() => parseOptions(['--systems', 'capsync-baseline'])).toThrow('--baseline');
    expect(parseOptions(['--systems', 'capsync,capsync-baseline', '--baseline', 'old/dist'])).toMatchObject({
      systems: ['floor', 'capsync', 'capsync-baseline'],
      baseline: 'old/dist',
    });
  });

  it('rejects a duration that is not a number', () => {
    expect(() => parseOptions(['--duration', 'soon'])).toThrow('--duration');
  });

  it('takes nearest-rank quantiles and medians that ignore failed rounds', () => {
    const sorted = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantile(sorted, 0.5)).toBe(50);
    expect(quantile(sorted, 0.99)).toBe(99);
    expect(median([3, Number.NaN, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});
