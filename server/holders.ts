import { canonicalKey, type JsonValue } from '../protocol/json-value.js';

/**
 * Which holders (connections) hold a capability covering an address. A capability with scope S covers an
 * object at address A when one is a prefix of the other, element by element. Lookups cost O(|A|) map reads
 * instead of a scan of every connection: S is indexed under its full key (found by A's prefixes) and under
 * each of its own proper prefixes (found by A itself).
 */
export class HolderIndex<H> {
  /** key(S) -> holders with a capability of exactly scope S (with a count: a holder may hold several). */
  readonly #exact = new Map<string, Entry<H>>();
  /** key(P) -> holders with a capability whose scope strictly extends P. */
  readonly #extending = new Map<string, Entry<H>>();

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
    for (const key of keys) collect(this.#exact.get(key), found);
    collect(this.#extending.get(keys[keys.length - 1]!), found);
    return found;
  }
}

/**
 * The holders under one key with their counts, when there are several (or one holds it more than once).
 * A key one holder holds once (every key of an object only one connection holds: most of them, when each
 * holds objects of its own) is that holder alone, with no map: a `Map` and its table were about 200 bytes
 * per key, two keys per object held.
 */
class Holders<H> {
  readonly counts = new Map<H, number>();
}

type Entry<H> = H | Holders<H>;

function collect<H>(entry: Entry<H> | undefined, into: Set<H>): void {
  if (entry === undefined) return;
  if (entry instanceof Holders) for (const h of (entry as Holders<H>).counts.keys()) into.add(h);
  else into.add(entry);
}

/**
 * The key of each prefix of `scope`, each one flat string (a join): keys built by `+=` were ropes that the
 * map's hashing flattened, each kept as its rope and a flat copy besides (about 160 bytes per object held,
 * against about 100 for the two flat keys).
 */
function prefixKeys(scope: readonly JsonValue[]): string[] {
  const parts = new Array<string>(scope.length);
  const keys = new Array<string>(scope.length);
  for (let i = 0; i < scope.length; i++) {
    parts[i] = canonicalKey(scope[i]!) + '\u0000';
    keys[i] = i === 0 ? parts[0]! : parts.slice(0, i + 1).join('');
  }
  return keys;
}

function bump<H>(index: Map<string, Entry<H>>, key: string, holder: H, delta: number): void {
  const entry = index.get(key);
  if (entry === undefined) {
    if (delta > 0) index.set(key, delta === 1 ? holder : many(holder, delta));
    return;
  }
  if (!(entry instanceof Holders)) {
    if (entry !== holder) {
      if (delta > 0) index.set(key, many(entry, 1, holder, delta));
      return;
    }
    const count = 1 + delta;
    if (count <= 0) index.delete(key);
    else if (count > 1) index.set(key, many(holder, count));
    return;
  }
  const counts = (entry as Holders<H>).counts;
  const count = (counts.get(holder) ?? 0) + delta;
  if (count > 0) counts.set(holder, count);
  else counts.delete(holder);
  if (counts.size === 0) index.delete(key);
  else if (counts.size === 1) {
    // Back to one holder holding it once: that holder alone again.
    const [only, n] = counts.entries().next().value as [H, number];
    if (n === 1) index.set(key, only);
  }
}

function many<H>(a: H, countA: number, b?: H, countB = 0): Holders<H> {
  const holders = new Holders<H>();
  holders.counts.set(a, countA);
  if (b !== undefined) holders.counts.set(b, countB);
  return holders;
}
