import { Capability } from '../../protocol/capability/capability.js';
import { toJsonForm } from '../json-form.js';

/**
 * Templates: a string value `"${videos[0].cap}"` stands for a saved value. A string that is one reference keeps
 * the value's type (a capability stays a capability); a reference inside longer text is written into it
 * (strings as they are, other values as JSON). `$${` writes a literal `${`. `${env.NAME}` reads the environment;
 * `${run.id}` is an id drawn at random for each run of a script (a user name no real user has).
 */

/** The names a script cannot save under: `env` and `run` are built in. */
export const builtinRoots: ReadonlySet<string> = new Set(['env', 'run']);

/** One step of a reference's path: `.name` or `[index]` / `["key"]`. */
export type Segment = { readonly key: string } | { readonly index: number };

/** A parsed `${...}`. */
export interface Reference {
  readonly root: string;
  readonly path: readonly Segment[];
  readonly source: string;
}

/** A template string that cannot be parsed, or a reference that does not resolve. */
export class TemplateError extends Error {
  override name = 'TemplateError';
}

const IDENT = /[A-Za-z_][A-Za-z0-9_]*/y;

/** Splits a string into text and references. Throws {@link TemplateError} for a malformed `${...}`. */
export function parseTemplate(text: string): (string | Reference)[] {
  const parts: (string | Reference)[] = [];
  let literal = '';
  let i = 0;
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      literal += '${';
      i += 3;
      continue;
    }
    if (!text.startsWith('${', i)) {
      literal += text[i];
      i++;
      continue;
    }
    const end = text.indexOf('}', i);
    if (end < 0) throw new TemplateError(`unclosed "\${" in ${JSON.stringify(text)} (write "$\${" for a literal "\${")`);
    const source = text.slice(i, end + 1);
    if (literal) parts.push(literal);
    literal = '';
    parts.push(parseReference(source.slice(2, -1), source));
    i = end + 1;
  }
  if (literal || parts.length === 0) parts.push(literal);
  return parts;
}

function parseReference(body: string, source: string): Reference {
  const bad = (why: string) => new TemplateError(`${source}: ${why}`);
  IDENT.lastIndex = 0;
  const root = IDENT.exec(body)?.[0];
  if (root === undefined) throw bad('a reference starts with a saved name, e.g. ${videos[0].cap}');
  let i = root.length;
  const path: Segment[] = [];
  while (i < body.length) {
    if (body[i] === '.') {
      IDENT.lastIndex = i + 1;
      const key = IDENT.exec(body)?.[0];
      if (key === undefined) throw bad(`expected a field name after "." at column ${i + 2}`);
      path.push({ key });
      i += 1 + key.length;
    } else if (body[i] === '[') {
      const close = body.indexOf(']', i);
      if (close < 0) throw bad('unclosed "["');
      const inner = body.slice(i + 1, close).trim();
      if (/^\d+$/.test(inner)) path.push({ index: Number(inner) });
      else if (/^"[^"]*"$/.test(inner) || /^'[^']*'$/.test(inner)) path.push({ key: inner.slice(1, -1) });
      else throw bad(`[${inner}] is neither an index nor a quoted key`);
      i = close + 1;
    } else {
      throw bad(`unexpected ${JSON.stringify(body[i])} at column ${i + 3}`);
    }
  }
  if (root === 'env' && (path.length !== 1 || !('key' in path[0]!))) throw bad('write ${env.NAME} to read an environment variable');
  if (root === 'run' && (path.length !== 1 || !('key' in path[0]!) || path[0].key !== 'id')) throw bad('write ${run.id} for the id of this run');
  return { root, path, source };
}

/** Every reference in a value (strings in lists and map values, at any depth). Throws {@link TemplateError}. */
export function referencesIn(value: unknown): Reference[] {
  if (typeof value === 'string') return value.includes('${') ? parseTemplate(value).filter((p): p is Reference => typeof p !== 'string') : [];
  if (Array.isArray(value)) return value.flatMap(referencesIn);
  if (value !== null && typeof value === 'object') return Object.values(value).flatMap(referencesIn);
  return [];
}

/** Saved values by name, the environment, and this run's random id. */
export interface Scope {
  readonly saved: ReadonlyMap<string, unknown>;
  readonly env: NodeJS.ProcessEnv;
  readonly runId: string;
}

/** Replaces every template in `value` by what it refers to. Throws {@link TemplateError}. */
export function resolveTemplates(value: unknown, scope: Scope): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    const parts = parseTemplate(value);
    if (parts.length === 1 && typeof parts[0] !== 'string') return lookup(parts[0]!, scope);
    return parts.map((p) => (typeof p === 'string' ? p : interpolate(lookup(p, scope)))).join('');
  }
  if (Array.isArray(value)) return value.map((v) => resolveTemplates(v, scope));
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      // defineProperty keeps a `__proto__` key from a script a key (hostile frames need it).
      Object.defineProperty(out, key, { value: resolveTemplates((value as Record<string, unknown>)[key], scope), writable: true, enumerable: true, configurable: true });
    }
    return out;
  }
  return value;
}

function interpolate(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(toJsonForm(value));
}

// Only data a script could have seen in a report is reachable: own fields, list items, and a capability's
// public properties. Nothing on a prototype (`constructor`, methods) is.
const CAPABILITY_FIELDS = new Set(['scope', 'expiresAt', 'audiences', 'revocationId']);

function lookup(ref: Reference, scope: Scope): unknown {
  if (ref.root === 'run') return scope.runId;
  if (ref.root === 'env') {
    const name = (ref.path[0] as { key: string }).key;
    const value = scope.env[name];
    if (value === undefined) throw new TemplateError(`${ref.source}: the environment variable ${name} is not set`);
    return value;
  }
  if (!scope.saved.has(ref.root)) throw new TemplateError(`${ref.source}: nothing was saved as "${ref.root}" (did the step that saves it fail?)`);
  let value = scope.saved.get(ref.root);
  let where = ref.root;
  for (const segment of ref.path) {
    value = step(value, segment, where, ref.source);
    where += 'index' in segment ? `[${segment.index}]` : `.${segment.key}`;
  }
  return value;
}

function step(value: unknown, segment: Segment, where: string, source: string): unknown {
  const missing = (why: string) => new TemplateError(`${source}: ${why}`);
  if ('index' in segment) {
    if (!Array.isArray(value)) throw missing(`${where} is not a list`);
    if (segment.index >= value.length) throw missing(`${where} has ${value.length} item${value.length === 1 ? '' : 's'}, no [${segment.index}]`);
    return value[segment.index];
  }
  const key = segment.key;
  if ((Array.isArray(value) || typeof value === 'string') && key === 'length') return value.length;
  if (value instanceof Capability) {
    if (!CAPABILITY_FIELDS.has(key)) throw missing(`a capability has ${[...CAPABILITY_FIELDS].join(', ')}, not "${key}"`);
    return value[key as 'scope'];
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw missing(`${where} is ${describe(value)}, it has no field "${key}"`);
  }
  if (!Object.hasOwn(value, key)) {
    const fields = Object.keys(value);
    throw missing(`${where} has no field "${key}"${fields.length ? ` (it has ${fields.slice(0, 8).join(', ')})` : ''}`);
  }
  return (value as Record<string, unknown>)[key];
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return 'a list';
  return `a ${typeof value}`;
}
