import { LRUCache } from 'lru-cache';
import type { Capability } from './capability.js';
import { chainOf, type SignedChain } from './chain.js';
import { TAG_BYTES, type TokenParts } from './token.js';
import { tokenMatches } from './token-match.js';

/**
 * The capabilities a verifier verified (or signed), in one bounded LRU, each under one small integer: a
 * hash of the last 16 bytes of its chain's last block (that block's random nonce, and its generation when it
 * has one; or block 0's last ancestor id). That one entry serves both lookups a token makes:
 *
 * - the token itself: its last block ends 34 bytes before its end (a 32-byte tag after a 2-byte header), so
 *   its key is read in place, and a hit is confirmed byte for byte ({@link tokenMatches});
 * - the chain a token extends by one block (a capability the client narrowed from one it was sent, or sent
 *   before): that chain's last block is the token's last but one, confirmed block by block.
 *
 * A key is near unique; a collision (even a chosen one: a holder picks its own nonces) costs a miss, never a
 * wrong answer, since every hit is confirmed in full. One entry per capability, not one per lookup kind.
 */
export class VerifiedCache {
  readonly #lru: LRUCache<number, Capability>;

  constructor(max: number) {
    this.#lru = new LRUCache({ max });
  }

  /** The verified capability whose token is `token`, byte for byte. */
  lookup(token: Uint8Array): Capability | undefined {
    const end = token.length - TAG_BYTES - 2;
    if (end < 16 || token[end] !== 0xc4 || token[end + 1] !== TAG_BYTES) return undefined;
    const cap = this.#lru.get(blockKey(token, end - 16, end));
    return cap !== undefined && tokenMatches(token, cap[chainOf]!) ? cap : undefined;
  }

  /** Remembers a verified (or just signed) capability. */
  remember(cap: Capability): void {
    const blocks = cap[chainOf]!.blockBytes;
    const last = blocks[blocks.length - 1]!;
    this.#lru.set(blockKey(last, 0, last.length), cap);
  }

  /**
   * The cached chain that `parts` extends by exactly one block: same key id, and every block but the last
   * byte for byte the cached chain's.
   */
  parentOf(parts: TokenParts): Capability | undefined {
    const blocks = parts.blocks;
    const length = blocks.length - 1;
    if (length < 1 || parts.kid === '' || parts.tag.length !== TAG_BYTES) return undefined;
    const last = blocks[length - 1]!;
    const cap = this.#lru.get(blockKey(last, 0, last.length));
    const chain = cap?.[chainOf];
    if (chain === undefined || !sameHead(chain, parts.kid, length)) return undefined;
    for (let i = 0; i < length; i++) if (!bytesEqualAt(chain.blockBytes[i]!, blocks[i]!, 0, blocks[i]!.length)) return undefined;
    return cap;
  }

  /** {@link parentOf} of a token read in place: block `i` is `bytes` from `at[2i]` to `at[2i + 1]`, the tag last. */
  parentAt(bytes: Uint8Array, kid: string, at: readonly number[]): Capability | undefined {
    const length = at.length / 2 - 2;
    if (length < 1 || kid === '' || bytes.length - at[2 * length + 2]! !== TAG_BYTES) return undefined;
    const end = at[2 * length - 1]!;
    const cap = this.#lru.get(blockKey(bytes, Math.max(at[2 * length - 2]!, end - 16), end));
    const chain = cap?.[chainOf];
    if (chain === undefined || !sameHead(chain, kid, length)) return undefined;
    const blocks = chain.blockBytes;
    for (let i = 0; i < length; i++) {
      const block = blocks[i]!;
      const start = at[2 * i]!;
      if (at[2 * i + 1]! - start !== block.length) return undefined;
      for (let j = 0; j < block.length; j++) if (block[j] !== bytes[start + j]) return undefined;
    }
    return cap;
  }

  clear(): void {
    this.#lru.clear();
  }
}

function sameHead(chain: SignedChain, kid: string, length: number): boolean {
  return chain.kid === kid && chain.blockBytes.length === length && chain.tag.length === TAG_BYTES;
}

/** The cache key of a block: a hash of its last 16 bytes (`bytes` from `start` to `end`), kept a small integer so the key costs no allocation. */
function blockKey(bytes: Uint8Array, start: number, end: number): number {
  let h = 0;
  for (let i = Math.max(start, end - 16); i < end; i++) h = (Math.imul(h, 31) + bytes[i]!) | 0;
  return h & 0x3fffffff;
}

/** True when `a` equals `bytes` from `start` to `end`. */
function bytesEqualAt(a: Uint8Array, bytes: Uint8Array, start: number, end: number): boolean {
  if (a.length !== end - start) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== bytes[start + i]) return false;
  return true;
}
