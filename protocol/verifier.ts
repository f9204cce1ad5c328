import { LRUCache } from 'lru-cache';
import { Capability, capabilityFromParts, pendingCapability, type BindingRestrictions, type Restrictions } from './capability/capability.js';
import { chainOf, minExpiry, randomNonce, restrictionsOf, signChain, tagKey, verifyChain, verifyLastStep, type ChainSuite, type SignedChain } from './capability/chain.js';
import { base64url } from 'jose';
import { ancestorIds, assertStillValid, idsOf, marksOf, setStatus, statusOf, type GenerationMark, type Verification, type VerificationAuthority } from './capability/status.js';
import { TAG_BYTES, checkScopeLength, decodeBlock, decodeBlocks, decodeToken, type Block, type TokenParts } from './capability/token.js';
import { readTokenLayout } from './capability/token-fast.js';
import { tokenMatches } from './capability/token-match.js';
import { keyedHmac, nobleCrypto, type CryptoProvider, type KeyedHmac } from './crypto.js';
import { CapsyncError, fail } from './errors.js';
import type { JsonValue } from './json-value.js';
import type { Keyring, RootKey } from './keyring.js';
import { resolveLimits, type Limits } from './limits.js';
import { MemoryRevocationSet, type RevocationSet } from './revocation.js';

/** Options of a {@link CapabilityVerifier}. */
export interface VerifierOptions {
  /** The keys capabilities are minted and verified with. */
  readonly keyring: Keyring;
  /** Revoked ids; default an empty in-memory set. */
  readonly revocations?: RevocationSet;
  /** Bounds on scopes and chains; default `defaultLimits`. */
  readonly limits?: Partial<Limits>;
  /** Verified tokens remembered; revocation and expiry are still checked on every use. Default 10,000; 0 disables. */
  readonly cacheSize?: number;
  /** Allowance, in ms, for a capability used just after its expiry (clock skew between issuer and checker). Default 0. */
  readonly clockToleranceMs?: number;
  /** The clock, for tests. Default `Date.now`. */
  readonly now?: () => number;
  /** Random bytes for the nonce of minted capabilities, for test vectors. Default `crypto.getRandomValues`. */
  readonly random?: (length: number) => Uint8Array;
  /**
   * The HMAC and SHA-256 implementation. Default `nobleCrypto` (`@noble/hashes`, runs anywhere); the Node
   * server passes `nodeCrypto` (OpenSSL for long messages, the same portable HMAC for a chain's short
   * blocks). Capabilities this verifier mints or verifies keep it: narrowing them on the server uses the same provider.
   */
  readonly crypto?: CryptoProvider;
}

/** What {@link CapabilityVerifier.mint} takes beside the scope. */
export interface MintOptions extends Restrictions {
  /**
   * Send it as it is: never bound to the session it is sent to. Whoever holds its bytes can use it, on any
   * connection, until it expires or is revoked. Default false: bound to each recipient.
   */
  readonly bearer?: boolean;
  /**
   * Revocation ids this capability descends from (a delegation's re-mint names the delegator's chain and its
   * ancestors): revoking any of them revokes it too. At most `limits.maxAncestors` (`ERR_LIMIT_ANCESTORS`).
   */
  readonly ancestors?: readonly string[];
}

interface CacheEntry {
  /** A verified capability; a token is this entry's when it is its chain's, byte for byte ({@link tokenMatches}). */
  readonly cap: Capability;
  readonly verification: Verification;
  /** HMAC under the chain's last tag, its state computed once: the one step of every token narrowed from this one. */
  step?: KeyedHmac;
}

/**
 * Signs capabilities the server sends and verifies capabilities it receives.
 *
 * Verification walks the HMAC chain from the root key named by the token's `kid`:
 * tag0 = HMAC(key, block0), tagN = HMAC(tagN-1, blockN), then compares the result with the token's tag
 * in constant time. Results are cached by token bytes; revocation and expiry are re-checked at every use.
 * Each root key's HMAC state is computed once, and a token whose chain extends a cached one (a capability
 * the client narrowed from one it was sent, or sent before) is verified by its last step alone.
 */
