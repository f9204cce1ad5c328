import type { JsonValue } from '../json-value.js';
import { IntLru } from './verified-cache.js';

/**
 * The scopes of the capabilities a verifier signed or verified, one frozen list per distinct scope of
 * primitives (the common `["youtube_videos", id, "update"]`), kept in a bounded LRU: a capability minted
 * afresh for an object (a server function that grants on every call) or a client's copy verified cold (a
 * resume after a restart) takes the list already kept for an equal scope instead of keeping its own. Every
 * holder of one object then shares one scope list and its id strings, where each kept a copy (about 100 B
 * per holding of a three-element scope: the list, its elements' slot array, and the id string, which a
 * store hands out afresh on every read).
 *
 * Keyed by a hash of the elements; a hit is confirmed element by element (`===`), so a collision costs a
 * miss, never a wrong scope. A scope holding an object or a list is not interned. Only scopes of capabilities
 * this server minted or whose signature it checked come here: a forger cannot fill it.
 */
export class ScopeInterner {
  readonly #lru: IntLru<readonly JsonValue[]>;

  constructor(max: number) {
    this.#lru = new IntLru(max);
  }

  /** The kept list equal to `scope` (frozen), or `scope` itself, kept from now on. */
  intern(scope: readonly JsonValue[]): readonly JsonValue[] {
    const key = scopeKey(scope);
    if (key < 0) return scope;
    const known = this.#lru.get(key);
    if (known !== undefined && samePrimitives(known, scope)) return known;
    this.#lru.set(key, scope);
    return scope;
  }
}

/** A 30-bit hash of a scope of primitives, or -1 when an element is an object or a list. */
function scopeKey(scope: readonly JsonValue[]): number {
  let h = scope.length;
  for (const element of scope) {
    if (typeof element === 'string') {
      h = (Math.imul(h, 31) + 0x51) | 0;
      for (let i = 0; i < element.length; i++) h = (Math.imul(h, 31) + element.charCodeAt(i)) | 0;
    } else if (typeof element === 'number') h = (Math.imul(h, 31) + (Math.imul(element | 0, 0x9e3779b1) ^ Math.floor(element / 0x1_0000_0000))) | 0;
    else if (typeof element === 'boolean') h = (Math.imul(h, 31) + (element ? 0x3a : 0x3b)) | 0;
    else if (element === null) h = (Math.imul(h, 31) + 0x3c) | 0;
    else return -1;
  }
  return h & 0x3fffffff;
}

/** True when two scopes of primitives hold the same values in the same order. */
function samePrimitives(a: readonly JsonValue[], b: readonly JsonValue[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    // 0 and -0 encode differently: never one for the other.
    if (x !== b[i] || (x === 0 && Object.is(x, -0) !== Object.is(b[i], -0))) return false;
  }
  return true;
}
