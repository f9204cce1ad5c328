import { keyedHmac, nobleCrypto, type CryptoProvider, type KeyedHmac } from '../crypto.js';
import { fail } from '../errors.js';
import { defaultSuite, minExpiry } from './chain.js';
import type { Block } from './token.js';
import { TokenChain } from './token-chain.js';

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
  /** True when this revocation id (a chain step's, or an ancestor's) is revoked. */
  isRevokedId(id: string): boolean;
  hasRevocations(): boolean;
  /** The revocation generation of `audience` now (SPEC section 3.9): a mark below it is stale. */
  generationOf(audience: string): number;
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

/** One frozen empty list: no audiences, no prefix ids. */
const noAudiences: readonly string[] = Object.freeze([]);

/** What the root of a verification chain (one made from a whole chain) records beside its token. */
class RootFacts {
  /** The tags before the last, 32 bytes each, first (minted) to last, in one buffer. */
  readonly prefix: Uint8Array | undefined;
  readonly audiences: readonly string[];
  readonly marks: readonly GenerationMark[] | undefined;
  readonly ancestors: readonly string[] | undefined;
  readonly bearer: boolean | undefined;
  /** The revocation ids of {@link prefix}, computed once (none without a prefix). */
  prefixIds: readonly string[] | undefined;

  constructor(prefix: Uint8Array | undefined, facts: ChainFacts) {
    this.prefix = prefix;
    this.prefixIds = prefix === undefined ? noAudiences : undefined;
    this.audiences = facts.audiences.length === 0 ? noAudiences : facts.audiences;
    this.marks = facts.marks;
    this.ancestors = facts.ancestors;
    this.bearer = facts.bearer;
  }
}

/**
 * The HMAC state under each verification's last tag, for those a token was narrowed from (few): a WeakMap
 * entry for them rather than a field in every verification a connection holds.
 */
const steps = new WeakMap<Verification, KeyedHmac>();

/** The facts of every root with one step and no audience, marks or ancestors (their prefix ids: none). */
const plainRoot = new RootFacts(undefined, { expiresAt: null, audiences: noAudiences });
const plainBearerRoot = new RootFacts(undefined, { expiresAt: null, audiences: noAudiences, bearer: true });

/**
 * How a capability was checked by the server that holds it. Internal to capsync.
 *
 * One object per verified chain, of one shape and eleven fields. A chain one step longer than a verified
 * one (a capability narrowed from it) links to its parent's verification and records only its own step
 * (its expiry, audience and generation; its revocation id once asked): the parent's part is shared by every
 * capability narrowed from it (SPEC section 3.2: tag_n = HMAC(tag_(n-1), block_n)). A step onto a root
 * (the bound child sent in a capability's place, kept for as long as its holding) folds the root in instead:
 * the root's facts (shared) and where its tag lies, so a held bound child is one verification, not two. Lists (tags, ids, audiences, marks) are walked, or built when asked
 * for, not kept per capability.
 */
export class Verification extends TokenChain {
  /** What re-checks this verification at each use: the verifier, kept in the chain's suite (no field of its own). */
  get authority(): VerificationAuthority {
    return this.suite!.authority!;
  }
  /**
   * The verification of the chain this one extends by its last step, when it was made that way; or, for a
   * step folded onto a root (the bound child sent in a capability's place), that root's facts: the root's
   * tag is then {@link #upBytes}/{@link #upEnd}, and no second verification is kept for it.
   */
  readonly #parent: Verification | RootFacts | undefined;
  readonly expiresAt: number | null;
  /** Without a parent: the whole chain's facts. With one: the last step's audience. */
  readonly #own: RootFacts | string | null;
  /** With a parent: the last step's generation, when the server bound it (SPEC section 3.9). */
  readonly #generation: number | undefined;
  #ownId: string | undefined;
  /** A folded step's: where the root's token (ending in its tag) lies, and that tag's revocation id once asked. */
  readonly #upBytes: ArrayBufferLike | undefined;
  readonly #upEnd: number;
  #upId: string | undefined;