export class CapabilityVerifier implements VerificationAuthority {
  /** The keys this verifier signs and verifies with. */
  readonly keyring: Keyring;
  /** The revocation set every verification consults. */
  readonly revocations: RevocationSet;
  /** The limits minted and verified capabilities are held to. */
  readonly limits: Limits;
  /** Milliseconds of clock skew allowed on expiry. */
  readonly clockToleranceMs: number;
  /** The clock expiry is judged by (ms since the epoch). */
  readonly now: () => number;
  readonly crypto: CryptoProvider;
  /** The provider and limits every capability this verifier mints or verifies narrows with. */
  readonly #suite: ChainSuite;
  readonly #random: (length: number) => Uint8Array;
  /** Verified chains by 30 bits of their last tag ({@link cacheKey}). */
  readonly #cache: LRUCache<number, CacheEntry> | undefined;
  /** The same entries by their chain's last block (see {@link prefixKey}): where a narrowed token finds its parent. */
  readonly #prefixes: LRUCache<number, CacheEntry> | undefined;
  /** HMAC under each root key, its inner and outer state computed once. */
  readonly #roots = new WeakMap<RootKey, KeyedHmac>();
  /** The bound child sent to each (capability, principal): the same token and holding every time it is resent. */
  readonly #bound: LRUCache<string, Capability> | undefined;

  constructor(options: VerifierOptions) {
    this.keyring = options.keyring;
    this.revocations = options.revocations ?? new MemoryRevocationSet();
    this.limits = resolveLimits(options.limits);
    this.clockToleranceMs = options.clockToleranceMs ?? 0;
    this.now = options.now ?? Date.now;
    this.crypto = options.crypto ?? nobleCrypto;
    this.#suite = Object.freeze({ crypto: this.crypto, limits: this.limits });
    this.#random = options.random ?? randomNonce;
    const size = options.cacheSize ?? 10_000;
    this.#cache = size > 0 ? new LRUCache({ max: size }) : undefined;
    this.#prefixes = size > 0 ? new LRUCache({ max: size }) : undefined;
    this.#bound = size > 0 ? new LRUCache({ max: size }) : undefined;
  }

  /** True when any of these revocation ids (a chain and its ancestors) is revoked. */
  isRevoked(ids: readonly string[]): boolean {
    return ids.some((id) => this.revocations.has(id));
  }

  /** True when the revocation set holds anything at all (a fast path for the common case). */
  hasRevocations(): boolean {
    return this.revocations.size > 0;
  }

  isStale(marks: readonly GenerationMark[]): boolean {
    return marks.some(([audience, generation]) => generation < this.revocations.generation(audience));
  }

  /** A new capability signed with the current key and already verified for this server. */
  mint(scope: readonly JsonValue[], options: MintOptions = {}): Capability {
    const { bearer, ancestors, ...restrictions } = options;
    if (ancestors !== undefined && ancestors.length > this.limits.maxAncestors) throw fail('ERR_LIMIT_ANCESTORS');
    const raw = ancestors?.map((id) => base64url.decode(id));
    if (raw?.some((id) => id.length !== 16)) throw fail('ERR_INVALID_VALUE', 'an ancestor is not a revocation id');
    // Bound at mint: the block carries the audience's generation, so revokeUser reaches it (SPEC section 3.9).
    const generation = restrictions.audience !== undefined ? { generation: this.revocations.generation(restrictions.audience) } : {};
    const cap = pendingCapability(scope, { ...restrictions, ...generation }, this.limits, raw);
    this.#signPending(cap, bearer === true);
    return cap;
  }

