import type { Capability } from './capability.js';
import { chainOf } from './chain.js';
import { TAG_BYTES } from './token.js';
import { TokenChain } from './token-chain.js';

/**
 * The capabilities a verifier verified (or signed), in one bounded LRU, each under one small integer: a
 * hash of the last 16 bytes of its chain's last block (that block's random nonce, and its generation when it
 * has one; or block 0's last ancestor id). That one entry serves both lookups a token makes:
 *
 * - the token itself: its last block ends 34 bytes before its end (a 32-byte tag after a 2-byte header), so
 *   its key is read in place, and a hit is its token byte for byte;
 * - the chain a token extends by one block (a capability the client narrowed from one it was sent, or sent
 *   before): that chain's last block is the token's last but one, and every byte of its blocks must be the
 *   token's.
 *
 * A key is near unique; a collision (even a chosen one: a holder picks its own nonces) costs a miss, never a
 * wrong answer, since every hit is confirmed in full. One entry per capability, not one per lookup kind.
 * Every chain here is a verifier's {@link TokenChain}: canonical bytes, compared as they are.
 */
export class VerifiedCache {
  readonly #lru: IntLru<Capability>;

  constructor(max: number) {
    this.#lru = new IntLru(max);
  }

  /** The verified capability whose token is `token`, byte for byte (the tag compared in constant time). */
  lookup(token: Uint8Array): Capability | undefined {
    const end = token.length - TAG_BYTES - 2;
    if (end < 16 || token[end] !== 0xc4 || token[end + 1] !== TAG_BYTES) return undefined;
    const cap = this.#lru.get(blockKey(token, end));
    return cap !== undefined && sameToken(token, (cap[chainOf] as TokenChain).token) ? cap : undefined;
  }

  /** Remembers a verified (or just signed) capability. */
  remember(cap: Capability, token?: Uint8Array): void {
    const chain = cap[chainOf];
    if (chain instanceof TokenChain && chain.tagLength === TAG_BYTES) this.#lru.set(blockKey(token ?? chain.token, chain.blocksEnd), cap);
  }

  /**
   * The cached capability whose chain `child` extends by exactly one block: same key id, and every block
   * but the last byte for byte the cached chain's (both are canonical: equal bytes, equal blocks). `token` is
   * the child's token and `end` where its last block starts ({@link TokenChain.lastBlockAtIn}), as the caller read them.
   */
  parentOf(child: TokenChain, token: Uint8Array, end: number): Capability | undefined {
    if (child.count < 2 || child.tagLength !== TAG_BYTES) return undefined;
    const cap = this.#lru.get(blockKey(token, end));
    const chain = cap?.[chainOf];
    if (!(chain instanceof TokenChain) || chain.count !== child.count - 1 || chain.kid !== child.kid || chain.tagLength !== TAG_BYTES) return undefined;
    const from = chain.blocksStart;
    const length = chain.blocksEnd - from;
    const at = child.blocksStart;
    if (at + length !== end) return undefined;
    return sameBytes(chain.token, from, token, at, length) ? cap : undefined;
  }

  clear(): void {
    this.#lru.clear();
  }
}

/**
 * A least-recently-used map from small integers to values, of at most `max` entries, whose memory is fixed
 * at its bound when first used: the keys, values and recency links in lists of `max` slots (as lru-cache
 * keeps its own), and the key index an open-addressed table of at least twice as many (linear probing,
 * backward-shift deletion). No entry allocates: a Map entry per key (lru-cache's index) was about 46 bytes
 * per verified capability, and every capability a connection holds is one.
 */
export class IntLru<V> {
  readonly #max: number;
  #keys = new Int32Array(0);
  #values: (V | undefined)[] = [];
  /** Towards the least recent: `#next[slot]`; towards the most recent: `#prev[slot]`; -1 at the ends. */
  #next = new Int32Array(0);
  #prev = new Int32Array(0);
  /** The index: slot + 1 of the key hashed to (or probed past) each position; 0 when empty. */
  #table = new Int32Array(0);
  #mask = 0;
  #size = 0;
  #head = -1;
  #tail = -1;

  constructor(max: number) {
    this.#max = Math.max(1, Math.floor(max));
  }

  get size(): number {
    return this.#size;
  }

  /** The value under `key` (now the most recent), if any. */
  get(key: number): V | undefined {
    const slot = this.#find(key);
    if (slot < 0) return undefined;
    this.#touch(slot);
    return this.#values[slot];
  }

