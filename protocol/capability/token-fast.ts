import type { JsonValue } from '../json-value.js';
import type { Limits } from '../limits.js';

/**
 * Readers of the exact bytes capsync's own encoder writes for a token and for a block (SPEC section 3.1),
 * without msgpackr: the scan and the decoder together cost more than the four HMACs of a 3-step chain.
 *
 * Each reader accepts only a narrow, canonical form (short lists, ASCII strings, integers, nil, booleans,
 * float64 expiries, bin payloads) and returns undefined for anything else, however valid, which then goes
 * through the generic scan and decoder in token.ts. So the two paths never disagree on what a token means:
 * for the bytes the fast reader accepts, it builds exactly what msgpackr would, and what it declines is
 * decided, accepted or refused, by the generic path alone.
 */

/** Cursor over one buffer; `pos` moves as values are read. */
interface Reader {
  readonly b: Uint8Array;
  pos: number;
  readonly end: number;
}

/** The length of a list header at the cursor (fixarray or array16), or -1. */
function listLength(r: Reader): number {
  const t = r.b[r.pos];
  if (t === undefined) return -1;
  if (t >= 0x90 && t <= 0x9f) return (r.pos++, t - 0x90);
  if (t === 0xdc && r.pos + 3 <= r.end) {
    const n = (r.b[r.pos + 1]! << 8) | r.b[r.pos + 2]!;
    r.pos += 3;
    return n;
  }
  return -1;
}

/**
 * An ASCII string (fixstr, str8 or str16) at the cursor, or undefined. When its bytes spell `known`, that
 * string itself is returned rather than a new one (a token's key id is nearly always the ring's current one).
 */
function asciiString(r: Reader, limits: Limits, known?: string): string | undefined {
  const t = r.b[r.pos]!;
  let len: number;
  let start: number;
  if (t >= 0xa0 && t <= 0xbf) (len = t - 0xa0), (start = r.pos + 1);
  else if (t === 0xd9) (len = r.b[r.pos + 1] ?? -1), (start = r.pos + 2);
  else if (t === 0xda) (len = ((r.b[r.pos + 1] ?? 0) << 8) | (r.b[r.pos + 2] ?? 0)), (start = r.pos + 3);
  else return undefined;
  if (len < 0 || start + len > r.end || len > limits.maxStringBytes) return undefined;
  if (known !== undefined && known.length === len) {
    let same = true;
    for (let i = 0; i < len && same; i++) same = r.b[start + i] === known.charCodeAt(i);
    if (same) {
      r.pos = start + len;
      return known;
    }
  }
  let text = '';
  for (let i = start; i < start + len; i++) {
    const c = r.b[i]!;
    if (c >= 0x80) return undefined;
    text += String.fromCharCode(c);
  }
  r.pos = start + len;
  return text;
}

/** A bin8/bin16 payload at the cursor (a view, not a copy), or undefined. */
function binary(r: Reader, limits: Limits): Uint8Array | undefined {
  const start = binaryAt(r, limits);
  return start < 0 ? undefined : r.b.subarray(start, r.pos);
}

const NOT_READ = Symbol('not read');

