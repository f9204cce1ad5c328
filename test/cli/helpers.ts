import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseServeArgs } from '../../examples/video/config.js';
import type { CapsyncServer } from '../../server/index.js';
import { startDemo } from '../../examples/video/serve.js';

/** The repository root: the CLI runs from here, as a user's `npx capsync` would. */
export const root = fileURLToPath(new URL('../..', import.meta.url));
const entry = join(root, 'dist', 'cli', 'main.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the built `capsync` with `args` as a child process and collects its output. The environment is the
 * test's minus any CAPSYNC_* setting, plus `env`. A child that outlives `limitMs` is killed and the
 * promise rejects: a bound on a hung CLI, not a synchronisation.
 */
export function runCli(args: string[], options: { env?: Record<string, string>; input?: string; cwd?: string; limitMs?: number } = {}): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', ...options.env };
  for (const key of Object.keys(env)) if (key.startsWith('CAPSYNC_') && !(options.env && key in options.env)) delete env[key];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [entry, ...args], { cwd: options.cwd ?? root, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const limit = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`capsync ${args.join(' ')} did not finish within ${options.limitMs ?? 15_000} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, options.limitMs ?? 15_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(limit);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A long-running `capsync` child (e.g. `serve`): resolves with it once a line of its stderr matches `ready`. */
export function startCli(args: string[], ready: RegExp, limitMs = 15_000): Promise<{ match: RegExpMatchArray; stop(): Promise<number | null> }> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const key of Object.keys(env)) if (key.startsWith('CAPSYNC_')) delete env[key];
  const child = spawn(process.execPath, [entry, ...args], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let stderr = '';
    const limit = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`capsync ${args.join(' ')} printed nothing matching ${ready} within ${limitMs} ms:\n${stderr}`));
    }, limitMs);
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      const match = ready.exec(stderr);
      if (match === null) return;
      clearTimeout(limit);
      resolve({
        match,
        stop: async () => {
          child.kill('SIGTERM');
          return exited;
        },
      });
    });
    void exited.then((code) => {
      clearTimeout(limit);
      reject(new Error(`capsync ${args.join(' ')} exited (${code}) before it was ready:\n${stderr}`));
    });
  });
}

/** The demo server exactly as `npm start` configures it, on a free port, in memory. */
export async function startServer(): Promise<CapsyncServer> {
  return startDemo(parseServeArgs(['--port', '0', '--host', '127.0.0.1', '--data', ':memory:', '--log-level', 'silent'], {}));
}

/** A temporary folder for scripts and reports; `remove()` deletes it. */
export function scratch(): { path: string; write(name: string, text: string): string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'capsync-cli-'));
  return {
    path,
    write(name, text) {
      const file = join(path, name);
      writeFileSync(file, text);
      return file;
    },
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
}

/** True if the text holds a JavaScript stack trace. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+[:(]\d+/m.test(text);
}

/** A port nothing listens on: bound, then released. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
