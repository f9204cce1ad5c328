import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll } from 'vitest';

/**
 * A benchmark's short form in a test: bundles `entryPoints` (under `outbase`) once before the file's tests
 * into a folder of its own, removed after them, and runs one of the bundled scripts as a child process,
 * resolving with its exit code and everything it printed.
 */
export function bundledBench(name: string, outbase: string, entryPoints: string[]): { run(script: string, args: string[], limitMs?: number): Promise<{ code: number | null; output: string }> } {
  const outdir = join('node_modules', '.cache', `capsync-bench-${name}-test-${process.pid}`);
  beforeAll(async () => {
    await build({ entryPoints, outbase, outdir, bundle: true, packages: 'external', platform: 'node', format: 'esm', target: 'node20', logLevel: 'error' });
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));
  return {
    run: (script, args, limitMs) =>
      new Promise((resolve) => {
        // Its own process group, so that a run past `limitMs` ends with everything it started (a Redis
        // Cluster's servers among them) and the output so far says where it was.
        const child = spawn(process.execPath, [join(outdir, script), ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: limitMs !== undefined });
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
        const limit = limitMs === undefined ? undefined : setTimeout(() => {
          output += `\n[killed after ${limitMs} ms]\n`;
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            child.kill('SIGKILL');
          }
        }, limitMs);
        child.on('exit', (code) => {
          clearTimeout(limit);
          resolve({ code, output });
        });
      }),
  };
}
