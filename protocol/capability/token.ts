import { Packr, Unpackr } from 'msgpackr';
import { CapsyncError, fail } from '../errors.js';
import { assertJsonValue, type JsonValue } from '../json-value.js';
import type { Limits } from '../limits.js';
import { scanFrame } from '../wire-guard.js';
import { NONCE_CHECKED, readBlockFast, readTokenFast } from './token-fast.js';

/**
 * The capability token: the bytes inside msgpack extension type 1 (see protocol/SPEC.md, section 3.1).
 *
 *   token = msgpack [version = 1, kid: str, blocks: [bin, ...], tag: bin(32)]
 *   block = msgpack [segment: [JsonValue, ...], expiresAt: uint | nil, audience: str | nil, nonce: bin(16)]
 *   block 0 of a delegated capability = [segment, expiresAt, audience, nonce, ancestors: [bin(16), ...]]
 *   a block the server binds to a user = [segment, expiresAt, audience: str, nonce, ancestors | nil, generation: uint]
 *
 * `ancestors` names the revocation ids (SPEC section 3.5, the 16 bytes before base64url) of the capability
 * a delegation was re-minted from and of its own ancestors: revoking any of them revokes this one too.
 * Block 0 is minted by the server; every later block is one narrowing step. The HMAC chain runs over
 * the block bytes exactly as they travel, so no canonical re-encoding is ever needed.
 *
 * This file is the only decoder of token bytes: the server's verifier and the client's codec both go
 * through {@link parseToken}, so both sides refuse exactly the same tokens.
 */
export const TOKEN_VERSION = 1;
/** Bytes of an HMAC-SHA-256 tag. */
export const TAG_BYTES = 32;
/** Size of the random nonce in every block of a signed token. */
export const NONCE_BYTES = 16;
/** Size of one ancestor revocation id in block 0 (the 16 bytes a revocation id is the base64url of). */
export const ANCESTOR_ID_BYTES = 16;

/** One step of the chain, decoded. */
export interface Block {
  readonly segment: readonly JsonValue[];
  readonly expiresAt: number | null;
  readonly audience: string | null;
  /** Block 0 of a delegated capability only: the raw revocation ids it descends from. */
  readonly ancestors?: readonly Uint8Array[];
  /**
   * The audience's revocation generation when the server bound this block to it (SPEC section 3.9): once the
   * audience's generation is higher (`revokeUser`), the capability is revoked. Only with an audience.
   */
  readonly generation?: number;
}

/** A token split into its parts, not yet verified. */
export interface TokenParts {
  readonly kid: string;
  readonly blocks: readonly Uint8Array[];
  readonly tag: Uint8Array;
}

/** A token fully decoded and checked for shape: what {@link parseToken} returns. Nothing here is verified. */
export interface ParsedToken extends TokenParts {
  /** A private copy of the token bytes: the caller's buffer (a frame the transport may reuse) is never kept. */
  readonly token: Uint8Array;
  /** Every block, decoded, in chain order. */
  readonly decoded: Block[];
  /** The concatenation of every block's segment: non-empty, at most `maxScopeLength`, JSON-compatible. */
  readonly scope: JsonValue[];
}

// Token internals never hold extensions, so a private plain codec keeps them apart from the frame codec.
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/**
 * Encodes one block. Minted and narrowed blocks carry a random `nonce` as a fourth element, so two
 * capabilities with the same scope never share a tag: each has its own revocation id and can be revoked alone.
 */
export function encodeBlock(block: Block, nonce?: Uint8Array): Uint8Array {
  if (block.generation !== undefined && block.audience !== null && nonce) {
    const ancestors = block.ancestors !== undefined && block.ancestors.length > 0 ? block.ancestors : null;
    return own(packr.pack([block.segment, block.expiresAt, block.audience, nonce, ancestors, block.generation]));
  }
  if (block.ancestors !== undefined && block.ancestors.length > 0 && nonce) {
    return own(packr.pack([block.segment, block.expiresAt, block.audience, nonce, block.ancestors]));
  }
  return own(packr.pack(nonce ? [block.segment, block.expiresAt, block.audience, nonce] : [block.segment, block.expiresAt, block.audience]));
}