  /**
   * A verification is its capability's chain as well (it extends {@link TokenChain}: the token's buffer,
   * offset and length, its kid, block count and suite): one object per verified capability, not two. `chain`
   * is the chain checked (its last 32 bytes are the last tag), whose fields are taken; it is then garbage.
   */
  private constructor(authority: VerificationAuthority, parent: Verification | RootFacts | undefined, chain: TokenChain, expiresAt: number | null, own: RootFacts | string | null, generation: number | undefined, up?: Verification) {
    // The verifier's chains carry it in their suite already; another chain's suite is copied with it.
    const suite = chain.suite;
    super(chain, undefined, 0, 0, suite?.authority === authority ? suite : { ...(suite ?? defaultSuite), authority });
    this.#parent = parent;
    this.expiresAt = expiresAt;
    this.#own = own;
    this.#generation = generation;
    this.#ownId = undefined;
    const upToken = up?.token;
    this.#upBytes = upToken?.buffer;
    this.#upEnd = upToken === undefined ? 0 : upToken.byteOffset + upToken.byteLength;
    this.#upId = up === undefined ? undefined : up.#ownId;
  }

  /** The verification of the chain this one extends by its last step, when one is kept (not for a folded step). */
  get parent(): Verification | undefined {
    const parent = this.#parent;
    return parent instanceof Verification ? parent : undefined;
  }