  /**
   * Signs an unsigned capability in place (with every pending block) and marks it verified. Signed
   * capabilities are returned as they are. Returns the token bytes to send.
   */
  sign(cap: Capability): Uint8Array {
    if (cap[chainOf] === undefined) this.#signPending(cap, false);
    return cap.toToken();
  }

  #signPending(cap: Capability, bearer: boolean): void {
    const key = this.keyring.current;
    const { chain, tags } = signChain(cap.blocks, key.kid, this.#root(key), this.#suite, this.#random);
    cap[chainOf] = chain;
    const ancestors = ancestorIds(cap.blocks[0]!.ancestors);
    const marks = marksOf(cap.blocks);
    setStatus(cap, { tags, ...restrictionsOf(cap.blocks), authority: this, ...(ancestors ? { ancestors } : {}), ...(bearer ? { bearer } : {}), ...(marks ? { marks } : {}) });
  }

  /**
   * What to send to `principal` in place of `cap` (SPEC section 3.8, bound by default): the capability bound
   * to that principal by one more chain step (audience = principal), made once per (capability, principal)
   * so that resending it yields the same token and the same holding. `cap` itself stays unbound. A local
   * capability is signed first. Sent as it is: a bearer capability, one already bound (to this principal,
   * or to someone else: it passes through but is no cover), and one that failed verification.
   */
  boundFor(cap: Capability, principal: string): Capability {
    if (cap[chainOf] === undefined) this.#signPending(cap, false);
    const key = this.#boundKey(cap, principal);
    if (key === undefined) return cap;
    const known = this.#bound?.get(key);
    if (known !== undefined) return known;
    // The binding step carries the principal's generation: revokeUser bumps it (SPEC section 3.9).
    const binding: BindingRestrictions = { audience: principal, generation: this.revocations.generation(principal) };
    const child = cap.narrow([], binding);
    const verification = statusOf(child) as Verification;
    idsOf(verification);
    // The recipient sends it back with its next call: the verification is known already.
    this.#remember({ cap: child, verification });
    this.#bound?.set(key, child);
    return child;
  }

  /** The bound child {@link boundFor} made of `cap` for `principal`, if it made one and still remembers it. */
  boundChildOf(cap: Capability, principal: string): Capability | undefined {
    const key = this.#boundKey(cap, principal);
    return key === undefined ? undefined : this.#bound?.get(key);
  }

