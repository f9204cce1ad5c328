import { canonicalKey, type JsonValue } from '../protocol/json-value.js';

/**
 * Which holders (connections) hold a capability covering an address. A capability with scope S covers an
 * object at address A when one is a prefix of the other, element by element. Lookups cost O(|A|) map reads
 * instead of a scan of every connection: S is indexed under its full key (found by A's prefixes) and under
 * each of its own proper prefixes (found by A itself).
 */
export class HolderIndex<H> {
  /** key(S) -> holders with a capability of exactly scope S (with a count: a holder may hold several). */
  readonly #exact = new Map<string, Map<H, number>>();
  /** key(P) -> holders with a capability whose scope strictly extends P. */
  readonly #extending = new Map<string, Map<H, number>>();

  add(scope: readonly JsonValue[], holder: H): void {
    const keys = prefixKeys(scope);
    bump(this.#exact, keys[keys.length - 1]!, holder, 1);
    for (let i = 0; i < keys.length - 1; i++) bump(this.#extending, keys[i]!, holder, 1);
  }

  remove(scope: readonly JsonValue[], holder: H): void {
    const keys = prefixKeys(scope);
    bump(this.#exact, keys[keys.length - 1]!, holder, -1);
    for (let i = 0; i < keys.length - 1; i++) bump(this.#extending, keys[i]!, holder, -1);
  }

  /** @internal How many scope keys the index holds: removing every holding must leave none behind. */
  get keyCount(): number {
    return this.#exact.size + this.#extending.size;
  }

  /** Every holder with a capability covering `address`. */
  lookup(address: readonly JsonValue[]): Set<H> {
    const found = new Set<H>();
    const keys = prefixKeys(address);
    for (const key of keys) for (const h of this.#exact.get(key)?.keys() ?? []) found.add(h);
    for (const h of this.#extending.get(keys[keys.length - 1]!)?.keys() ?? []) found.add(h);
    return found;
  }
}

function prefixKeys(scope: readonly JsonValue[]): string[] {
  const keys: string[] = [];
  let key = '';
  for (const element of scope) keys.push((key += canonicalKey(element) + '\u0000'));
  return keys;
}

function bump<H>(index: Map<string, Map<H, number>>, key: string, holder: H, delta: number): void {
  let holders = index.get(key);
  if (holders === undefined) {
    if (delta < 0) return;
    index.set(key, (holders = new Map()));
  }
  const count = (holders.get(holder) ?? 0) + delta;
  if (count > 0) holders.set(holder, count);
  else {
    holders.delete(holder);
    if (holders.size === 0) index.delete(key);
  }
}
