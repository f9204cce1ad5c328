/**
 * The README, pasted into a fresh project: `npm pack` of the built repository, installed offline from the npm
 * cache with a current zod (not capsync's own 4.1.12), then every file of the "Build your own app" section and
 * the Video server example, taken from README.md as shown, are compiled strict with `skipLibCheck` off (so
 * every declaration file capsync ships is checked, and nothing may need `@types/better-sqlite3`), and the
 * notes server and the Node client run as the README says: `node out/main.js --port 0`, then
 * `node out/client-main.js --url <its url>`.
 *
 * TypeScript and Node's type definitions are the repository's (offline); the user project has its own zod,
 * jose and rxjs, as the README's install line gives it.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_')));
/** A zod newer than the one capsync is built with (both are in the npm cache this test installs from). */
const USER_ZOD = '4.6.7';

const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** The README's snippet of `path#region`, as shown (with package imports). */
function snippet(path: string, region: string): string {
  const marker = `<!-- snippet: ${path}#${region} -->\n\`\`\`ts\n`;
  const start = readme.indexOf(marker);
  if (start < 0) throw new Error(`README.md shows no ${path}#${region}`);
  return readme.slice(start + marker.length, readme.indexOf('```', start + marker.length));
}

const APP_FILES = ['note', 'functions', 'server', 'main', 'tokens', 'node-client', 'client-main', 'browser'];

/** The Video example of "The model": the class and the server snippet, with the imports a user adds. */
const VIDEO = `import { Capability, callServer, registerPortable } from 'capsync';\n\n${snippet('examples/video/video.ts', 'class')}`;
const VIDEO_SERVER = `import { z } from 'zod';
import { ANY, Capability, CapsyncError, CapsyncServer, unwrapCapability } from 'capsync/server';
import { Video } from './video.js';

export async function createVideoServer(secret: string): Promise<CapsyncServer> {
${snippet('examples/readme/server.ts', 'server').replace(/^(?=.)/gm, '  ')}  return server;
}
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    // DOM for browser.ts; the server and Node files compile the same with or without it.
    lib: ['ES2022', 'DOM', 'DOM.Iterable'],
    strict: true,
    skipLibCheck: false,
    types: ['node'],
    typeRoots: [join(root, 'node_modules', '@types')],
    outDir: 'out',
  },
  files: [...APP_FILES.map((f) => `${f}.ts`), 'video.ts', 'video-server.ts'],
};

describe('the README in a fresh project', () => {
  const work = mkdtempSync(join(tmpdir(), 'capsync-fresh-'));
  const project = join(work, 'project');
  let server: ChildProcess | undefined;

  beforeAll(async () => {
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, env: npmEnv });
    const [info] = JSON.parse(stdout) as [{ filename: string }];
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'notes-app', private: true, type: 'module' }));
    const rxjs = (JSON.parse(readFileSync(join(root, 'node_modules', 'rxjs', 'package.json'), 'utf8')) as { version: string }).version;
    const jose = (JSON.parse(readFileSync(join(root, 'node_modules', 'jose', 'package.json'), 'utf8')) as { version: string }).version;
    await run('npm', ['install', join(work, info.filename), `zod@${USER_ZOD}`, `jose@${jose}`, `rxjs@${rxjs}`, '--offline', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
      cwd: project,
      env: npmEnv,
    });
  }, 120_000);

  afterAll(async () => {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('installs a zod other than capsync\'s own, and no better-sqlite3 or its types', () => {
    const installed = (name: string) => existsSync(join(project, 'node_modules', name, 'package.json'));
    expect((JSON.parse(readFileSync(join(project, 'node_modules', 'zod', 'package.json'), 'utf8')) as { version: string }).version).toBe(USER_ZOD);
    expect(installed('better-sqlite3')).toBe(false);
    expect(installed('@types/better-sqlite3')).toBe(false);
  });

  it('compiles the README\'s app and Video server as pasted (strict, skipLibCheck off), then runs the server and the Node client', async () => {
    for (const file of APP_FILES) writeFileSync(join(project, `${file}.ts`), snippet(`examples/app/${file}.ts`, file));
    writeFileSync(join(project, 'video.ts'), VIDEO);
    writeFileSync(join(project, 'video-server.ts'), VIDEO_SERVER);
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    const compiled = await run(process.execPath, [tsc, '-p', project, '--pretty', 'false'], { cwd: project }).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    expect(compiled).toBe('');

    // As the README runs them: the server with --port, the client with --url.
    server = spawn(process.execPath, ['out/main.js', '--port', '0'], {
      cwd: project,
      env: { ...process.env, NOTES_JWT_SECRET: 'fresh-project-secret-fresh-project-secret-01' },
      stdio: ['ignore', 'pipe', 'ignore'], // its log lines (logLevel info) go to stderr
    });
    const [line] = (await once(createInterface({ input: server.stdout! }), 'line')) as [string];
    const url = /^notes server on (ws:\/\/127\.0\.0\.1:\d+)$/.exec(line)?.[1];
    expect(url, line).toBeDefined();
    const { stdout } = await run(process.execPath, ['out/client-main.js', '--url', url!], { cwd: project });
    expect(JSON.parse(stdout)).toEqual(['milk, eggs', 'ERR_CAPABILITY_MISMATCH']);
  }, 240_000); // tsc checks every declaration file it reaches, Node's and the DOM's included: 45 s here, more under heavy load
});