  /** Where the bound child of `cap` is remembered, or undefined when `cap` is sent as it is. */
  #boundKey(cap: Capability, principal: string): string | undefined {
    const status = statusOf(cap);
    if (status === undefined || status instanceof CapsyncError || status.bearer === true || status.audiences.length > 0) return undefined;
    // The generation is part of the key: after revokeUser the next send binds afresh.
    return tagKey(status.tags[status.tags.length - 1]!) + '\u0000' + this.revocations.generation(principal) + '\u0000' + principal;
  }

  /**
   * Decodes and verifies token bytes received from `user` (null when anonymous).
   * Malformed tokens throw; tokens that parse but fail verification come back as a capability whose
   * use (`unwrapCapability`) throws the reason: forged, bad signature, unknown key, revoked, expired, audience.
   */
  decode(token: Uint8Array, user: string | null): Capability {
    const entry = this.#lookup(token) ?? this.#verify(token);
    if (entry instanceof Capability) return entry;
    return this.#admit(entry.cap, entry.verification, user);
  }

  /**
   * Re-admits a capability this verifier already decoded (one a connection bound to a handle): the same
   * checks as {@link decode} after its signature, so a revoked, expired or misdirected one comes back rejected.
   */
  readmit(cap: Capability, user: string | null): Capability {
    const status = statusOf(cap);
    return status === undefined || status instanceof CapsyncError ? cap : this.#admit(cap, status, user);
  }

  #admit(cap: Capability, verification: Verification, user: string | null): Capability {
    try {
      // Audience first: someone who is not the holder learns nothing about the capability, not even whether
      // it was revoked or has expired (and a handle bound while misdirected answers the same code later).
      const audiences = verification.audiences;
      if (audiences.length > 0 && !audiences.every((a) => a === user)) throw fail('ERR_CAPABILITY_AUDIENCE');
      assertStillValid(verification);
    } catch (error) {
      return rejected(cap.scope as JsonValue[], cap.blocks as Block[], cap[chainOf], error as CapsyncError);
    }
    return cap;
  }

  /** Forgets cached verifications (call after removing a key from the ring). */
  clearCache(): void {
    this.#cache?.clear();
    this.#prefixes?.clear();
    this.#bound?.clear();
  }

  #lookup(token: Uint8Array): CacheEntry | undefined {
    if (this.#cache === undefined || token.length < TAG_BYTES) return undefined;
    const entry = this.#cache.get(cacheKey(token, token.length - TAG_BYTES));
    return entry !== undefined && tokenMatches(token, entry.cap[chainOf]!) ? entry : undefined;
  }

  #root(key: RootKey): KeyedHmac {
    let root = this.#roots.get(key);
    if (root === undefined) this.#roots.set(key, (root = keyedHmac(this.crypto, key.secret)));
    return root;
  }

  #remember(entry: CacheEntry): CacheEntry {
    if (this.#cache === undefined) return entry;
    const chain = entry.cap[chainOf]!;
    this.#cache.set(cacheKey(chain.tag, 0), entry);
    const last = chain.blockBytes[chain.blockBytes.length - 1]!;
    this.#prefixes!.set(prefixKey(last, 0, last.length, chain.blockBytes.length), entry);
    return entry;
  }

  /**
   * Verifies token bytes the cache did not hold. The caller's buffer (a frame the transport may reuse) is
   * read, never kept: the chain keeps a copy of each block and of the tag, not of the whole token (which
   * {@link Capability.toToken} re-encodes if the capability is ever sent on). A token in the encoding capsync
   * writes is read in place (no view made of its parts); any other goes through the generic decoder.
   */
  #verify(bytes: Uint8Array): CacheEntry | Capability {
    const limits = this.limits;
    const layout = bytes.length > limits.maxTokenBytes ? undefined : readTokenLayout(bytes, limits);
    if (layout === undefined) return this.#verifyParts(decodeToken(bytes, limits));
    // What decodeToken checks beyond the layout, in its order.
    const { kid, at } = layout;
    const count = at.length / 2 - 1;
    if (count === 0) throw fail('ERR_CAPABILITY_MALFORMED');
    if (count - 1 > limits.maxNarrowingSteps) throw fail('ERR_LIMIT_STEPS');
    const tagStart = at[2 * count]!;
    const parent = this.#parentAt(bytes, kid, at, tagStart);
    if (parent !== undefined) return this.#verifyStep(kid, copyOf(bytes, at[2 * count - 2]!, at[2 * count - 1]!), bytes.subarray(tagStart), parent);
    const blocks = new Array<Uint8Array>(count);
    for (let i = 0; i < count; i++) blocks[i] = copyOf(bytes, at[2 * i]!, at[2 * i + 1]!);
    return this.#verifyCold(kid, blocks, copyOf(bytes, tagStart, bytes.length));
  }

  /** {@link #verify} of a token the generic decoder split (its parts may be views of the caller's buffer). */
  #verifyParts(parts: TokenParts): CacheEntry | Capability {
    const parent = this.#parentOf(parts);
    if (parent !== undefined) return this.#verifyStep(parts.kid, owned(parts.blocks[parts.blocks.length - 1]!), parts.tag, parent);
    return this.#verifyCold(parts.kid, parts.blocks.map(owned), owned(parts.tag));
  }

  /** Verifies a whole chain from its root key; `blockBytes` and `tag` are the verifier's own copies. */
  #verifyCold(kid: string, blockBytes: Uint8Array[], tag: Uint8Array): CacheEntry | Capability {
    const { scope, decoded: blocks } = decodeBlocks(blockBytes, this.limits);
    const chain: SignedChain = { kid, blockBytes, tag, suite: this.#suite };
    if (chain.kid === '' || chain.tag.length === 0) return rejected(scope, blocks, chain, fail('ERR_CAPABILITY_FORGED'));
    const key = this.keyring.get(chain.kid);
    if (key === undefined) return rejected(scope, blocks, chain, fail('ERR_CAPABILITY_UNKNOWN_KEY'));
    const tags = verifyChain(chain, this.#root(key), this.crypto);
    if (tags === undefined) return rejected(scope, blocks, chain, fail('ERR_CAPABILITY_BAD_SIGNATURE'));
    const cap = capabilityFromParts(scope, blocks, chain);
    const ancestors = ancestorIds(blocks[0]!.ancestors);
    const marks = marksOf(blocks);
    const verification: Verification = { tags, ...restrictionsOf(blocks), authority: this, ...(ancestors ? { ancestors } : {}), ...(marks ? { marks } : {}) };
    setStatus(cap, verification);
    return this.#remember({ cap, verification });
  }

  /**
   * The cached, verified chain that `parts` extends by exactly one block: same key id, and every block but
   * the last byte for byte the cached chain's. Found by the last block's bytes, confirmed in full.
   */
  #parentOf(parts: TokenParts): CacheEntry | undefined {
    const blocks = parts.blocks;
    const length = blocks.length - 1;
    if (this.#prefixes === undefined || length < 1 || parts.kid === '' || parts.tag.length !== TAG_BYTES) return undefined;
    const last = blocks[length - 1]!;
    const entry = this.#prefixes.get(prefixKey(last, 0, last.length, length));
    if (entry === undefined) return undefined;
    const chain = entry.cap[chainOf]!;
    if (chain.kid !== parts.kid || chain.blockBytes.length !== length || this.keyring.get(parts.kid) === undefined) return undefined;
    for (let i = 0; i < length; i++) if (!bytesEqualAt(chain.blockBytes[i]!, blocks[i]!, 0, blocks[i]!.length)) return undefined;
    return entry;
  }

  /** {@link #parentOf} of a token read in place: block `i` is `bytes` from `at[2i]` to `at[2i + 1]`. */
  #parentAt(bytes: Uint8Array, kid: string, at: readonly number[], tagStart: number): CacheEntry | undefined {
    const length = at.length / 2 - 2;
    if (this.#prefixes === undefined || length < 1 || kid === '' || bytes.length - tagStart !== TAG_BYTES) return undefined;
    const entry = this.#prefixes.get(prefixKey(bytes, at[2 * length - 2]!, at[2 * length - 1]!, length));
    if (entry === undefined) return undefined;
    const chain = entry.cap[chainOf]!;
    if (chain.kid !== kid || chain.blockBytes.length !== length || this.keyring.get(kid) === undefined) return undefined;
    for (let i = 0; i < length; i++) if (!bytesEqualAt(chain.blockBytes[i]!, bytes, at[2 * i]!, at[2 * i + 1]!)) return undefined;
    return entry;
  }

  /**
   * Verifies a token that extends `parent` by one block, `lastBytes` (the verifier's copy): that block alone
   * is decoded (the others are the parent's, byte for byte, and the child shares the parent's copies) and
   * one HMAC step from the parent's last tag checks the token's `tag` (read, not kept).
   */
  #verifyStep(kid: string, lastBytes: Uint8Array, tokenTag: Uint8Array, parent: CacheEntry): CacheEntry | Capability {
    const last = decodeBlock(lastBytes, this.limits);
    const scope = appended(parent.cap.scope, last.segment);
    checkScopeLength(scope.length, this.limits);
    const blocks = appended(parent.cap.blocks, [last]);
    const blockBytes = appended(parent.cap[chainOf]!.blockBytes, [lastBytes]);
    const base = parent.verification;
    parent.step ??= keyedHmac(this.crypto, base.tags[base.tags.length - 1]!);
    const tag = verifyLastStep(this.crypto, parent.step, lastBytes, tokenTag);
    if (tag === undefined) return rejected(scope, blocks, { kid, blockBytes, tag: owned(tokenTag), suite: this.#suite }, fail('ERR_CAPABILITY_BAD_SIGNATURE'));
    // The tag just computed equals the token's: the chain keeps it rather than a copy of the token's.
    const cap = capabilityFromParts(scope, blocks, { kid, blockBytes, tag, suite: this.#suite });
    const verification: Verification = {
      tags: appended(base.tags, [tag]),
      expiresAt: minExpiry(base.expiresAt, last.expiresAt),
      audiences: last.audience === null ? base.audiences : appended(base.audiences, [last.audience]),
      authority: this,
    };
    if (base.ancestors !== undefined) (verification as { ancestors?: readonly string[] }).ancestors = base.ancestors;
    const marks = last.generation !== undefined && last.audience !== null ? appended(base.marks ?? [], [[last.audience, last.generation] as const]) : base.marks;
    if (marks !== undefined) (verification as { marks?: readonly GenerationMark[] }).marks = marks;
    setStatus(cap, verification);
    return this.#remember({ cap, verification });
  }
}

function rejected(scope: JsonValue[], blocks: Block[], chain: SignedChain | undefined, error: CapsyncError): Capability {
  const cap = capabilityFromParts(scope, blocks, chain);
  setStatus(cap, error);
  return cap;
}

/**
 * Where a chain of `length` blocks waits for tokens that extend it: a hash of its length and of the last 16
 * bytes of its last block (that block's random nonce, and its generation when it has one; or block 0's last
 * ancestor id), kept a small integer so the key costs no allocation. Near unique; a hit is confirmed block by
 * block, so a collision (even a chosen one: a holder picks its own nonces) costs a miss, never a wrong answer.
 */
function prefixKey(bytes: Uint8Array, start: number, end: number, length: number): number {
  let h = length;
  for (let i = Math.max(start, end - 16); i < end; i++) h = (Math.imul(h, 31) + bytes[i]!) | 0;
  return h & 0x3fffffff;
}
/** A new list of `head` then `tail` (frozen lists make `concat` and spreads slow). */
function appended<T>(head: readonly T[], tail: readonly T[]): T[] {
  const out = new Array<T>(head.length + tail.length);
  for (let i = 0; i < head.length; i++) out[i] = head[i]!;
  for (let i = 0; i < tail.length; i++) out[head.length + i] = tail[i]!;
  return out;
}

/** True when `a` equals `bytes` from `start` to `end`. */
function bytesEqualAt(a: Uint8Array, bytes: Uint8Array, start: number, end: number): boolean {
  if (a.length !== end - start) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== bytes[start + i]) return false;
  return true;
}

/**
 * A private copy of `bytes` from `start` to `end`, as a plain Uint8Array. Never `slice`: on a Node Buffer (a
 * frame) `slice` is a view of the same memory.
 */
function copyOf(bytes: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end - start);
  if (out.length > 64) out.set(bytes.subarray(start, end));
  else for (let i = 0; i < out.length; i++) out[i] = bytes[start + i]!;
  return out;
}

/** A private copy of bytes read from the caller's buffer (64 bytes or fewer stay on the JS heap). */
function owned(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/**
 * 30 bits of the tag at `offset` (a token's last 32 bytes, or a chain's tag at 0): an HMAC output, so evenly
 * spread, and a small integer, so a map key that costs no allocation. A hit is confirmed by {@link tokenMatches}.
 */
function cacheKey(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | ((bytes[offset + 3]! & 0x3f) << 24));
}