  /** True for a step folded onto a root: its own step, then {@link #parent} is the root's facts. */
  static #isFolded(v: Verification): boolean {
    return v.#upBytes !== undefined;
  }

  /** A folded step's root tag (a view of the root's token). */
  static #upTagOf(v: Verification): Uint8Array {
    return new Uint8Array(v.#upBytes!, v.#upEnd - 32, 32);
  }

  /** A folded step's root revocation id, computed once. */
  static #upOwnIdOf(v: Verification): string {
    return (v.#upId ??= revocationId(Verification.#upTagOf(v), v.authority.crypto));
  }

  /**
   * The verification of a whole chain whose every tag is `tags` (first to last) and which is `chain` (its
   * token ending in the last tag): the capability's chain from then on. `take` gives the buffer the earlier tags are kept in.
   */
  static ofChain(authority: VerificationAuthority, tags: readonly Uint8Array[], chain: TokenChain, facts: ChainFacts, take?: (length: number) => Uint8Array): Verification {
    let prefix: Uint8Array | undefined;
    if (tags.length > 1) {
      prefix = take?.(32 * (tags.length - 1)) ?? new Uint8Array(32 * (tags.length - 1));
      for (let i = 0; i < tags.length - 1; i++) prefix.set(tags[i]!, 32 * i);
    }
    const plain = prefix === undefined && facts.audiences.length === 0 && facts.marks === undefined && facts.ancestors === undefined && facts.bearer !== false;
    // Most roots (one minted step, no audience, no ancestors) record nothing of their own: one shared record.
    const root = plain ? (facts.bearer === true ? plainBearerRoot : plainRoot) : new RootFacts(prefix, facts);
    return new Verification(authority, undefined, chain, facts.expiresAt, root, undefined);
  }

  /**
   * The verification of this chain one `block` longer, which is `chain` (the capability's chain from then
   * on): the block's expiry and audience (with its generation, when the server bound it) tighten this one's,
   * nothing else changes. (Not `extend`: that is the chain's own, {@link TokenChain.extend}.)
   */
  extendedBy(chain: TokenChain, block: Block): Verification {
    const generation = block.audience !== null ? block.generation : undefined;
    const expiresAt = minExpiry(this.expiresAt, block.expiresAt);
    // A step onto a root (most often the bound child sent in a capability's place, kept as long as the
    // holding): one verification, the root's facts and tag folded in, not a second one linked to the root's.
    if (this.#parent === undefined) return new Verification(this.authority, this.#own as RootFacts, chain, expiresAt, block.audience, generation, this);
    return new Verification(this.authority, this, chain, expiresAt, block.audience, generation);
  }

  /** The last verification of a walk by parents: a root, or a folded step. */
  static #baseOf(from: Verification): Verification {
    let v: Verification = from;
    while (v.#parent instanceof Verification) v = v.#parent;
    return v;
  }

  /** The facts of the root at the end of a walk by parents (`v` from {@link #baseOf}). */
  static #factsOf(v: Verification): RootFacts {
    return (Verification.#isFolded(v) ? v.#parent : v.#own) as RootFacts;
  }

  /** The facts of the chain `v` descends from by steps (its own, without a parent). */
  static #rootOf(v: Verification): RootFacts {
    return Verification.#factsOf(Verification.#baseOf(v));
  }

  /** The chain's length in blocks (its tag count). */
  get depth(): number {
    let depth = 0;
    let v: Verification = this;
    for (; v.#parent instanceof Verification; v = v.#parent) depth++;
    if (Verification.#isFolded(v)) depth++;
    const prefix = Verification.#factsOf(v).prefix;
    return depth + 1 + (prefix === undefined ? 0 : prefix.length / 32);
  }

  /**
   * The revocation ids named in block 0 of a delegated capability: those of the capability it was re-minted
   * from and of that one's ancestors. Revoking any of them revokes this capability too.
   */
  get ancestors(): readonly string[] | undefined {
    return Verification.#rootOf(this).ancestors;
  }

  /**
   * Minted or delegated with `bearer: true` (or narrowed from one by server code): sent as it is, never
   * bound to the recipient. Known only to the process that minted it.
   */
  get bearer(): boolean | undefined {
    return Verification.#rootOf(this).bearer;
  }

  /** The chain's last tag (a view of its token). */
  get lastTag(): Uint8Array {
    return this.tag;
  }

  /** Every chain tag, first (minted) to last; revocation ids derive from them. */
  get tags(): readonly Uint8Array[] {
    const parent = this.#parent;
    const head: Uint8Array[] = parent instanceof Verification ? [...parent.tags] : [];
    const prefix = parent instanceof Verification ? undefined : Verification.#factsOf(this).prefix;
    if (prefix !== undefined) for (let i = 0; i < prefix.length; i += 32) head.push(prefix.subarray(i, i + 32));
    if (Verification.#isFolded(this)) head.push(Verification.#upTagOf(this));
    head.push(this.lastTag);
    return head;
  }

  /** Every audience in the chain, first to last; the caller must match all of them. */
  get audiences(): readonly string[] {
    const parent = this.#parent;
    if (parent === undefined) return (this.#own as RootFacts).audiences;
    const head = parent instanceof Verification ? parent.audiences : parent.audiences;
    return this.#own === null ? head : [...head, this.#own as string];
  }

  /** Every (audience, generation) a block carries (SPEC section 3.9): stale once the audience's generation is higher. */
  get marks(): readonly GenerationMark[] | undefined {
    const parent = this.#parent;
    if (parent === undefined) return (this.#own as RootFacts).marks;
    const head = parent instanceof Verification ? parent.marks : parent.marks;
    return this.#generation === undefined ? head : [...(head ?? []), [this.#own as string, this.#generation] as const];
  }

  /** The audience of the last step, for a verification made by a step ({@link extendedBy}); undefined for a whole chain's. */
  get stepAudience(): string | null | undefined {
    const own = this.#own;
    return own instanceof RootFacts ? undefined : own;
  }

  /** The revocation generation of the last step, when the server bound it by a step ({@link extendedBy}). */
  get stepGeneration(): number | undefined {
    return this.#generation;
  }

  /** True when some step names an audience (the capability is bound to someone). */
  isBound(): boolean {
    let v: Verification = this;
    for (; v.#parent instanceof Verification; v = v.#parent) if (v.#own !== null) return true;
    if (Verification.#isFolded(v) && v.#own !== null) return true;
    return Verification.#factsOf(v).audiences.length > 0;
  }

  /** True when every audience in the chain is `user` (so also when there is none). */
  boundOnlyTo(user: string | null | undefined): boolean {
    let v: Verification = this;
    for (; v.#parent instanceof Verification; v = v.#parent) if (v.#own !== null && v.#own !== user) return false;
    if (Verification.#isFolded(v) && v.#own !== null && v.#own !== user) return false;
    return Verification.#factsOf(v).audiences.every((a) => a === user);
  }

  /** True when some step was bound to `user` with its generation (revokeUser reaches it with no record of its id). */
  markedFor(user: string): boolean {
    let v: Verification = this;
    for (; v.#parent instanceof Verification; v = v.#parent) if (v.#generation !== undefined && v.#own === user) return true;
    if (Verification.#isFolded(v) && v.#generation !== undefined && v.#own === user) return true;
    const marks = Verification.#factsOf(v).marks;
    return marks !== undefined && marks.some(([a]) => a === user);
  }

  /** True when a step's generation is below its audience's current one (revokeUser since it was bound). */
  isStale(): boolean {
    const a = this.authority;
    let v: Verification = this;
    for (; v.#parent instanceof Verification; v = v.#parent) if (v.#generation !== undefined && v.#generation < a.generationOf(v.#own as string)) return true;
    if (Verification.#isFolded(v) && v.#generation !== undefined && v.#generation < a.generationOf(v.#own as string)) return true;
    const marks = Verification.#factsOf(v).marks;
    return marks !== undefined && marks.some(([audience, generation]) => generation < a.generationOf(audience));
  }

  /** This chain's own revocation id (its last step's): what revoking exactly this capability adds. Computed once. */
  get ownId(): string {
    return (this.#ownId ??= revocationId(this.lastTag, this.authority.crypto));
  }

  /**
   * The first revocation id of this chain, in the order of {@link ids} (every step's, minted first, then the
   * ancestors), for which `revoked` is true.
   */
  findId(revoked: (id: string) => boolean): string | undefined {
    return Verification.#findStepOf(this, revoked) ?? this.ancestors?.find(revoked);
  }

  static #findStepOf(v: Verification, revoked: (id: string) => boolean): string | undefined {
    const parent = v.#parent;
    let head = parent instanceof Verification ? Verification.#findStepOf(parent, revoked) : Verification.#prefixIdsOf(v).find(revoked);
    if (head === undefined && Verification.#isFolded(v) && revoked(Verification.#upOwnIdOf(v))) head = Verification.#upOwnIdOf(v);
    return head ?? (revoked(v.ownId) ? v.ownId : undefined);
  }

  /** Without a parent kept: the revocation ids of the root's tags before its last, computed once. */
  static #prefixIdsOf(v: Verification): readonly string[] {
    const facts = Verification.#factsOf(v);
    if (facts.prefixIds !== undefined) return facts.prefixIds;
    const prefix = facts.prefix;
    const ids: string[] = [];
    if (prefix !== undefined) for (let i = 0; i < prefix.length; i += 32) ids.push(revocationId(prefix.subarray(i, i + 32), v.authority.crypto));
    return (facts.prefixIds = ids);
  }

  /** The revocation ids of every chain step, first to last. */
  get stepIds(): readonly string[] {
    const parent = this.#parent;
    const head = parent instanceof Verification ? [...parent.stepIds] : [...Verification.#prefixIdsOf(this)];
    if (Verification.#isFolded(this)) head.push(Verification.#upOwnIdOf(this));
    head.push(this.ownId);
    return head;
  }

  /** The revocation ids of every chain step, then the ancestors block 0 names. */
  get ids(): readonly string[] {
    const own = this.stepIds;
    const ancestors = this.ancestors;
    return ancestors === undefined ? own : [...own, ...ancestors];
  }

  /** HMAC under this chain's last tag, its key state computed once: the one step of every token narrowed from it. */
  step(): KeyedHmac {
    let step = steps.get(this);
    if (step === undefined) steps.set(this, (step = keyedHmac(this.authority.crypto, this.lastTag)));
    return step;
  }
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
  if (a.hasRevocations()) {
    // Every id is asked before a stale feed's refusal is thrown: an id known revoked (an ancestor applied
    // before the feed fell behind) makes the capability revoked, not merely unknown. A holding kept while
    // the feed is behind is ended by the catch-up only for ids the catch-up brings as new.
    let stale: unknown;
    const hit = v.findId((id) => {
      try {
        return a.isRevokedId(id);
      } catch (error) {
        stale ??= error;
        return false;
      }
    });
    if (hit !== undefined) throw fail('ERR_CAPABILITY_REVOKED');
    if (stale !== undefined) throw stale;
  }
  if (v.isStale()) throw fail('ERR_CAPABILITY_REVOKED');
}

/** @internal The generation marks of a chain's blocks, or undefined if none carries one. */
export function marksOf(blocks: readonly { audience: string | null; generation?: number }[]): GenerationMark[] | undefined {
  let marks: GenerationMark[] | undefined;
  for (const b of blocks) if (b.generation !== undefined && b.audience !== null) (marks ??= []).push([b.audience, b.generation]);
  return marks;
}
