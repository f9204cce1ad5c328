import { fail } from './errors.js';

/** A JSON-compatible value: what a capability scope may hold. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

// msgpack strings are UTF-8, which cannot carry a lone UTF-16 surrogate: it would arrive as U+FFFD, so a
// capability minted with one could never match its own pattern after a round trip.
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Checks that `value` is JSON-compatible (well-formed strings, finite numbers, booleans, null, plain maps,
 * lists), at most `maxDepth` deep. Throws `ERR_INVALID_VALUE` otherwise.
 */
export function assertJsonValue(value: unknown, maxDepth = 32): asserts value is JsonValue {
  if (!isJson(value, maxDepth)) throw fail('ERR_INVALID_VALUE');
}

function isJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
      return !LONE_SURROGATE.test(value as string);
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (value === null) return true;
      if (depth <= 0) return false;
      if (Array.isArray(value)) return value.every((v) => isJson(v, depth - 1));
      if (!isPlainObject(value)) return false;
      for (const key of Object.keys(value)) {
        if (key === '__proto__' || LONE_SURROGATE.test(key) || !isJson((value as Record<string, unknown>)[key], depth - 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/**
 * A string that is equal for two JSON values exactly when they are deeply equal, map key order ignored.
 * Used to compare scope elements and to index holders by scope.
 */
export function canonicalKey(value: JsonValue): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return '[' + value.map(canonicalKey).join(',') + ']';
  const keys = Object.keys(value).sort();
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalKey(value[k]!)).join(',') + '}';
}

/** Deep equality of JSON values, map key order ignored. */
export function jsonEqual(a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bl = b as JsonValue[];
    return a.length === bl.length && a.every((v, i) => jsonEqual(v, bl[i]!));
  }
  const ao = a as Record<string, JsonValue>;
  const bo = b as Record<string, JsonValue>;
  const ak = Object.keys(ao);
  if (ak.length !== Object.keys(bo).length) return false;
  return ak.every((k) => Object.prototype.hasOwnProperty.call(bo, k) && jsonEqual(ao[k]!, bo[k]!));
}
