import { Capability, capabilityFromToken } from '../protocol/capability/capability.js';
import { CapsyncError } from '../protocol/errors.js';
import { fieldsOf, portableByName, portableOf, revive } from '../protocol/portable.js';

/**
 * The JSON form of capsync values, used wherever the command line prints or reads values:
 *
 * - a {@link Capability} is `{"$capability": "<token bytes, base64url>", "scope": [...]}`, plus `expiresAt` and
 *   `audiences` when its chain has them. Read back, only the token counts; `scope` and the rest, when given,
 *   must agree with it (they are there for people to read).
 * - a portable object (e.g. a `Video`) is `{"$portable": "Video", ...its fields}`.
 * - binary is `{"$bytes": "<hex>"}`.
 * - a map that really has one of these keys is wrapped as `{"$literal": {...}}`.
 *
 * Everything else is plain JSON. See docs/scripts.md, "Values".
 */
export type JsonForm = null | boolean | number | string | JsonForm[] | { [key: string]: JsonForm };

/** A value that cannot be turned into (or read from) its JSON form. */
export class JsonFormError extends Error {
  override name = 'JsonFormError';
}

const MARKERS = new Set(['$capability', '$portable', '$bytes', '$literal']);
const CAPABILITY_INFO = new Set(['scope', 'expiresAt', 'audiences']);

/** Defines a key as an own data property, so `__proto__` from a script stays a key and never becomes a prototype. */
function put(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

function isPlainMap(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * The JSON form of a decoded value (a call result, a pushed state, a saved value). With `escape` false, maps
 * keep marker keys as they are: a script's patterns are already in JSON form, only saved values inside them convert.
 */
export function toJsonForm(value: unknown, escape = true): JsonForm {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      return Number(value);
    case 'object':
      break;
    default:
      return null;
  }
  if (value instanceof Capability) {
    const form: Record<string, JsonForm> = {
      $capability: Buffer.from(value.toToken()).toString('base64url'),
      scope: toJsonForm(value.scope, escape),
    };
    if (value.expiresAt !== null) form['expiresAt'] = value.expiresAt;
    if (value.audiences.length > 0) form['audiences'] = [...value.audiences];
    return form;
  }
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('hex') };
  if (Array.isArray(value)) return value.map((item) => toJsonForm(item, escape));
  const portable = portableOf(value);
  if (portable !== undefined) {
    const form: Record<string, JsonForm> = { $portable: portable.name };
    for (const [key, field] of Object.entries(fieldsOf(value))) put(form, key, toJsonForm(field, escape));
    return form;
  }
  const map: Record<string, JsonForm> = {};
  let marked = false;
  for (const [key, item] of Object.entries(value)) {
    if (MARKERS.has(key)) marked = true;
    put(map, key, toJsonForm(item, escape));
  }
  return marked && escape ? { $literal: map } : map;
}

/**
 * The value a JSON form stands for: capabilities rebuilt from their tokens (unverified: the server checks them),
 * portable objects rebuilt as instances of their registered class. Other values pass through; `Capability` and
 * portable instances already present (saved by a script) are kept as they are.
 */
export function fromJsonForm(value: unknown, where = 'value'): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Capability || value instanceof Uint8Array || portableOf(value) !== undefined) return value;
  if (Array.isArray(value)) return value.map((item, i) => fromJsonForm(item, `${where}[${i}]`));
  if (!isPlainMap(value)) return value;
  const map = value as Record<string, unknown>;
  if (Object.hasOwn(map, '$capability')) return capabilityForm(map, where);
  if (Object.hasOwn(map, '$portable')) return portableForm(map, where);
  if (Object.hasOwn(map, '$bytes')) return bytesForm(map, where);
  if (Object.hasOwn(map, '$literal')) {
    const inner = map['$literal'];
    if (Object.keys(map).length !== 1 || inner === null || typeof inner !== 'object' || Array.isArray(inner)) {
      throw new JsonFormError(`${where}: "$literal" must be the only key, and hold a map`);
    }
    return plainMap(inner as Record<string, unknown>, where);
  }
  return plainMap(map, where);
}

function plainMap(map: Record<string, unknown>, where: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(map)) put(out, key, fromJsonForm(map[key], `${where}.${key}`));
  return out;
}

function capabilityForm(map: Record<string, unknown>, where: string): Capability {
  const token = map['$capability'];
  if (typeof token !== 'string' || !/^[A-Za-z0-9_-]+$/.test(token)) {
    throw new JsonFormError(`${where}: "$capability" must be the capability's token in base64url`);
  }
  const extra = Object.keys(map).filter((k) => k !== '$capability' && !CAPABILITY_INFO.has(k));
  if (extra.length > 0) throw new JsonFormError(`${where}: a capability has no field ${JSON.stringify(extra[0])}`);
  let cap: Capability;
  try {
    cap = capabilityFromToken(Buffer.from(token, 'base64url'));
  } catch (error) {
    const code = error instanceof CapsyncError ? error.code : 'ERR_CAPABILITY_MALFORMED';
    throw new JsonFormError(`${where}: "$capability" is not a capability token (${code})`);
  }
  const shown = toJsonForm(cap) as Record<string, JsonForm>;
  for (const key of CAPABILITY_INFO) {
    if (Object.hasOwn(map, key) && JSON.stringify(toJsonForm(map[key])) !== JSON.stringify(shown[key] ?? null)) {
      throw new JsonFormError(`${where}: "${key}" does not agree with the token (the token says ${JSON.stringify(shown[key] ?? null)})`);
    }
  }
  return cap;
}

function portableForm(map: Record<string, unknown>, where: string): object {
  const name = map['$portable'];
  if (typeof name !== 'string' || portableByName(name) === undefined) {
    throw new JsonFormError(
      `${where}: ${JSON.stringify(name)} is not a registered portable class (load the module that registers it with --import)`,
    );
  }
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(map)) {
    if (key !== '$portable') put(fields, key, fromJsonForm(map[key], `${where}.${key}`));
  }
  try {
    return revive(name, fields);
  } catch (error) {
    throw new JsonFormError(`${where}: cannot rebuild a ${name}: ${(error as Error).message}`);
  }
}

function bytesForm(map: Record<string, unknown>, where: string): Uint8Array {
  const hex = map['$bytes'];
  if (Object.keys(map).length !== 1 || typeof hex !== 'string') throw new JsonFormError(`${where}: "$bytes" must be the only key, and hold hex`);
  return parseHex(hex, where);
}

/** Hex digits to bytes; whitespace is ignored so long frames can be laid out readably. */
export function parseHex(text: string, where = 'hex'): Uint8Array {
  const digits = text.replace(/\s+/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new JsonFormError(`${where}: not hex bytes (pairs of 0-9, a-f; spaces allowed)`);
  return new Uint8Array(Buffer.from(digits, 'hex'));
}
