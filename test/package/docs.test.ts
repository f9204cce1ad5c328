/**
 * The API reference: `npm run docs` (typedoc.json) documents the package's entry points, and fails on any
 * warning, so an export without TSDoc, a broken `{@link}` or a reference to something left out stops the build.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const typedoc = join(root, 'node_modules', 'typedoc', 'bin', 'typedoc');
const out = mkdtempSync(join(tmpdir(), 'capsync-docs-'));

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('the API reference', () => {
  it('is configured for every entry point, with undocumented exports as errors', () => {
    const config = JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8')) as {
      entryPoints: string[];
      validation: { notDocumented: boolean };
      treatWarningsAsErrors: boolean;
    };
    expect(config.entryPoints.sort()).toEqual(['client/browser.ts', 'client/index.ts', 'protocol/index.ts', 'server/index.ts', 'server/redis/index.ts', 'testing/index.ts']);
    expect(config.validation.notDocumented).toBe(true);
    expect(config.treatWarningsAsErrors).toBe(true);
    expect(createRequire(import.meta.url)('../../package.json').scripts.docs).toBe('typedoc');
  });

  it('builds with no warning: every export documented, every link resolved', async () => {
    const result = await run(process.execPath, [typedoc, '--out', out], { cwd: root }).then(
      ({ stdout }) => ({ ok: true, output: stdout }),
      (error: { stdout?: string; stderr?: string }) => ({ ok: false, output: `${error.stdout ?? ''}${error.stderr ?? ''}` }),
    );
    expect(result.ok, result.output).toBe(true);
    for (const page of ['index.html', 'classes/server.CapsyncServer.html', 'functions/server.serverFunction.html', 'types/client.TypedClient.html']) {
      expect(existsSync(join(out, page)), page).toBe(true);
    }
  }, 240_000); // typedoc compiles the whole public surface: 30 s quiet, 90 s seen at load average 20 on this 2-CPU machine
});
