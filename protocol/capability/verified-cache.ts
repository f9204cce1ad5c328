import { LRUCache } from 'lru-cache';
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
  readonly #lru: LRUCache<number, Capability>;

  constructor(max: number) {
    this.#lru = new LRUCache({ max });
  }

  /** The verified capability whose token is `token`, byte for byte (the tag compared in constant time). */
  lookup(token: Uint8Array): Capability | undefined {
    const end = token.length - TAG_BYTES - 2;
    if (end < 16 || token[end] !== 0xc4 || token[end + 1] !== TAG_BYTES) return undefined;
    const cap = this.#lru.get(blockKey(token, end));
    return cap !== undefined && sameToken(token, (cap[chainOf] as TokenChain).token) ? cap : undefined;
  }

  /** Remembers a verified (or just signed) capability. */
  remember(cap: Capability): void {
    const chain = cap[chainOf];
    if (chain instanceof TokenChain && chain.tagLength === TAG_BYTES) this.#lru.set(blockKey(chain.token, chain.blocksEnd), cap);
  }

  /**
   * The cached capability whose chain `child` extends by exactly one block: same key id, and every block
   * but the last byte for byte the cached chain's (both are canonical: equal bytes, equal blocks).
   */
  parentOf(child: TokenChain): Capability | undefined {
    if (child.count < 2 || child.tagLength !== TAG_BYTES) return undefined;
    const end = child.lastBlockAt;
    const cap = this.#lru.get(blockKey(child.token, end));
    const chain = cap?.[chainOf];
    if (!(chain instanceof TokenChain) || chain.count !== child.count - 1 || chain.kid !== child.kid || chain.tagLength !== TAG_BYTES) return undefined;
    const from = chain.blocksStart;
    const length = chain.blocksEnd - from;
    const at = child.blocksStart;
    if (at + length !== end) return undefined;
    return sameBytes(chain.token, from, child.token, at, length) ? cap : undefined;
  }

  clear(): void {
    this.#lru.clear();
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