/** Encodes a whole token. An unsigned capability travels with kid "" and an empty tag (and never verifies). */
export function encodeToken(parts: TokenParts): Uint8Array {
  return own(packr.pack([TOKEN_VERSION, parts.kid, parts.blocks, parts.tag]));
}

/**
 * The packed bytes in a buffer of their own. msgpackr returns a view into its output buffer, at least 8 KiB,
 * and a pack nested in another (a capability signed while a frame is encoded) gets a fresh 8 KiB buffer
 * every time: a held capability keeps its block and token bytes, so views kept 8 KiB each alive.
 */
function own(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/**
 * Scans and decodes bytes inside a token. A structural fault there (truncated, trailing bytes, an extension,
 * a non-string key) is the token's fault, reported as `ERR_CAPABILITY_MALFORMED`; limits keep their own codes.
 */
function unpackInner(bytes: Uint8Array, limits: Limits): unknown {
  try {
    scanFrame(bytes, limits, false);
    return unpackr.unpack(bytes);
  } catch (error) {
    if (error instanceof CapsyncError && (error.code.startsWith('ERR_LIMIT_') || error.code === 'ERR_FORBIDDEN_KEY')) throw error;
    throw fail('ERR_CAPABILITY_MALFORMED');
  }
}

/** Splits token bytes into parts, checking the layout and the limits. Throws `ERR_CAPABILITY_MALFORMED` or a limit code. */
export function decodeToken(bytes: Uint8Array, limits: Limits): TokenParts {
  if (bytes.length > limits.maxTokenBytes) throw fail('ERR_CAPABILITY_MALFORMED', 'capability token is too large');
  const value = readTokenFast(bytes, limits) ?? unpackInner(bytes, limits);
  if (!Array.isArray(value) || value.length !== 4 || value[0] !== TOKEN_VERSION) throw fail('ERR_CAPABILITY_MALFORMED');
  const [, kid, blocks, tag] = value as [unknown, unknown, unknown, unknown];
  if (typeof kid !== 'string' || !Array.isArray(blocks) || !isBytes(tag)) throw fail('ERR_CAPABILITY_MALFORMED');
  if (blocks.length === 0 || !blocks.every(isBytes)) throw fail('ERR_CAPABILITY_MALFORMED');
  if (blocks.length - 1 > limits.maxNarrowingSteps) throw fail('ERR_LIMIT_STEPS');
  return { kid, blocks, tag };
}

/**
 * Decodes one block, checking its layout and every scope element: JSON-compatible only (no binary, no
 * non-finite number, no extension), as SPEC section 3.1 requires. The scan already bounded the depth.
 */
export function decodeBlock(bytes: Uint8Array, limits: Limits, first = false): Block {
  const value = readBlockFast(bytes, limits, false) ?? unpackInner(bytes, limits);
  // Only block 0 may name ancestors: it is signed with the root key, so no holder can add or strip them.
  // A sixth element (the audience's generation, SPEC section 3.9) may follow in any block; then the fifth is
  // nil outside block 0.
  if (!Array.isArray(value) || (value.length !== 3 && value.length !== 4 && !(first && value.length === 5) && value.length !== 6)) {
    throw fail('ERR_CAPABILITY_MALFORMED');
  }
  const [segment, expiresAt, audience, nonce, ancestors, generation] = value as [unknown, unknown, unknown, unknown, unknown, unknown];
  if (value.length >= 4 && nonce !== NONCE_CHECKED && !(nonce instanceof Uint8Array && nonce.length === NONCE_BYTES)) throw fail('ERR_CAPABILITY_MALFORMED');
  if (value.length === 6) {
    if (typeof audience !== 'string' || !(typeof generation === 'number' && Number.isSafeInteger(generation) && generation >= 0)) throw fail('ERR_CAPABILITY_MALFORMED');
    if (ancestors !== null && !first) throw fail('ERR_CAPABILITY_MALFORMED');
  }
  if (value.length === 5 || (value.length === 6 && ancestors !== null)) {
    if (!Array.isArray(ancestors) || ancestors.length === 0) throw fail('ERR_CAPABILITY_MALFORMED');
    if (ancestors.length > limits.maxAncestors) throw fail('ERR_LIMIT_ANCESTORS');
    if (!ancestors.every((id) => id instanceof Uint8Array && id.length === ANCESTOR_ID_BYTES)) throw fail('ERR_CAPABILITY_MALFORMED');
  }
  if (!Array.isArray(segment)) throw fail('ERR_CAPABILITY_MALFORMED');
  if (expiresAt !== null && !(typeof expiresAt === 'number' && Number.isSafeInteger(expiresAt) && expiresAt >= 0)) {
    throw fail('ERR_CAPABILITY_MALFORMED');
  }
  if (audience !== null && typeof audience !== 'string') throw fail('ERR_CAPABILITY_MALFORMED');
  for (const element of segment) {
    try {
      assertJsonValue(element, limits.maxDepth);
    } catch {
      throw fail('ERR_CAPABILITY_MALFORMED', 'capability scope holds a value that is not JSON-compatible');
    }
  }
  const named = value.length === 5 || (value.length === 6 && ancestors !== null) ? (ancestors as Uint8Array[]) : undefined;
  return blockOf(segment as JsonValue[], expiresAt, audience, named, value.length === 6 ? (generation as number) : undefined);
}

/**
 * A {@link Block} object, in one of four fixed shapes (object literals in one property order share their
 * hidden class). Spreading a block to add a field made a hidden class per object once frozen: a held
 * capability kept one (about 270 bytes) for its bound step.
 */
export function blockOf(segment: readonly JsonValue[], expiresAt: number | null, audience: string | null, ancestors?: readonly Uint8Array[], generation?: number): Block {
  if (ancestors === undefined) return generation === undefined ? { segment, expiresAt, audience } : { segment, expiresAt, audience, generation };
  return generation === undefined ? { segment, expiresAt, audience, ancestors } : { segment, expiresAt, audience, ancestors, generation };
}

/**
 * The one decoder from token bytes to scope, blocks and chain parts, used by the server's verifier and by
 * every client-side decode. Throws `ERR_CAPABILITY_MALFORMED` or a limit code; verifies nothing.
 */
export function parseToken(bytes: Uint8Array, limits: Limits): ParsedToken {
  const token = new Uint8Array(bytes);
  return parseBlocks(token, decodeToken(token, limits), limits);
}

/**
 * The rest of {@link parseToken} once {@link decodeToken} has split the (private copy of the) token: every
 * block decoded, the scope assembled and checked.
 */
export function parseBlocks(token: Uint8Array, parts: TokenParts, limits: Limits): ParsedToken {
  const { decoded, scope } = decodeBlocks(parts.blocks, limits);
  return { kid: parts.kid, blocks: parts.blocks, tag: parts.tag, token, decoded, scope };
}

/**
 * Every block of a chain decoded, and the scope they assemble, checked ({@link checkScopeLength}): what a
 * verifier needs of the blocks, without the token. Throws `ERR_CAPABILITY_MALFORMED` or a limit code.
 */
export function decodeBlocks(blocks: readonly Uint8Array[], limits: Limits): { decoded: Block[]; scope: JsonValue[] } {
  const decoded = new Array<Block>(blocks.length);
  let scope: JsonValue[] = [];
  for (let i = 0; i < blocks.length; i++) {
    const block = (decoded[i] = decodeBlock(blocks[i]!, limits, i === 0));
    for (const element of block.segment) scope.push(element);
  }
  checkScopeLength(scope.length, limits);
  // A scope all in block 0 is that block's segment itself (frozen with it), not a second list.
  if (scope.length === decoded[0]!.segment.length) scope = decoded[0]!.segment as JsonValue[];
  return { decoded, scope };
}

/** Refuses an assembled scope that is empty or longer than the limit. */
export function checkScopeLength(length: number, limits: Limits): void {
  if (length === 0) throw fail('ERR_CAPABILITY_MALFORMED', 'capability scope is empty');
  if (length > limits.maxScopeLength) throw fail('ERR_LIMIT_SCOPE');
}

/** Refuses a token whose assembled scope is empty or longer than the limit. */
export function checkedScope(parsed: ParsedToken, limits: Limits): ParsedToken {
  checkScopeLength(parsed.scope.length, limits);
  return parsed;
}
