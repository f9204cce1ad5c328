import { base64url } from 'jose';
import { BoundChildren } from './capability/bound-children.js';
import { Capability, pendingCapability, shareScope, tokenBytes, type BindingRestrictions, type Restrictions } from './capability/capability.js';
import { ScopeInterner } from './capability/scope-intern.js';
import { chainOf, randomNonce, restrictionsOf, signChain, type ChainSuite } from './capability/chain.js';
import { Verification, ancestorIds, assertStillValid, marksOf, setStatus, statusOf, type GenerationMark, type VerificationAuthority } from './capability/status.js';
import { TAG_BYTES, decodeToken } from './capability/token.js';
import { TokenChain } from './capability/token-chain.js';
import { ByteArena } from './capability/byte-arena.js';
import { readTokenLayout } from './capability/token-fast.js';
import { VerifiedCache } from './capability/verified-cache.js';
import { rejected, verifyCold, verifyStep, type ChainContext } from './capability/verify-chain.js';
import { keyedHmac, nobleCrypto, type CryptoProvider, type KeyedHmac } from './crypto.js';
import { CapsyncError, fail } from './errors.js';
import type { JsonValue } from './json-value.js';
import type { Keyring, RootKey } from './keyring.js';
import { resolveLimits, type Limits } from './limits.js';
import { MemoryRevocationSet, type RevocationSet } from './revocation.js';