  /** Sets `key` to `value` (the most recent), forgetting the least recent entry when full. */
  set(key: number, value: V): void {
    if (this.#table.length === 0) this.#allocate();
    let slot = this.#find(key);
    if (slot >= 0) {
      this.#values[slot] = value;
      this.#touch(slot);
      return;
    }
    if (this.#size < this.#max) slot = this.#size++;
    else {
      slot = this.#tail;
      this.#unindex(slot);
      this.#unlink(slot);
    }
    this.#keys[slot] = key;
    this.#values[slot] = value;
    let i = this.#home(key);
    while (this.#table[i] !== 0) i = (i + 1) & this.#mask;
    this.#table[i] = slot + 1;
    this.#linkFirst(slot);
  }

  clear(): void {
    // Released: a cleared cache holds nothing until it is used again.
    this.#keys = new Int32Array(0);
    this.#values = [];
    this.#next = new Int32Array(0);
    this.#prev = new Int32Array(0);
    this.#table = new Int32Array(0);
    this.#mask = 0;
    this.#size = 0;
    this.#head = this.#tail = -1;
  }

  #allocate(): void {
    const max = this.#max;
    let length = 2;
    while (length < 2 * max) length *= 2;
    this.#keys = new Int32Array(max);
    this.#values = new Array<V | undefined>(max).fill(undefined);
    this.#next = new Int32Array(max);
    this.#prev = new Int32Array(max);
    this.#table = new Int32Array(length);
    this.#mask = length - 1;
  }

  #home(key: number): number {
    return (Math.imul(key, 0x9e3779b1) >>> 7) & this.#mask;
  }

  #find(key: number): number {
    const table = this.#table;
    if (table.length === 0) return -1;
    for (let i = this.#home(key); ; i = (i + 1) & this.#mask) {
      const entry = table[i]!;
      if (entry === 0) return -1;
      if (this.#keys[entry - 1] === key) return entry - 1;
    }
  }

  /** Takes `slot`'s key out of the index, moving back the entries probed past it (no tombstones). */
  #unindex(slot: number): void {
    const table = this.#table;
    const mask = this.#mask;
    let i = this.#home(this.#keys[slot]!);
    while (table[i] !== slot + 1) i = (i + 1) & mask;
    table[i] = 0;
    for (let j = (i + 1) & mask; table[j] !== 0; j = (j + 1) & mask) {
      const home = this.#home(this.#keys[table[j]! - 1]!);
      // The entry at j may move to the hole at i unless its home lies cyclically in (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        table[i] = table[j]!;
        table[j] = 0;
        i = j;
      }
    }
  }

  #touch(slot: number): void {
    if (slot === this.#head) return;
    this.#unlink(slot);
    this.#linkFirst(slot);
  }

  #unlink(slot: number): void {
    const next = this.#next[slot]!;
    const prev = this.#prev[slot]!;
    if (prev >= 0) this.#next[prev] = next;
    else this.#head = next;
    if (next >= 0) this.#prev[next] = prev;
    else this.#tail = prev;
  }

  #linkFirst(slot: number): void {
    this.#prev[slot] = -1;
    this.#next[slot] = this.#head;
    if (this.#head >= 0) this.#prev[this.#head] = slot;
    this.#head = slot;
    if (this.#tail < 0) this.#tail = slot;
  }
}

/** The cache key of the block ending at `end`: a hash of its last 16 bytes, a small integer (no allocation). */
function blockKey(bytes: Uint8Array, end: number): number {
  let h = 0;
  for (let i = end - 16; i < end; i++) h = (Math.imul(h, 31) + bytes[i]!) | 0;
  return h & 0x3fffffff;
}

/**
 * True when `a` from `i` and `b` from `j` hold the same `length` bytes. When both ranges sit at the same
 * offset modulo 4 in their buffers (an arena's slices are 8-byte aligned, and a chain and its child share
 * their head's length), the middle is compared a 32-bit word at a time: a chain's blocks are its whole
 * token but the tag, and this runs on every token narrowed from a cached one.
 */
function sameBytes(a: Uint8Array, i: number, b: Uint8Array, j: number, length: number): boolean {
  const x = a.byteOffset + i;
  const y = b.byteOffset + j;
  let k = 0;
  if (length >= 32 && (x & 3) === (y & 3)) {
    const head = (4 - (x & 3)) & 3;
    for (; k < head; k++) if (a[i + k] !== b[j + k]) return false;
    const words = (length - head) >>> 2;
    const wa = new Int32Array(a.buffer, x + head, words);
    const wb = new Int32Array(b.buffer, y + head, words);
    for (let w = 0; w < words; w++) if (wa[w] !== wb[w]) return false;
    k = head + 4 * words;
  }
  for (; k < length; k++) if (a[i + k] !== b[j + k]) return false;
  return true;
}

/** True when two tokens are the same bytes, compared in constant time for their length (the tag is a secret). */
function sameToken(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
