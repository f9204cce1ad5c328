import { ARENA_CHUNK_BYTES, type ByteArena } from './byte-arena.js';
import type { ChainSuite, SignedChain } from './chain.js';

/**
 * A capability's chain kept as its token bytes alone (SPEC section 3.1), in the canonical encoding, once:
 * the blocks and the tag are ranges of them, viewed on demand, never kept as arrays of their own. What a
 * verifier keeps of every capability it verifies or signs. `kid` is the key ring's string, shared by every
 * capability it signed.
 *
 *   token = 0x94 0x01 str(kid) list(count) bin(block 0) ... bin(block count-1) bin(tag)
 *
 * The header forms are those msgpackr writes (fixstr, str8, str16; fixarray, array16; bin8, bin16, bin32),
 * so a token capsync encodes and the one written here are the same bytes (test/protocol/token-chain.test.ts).
 */
export class TokenChain implements SignedChain {
  readonly kid: string;
  /**
   * Where the token lies: its buffer (an arena chunk, shared), offset and length. Not a view kept for good:
   * a Uint8Array is about 96 bytes of heap beside the bytes, and every held capability keeps its chain.
   */
  readonly #bytes: ArrayBufferLike;
  /**
   * The token's offset in {@link #bytes} in 8-byte units (an arena's slices start 8-byte aligned, and lie in
   * a 16 KiB chunk: under 2,048), plus 2,048 times its length: one small integer for both, every held
   * capability keeps one.
   */
  readonly #place: number;
  /** The block count times 4, plus the tag's length as a code: 0 (none), 1 (32 bytes), 2 (another, read from the bytes). */
  readonly #shape: number;
  readonly suite: ChainSuite | undefined;

  /**
   * The chain of `token` (`count` blocks, a tag of `tagLength`), or, given a chain alone, a chain of the same
   * bytes: what a subclass that takes a chain's place (a {@link Verification}, which is its capability's chain
   * too) is built from, the chain it is made of then left to the collector (with `suite` in place of its own, if given).
   */
  protected constructor(kid: string | TokenChain, token?: Uint8Array, count = 0, tagLength = 0, suite?: ChainSuite) {
    if (kid instanceof TokenChain) {
      this.kid = kid.kid;
      this.#bytes = kid.#bytes;
      this.#place = kid.#place;
      this.#shape = kid.#shape;
      this.suite = suite ?? kid.suite;
      return;
    }
    let bytes = token!;
    // Not where an arena or a buffer of its own puts it (never, as written here): a copy of its own, at 0.
    if (bytes.byteOffset % 8 !== 0 || bytes.byteOffset >= ARENA_PLACES * 8) bytes = bytes.slice();
    this.kid = kid;
    this.#bytes = bytes.buffer;
    this.#place = bytes.byteOffset / 8 + ARENA_PLACES * bytes.byteLength;
    this.#shape = count * 4 + (tagLength === 0 ? 0 : tagLength === TAG_LENGTH ? 1 : 2);
    this.suite = suite;
  }

  // Static, not instance, private accessors: an instance private method gives every instance a brand slot.

  /** Where the token starts in {@link #bytes}. */
  static #offset(chain: TokenChain): number {
    return (chain.#place % ARENA_PLACES) * 8;
  }

  /** The token's length in bytes. */
  static #length(chain: TokenChain): number {
    return Math.floor(chain.#place / ARENA_PLACES);
  }