/** nil, a boolean, an integer of up to 32 bits or an ASCII string at the cursor; NOT_READ for anything else. */
function scalar(r: Reader, limits: Limits): JsonValue | typeof NOT_READ {
  const b = r.b;
  const t = b[r.pos]!;
  if (t <= 0x7f) return (r.pos++, t);
  if (t >= 0xe0) return (r.pos++, t - 0x100);
  if (t === 0xc0) return (r.pos++, null);
  if (t === 0xc2 || t === 0xc3) return (r.pos++, t === 0xc3);
  const p = r.pos;
  switch (t) {
    case 0xcc: if (p + 2 > r.end) return NOT_READ; r.pos += 2; return b[p + 1]!;
    case 0xcd: if (p + 3 > r.end) return NOT_READ; r.pos += 3; return (b[p + 1]! << 8) | b[p + 2]!;
    case 0xce: if (p + 5 > r.end) return NOT_READ; r.pos += 5; return ((b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!) >>> 0;
    case 0xd0: if (p + 2 > r.end) return NOT_READ; r.pos += 2; return (b[p + 1]! << 24) >> 24;
    case 0xd1: if (p + 3 > r.end) return NOT_READ; r.pos += 3; return (((b[p + 1]! << 8) | b[p + 2]!) << 16) >> 16;
    case 0xd2: if (p + 5 > r.end) return NOT_READ; r.pos += 5; return (b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!;
  }
  return asciiString(r, limits) ?? NOT_READ;
}

/**
 * The start every token in its canonical encoding has, `[1, kid, ...` within the limits: the key id (the
 * cursor then at the block list), or undefined. Shared by {@link readTokenFast} and {@link readTokenLayout},
 * which must accept exactly the same tokens.
 */
function tokenHeader(r: Reader, limits: Limits, knownKid?: string): string | undefined {
  const bytes = r.b;
  if (bytes[0] !== 0x94 || bytes[1] !== 0x01 || limits.maxDepth < 2 || bytes.length > limits.maxFrameBytes) return undefined;
  r.pos = 2;
  return asciiString(r, limits, knownKid);
}

/** A token's parts in their canonical encoding, or undefined (then the generic decoder decides). */
export function readTokenFast(bytes: Uint8Array, limits: Limits): [number, string, Uint8Array[], Uint8Array] | undefined {
  const r: Reader = { b: bytes, pos: 0, end: bytes.length };
  const kid = tokenHeader(r, limits);
  if (kid === undefined) return undefined;
  const count = listLength(r);
  if (count < 0 || 6 + count > limits.maxElements) return undefined;
  const blocks = new Array<Uint8Array>(count);
  for (let i = 0; i < count; i++) {
    const block = binary(r, limits);
    if (block === undefined) return undefined;
    blocks[i] = block;
  }
  const tag = binary(r, limits);
  if (tag === undefined || r.pos !== r.end) return undefined;
  return [1, kid, blocks, tag];
}

/** What {@link readBlockFast} puts in place of a nonce it was asked to check rather than view: 16 bytes were there. */
export const NONCE_CHECKED = Symbol('nonce checked');
/** The length of a block's nonce (token.ts's NONCE_BYTES, which imports this file). */
const NONCE_LENGTH = 16;

/**
 * A block in its canonical encoding, `[segment, expiresAt, audience, nonce]` or a bound step's
 * `[segment, expiresAt, audience, nonce, nil, generation]`, as msgpackr would read it; or undefined. With
 * `viewNonce` false the nonce is not viewed (a view costs more than the rest of the read) but checked to be
 * exactly 16 bytes, and {@link NONCE_CHECKED} stands in its place: what a verifier needs of it.
 */
export function readBlockFast(bytes: Uint8Array, limits: Limits, viewNonce = true): unknown[] | undefined {
  const head = bytes[0];
  if ((head !== 0x94 && head !== 0x96) || limits.maxDepth < 2 || bytes.length > limits.maxFrameBytes) return undefined;
  const r: Reader = { b: bytes, pos: 1, end: bytes.length };
  const count = listLength(r);
  if (count < 0 || 6 + count > limits.maxElements) return undefined;
  const segment = new Array<JsonValue>(count);
  for (let i = 0; i < count; i++) {
    if (r.pos >= r.end) return undefined;
    const value = scalar(r, limits);
    if (value === NOT_READ) return undefined;
    segment[i] = value;
  }
  if (r.pos >= r.end) return undefined;
  let expiresAt: unknown;
  if (bytes[r.pos] === 0xcb) {
    if (r.pos + 9 > r.end) return undefined;
    expiresAt = new DataView(bytes.buffer, bytes.byteOffset + r.pos + 1, 8).getFloat64(0);
    r.pos += 9;
  } else {
    const value = scalar(r, limits);
    if (value === NOT_READ) return undefined;
    expiresAt = value;
  }
  if (r.pos >= r.end) return undefined;
  const audience = scalar(r, limits);
  if (audience === NOT_READ) return undefined;
  let nonce: Uint8Array | typeof NONCE_CHECKED | undefined;
  if (viewNonce) nonce = binary(r, limits);
  else {
    const start = binaryAt(r, limits);
    nonce = start >= 0 && r.pos - start === NONCE_LENGTH ? NONCE_CHECKED : undefined;
  }
  if (nonce === undefined) return undefined;
  if (head === 0x94) return r.pos === r.end ? [segment, expiresAt, audience, nonce] : undefined;
  // A bound step: nil where block 0 would name ancestors, then the generation.
  if (bytes[r.pos] !== 0xc0 || r.pos + 1 >= r.end) return undefined;
  r.pos++;
  const generation = scalar(r, limits);
  return generation !== NOT_READ && r.pos === r.end ? [segment, expiresAt, audience, nonce, null, generation] : undefined;
}

/**
 * Where the parts of a token in its canonical encoding lie, without a view made of any: the key id, then
 * the start and end of every block and, last, of the tag, in `at`. Accepts exactly what {@link readTokenFast}
 * accepts (and undefined otherwise), for a verifier that copies only the bytes it keeps. A key id that
 * spells `knownKid` comes back as that very string.
 */
export function readTokenLayout(bytes: Uint8Array, limits: Limits, knownKid?: string): { kid: string; at: number[] } | undefined {
  const r: Reader = { b: bytes, pos: 0, end: bytes.length };
  const kid = tokenHeader(r, limits, knownKid);
  if (kid === undefined) return undefined;
  const count = listLength(r);
  if (count < 0 || 6 + count > limits.maxElements) return undefined;
  const at = new Array<number>(2 * count + 2);
  for (let i = 0; i <= count; i++) {
    const start = binaryAt(r, limits);
    if (start < 0) return undefined;
    at[2 * i] = start;
    at[2 * i + 1] = r.pos;
  }
  return r.pos === r.end ? { kid, at } : undefined;
}

/** {@link binary} without the view: the payload's start (the cursor moves past it), or -1. */
function binaryAt(r: Reader, limits: Limits): number {
  const t = r.b[r.pos];
  let len: number;
  let start: number;
  if (t === 0xc4 && r.pos + 2 <= r.end) (len = r.b[r.pos + 1]!), (start = r.pos + 2);
  else if (t === 0xc5 && r.pos + 3 <= r.end) (len = (r.b[r.pos + 1]! << 8) | r.b[r.pos + 2]!), (start = r.pos + 3);
  else return -1;
  if (start + len > r.end || len > limits.maxBinaryBytes) return -1;
  r.pos = start + len;
  return start;
}
