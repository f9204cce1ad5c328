import { LRUCache } from 'lru-cache';
import { Capability, capabilityFromParts, pendingCapability, type BindingRestrictions, type Restrictions } from './capability/capability.js';
import { chainOf, randomNonce, restrictionsOf, signChain, tagKey, verifyChain, type ChainSuite, type SignedChain } from './capability/chain.js';
import { base64url } from 'jose';
import { ancestorIds, assertStillValid, idsOf, marksOf, setStatus, statusOf, type GenerationMark, type Verification, type VerificationAuthority } from './capability/status.js';
import { TAG_BYTES, parseToken, type Block } from './capability/token.js';
import { nobleCrypto, type CryptoProvider } from './crypto.js';
import { CapsyncError, fail } from './errors.js';
import type { JsonValue } from './json-value.js';
import type { Keyring } from './keyring.js';
import { resolveLimits, type Limits } from './limits.js';
import { MemoryRevocationSet, type RevocationSet } from './revocation.js';

/** Options of a {@link CapabilityVerifier}. */
export interface VerifierOptions {
  readonly keyring: Keyring;
  readonly revocations?: RevocationSet;
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
   * server passes `nodeCrypto` (OpenSSL, about twice as fast). Capabilities this verifier mints or verifies
   * keep it: narrowing them on the server uses the same provider.
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
  readonly token: Uint8Array;
  readonly cap: Capability;
  readonly verification: Verification;
}

/**
 * Signs capabilities the server sends and verifies capabilities it receives.
 *
 * Verification walks the HMAC chain from the root key named by the token's `kid`:
 * tag0 = HMAC(key, block0), tagN = HMAC(tagN-1, blockN), then compares the result with the token's tag
 * in constant time. Results are cached by token bytes; revocation and expiry are re-checked at every use.
 */
export class CapabilityVerifier implements VerificationAuthority {
  readonly keyring: Keyring;
  readonly revocations: RevocationSet;
  readonly limits: Limits;
  readonly clockToleranceMs: number;
  readonly now: () => number;
  readonly crypto: CryptoProvider;
  /** The provider and limits every capability this verifier mints or verifies narrows with. */
  readonly #suite: ChainSuite;
  readonly #random: (length: number) => Uint8Array;
  readonly #cache: LRUCache<string, CacheEntry> | undefined;
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
    this.#bound = size > 0 ? new LRUCache({ max: size }) : undefined;
  }

  isRevoked(ids: readonly string[]): boolean {
    return ids.some((id) => this.revocations.has(id));
  }

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
    const { chain, tags } = signChain(cap.blocks, key.kid, key.secret, this.#suite, this.#random);
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
    const token = child.toToken();
    this.#cache?.set(cacheKey(token), { token, cap: child, verification });
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
    this.#bound?.clear();
  }

  #lookup(token: Uint8Array): CacheEntry | undefined {
    if (this.#cache === undefined || token.length < TAG_BYTES) return undefined;
    const entry = this.#cache.get(cacheKey(token));
    return entry !== undefined && this.crypto.timingSafeEqual(entry.token, token) ? entry : undefined;
  }

  #verify(bytes: Uint8Array): CacheEntry | Capability {
    const parsed = parseToken(bytes, this.limits);
    const { scope, decoded: blocks, token } = parsed;
    const chain: SignedChain = { kid: parsed.kid, blockBytes: parsed.blocks, tag: parsed.tag, token, suite: this.#suite };
    if (chain.kid === '' || chain.tag.length === 0) return rejected(scope, blocks, chain, fail('ERR_CAPABILITY_FORGED'));
    const key = this.keyring.get(chain.kid);
    if (key === undefined) return rejected(scope, blocks, chain, fail('ERR_CAPABILITY_UNKNOWN_KEY'));
    const tags = verifyChain(chain, key.secret, this.crypto);
    if (tags === undefined) return rejected(scope, blocks, chain, fail('ERR_CAPABILITY_BAD_SIGNATURE'));
    const cap = capabilityFromParts(scope, blocks, chain);
    const ancestors = ancestorIds(blocks[0]!.ancestors);
    const marks = marksOf(blocks);
    const verification: Verification = { tags, ...restrictionsOf(blocks), authority: this, ...(ancestors ? { ancestors } : {}), ...(marks ? { marks } : {}) };
    setStatus(cap, verification);
    const entry = { token, cap, verification };
    this.#cache?.set(cacheKey(token), entry);
    return entry;
  }
}

function rejected(scope: JsonValue[], blocks: Block[], chain: SignedChain | undefined, error: CapsyncError): Capability {
  const cap = capabilityFromParts(scope, blocks, chain);
  setStatus(cap, error);
  return cap;
}

// The tag is the token's last 32 bytes: a cheap, well-spread key. The whole token is compared on a hit.
function cacheKey(token: Uint8Array): string {
  return tagKey(token.subarray(token.length - TAG_BYTES));
}
