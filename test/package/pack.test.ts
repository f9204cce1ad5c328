/**
 * The package as a user gets it: `npm pack` of the built repository (test/cli/global-setup.ts builds dist/),
 * installed into a fresh project with production dependencies only, then a client-only program that imports
 * `capsync` and `capsync/client` is type-checked against the installed declarations (skipLibCheck off) and
 * run against a capsync server started here.
 *
 * The install uses the npm cache first (`--prefer-offline`) and runs no install scripts. The TypeScript
 * compiler and Node's type definitions are the repository's: the user project is a Node program, so it has
 * Node's types, as a Node user would.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANY, Capability, CapsyncServer, unwrapCapability } from '../../server/index.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** npm without the `npm_*` variables of an enclosing `npm test`, which would otherwise configure the inner npm. */
const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')));

/** What the package ships: the library's three entry points, and the command line with the demo it serves. */
const SHIPPED = ['dist/protocol/', 'dist/server/', 'dist/client/', 'dist/testing/', 'dist/cli/', 'dist/examples/video/', 'protocol/SPEC.md', 'README.md', 'package.json'];

const PROGRAM = `import { ANY, Capability, CapsyncError, unwrapCapability } from 'capsync';
import { connect, type CapsyncClient } from 'capsync/client';

/** The pattern the server unwraps with, typed from the exported function. */
const pattern: Parameters<typeof unwrapCapability>[1] = ['notes', ANY, 'read'];

export async function readNote(url: string, token: string): Promise<string> {
  const client: CapsyncClient = await connect(url, { token });
  try {
    const cap = await client.call<Capability>('get_note_capability');
    if (!(cap instanceof Capability)) throw new Error('the result is not a Capability');
    const read: Capability = cap.narrow(['read']);
    const text = await client.call<string>('read_note', read);
    const refused = await client.call('read_note', cap.narrow(['write'])).then(
      () => 'accepted',
      (error: unknown) => (error instanceof CapsyncError ? error.code : String(error)),
    );
    return JSON.stringify({ scope: read.scope, text, refused, patternLength: pattern.length });
  } finally {
    await client.close();
  }
}
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    lib: ['ES2022'],
    strict: true,
    skipLibCheck: false,
    types: ['node'],
    typeRoots: [join(root, 'node_modules', '@types')],
    outDir: 'out',
  },
  files: ['program.ts'],
};

describe('the packed package, installed in a fresh project', () => {
  const work = mkdtempSync(join(tmpdir(), 'capsync-pack-'));
  const project = join(work, 'project');
  let packed: string[] = [];
  let server: CapsyncServer | undefined;

  beforeAll(async () => {
    // No prepare script: dist/ is already built, and rebuilding it here would race the other test files.
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, env: npmEnv });
    const [info] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
    packed = info.files.map((f) => f.path);
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'capsync-user', private: true, type: 'module' }));
    await run('npm', ['install', join(work, info.filename), '--no-audit', '--no-fund', '--omit=dev', '--ignore-scripts', '--prefer-offline'], {
      cwd: project,
      env: npmEnv,
    });
  }, 120_000); // about 10 s from the npm cache

  afterAll(async () => {
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('ships the library and the command line, not benchmarks, README examples or the dashboard sources', () => {
    expect(packed.filter((path) => !SHIPPED.some((prefix) => path.startsWith(prefix)))).toEqual([]);
    expect(packed.filter((path) => path.startsWith('dist/examples/video/dashboard/'))).toEqual([]);
    for (const entry of ['dist/protocol/index.js', 'dist/server/index.js', 'dist/client/index.js', 'dist/client/browser.js', 'dist/testing/index.js', 'dist/cli/main.js', 'dist/examples/video/serve.js']) {
      expect(packed).toContain(entry);
    }
  });

  it('installs without better-sqlite3 (an optional peer)', () => {
    expect(existsSync(join(project, 'node_modules', 'capsync', 'package.json'))).toBe(true);
    expect(existsSync(join(project, 'node_modules', 'better-sqlite3'))).toBe(false);
  });

  it('type-checks a client-only program against the installed declarations, then runs it against a server', async () => {
    writeFileSync(join(project, 'program.ts'), PROGRAM);
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    const compiled = await run(process.execPath, [tsc, '-p', project, '--pretty', 'false'], { cwd: project }).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    expect(compiled).toBe('');

    server = await CapsyncServer.create({ auth: { secret: 'pack-test-secret-pack-test-secret-0123456789' } });
    server.callable('get_note_capability', () => new Capability(['notes', 'n1']));
    server.callable('read_note', (_ctx, cap: Capability) => {
      const [, id] = unwrapCapability(cap, ['notes', ANY, 'read']);
      return `note ${String(id)}`;
    });
    await server.listen(0, '127.0.0.1');
    const token = await server.auth.issue({ id: 'reader', roles: [] });

    const script = `const { readNote } = await import('./out/program.js'); console.log(await readNote(process.argv[1], process.argv[2]));`;
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script, server.url, token], { cwd: project });
    expect(JSON.parse(stdout)).toEqual({ scope: ['notes', 'n1', 'read'], text: 'note n1', refused: 'ERR_CAPABILITY_MISMATCH', patternLength: 3 });
  }, 120_000); // tsc checks every declaration file it reaches, Node's included: 12-30 s on a 2-CPU machine

  it('runs the installed capsync command', async () => {
    const { stdout } = await run(join(project, 'node_modules', '.bin', 'capsync'), ['--version'], { cwd: project });
    expect(stdout.trim()).toBe((createRequire(import.meta.url)('../../package.json') as { version: string }).version);
  });
});
