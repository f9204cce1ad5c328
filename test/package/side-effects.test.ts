/**
 * package.json's `sideEffects` tells bundlers which modules they may drop when nothing uses their exports.
 * A module that does something at import (registers a msgpackr extension, sets a provider, registers a
 * portable class) and is missing from that list silently stops doing it in a user's bundle, and in this
 * repository's own esbuild bundles too (the dashboard, the benchmark children), which read the same
 * package.json: so the list names each such module as source and as built file. This finds the modules with
 * top-level statements that are not declarations, and checks that the list holds exactly those, plus the few
 * whose effect is a call inside a declaration (KNOWN).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const SHIPPED_SOURCES = ['protocol', 'server', 'client', 'cli', 'examples/video'];
/** Entry points of a bundle, never imported by other modules: a bundler keeps them anyway. */
const ENTRY_ONLY = ['examples/video/dashboard/'];
/** Side effects the statement scan cannot see. */
const KNOWN = {
  'cli/script/schema.ts': "zod's .meta({ id }) adds each schema to zod's global registry (the JSON Schema export reads it)",
};

function sources(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) return sources(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** True if the module runs a statement at import that is not an import, export or declaration. */
function hasTopLevelEffect(path: string): boolean {
  const file = ts.createSourceFile(path, readFileSync(join(root, path), 'utf8'), ts.ScriptTarget.ES2022);
  return file.statements.some(
    (s) =>
      !ts.isImportDeclaration(s) &&
      !ts.isExportDeclaration(s) &&
      !ts.isFunctionDeclaration(s) &&
      !ts.isClassDeclaration(s) &&
      !ts.isInterfaceDeclaration(s) &&
      !ts.isTypeAliasDeclaration(s) &&
      !ts.isEnumDeclaration(s) &&
      !ts.isVariableStatement(s),
  );
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { sideEffects: string[] };
const listed = pkg.sideEffects.map((entry) => relative('.', entry));

describe('package.json sideEffects', () => {
  it('lists every shipped module that does something at import, as source and as built file', () => {
    const effectful = SHIPPED_SOURCES.flatMap(sources)
      .filter((path) => !ENTRY_ONLY.some((prefix) => path.startsWith(prefix)))
      .filter((path) => hasTopLevelEffect(path) || Object.hasOwn(KNOWN, path));
    expect(effectful.length).toBeGreaterThan(0);
    const expected = effectful.flatMap((path) => [path, `dist/${path.replace(/\.ts$/, '.js')}`]).sort();
    const inShippedDirs = listed.filter((entry) => SHIPPED_SOURCES.some((dir) => entry.startsWith(`${dir}/`) || entry.startsWith(`dist/${dir}/`)));
    expect(inShippedDirs.sort()).toEqual(expected);
  });

  it('names only files that exist', () => {
    const missing = listed.filter((entry) => !entry.startsWith('dist/')).filter((entry) => {
      try {
        return !statSync(join(root, entry)).isFile();
      } catch {
        return true;
      }
    });
    expect(missing).toEqual([]);
  });
});
