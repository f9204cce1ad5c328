import { nobleCrypto, type CryptoProvider, type KeyedHmac } from '../crypto.js';
import { fail } from '../errors.js';
import { minExpiry } from './chain.js';
import type { Block } from './token.js';

export { setStatus, statusOf } from './capability.js';

/**
 * How a server checked a capability it holds, and the checks that run again at every use. A capability
 * that was decoded and verified carries a {@link Verification}; one that failed carries the
 * `CapsyncError` it fails with, raised when server code uses it (`unwrapCapability`).
 */

/** A block's audience and the revocation generation it was bound at. */
export type GenerationMark = readonly [audience: string, generation: number];

/** What re-checks a verified capability at the moment of use (the verifier). Internal to capsync. */
export interface VerificationAuthority {
  isRevoked(ids: readonly string[]): boolean;
  hasRevocations(): boolean;
  /** True if any mark's generation is below its audience's current one (the audience was revoked since). */
  isStale(marks: readonly GenerationMark[]): boolean;
  now(): number;
  readonly clockToleranceMs: number;
  /** The provider the chain was checked with; revocation ids are computed with it too. */
  readonly crypto: CryptoProvider;
}

/** What a {@link Verification} made from a whole chain (minted, signed, or verified from its root) records. */
export interface ChainFacts {
  readonly expiresAt: number | null;
  readonly audiences: readonly string[];
  readonly ancestors?: readonly string[] | undefined;
  readonly bearer?: boolean | undefined;
  readonly marks?: readonly GenerationMark[] | undefined;
}

const noAudiences: readonly string[] = Object.freeze([]);

/**
 * How a capability was checked by the server that holds it. Internal to capsync.
 *
 * One object per verified chain, of one shape. A chain one step longer than a verified one (a capability
 * narrowed from it, or the bound child sent in its place) links to its parent's verification instead of
 * copying its tags and lists: the parent's part is shared by every capability narrowed from it, and the
 * child keeps only its own step (SPEC section 3.2: tag_n = HMAC(tag_(n-1), block_n)).
 */
export class Verification {
  readonly authority: VerificationAuthority;
  /** The verification of the chain this one extends by its last step, when it was made that way. */
  readonly parent: Verification | undefined;
  /** The chain's last tag (this step's). */
  readonly lastTag: Uint8Array;
  readonly expiresAt: number | null;
  readonly audiences: readonly string[];
  /**
   * The revocation ids named in block 0 of a delegated capability: those of the capability it was re-minted
   * from and of that one's ancestors. Revoking any of them revokes this capability too.
   */
  readonly ancestors: readonly string[] | undefined;
  /**
   * Minted or delegated with `bearer: true` (or narrowed from one by server code): sent as it is, never
   * bound to the recipient. Known only to the process that minted it.
   */
  readonly bearer: boolean | undefined;
  /** Every (audience, generation) a block carries (SPEC section 3.9): stale once the audience's generation is higher. */
  readonly marks: readonly GenerationMark[] | undefined;
  /** Without a parent: the tags before {@link lastTag}, first (minted) to last. */
  readonly #prefix: readonly Uint8Array[] | undefined;
  /** The chain's length in blocks (its tag count). */
  readonly depth: number;
  #stepIds: readonly string[] | undefined;
  #ids: readonly string[] | undefined;
  #step: KeyedHmac | undefined;

  private constructor(
    authority: VerificationAuthority,
    parent: Verification | undefined,
    prefix: readonly Uint8Array[] | undefined,
    lastTag: Uint8Array,
    facts: ChainFacts,
  ) {
    this.authority = authority;
    this.parent = parent;
    this.lastTag = lastTag;
    this.expiresAt = facts.expiresAt;
    this.audiences = facts.audiences.length === 0 ? noAudiences : facts.audiences;
    this.ancestors = facts.ancestors;
    this.bearer = facts.bearer;
    this.marks = facts.marks;
    this.#prefix = prefix;
    this.depth = parent !== undefined ? parent.depth + 1 : (prefix?.length ?? 0) + 1;
    this.#stepIds = undefined;
    this.#ids = undefined;
    this.#step = undefined;
  }

  /** The verification of a whole chain whose every tag is `tags` (first to last). */
  static ofChain(authority: VerificationAuthority, tags: readonly Uint8Array[], facts: ChainFacts): Verification {
    return new Verification(authority, undefined, tags.length > 1 ? tags.slice(0, -1) : undefined, tags[tags.length - 1]!, facts);
  }

  /**
   * The verification of this chain one `block` longer, whose last tag is `tag`: the block's expiry and
   * audience (with its generation, when the server bound it) tighten this one's, nothing else changes.
   */
  extend(tag: Uint8Array, block: Block): Verification {
    const audience = block.audience;
    const generation = block.generation;
    return new Verification(this.authority, this, undefined, tag, {
      expiresAt: minExpiry(this.expiresAt, block.expiresAt),
      audiences: audience === null ? this.audiences : appendOne(this.audiences, audience),
      ancestors: this.ancestors,
      bearer: this.bearer,
      marks: generation !== undefined && audience !== null ? appendOne(this.marks ?? [], [audience, generation] as const) : this.marks,
    });
  }