/** Distinct scopes a verifier keeps one shared list for (protocol/capability/scope-intern.ts): its LRU's bound. */
const SCOPES_KEPT = 4096;

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
  readonly #suite: ChainSuite & { readonly arena: ByteArena };
  readonly #random: (length: number) => Uint8Array;
  /** Verified and signed capabilities, one entry each: by their token, and as the parent of a token one step longer. */
  readonly #cache: VerifiedCache | undefined;
  /** HMAC under each root key, its inner and outer state computed once. */
  readonly #roots = new WeakMap<RootKey, KeyedHmac>();
  /** The bound child sent to each (capability, principal): the same token and holding every time it is resent. */
  readonly #bound: BoundChildren | undefined;
  /** What the chain checks need of this verifier. */
  readonly #context: ChainContext;
  /** One frozen list per distinct scope signed or verified lately, shared by every capability of that scope. */
  readonly #scopes: ScopeInterner | undefined;

  constructor(options: VerifierOptions) {
    this.keyring = options.keyring;
    this.revocations = options.revocations ?? new MemoryRevocationSet();
    this.limits = resolveLimits(options.limits);
    this.clockToleranceMs = options.clockToleranceMs ?? 0;
    this.now = options.now ?? Date.now;
    this.crypto = options.crypto ?? nobleCrypto;
    this.#suite = Object.freeze({ crypto: this.crypto, limits: this.limits, arena: new ByteArena(), authority: this });
    this.#random = options.random ?? randomNonce;
    const size = options.cacheSize ?? 10_000;
    this.#cache = size > 0 ? new VerifiedCache(size) : undefined;
    this.#bound = size > 0 ? new BoundChildren() : undefined;
    // A verifier that caches nothing (cacheSize 0) shares no scopes either: every verify would pay the lookup for nothing.
    const scopes = (this.#scopes = size > 0 ? new ScopeInterner(SCOPES_KEPT) : undefined);
    this.#context = { keyring: this.keyring, suite: this.#suite, authority: this, root: (key) => this.#root(key), intern: (scope) => scopes?.intern(scope) ?? scope };
  }

  /** True when any of these revocation ids (a chain and its ancestors) is revoked. */
  isRevoked(ids: readonly string[]): boolean {
    return ids.some((id) => this.revocations.has(id));
  }

  /** True when this revocation id is revoked. */
  isRevokedId(id: string): boolean {
    return this.revocations.has(id);
  }

  /** The revocation generation of `audience` now (SPEC section 3.9). */
  generationOf(audience: string): number {
    return this.revocations.generation(audience);
  }

  /** True when the revocation set holds anything at all (a fast path for the common case). */
  hasRevocations(): boolean {
    return this.revocations.size > 0;
  }

  /** True if any mark's generation is below its audience's current one (the audience was revoked since). */
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

  /** @internal {@link sign} for capsync's encoder: the token as kept (a slice of a shared buffer), written straight into a frame. */
  signedToken(cap: Capability): Uint8Array {
    if (cap[chainOf] === undefined) this.#signPending(cap, false);
    return tokenBytes(cap);
  }

  #signPending(cap: Capability, bearer: boolean): void {
    const key = this.keyring.current;
    const { chain, tags } = signChain(cap.blocks, key.kid, this.#root(key), this.#suite, this.#random);
    // A scope granted afresh (a server function that grants on every call) shares the list kept for it.
    if (this.#scopes !== undefined) shareScope(cap, this.#scopes.intern(cap.scope));
    // The verification takes the chain's place (setStatus): until then, the chain.
    cap[chainOf] = chain;
    const facts = { ...restrictionsOf(cap.blocks), ancestors: ancestorIds(cap.blocks[0]!.ancestors), bearer: bearer ? true : undefined, marks: marksOf(cap.blocks) };
    const arena = this.#suite.arena;
    setStatus(cap, Verification.ofChain(this, tags, chain as TokenChain, facts, (n) => arena.take(n)));
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
    if (!this.#bindable(cap)) return cap;
    // The binding step carries the principal's generation: revokeUser bumps it (SPEC section 3.9), and the
    // next send binds afresh.
    const generation = this.revocations.generation(principal);
    const known = this.#bound?.get(cap, principal, generation);
    if (known !== undefined) return known;
    const binding: BindingRestrictions = { audience: principal, generation };
    const child = cap.narrow([], binding);
    // The recipient sends it back with its next call: the verification is known already.
    this.#cache?.remember(child);
    this.#bound?.set(cap, principal, child);
    return child;
  }

  /** The bound child {@link boundFor} made of `cap` for `principal`, if it made one and still remembers it. */
  boundChildOf(cap: Capability, principal: string): Capability | undefined {
    return this.#bindable(cap) ? this.#bound?.get(cap, principal, this.revocations.generation(principal)) : undefined;
  }

  /** False when `cap` is sent as it is: bearer, already bound, or not verified. */
  #bindable(cap: Capability): boolean {
    const status = statusOf(cap);
    return !(status === undefined || status instanceof CapsyncError || status.bearer === true || status.isBound());
  }

  /**
   * Decodes and verifies token bytes received from `user` (null when anonymous).
   * Malformed tokens throw; tokens that parse but fail verification come back as a capability whose
   * use (`unwrapCapability`) throws the reason: forged, bad signature, unknown key, revoked, expired, audience.
   */
  decode(token: Uint8Array, user: string | null): Capability {
    const cap = this.#cache?.lookup(token) ?? this.#verify(token);
    const status = statusOf(cap);
    return status instanceof Verification ? this.#admit(cap, status, user) : cap;
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
      if (!verification.boundOnlyTo(user)) throw fail('ERR_CAPABILITY_AUDIENCE');
      assertStillValid(verification);
    } catch (error) {
      return rejected(cap.scope as JsonValue[], undefined, cap[chainOf], error as CapsyncError);
    }
    return cap;
  }

  /** Forgets cached verifications (call after removing a key from the ring). */
  clearCache(): void {
    this.#cache?.clear();
    this.#bound?.clear();
  }

  #root(key: RootKey): KeyedHmac {
    let root = this.#roots.get(key);
    if (root === undefined) this.#roots.set(key, (root = keyedHmac(this.crypto, key.secret)));
    return root;
  }

  /**
   * Verifies token bytes the cache did not hold. The caller's buffer (a frame the transport may reuse) is
   * read, never kept: the token is first copied, in the canonical encoding, into this verifier's arena, and
   * the capability keeps that copy as its only bytes (its blocks and tag are ranges of it). A token in the
   * encoding capsync writes is read in place; any other goes through the generic decoder first.
   */
  #verify(bytes: Uint8Array): Capability {
    const limits = this.limits;
    const suite = this.#suite;
    const layout = bytes.length > limits.maxTokenBytes ? undefined : readTokenLayout(bytes, limits, this.keyring.current.kid);
    let chain: TokenChain;
    if (layout === undefined) {
      const parts = decodeToken(bytes, limits);
      chain = TokenChain.write(parts.kid, parts.blocks, parts.tag, suite, suite.arena);
    } else {
      // What decodeToken checks beyond the layout, in its order.
      const count = layout.at.length / 2 - 1;
      if (count === 0) throw fail('ERR_CAPABILITY_MALFORMED');
      if (count - 1 > limits.maxNarrowingSteps) throw fail('ERR_LIMIT_STEPS');
      chain = TokenChain.copyOf(layout.kid, bytes, layout.at, suite, suite.arena);
    }
    const cache = this.#cache;
    if (cache !== undefined && chain.count >= 2 && chain.tagLength === TAG_BYTES) {
      // One view of the token and one walk to its last block, for the parent's lookup, the step and the cache.
      const token = chain.token;
      const lastAt = chain.lastBlockAtIn(token);
      const parent = this.#known(cache.parentOf(chain, token, lastAt));
      if (parent !== undefined) return this.#remember(verifyStep(this.#context, parent, chain, token, lastAt), token);
    }
    return this.#remember(verifyCold(this.#context, chain));
  }

  /** A cached parent whose key is still in the ring (a key removed without {@link clearCache} verifies nothing). */
  #known(parent: Capability | undefined): Capability | undefined {
    return parent !== undefined && this.keyring.get(parent[chainOf]!.kid) !== undefined && statusOf(parent) instanceof Verification ? parent : undefined;
  }

  /** Caches a verified capability (a rejected one is not: it is refused afresh, at the full price, every time). */
  #remember(cap: Capability, token?: Uint8Array): Capability {
    if (statusOf(cap) instanceof Verification) this.#cache?.remember(cap, token);
    return cap;
  }
}
