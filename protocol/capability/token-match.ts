import type { SignedChain } from './chain.js';

/**
 * True when `bytes` is a token of exactly `chain`: the same key id, the same blocks byte for byte, and the
 * same tag (compared in constant time: the tag is what the capability's holder must not be able to guess).
 *
 * A verifier confirms a cache hit with it, so a verified chain needs no private copy of the whole token it
 * came in (only its blocks and tag): a copy of more than 64 bytes is an off-heap buffer, which costs more
 * to allocate and free than a chain step. It reads the header forms `readTokenFast` reads and returns
 * false for any other encoding (the caller then verifies the token afresh), so it never accepts bytes the
 * token decoder would read differently.
 */
export function tokenMatches(bytes: Uint8Array, chain: SignedChain): boolean {
  const end = bytes.length;
  if (bytes[0] !== 0x94 || bytes[1] !== 0x01) return false;
  let p = 2;
  // The key id: an ASCII string of the chain's length.
  const t = bytes[p]!;
  let length: number;
  if (t >= 0xa0 && t <= 0xbf) (length = t - 0xa0), (p += 1);
  else if (t === 0xd9) (length = bytes[p + 1] ?? -1), (p += 2);
  else if (t === 0xda) (length = ((bytes[p + 1] ?? 0) << 8) | (bytes[p + 2] ?? 0)), (p += 3);
  else return false;
  const kid = chain.kid;
  if (length !== kid.length || p + length > end) return false;
  for (let i = 0; i < length; i++) if (bytes[p + i] !== kid.charCodeAt(i)) return false;
  p += length;
  // The block list.
  const blocks = chain.blockBytes;
  const h = bytes[p];
  let count: number;
  if (h !== undefined && h >= 0x90 && h <= 0x9f) (count = h - 0x90), (p += 1);
  else if (h === 0xdc && p + 3 <= end) (count = (bytes[p + 1]! << 8) | bytes[p + 2]!), (p += 3);
  else return false;
  if (count !== blocks.length) return false;
  for (let b = 0; b < count; b++) {
    const block = blocks[b]!;
    const start = binaryStart(bytes, p, block.length);
    if (start < 0) return false;
    for (let i = 0; i < block.length; i++) if (bytes[start + i] !== block[i]) return false;
    p = start + block.length;
  }
  // The tag, last.
  const tag = chain.tag;
  const start = binaryStart(bytes, p, tag.length);
  if (start < 0 || start + tag.length !== end || tag.length === 0) return false;
  let diff = 0;
  for (let i = 0; i < tag.length; i++) diff |= bytes[start + i]! ^ tag[i]!;
  return diff === 0;
}

/** Where the payload of a bin8/bin16 of exactly `length` bytes at `p` starts, or -1. */
function binaryStart(bytes: Uint8Array, p: number, length: number): number {
  const t = bytes[p];
  let start: number;
  let n: number;
  if (t === 0xc4) (n = bytes[p + 1] ?? -1), (start = p + 2);
  else if (t === 0xc5) (n = ((bytes[p + 1] ?? 0) << 8) | (bytes[p + 2] ?? 0)), (start = p + 3);
  else return -1;
  return n === length && start + length <= bytes.length ? start : -1;
}