  /** The number of blocks. */
  get count(): number {
    return Math.floor(this.#shape / 4);
  }

  /** The tag's length: 32, or 0 for a chain received unsigned (which narrowing keeps unsigned); another only in a forgery. */
  get tagLength(): number {
    const code = this.#shape % 4;
    if (code < 2) return code * TAG_LENGTH;
    // A forgery's: the bytes after the last block's end and the tag's header.
    const token = this.token;
    let p = this.blocksStart;
    for (let i = 0; i < this.count; i++) p = binEnd(token, p);
    return token.length - payloadAt(token, p);
  }

  /** The token bytes, a view made on each read (of a buffer other tokens may share: never handed out as it is). */
  get token(): Uint8Array {
    return new Uint8Array(this.#bytes, TokenChain.#offset(this), TokenChain.#length(this));
  }

  /** Where block 0's header starts in {@link token} (derived: one field fewer per held capability). */
  get blocksStart(): number {
    return headLength(this.kid, this.count);
  }

  /** True when the chain carries a tag (it may still fail verification). */
  get signed(): boolean {
    return this.tagLength > 0;
  }

  /** The chain of `blocks` and `tag` under `kid`, encoded into `arena` (or a buffer of its own). */
  static write(kid: string, blocks: readonly Uint8Array[], tag: Uint8Array, suite: ChainSuite | undefined, arena?: ByteArena): TokenChain {
    let length = headLength(kid, blocks.length) + binHeaderLength(tag.length) + tag.length;
    for (const block of blocks) length += binHeaderLength(block.length) + block.length;
    const out = arena?.take(length) ?? new Uint8Array(length);
    const start = writeHead(out, kid, blocks.length);
    let p = start;
    for (const block of blocks) p = writeBin(out, p, block, 0, block.length);
    writeBin(out, p, tag, 0, tag.length);
    return new TokenChain(kid, out, blocks.length, tag.length, suite);
  }

  /**
   * The chain of a token read in place (`at` as `readTokenLayout` gives it: block `i` from `at[2i]` to
   * `at[2i + 1]`, the tag last), copied into `arena` in the canonical encoding: the caller's buffer is never kept.
   */
  static copyOf(kid: string, bytes: Uint8Array, at: readonly number[], suite: ChainSuite, arena?: ByteArena): TokenChain {
    const count = at.length / 2 - 1;
    let length = headLength(kid, count);
    for (let i = 0; i <= count; i++) length += binHeaderLength(at[2 * i + 1]! - at[2 * i]!) + at[2 * i + 1]! - at[2 * i]!;
    const out = arena?.take(length) ?? new Uint8Array(length);
    if (length === bytes.length) {
      // Every header already in its shortest form (any other is longer): the bytes are the canonical ones.
      if (length > 64) out.set(bytes);
      else for (let i = 0; i < length; i++) out[i] = bytes[i]!;
    } else {
      let p = writeHead(out, kid, count);
      for (let i = 0; i <= count; i++) p = writeBin(out, p, bytes, at[2 * i]!, at[2 * i + 1]!);
    }
    return new TokenChain(kid, out, count, at[2 * count + 1]! - at[2 * count]!, suite);
  }

  /** This chain one `block` longer, whose last tag is `tag` (empty: it stays unsigned), in `arena`. */
  extend(block: Uint8Array, tag: Uint8Array, arena?: ByteArena): TokenChain {
    const from = this.blocksStart;
    const to = this.blocksEnd;
    const count = this.count + 1;
    const length = headLength(this.kid, count) + (to - from) + binHeaderLength(block.length) + block.length + binHeaderLength(tag.length) + tag.length;
    const out = arena?.take(length) ?? new Uint8Array(length);
    const start = writeHead(out, this.kid, count);
    out.set(new Uint8Array(this.#bytes, TokenChain.#offset(this) + from, to - from), start);
    const p = writeBin(out, start + (to - from), block, 0, block.length);
    writeBin(out, p, tag, 0, tag.length);
    return new TokenChain(this.kid, out, count, tag.length, this.suite);
  }

  /** Where the last block ends (the tag's header starts) in {@link token}. */
  get blocksEnd(): number {
    return TokenChain.#length(this) - this.tagLength - binHeaderLength(this.tagLength);
  }

  /** The last tag, a view of {@link token} (empty when unsigned). */
  get tag(): Uint8Array {
    return new Uint8Array(this.#bytes, TokenChain.#offset(this) + TokenChain.#length(this) - this.tagLength, this.tagLength);
  }

  /** Every block, as views of {@link token}. */
  get blockBytes(): Uint8Array[] {
    const token = this.token;
    const blocks = new Array<Uint8Array>(this.count);
    let p = this.blocksStart;
    for (let i = 0; i < this.count; i++) {
      const start = payloadAt(token, p);
      p = binEnd(token, p);
      blocks[i] = token.subarray(start, p);
    }
    return blocks;
  }

  /**
   * Where the last block's header starts in `token`, this chain's {@link token} as the caller viewed it (one
   * view for several reads): where the blocks before it end.
   */
  lastBlockAtIn(token: Uint8Array): number {
    let p = this.blocksStart;
    for (let i = 1; i < this.count; i++) p = binEnd(token, p);
    return p;
  }
}

/** The tag length of a signed chain. */
const TAG_LENGTH = 32;
/** Offsets a token may start at in an arena chunk, in 8-byte units (16 KiB chunks). */
const ARENA_PLACES = ARENA_CHUNK_BYTES / 8;

/** Where the payload of the bin at `p` starts (a canonical token: the header is one this file wrote). */
export function payloadAt(bytes: Uint8Array, p: number): number {
  const t = bytes[p];
  return t === 0xc4 ? p + 2 : t === 0xc5 ? p + 3 : p + 5;
}

/** Where the bin at `p` ends. */
function binEnd(bytes: Uint8Array, p: number): number {
  const t = bytes[p];
  if (t === 0xc4) return p + 2 + bytes[p + 1]!;
  if (t === 0xc5) return p + 3 + ((bytes[p + 1]! << 8) | bytes[p + 2]!);
  return p + 5 + (((bytes[p + 1]! << 24) | (bytes[p + 2]! << 16) | (bytes[p + 3]! << 8) | bytes[p + 4]!) >>> 0);
}

/** The bytes of `kid` in UTF-8 (a key id is nearly always ASCII: then one byte per character). */
function kidLength(kid: string): number {
  for (let i = 0; i < kid.length; i++) if (kid.charCodeAt(i) >= 0x80) return utf8.encode(kid).length;
  return kid.length;
}

const utf8 = new TextEncoder();

function strHeaderLength(n: number): number {
  return n < 32 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

function listHeaderLength(n: number): number {
  return n < 16 ? 1 : n < 0x10000 ? 3 : 5;
}

function binHeaderLength(n: number): number {
  return n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

/** Bytes of `[1, kid, list(count)` in front of the blocks. */
function headLength(kid: string, count: number): number {
  const n = kidLength(kid);
  return 2 + strHeaderLength(n) + n + listHeaderLength(count);
}

function writeHead(out: Uint8Array, kid: string, count: number): number {
  out[0] = 0x94;
  out[1] = 0x01;
  let p = 2;
  const n = kidLength(kid);
  if (n < 32) out[p++] = 0xa0 + n;
  else if (n < 0x100) (out[p++] = 0xd9), (out[p++] = n);
  else if (n < 0x10000) (out[p++] = 0xda), (out[p++] = n >>> 8), (out[p++] = n & 0xff);
  else (out[p++] = 0xdb), (p = writeU32(out, p, n));
  if (n === kid.length) for (let i = 0; i < n; i++) out[p++] = kid.charCodeAt(i);
  else (out.set(utf8.encode(kid), p), (p += n));
  if (count < 16) out[p++] = 0x90 + count;
  else if (count < 0x10000) (out[p++] = 0xdc), (out[p++] = count >>> 8), (out[p++] = count & 0xff);
  else (out[p++] = 0xdd), (p = writeU32(out, p, count));
  return p;
}

/** Writes bin(`bytes` from `start` to `end`) at `p`; returns where it ends. */
function writeBin(out: Uint8Array, p: number, bytes: Uint8Array, start: number, end: number): number {
  const n = end - start;
  if (n < 0x100) (out[p++] = 0xc4), (out[p++] = n);
  else if (n < 0x10000) (out[p++] = 0xc5), (out[p++] = n >>> 8), (out[p++] = n & 0xff);
  else (out[p++] = 0xc6), (p = writeU32(out, p, n));
  if (n > 64) out.set(bytes.subarray(start, end), p);
  else for (let i = 0; i < n; i++) out[p + i] = bytes[start + i]!;
  return p + n;
}

function writeU32(out: Uint8Array, p: number, n: number): number {
  out[p] = n >>> 24;
  out[p + 1] = (n >>> 16) & 0xff;
  out[p + 2] = (n >>> 8) & 0xff;
  out[p + 3] = n & 0xff;
  return p + 4;
}
