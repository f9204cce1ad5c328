import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The CLI tests run the built command (`node dist/cli/main.js`) as a child process, so dist/ must match the
 * sources. This runs once before any test file (vitest globalSetup), so parallel test files never race to
 * build: it compiles with tsc when any source is newer than the built entry point. Type errors are
 * `npm run typecheck`'s business: tsc still emits then, so they only warn here; no output at all fails the run.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const entry = join(root, 'dist', 'cli', 'main.js');
const sources = ['protocol', 'server', 'client', 'testing', 'examples', 'bench', 'cli'];
/** The TypeScript projects `npm run build` compiles, in order (one per platform). */
const projects = ['tsconfig.browser.json', 'tsconfig.node.json'];
const configs = ['package.json', 'tsconfig.json', 'tsconfig.base.json', ...projects];

function newest(path: string, extensions = ['.ts', '.json']): number {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return 0;
  }
  if (!stat.isDirectory()) return extensions.some((e) => path.endsWith(e)) ? stat.mtimeMs : 0;
  let latest = 0;
  for (const name of readdirSync(path)) if (name !== 'node_modules') latest = Math.max(latest, newest(join(path, name), extensions));
  return latest;
}

/** The dashboard bundle (esbuild, not tsc): the browser tests load it from here. */
const dashboard = join(root, 'dist', 'examples', 'video', 'public', 'dashboard.js');

function buildDashboard(): void {
  let built = 0;
  try {
    built = statSync(dashboard).mtimeMs;
  } catch {
    built = 0;
  }
  // The page's HTML and CSS are copied as they are: an edit to them makes the bundle stale too.
  const inputs = ['examples/video', 'client', 'protocol'].map((s) => newest(join(root, s), ['.ts', '.json', '.html', '.css']));
  if (built > Math.max(...inputs, newest(join(root, 'scripts', 'build-dashboard.mjs'), ['.mjs']))) return;
  execFileSync(process.execPath, [join(root, 'scripts', 'build-dashboard.mjs')], { cwd: root, stdio: 'pipe' });
}

export default function setup(): void {
  buildTypeScript();
  buildDashboard();
}

function buildTypeScript(): void {
  let built = 0;
  try {
    built = statSync(entry).mtimeMs;
  } catch {
    built = 0;
  }
  const changed = Math.max(...[...configs, ...sources].map((s) => newest(join(root, s))));
  if (built > changed) return;
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  let out = '';
  for (const project of projects) {
    try {
      execFileSync(process.execPath, [tsc, '-p', join(root, project)], { cwd: root, stdio: 'pipe' });
    } catch (error) {
      out += (error as { stdout?: Buffer }).stdout?.toString() ?? String(error);
    }
  }
  if (out === '') return;
  let emitted = false;
  try {
    emitted = statSync(entry).mtimeMs > built;
  } catch {
    emitted = false;
  }
  if (!emitted) throw new Error(`the CLI tests need a build, and tsc failed:\n${out}`);
  process.stderr.write(`warning: tsc reported errors while building dist/ for the CLI tests:\n${out}\n`);
}
