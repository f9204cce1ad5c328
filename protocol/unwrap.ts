import { Capability, isLocalCapability } from './capability/capability.js';
import { assertStillValid, statusOf } from './capability/status.js';
import { CapsyncError, fail } from './errors.js';
import { assertJsonValue, jsonEqual, type JsonValue } from './json-value.js';

/** In a pattern, matches any value at that position. */
export const ANY: unique symbol = Symbol('capsync.ANY');

/** A pattern element: a JSON value compared by deep equality, or {@link ANY}. */
export type PatternElement = JsonValue | typeof ANY;

/** What unwrapping returns: one element per pattern element, `null` past the end of the scope. */
export type Unwrapped<P extends readonly PatternElement[]> = { [K in keyof P]: JsonValue };

/**
 * Checks that `cap` is a capability verified by this server (or made by `new Capability(...)` in this
 * process and never sent), still valid (not revoked, not expired), and that its scope matches `pattern`;
 * returns the scope padded with `null` to the pattern's length. Anything that came from a peer and was not
 * signed by this server's key fails: `ERR_CAPABILITY_FORGED` for a client's unsigned token.
 *
 * Semantics are Anvil's `unwrap_capability`: a scope longer than the pattern is too narrow
 * (`ERR_CAPABILITY_TOO_NARROW`); each scope element must equal the pattern element (deep JSON equality,
 * map key order ignored) or the pattern element is `ANY` (`ERR_CAPABILITY_MISMATCH` otherwise). A broader
 * capability than needed is accepted, because it can always be narrowed to the pattern.
 *
 * @example
 * ```ts
 * const [, videoId] = unwrapCapability(cap, ['youtube_videos', ANY, 'update']);
 * ```
 */
export function unwrapCapability<const P extends readonly PatternElement[]>(cap: unknown, pattern: P): Unwrapped<P> {
  assertPattern(pattern);
  if (!(cap instanceof Capability)) throw fail('ERR_CAPABILITY_NOT_VERIFIED');
  const status = statusOf(cap);
  if (status === undefined) {
    // Made by `new Capability(...)` in this process and never sent: only code running here can hold it, so
    // it is trusted as Anvil trusts server code's own capabilities. Its expiry still applies (on this
    // process's clock); there is no caller to check an audience against.
    if (!isLocalCapability(cap)) throw fail('ERR_CAPABILITY_NOT_VERIFIED');
    const expiresAt = cap.expiresAt;
    if (expiresAt !== null && Date.now() > expiresAt) throw fail('ERR_CAPABILITY_EXPIRED');
  } else if (status instanceof CapsyncError) {
    throw fail(status.code);
  } else {
    assertStillValid(status);
  }
  return matchChecked(cap.scope, pattern) as Unwrapped<P>;
}

/**
 * A pattern is a non-empty list of JSON values and {@link ANY}. Anything else (a `Date`, `Map`, `Set`,
 * `RegExp`, a class instance, `undefined`, NaN) is refused rather than compared: such an element could
 * only ever match by accident (a `Date` has no own keys, like the scope element `{}`).
 */
function assertPattern(pattern: unknown): asserts pattern is readonly PatternElement[] {
  if (!Array.isArray(pattern) || pattern.length === 0) throw fail('ERR_INVALID_PATTERN');
  for (const element of pattern) {
    if (element === ANY || element === null) continue;
    const type = typeof element;
    if (type === 'string' || type === 'boolean') continue;
    if (type === 'number' ? Number.isFinite(element) : isJsonObject(element)) continue;
    throw fail('ERR_INVALID_PATTERN');
  }
}

function isJsonObject(value: unknown): boolean {
  try {
    assertJsonValue(value);
    return true;
  } catch {
    return false;
  }
}

/**
 * Matches a scope against a pattern without checking any signature (the pure part of {@link unwrapCapability}):
 * the client's structural check, since client code cannot unwrap.
 */
export function matchScope(scope: readonly JsonValue[], pattern: readonly PatternElement[]): JsonValue[] {
  assertPattern(pattern);
  return matchChecked(scope, pattern);
}

function matchChecked(scope: readonly JsonValue[], pattern: readonly PatternElement[]): JsonValue[] {
  if (scope.length > pattern.length) throw fail('ERR_CAPABILITY_TOO_NARROW');
  const result: JsonValue[] = [];
  for (let i = 0; i < pattern.length; i++) {
    if (i >= scope.length) {
      result.push(null);
      continue;
    }
    const expected = pattern[i]!;
    if (expected !== ANY && !jsonEqual(scope[i]!, expected)) throw fail('ERR_CAPABILITY_MISMATCH');
    result.push(scope[i]!);
  }
  return result;
}

/**
 * True when a capability with scope `a` covers an object at address `b` or the reverse: one is a prefix of
 * the other, element by element (`["video"]` never covers `["videos"]`).
 */
export function scopesOverlap(a: readonly JsonValue[], b: readonly JsonValue[]): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (!jsonEqual(a[i]!, b[i]!)) return false;
  return true;
}