  /** Every chain tag, first (minted) to last; revocation ids derive from them. */
  get tags(): readonly Uint8Array[] {
    const head = this.parent !== undefined ? this.parent.tags : (this.#prefix ?? []);
    return appendOne(head, this.lastTag);
  }

  /** This chain's own revocation id (its last step's): what revoking exactly this capability adds. */
  get ownId(): string {
    return this.stepIds[this.depth - 1]!;
  }

  /** The revocation ids of every chain step, first to last, computed once (a parent's are shared). */
  get stepIds(): readonly string[] {
    if (this.#stepIds !== undefined) return this.#stepIds;
    const crypto = this.authority.crypto;
    const own = revocationId(this.lastTag, crypto);
    const head = this.parent !== undefined ? this.parent.stepIds : (this.#prefix ?? []).map((tag) => revocationId(tag, crypto));
    return (this.#stepIds = appendOne(head, own));
  }

  /** The revocation ids of every chain step, then the ancestors block 0 names; computed once. */
  get ids(): readonly string[] {
    if (this.#ids !== undefined) return this.#ids;
    const own = this.stepIds;
    return (this.#ids = this.ancestors === undefined ? own : [...own, ...this.ancestors]);
  }

  /** HMAC under this chain's last tag, its key state computed once: the one step of every token narrowed from it. */
  step(): KeyedHmac {
    return (this.#step ??= this.authority.crypto.keyedHmac?.(this.lastTag) ?? keyedFallback(this.authority.crypto, this.lastTag));
  }
}

function keyedFallback(crypto: CryptoProvider, key: Uint8Array): KeyedHmac {
  const copy = new Uint8Array(key);
  return (message) => crypto.hmacSha256(copy, message);
}

/** A new list of `head` then `item` (frozen lists make `concat` and spreads slow). */
function appendOne<T>(head: readonly T[], item: T): T[] {
  const out = new Array<T>(head.length + 1);
  for (let i = 0; i < head.length; i++) out[i] = head[i]!;
  out[head.length] = item;
  return out;
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * base64url without padding, as one flat string. jose's encoder returns a slice of a longer string it made
 * (`btoa` then a replace), which keeps that string alive too, and a string built by `+=` is a rope of
 * pieces: a held capability keeps its ids, so each is made as one sequential string.
 */
export function base64urlFlat(bytes: Uint8Array): string {
  const codes = new Array<number>(Math.ceil((bytes.length * 4) / 3));
  let o = 0;
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    codes[o++] = BASE64URL.charCodeAt(n >>> 18);
    codes[o++] = BASE64URL.charCodeAt((n >>> 12) & 63);
    codes[o++] = BASE64URL.charCodeAt((n >>> 6) & 63);
    codes[o++] = BASE64URL.charCodeAt(n & 63);
  }
  const rest = bytes.length - i;
  if (rest > 0) {
    const n = (bytes[i]! << 16) | (rest === 2 ? bytes[i + 1]! << 8 : 0);
    codes[o++] = BASE64URL.charCodeAt(n >>> 18);
    codes[o++] = BASE64URL.charCodeAt((n >>> 12) & 63);
    if (rest === 2) codes[o++] = BASE64URL.charCodeAt((n >>> 6) & 63);
  }
  return String.fromCharCode.apply(null, codes);
}

/**
 * The revocation id of a chain step: the first 16 bytes of SHA-256(tag), base64url (SPEC section 3.5).
 * One-way, safe to log and broadcast. Every provider computes the same id; `crypto` only picks the code.
 */
export function revocationId(tag: Uint8Array, crypto: CryptoProvider = nobleCrypto): string {
  return base64urlFlat(crypto.sha256(tag).subarray(0, 16));
}

/** @internal The revocation ids of every chain step, then the ancestors block 0 names; computed once. */
export function idsOf(v: Verification): readonly string[] {
  return v.ids;
}

/** @internal The ancestor revocation ids of a decoded block 0, as strings (base64url of the 16 bytes). */
export function ancestorIds(raw: readonly Uint8Array[] | undefined): readonly string[] | undefined {
  return raw === undefined ? undefined : raw.map((id) => base64urlFlat(id));
}

/**
 * Re-checks a verified capability at the moment of use: revocation and expiry apply at once, even when
 * the verification itself came from a cache. Throws the matching error.
 */
export function assertStillValid(v: Verification): void {
  const a = v.authority;
  if (v.expiresAt !== null && a.now() > v.expiresAt + a.clockToleranceMs) throw fail('ERR_CAPABILITY_EXPIRED');
  if (a.hasRevocations() && a.isRevoked(v.ids)) throw fail('ERR_CAPABILITY_REVOKED');
  if (v.marks !== undefined && a.isStale(v.marks)) throw fail('ERR_CAPABILITY_REVOKED');
}

/** @internal The generation marks of a chain's blocks, or undefined if none carries one. */
export function marksOf(blocks: readonly { audience: string | null; generation?: number }[]): GenerationMark[] | undefined {
  let marks: GenerationMark[] | undefined;
  for (const b of blocks) if (b.generation !== undefined && b.audience !== null) (marks ??= []).push([b.audience, b.generation]);
  return marks;
}
