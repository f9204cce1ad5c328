import { canonicalKey, type JsonValue } from '../../protocol/json-value.js';

/**
 * @internal How `listUnder` finds the addresses under a prefix by their canonical key alone, in every store.
 *
 * An address's key is `[` + its elements' canonical keys joined by `,` + `]`, and an element's key is a whole
 * JSON text, which ends where it ends (a string at its closing quote, a list at its bracket, a number before
 * the `,`). So an address starts with `prefix` exactly when its key equals `whole` (the prefix itself) or
 * starts with `open` (the prefix's key with `]` turned into `,`): `["a","b"]` opens as `["a","b",`, which
 * `["a","bc"]` does not start with. The empty prefix has no `open` form; everything is under it.
 *
 * `openEnd` (the `,` turned into `-`, the next character) bounds the keys starting with `open` as a range,
 * `open <= key < openEnd` in binary order, so SQLite finds them through the primary key's index.
 */
export function prefixKeys(prefix: readonly JsonValue[]): { readonly whole: string; readonly open: string; readonly openEnd: string } | null {
  if (prefix.length === 0) return null;
  const whole = canonicalKey(prefix as JsonValue[]);
  const stem = whole.slice(0, -1);
  return { whole, open: stem + ',', openEnd: stem + '-' };
}

/** @internal Whether the address with canonical key `key` starts with the prefix `keys` stands for. */
export function isUnder(key: string, keys: ReturnType<typeof prefixKeys>): boolean {
  return keys === null || key === keys.whole || key.startsWith(keys.open);
}
