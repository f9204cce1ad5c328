import type { JsonForm } from '../json-form.js';

/**
 * Comparing values in their JSON form. `equals` is deep equality (maps in any key order). `match` is a
 * partial pattern: a map matches when every key of the pattern matches (other keys are ignored), a list when
 * it has the same length and every item matches, a scalar when equal. A map whose keys are all operators is
 * an operator: see {@link operators} and docs/scripts.md, "Patterns".
 */

/** Where and why a value differs from what was expected. */
export interface Mismatch {
  /** `$` is the value itself: `$[0].state.description`. */
  readonly path: string;
  readonly message: string;
}

/** The pattern operators. Several in one map must all hold. */
export const operators = ['$type', '$regex', '$contains', '$length', '$absent'] as const;
const OPERATORS = new Set<string>(operators);
const TYPES = ['string', 'number', 'integer', 'boolean', 'null', 'array', 'object', 'capability', 'portable', 'bytes'];

type Map = { [key: string]: JsonForm };

function isMap(value: JsonForm | undefined): value is Map {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isOperator(pattern: JsonForm): pattern is Map {
  if (!isMap(pattern)) return false;
  const keys = Object.keys(pattern);
  return keys.length > 0 && keys.every((k) => OPERATORS.has(k));
}

const show = (v: JsonForm | undefined): string => (v === undefined ? 'nothing' : truncate(JSON.stringify(v), 80));

/** The first difference between `expected` and `actual` under deep equality, or null. */
export function differs(expected: JsonForm, actual: JsonForm, path = '$'): Mismatch | null {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return { path, message: `expected a list, got ${show(actual)}` };
    if (expected.length !== actual.length) return { path, message: `expected ${expected.length} items, got ${actual.length}` };
    for (let i = 0; i < expected.length; i++) {
      const m = differs(expected[i]!, actual[i]!, `${path}[${i}]`);
      if (m) return m;
    }
    return null;
  }
  if (isMap(expected)) {
    if (!isMap(actual)) return { path, message: `expected a map, got ${show(actual)}` };
    for (const key of Object.keys(expected)) {
      if (!Object.hasOwn(actual, key)) return { path: child(path, key), message: `missing; expected ${show(expected[key])}` };
      const m = differs(expected[key]!, actual[key]!, child(path, key));
      if (m) return m;
    }
    const extra = Object.keys(actual).find((k) => !Object.hasOwn(expected, k));
    return extra === undefined ? null : { path: child(path, extra), message: `not expected, got ${show(actual[extra])}` };
  }
  return expected === actual ? null : { path, message: `expected ${show(expected)}, got ${show(actual)}` };
}

/** The first way `actual` fails the partial `pattern`, or null when it matches. */
export function mismatch(pattern: JsonForm, actual: JsonForm | undefined, path = '$'): Mismatch | null {
  if (isOperator(pattern)) return operatorMismatch(pattern, actual, path);
  if (actual === undefined) return { path, message: `missing; expected ${show(pattern)}` };
  if (Array.isArray(pattern)) {
    if (!Array.isArray(actual)) return { path, message: `expected a list, got ${show(actual)}` };
    if (pattern.length !== actual.length) return { path, message: `expected ${pattern.length} items, got ${actual.length} (use {$contains: ...} for "some item")` };
    for (let i = 0; i < pattern.length; i++) {
      const m = mismatch(pattern[i]!, actual[i], `${path}[${i}]`);
      if (m) return m;
    }
    return null;
  }
  if (isMap(pattern)) {
    if (!isMap(actual)) return { path, message: `expected a map, got ${show(actual)}` };
    for (const key of Object.keys(pattern)) {
      const m = mismatch(pattern[key]!, Object.hasOwn(actual, key) ? actual[key] : undefined, child(path, key));
      if (m) return m;
    }
    return null;
  }
  return pattern === actual ? null : { path, message: `expected ${show(pattern)}, got ${show(actual)}` };
}

