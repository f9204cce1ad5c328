/**
 * Typed calls, checked by the compiler: test/types/fixture/client.ts marks every line that must not compile
 * with `// @ts-expect-error`. This test compiles a copy with the markers blanked and asserts that the errors
 * land exactly on the marked lines (each wrong name, argument and result use is an error) and nowhere else
 * (the right uses, the hand-written interface and the untyped calls compile).
 */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const fixture = fileURLToPath(new URL('./fixture/', import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const copy = `${fixture}client.unmarked.ts`;
const config = `${fixture}tsconfig.unmarked.json`;

afterAll(() => {
  rmSync(copy, { force: true });
  rmSync(config, { force: true });
});

describe('typed calls', () => {
  it('makes every wrong name, argument and result use a type error, and nothing else', async () => {
    const lines = readFileSync(`${fixture}client.ts`, 'utf8').split('\n');
    const expected = lines.flatMap((line, i) => (line.trim().startsWith('// @ts-expect-error') ? [i + 2] : []));
    expect(expected.length).toBeGreaterThanOrEqual(10);
    writeFileSync(copy, lines.map((line) => (line.trim().startsWith('// @ts-expect-error') ? '//' : line)).join('\n'));
    const base = JSON.parse(readFileSync(`${fixture}tsconfig.json`, 'utf8').replace(/^\s*\/\/.*$/gm, '')) as object;
    writeFileSync(config, JSON.stringify({ ...base, files: ['api.ts', 'client.unmarked.ts'] }));
    const output = await run(process.execPath, [tsc, '-p', config, '--pretty', 'false']).then(
      () => '',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    const errors = [...output.matchAll(/^(\S+)\((\d+),\d+\): error (TS\d+)/gm)].map((m) => ({ file: m[1]!, line: Number(m[2]), code: m[3]! }));
    expect(errors.filter((e) => !e.file.endsWith('client.unmarked.ts')), output).toEqual([]);
    expect([...new Set(errors.map((e) => e.line))].sort((a, b) => a - b), output).toEqual(expected);
  }, 240_000); // one tsc run: 12 s of CPU, 20-90 s of wall time on this shared 2-CPU machine (load average 20 seen)
});
