import type { z } from 'zod';
import { actions, clientSchema, connectLong, scriptHeader } from './schema.js';

export type Path = readonly (string | number)[];

/** One thing wrong with a script, with where it is. */
export interface Problem {
  readonly line: number;
  readonly column: number;
  /** "step 3 (call)", "clients.editor", "script". */
  readonly where: string;
  readonly message: string;
}

/** A script that cannot run. `message` lists every problem as `file:line:column: where: message`. */
export class ScriptError extends Error {
  override name = 'ScriptError';
  constructor(
    readonly file: string,
    readonly problems: readonly Problem[],
  ) {
    super(problems.map((p) => `${file}:${p.line}:${p.column}: ${p.where}: ${p.message}`).join('\n'));
  }
}

/** A problem at a path of the script, before it is given a line and column. */
export interface Explained {
  readonly path: Path;
  readonly message: string;
  /** Point at the key rather than its value (an unknown field). */
  readonly atKey: boolean;
}

/** Turns zod's issues for `value` (found at `base`, validated as `what`) into plain sentences. */
export function explainIssues(base: Path, issues: readonly z.core.$ZodIssue[], what: string, value: unknown): Explained[] {
  const out: Explained[] = [];
  // "clinet" unknown and "client" missing are one mistake: report the typo only.
  const meant = new Set<string>();
  for (const issue of issues) {
    if (issue.code !== 'unrecognized_keys') continue;
    const allowed = allowedKeys(what, issue.path as (string | number)[]);
    for (const key of issue.keys) {
      const guess = /did you mean "(.+)"/.exec(suggest(key, allowed))?.[1];
      if (guess !== undefined) meant.add(JSON.stringify([...issue.path, guess]));
    }
  }
  for (const issue of issues) {
    const missing = issue.code === 'invalid_type' && valueAt(value, issue.path as (string | number)[]) === undefined;
    if (missing && meant.has(JSON.stringify(issue.path))) continue;
    explainIssue(base, issue, what, value, out);
  }
  return out;
}

function explainIssue(base: Path, issue: z.core.$ZodIssue, what: string, root: unknown, out: Explained[]): void {
  const report = (path: Path, message: string, atKey = false) => out.push({ path, message, atKey });
  const path = [...base, ...(issue.path as (string | number)[])];
  const field = issue.path.length > 0 ? String(issue.path[issue.path.length - 1]) : what;
  const actual = valueAt(root, issue.path as (string | number)[]);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = allowedKeys(what, issue.path as (string | number)[]);
      for (const key of issue.keys) {
        report([...path, key], `unknown field "${key}" in ${issue.path.length ? field : what}${suggest(key, allowed)}${allowed.length ? ` (fields: ${allowed.join(', ')})` : ''}`, true);
      }
      return;
    }
    case 'invalid_type':
      if (actual === undefined) report(path.slice(0, -1), `missing field "${field}"`);
      else report(path, `"${field}" must be ${article(issue.expected)}, not ${describe(actual)}`);
      return;
    case 'invalid_union':
      report(path, what === 'connect' || what === 'disconnect' ? `\`${what}\` takes a client name or a list of client names` : `"${field}" does not have an accepted form`);
      return;
    case 'invalid_value':
      report(path, `"${field}" must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`);
      return;
    case 'too_small':
      report(path, Array.isArray(actual) ? `"${field}" needs at least ${String(issue.minimum)} item(s)` : `"${field}" must be at least ${String(issue.minimum)}`);
      return;
    case 'too_big':
      report(path, `"${field}" must be at most ${String(issue.maximum)}${Array.isArray(actual) || typeof actual === 'string' ? ' long' : ''}`);
      return;
    default:
      report(path, issue.code === 'custom' && issue.message === 'a value is required' ? `missing field "${field}"` : `"${field}": ${issue.message}`);
  }
}

function allowedKeys(what: string, path: readonly (string | number)[]): string[] {
  if (what === 'script' && path.length === 0) return Object.keys({ ...scriptHeader, steps: 0 }).filter((k) => k !== '$schema');
  if (what === 'script' && path.length === 2 && path[0] === 'clients') return Object.keys(clientSchema.shape);
  if (path.length !== 0) return [];
  if (what === 'connect') return Object.keys(connectLong.shape);
  if (what === 'expect') return [];
  const schema = (actions as Record<string, z.ZodType>)[what];
  return schema && 'shape' in schema ? Object.keys((schema as unknown as { shape: object }).shape) : [];
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function valueAt(root: unknown, path: readonly (string | number | symbol)[]): unknown {
  let value = root;
  for (const segment of path) {
    if (value === null || typeof value !== 'object') return undefined;
    if (typeof segment === 'symbol' || !Object.hasOwn(value, segment)) return undefined;
    value = (value as Record<string | number, unknown>)[segment];
  }
  return value;
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  return `${article(typeof value)} (${JSON.stringify(value)})`;
}

/** ` (did you mean "call"?)` when a known word is within two edits. */
export function suggest(word: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = distance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best === undefined || best === word ? '' : ` (did you mean "${best}"?)`;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
