/**
 * protocol/ and the isomorphic client compile in their own TypeScript project (tsconfig.browser.json: no Node
 * types, the DOM lib), so a Node API there is a compile error, not only a browser-bundle failure. This compiles
 * that project with one extra file that uses Node APIs and expects exactly those uses to be refused, and
 * nothing else in the project (a dependency that pulled Node's types in would make them compile).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, parse } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const scratch = mkdtempSync(join(tmpdir(), 'capsync-platforms-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Compiles tsconfig.browser.json's files plus `source`; returns the diagnostics as `file(line,col): TSnnnn`. */
function compileWithBrowserProject(source: string): string[] {
  writeFileSync(join(scratch, 'uses-node.ts'), source);
  writeFileSync(
    join(scratch, 'tsconfig.json'),
    JSON.stringify({
      extends: join(root, 'tsconfig.browser.json'),
      // The project's include and exclude stay; the scratch file is one more root, outside rootDir.
      files: ['uses-node.ts'],
      compilerOptions: { noEmit: true, rootDir: parse(root).root },
    }),
  );
  try {
    execFileSync(process.execPath, [tsc, '-p', scratch, '--pretty', 'false'], { cwd: scratch, encoding: 'utf8', stdio: 'pipe' });
    return [];
  } catch (error) {
    const out = (error as { stdout?: string }).stdout ?? '';
    return [...out.matchAll(/^(.+?)\((\d+),(\d+)\): error (TS\d+)/gm)].map(([, file, line, col, code]) => `${file}(${line},${col}): ${code}`);
  }
}

describe('the browser TypeScript project', () => {
  it('refuses node: imports and Node globals in protocol/ and the isomorphic client', () => {
    const diagnostics = compileWithBrowserProject(
      [
        "import { readFileSync } from 'node:fs';",
        "export const bytes: Uint8Array = Buffer.from(readFileSync('x'));",
        'export const pid: number = process.pid;',
        '',
      ].join('\n'),
    );
    expect(diagnostics).toEqual([
      'uses-node.ts(1,30): TS2307', // Cannot find module 'node:fs'
      'uses-node.ts(2,34): TS2591', // Cannot find name 'Buffer'
      'uses-node.ts(3,28): TS2591', // Cannot find name 'process'
    ]);
  }, 60_000);
});