function operatorMismatch(op: Map, actual: JsonForm | undefined, path: string): Mismatch | null {
  if (Object.hasOwn(op, '$absent')) {
    const wantAbsent = op['$absent'] !== false;
    if (wantAbsent !== (actual === undefined)) return { path, message: wantAbsent ? `expected no such field, got ${show(actual)}` : 'missing' };
    if (actual === undefined) return null;
  }
  if (actual === undefined) return { path, message: 'missing' };
  if (Object.hasOwn(op, '$type')) {
    const type = op['$type'];
    if (typeof type !== 'string' || !TYPES.includes(type)) return { path, message: `$type must be one of ${TYPES.join(', ')}` };
    if (typeOf(actual) !== type && !(type === 'number' && typeOf(actual) === 'integer') && !(type === 'object' && isMap(actual))) {
      return { path, message: `expected ${type}, got ${typeOf(actual)} ${show(actual)}` };
    }
  }
  if (Object.hasOwn(op, '$regex')) {
    const source = op['$regex'];
    if (typeof source !== 'string') return { path, message: '$regex must be a string' };
    let re: RegExp;
    try {
      re = new RegExp(source, 'u');
    } catch {
      return { path, message: `$regex ${show(source)} is not a regular expression` };
    }
    if (typeof actual !== 'string' || !re.test(actual)) return { path, message: `expected a string matching /${source}/, got ${show(actual)}` };
  }
  if (Object.hasOwn(op, '$length')) {
    const length = Array.isArray(actual) || typeof actual === 'string' ? actual.length : undefined;
    if (length !== op['$length']) return { path, message: `expected length ${show(op['$length'])}, got ${length === undefined ? show(actual) : length}` };
  }
  if (Object.hasOwn(op, '$contains')) {
    if (!Array.isArray(actual)) return { path, message: `expected a list, got ${show(actual)}` };
    if (!actual.some((item) => mismatch(op['$contains']!, item) === null)) {
      return { path, message: `no item matches ${show(op['$contains'])}` };
    }
  }
  return null;
}

function typeOf(value: JsonForm): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  if (typeof value === 'object') {
    if (Object.hasOwn(value, '$capability')) return 'capability';
    if (Object.hasOwn(value, '$portable')) return 'portable';
    if (Object.hasOwn(value, '$bytes')) return 'bytes';
    return 'object';
  }
  return typeof value;
}

function child(path: string, key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/**
 * `actual` cut down to the shape of `pattern`, so a diff shows what the pattern looked at and not the rest
 * (a Video's other fields, say). Keys the pattern names but the value lacks stay absent.
 */
export function project(pattern: JsonForm, actual: JsonForm | undefined): JsonForm | undefined {
  if (actual === undefined) return actual;
  if (isOperator(pattern)) {
    const inner = pattern['$contains'];
    return inner !== undefined && Array.isArray(actual) ? actual.map((item) => project(inner, item) ?? null) : actual;
  }
  if (Array.isArray(pattern) && Array.isArray(actual) && pattern.length === actual.length) {
    return actual.map((item, i) => project(pattern[i]!, item) ?? null);
  }
  if (isMap(pattern) && isMap(actual)) {
    const out: Map = {};
    for (const key of Object.keys(pattern)) {
      if (Object.hasOwn(actual, key)) {
        const value = project(pattern[key]!, actual[key]);
        if (value !== undefined) Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      }
    }
    return out;
  }
  return actual;
}

/** A line diff of two texts: `-` only expected, `+` only actual, ` ` both. At most `limit` lines, around changes. */
export function lineDiff(expected: string, actual: string, limit = 40): string[] {
  const a = expected.split('\n');
  const b = actual.split('\n');
  if (a.length * b.length > 250_000) return [...a.slice(0, limit / 2).map((l) => `- ${l}`), ...b.slice(0, limit / 2).map((l) => `+ ${l}`)];
  // Longest common subsequence, table from the end.
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
    }
  }
  const out: { mark: string; text: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) out.push({ mark: ' ', text: a[i++]! }), j++;
    else if (j < b.length && (i >= a.length || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) out.push({ mark: '+', text: b[j++]! });
    else out.push({ mark: '-', text: a[i++]! });
  }
  // Keep changed lines and two lines of context around them.
  const keep = out.map((_, k) => out.slice(Math.max(0, k - 2), k + 3).some((l) => l.mark !== ' '));
  const lines: string[] = [];
  let skipped = false;
  out.forEach((line, k) => {
    if (keep[k]) {
      lines.push(`${line.mark} ${line.text}`);
      skipped = false;
    } else if (!skipped) {
      lines.push('  …');
      skipped = true;
    }
  });
  return lines.length > limit ? [...lines.slice(0, limit), `  … ${lines.length - limit} more lines`] : lines;
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
