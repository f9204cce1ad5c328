import { base64url } from 'jose';
import { crypto } from './crypto.js';
import { CapsyncError, fail } from './errors.js';
import { assertJsonValue, type JsonValue } from './json-value.js';
import { defaultLimits } from './limits.js';
import { NONCE_BYTES, encodeBlock, encodeToken, type Block } from './token.js';

/** Restrictions a capability (or a narrowing step) may add. They only ever tighten. */
export interface Restrictions {
  /** Milliseconds since the epoch after which the capability no longer verifies. The earliest expiry in a chain wins. */
  readonly expiresAt?: number;
  /** The user id allowed to use the capability. Every audience in a chain must match the caller. */
  readonly audience?: string;
}

/** The signed form of a capability: what travels on the wire. Internal to capsync. */
export interface SignedChain {
  readonly kid: string;
  readonly blockBytes: readonly Uint8Array[];
  readonly tag: Uint8Array;
  /** The exact token bytes, kept so re-sending never re-encodes. */
  token?: Uint8Array;
}

/** How a capability was checked by the server that holds it. Internal to capsync. */
export interface Verification {
  /** Every chain tag, first (minted) to last; revocation ids derive from them. */
  readonly tags: readonly Uint8Array[];
  readonly expiresAt: number | null;
  readonly audiences: readonly string[];
  readonly authority: VerificationAuthority;
  ids?: readonly string[];
}

/** What re-checks a verified capability at the moment of use. Internal to capsync. */
export interface VerificationAuthority {
  isRevoked(ids: readonly string[]): boolean;
  hasRevocations(): boolean;
  now(): number;
  readonly clockToleranceMs: number;
}

/** @internal symbol under which a capability keeps its chain; not part of the public API. */
export const chainOf = Symbol('capsync.chain');
const statuses = new WeakMap<Capability, Verification | CapsyncError>();

/** @internal A chain tag as a map key (one UTF-16 unit per byte): cheap to build, well spread, never sent. */
export function tagKey(tag: Uint8Array): string {
  return String.fromCharCode.apply(null, tag as unknown as number[]);
}

/** The revocation id of a chain step: the first 16 bytes of SHA-256(tag), base64url. One-way, safe to log and broadcast. */
export function revocationId(tag: Uint8Array): string {
  return base64url.encode(crypto().sha256(tag).subarray(0, 16));
}

/**
 * A capability: a hierarchical scope (`["youtube_videos", id, "update"]`) that grants whoever holds it
 * the right to act on what the scope names. The longer the scope, the narrower the capability.
 *
 * Any code may construct one, but only capabilities minted with the server's key verify: a capability
 * made by a client is refused by the server with `ERR_CAPABILITY_FORGED`. Narrowing appends to the
 * scope and extends the HMAC chain, so the holder of a narrowed capability can never recover the broader one.
 *
 * @example
 * ```ts
 * const cap = new Capability(['youtube_videos', 'dQw4w9WgXcQ']);       // server code
 * const update = cap.narrow(['update'], { expiresAt: Date.now() + 60_000 });
 * ```
 */
export class Capability {
  /** The full scope, narrowing included. */
  readonly scope: readonly JsonValue[];
  /** The pending (unsigned) blocks or the decoded blocks of the chain. */
  readonly blocks: readonly Block[];
  /** @internal */
  [chainOf]: SignedChain | undefined;

  /**
   * @param scope a non-empty list of JSON-compatible values.
   * @param restrictions an optional expiry and audience.
   */
  constructor(scope: readonly JsonValue[], restrictions: Restrictions = {}) {
    assertScope(scope, true);
    const block = makeBlock(scope, restrictions);
    this.blocks = Object.freeze([block]);
    this.scope = deepFreeze(structuredCopy(scope));
    this[chainOf] = undefined;
  }

  /** The earliest expiry in the chain (ms since epoch), or null. */
  get expiresAt(): number | null {
    return restrictionsOf(this.blocks).expiresAt;
  }

  /** Every audience in the chain; the caller must match all of them. */
  get audiences(): readonly string[] {
    return restrictionsOf(this.blocks).audiences;
  }

  /** True once the capability carries a server signature (it may still fail verification). */
  get signed(): boolean {
    const chain = this[chainOf];
    return chain !== undefined && chain.tag.length > 0;
  }

  /**
   * The revocation id of this exact capability (its last chain step), or undefined if it is unsigned.
   * Revoking it revokes this capability and everything narrowed from it, never the broader one it came from.
   */
  get revocationId(): string | undefined {
    const chain = this[chainOf];
    return chain && chain.tag.length > 0 ? revocationId(chain.tag) : undefined;
  }

  /**
   * A new capability with `suffix` appended to the scope and `restrictions` added. Synchronous, offline,
   * on client or server: the chain's next tag is HMAC(previous tag, new block).
   */
  narrow(suffix: readonly JsonValue[] = [], restrictions: Restrictions = {}): Capability {
    assertScope(suffix, false);
    if (this.scope.length + suffix.length > defaultLimits.maxScopeLength) throw fail('ERR_LIMIT_SCOPE');
    if (this.blocks.length > defaultLimits.maxNarrowingSteps) throw fail('ERR_LIMIT_STEPS');
    const block = makeBlock(suffix, restrictions);
    const child: Capability = Object.create(Capability.prototype);
    const scope = deepFreeze([...this.scope, ...structuredCopy(suffix)]);
    Object.assign(child, { scope, blocks: Object.freeze([...this.blocks, block]) });
    const chain = this[chainOf];
    const status = statuses.get(this);
    if (status instanceof CapsyncError) statuses.set(child, status); // narrowing never cures a rejected capability
    if (chain === undefined) {
      child[chainOf] = undefined; // made by local code and not yet sent: the server signs every block at once
      return child;
    }
    // Every step carries a fresh nonce: two holders who narrow the same way still get distinct capabilities,
    // each with its own revocation id (an editor can revoke one guest's grant and not another's).
    const bytes = encodeBlock(block, randomNonce());
    if (chain.tag.length === 0) {
      // Received unsigned (made by a client): it stays unsigned, so server code that narrows a forged
      // capability and sends it back can never get it signed.
      child[chainOf] = { kid: chain.kid, blockBytes: [...chain.blockBytes, bytes], tag: chain.tag };
      return child;
    }
    const tag = crypto().hmacSha256(chain.tag, bytes);
    child[chainOf] = { kid: chain.kid, blockBytes: [...chain.blockBytes, bytes], tag };
    if (status !== undefined && !(status instanceof CapsyncError)) {
      statuses.set(child, {
        tags: [...status.tags, tag],
        expiresAt: minExpiry(status.expiresAt, block.expiresAt),
        audiences: block.audience === null ? status.audiences : [...status.audiences, block.audience],
        authority: status.authority,
      });
    }
    return child;
  }

  /** The token bytes carried in msgpack extension type 1. Unsigned capabilities travel with an empty tag. */
  toToken(): Uint8Array {
    const chain = this[chainOf];
    if (chain === undefined) {
      return encodeToken({ kid: '', blocks: this.blocks.map((b) => encodeBlock(b)), tag: new Uint8Array(0) });
    }
    chain.token ??= encodeToken({ kid: chain.kid, blocks: chain.blockBytes, tag: chain.tag });
    return chain.token;
  }

  /** A readable form for logs and debugging; never includes the tag. */
  toString(): string {
    return `Capability(${JSON.stringify(this.scope)})`;
  }

  toJSON(): { scope: readonly JsonValue[] } {
    return { scope: this.scope };
  }
}

/** @internal The effective restrictions of a chain: the earliest expiry and every audience. */
export function restrictionsOf(blocks: readonly Block[]): { expiresAt: number | null; audiences: string[] } {
  let expiresAt: number | null = null;
  const audiences: string[] = [];
  for (const b of blocks) {
    expiresAt = minExpiry(expiresAt, b.expiresAt);
    if (b.audience !== null) audiences.push(b.audience);
  }
  return { expiresAt, audiences };
}

// Nonces are cut from a pool filled by one CSPRNG call: getRandomValues costs microseconds per call in
// Node, more than the HMAC of a step. Nonces are public (they travel in every token), so a pool is safe.
const NONCE_POOL_BYTES = 4096;
let noncePool = new Uint8Array(0);
let noncePoolOffset = 0;

/** @internal A nonce for a chain block, from the platform's CSPRNG (Web Crypto, in browsers and Node). */
export function randomNonce(): Uint8Array {
  if (noncePoolOffset + NONCE_BYTES > noncePool.length) {
    noncePool = globalThis.crypto.getRandomValues(new Uint8Array(NONCE_POOL_BYTES));
    noncePoolOffset = 0;
  }
  return noncePool.slice(noncePoolOffset, (noncePoolOffset += NONCE_BYTES));
}

function minExpiry(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

/** Freezes a scope and everything in it: verified capabilities are shared (by the verifier's cache), so no holder may edit one. */
function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  if (Array.isArray(value)) for (let i = 0; i < value.length; i++) deepFreeze(value[i]);
  else for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
  return value;
}

function structuredCopy(values: readonly JsonValue[]): JsonValue[] {
  return values.map((v) => (v !== null && typeof v === 'object' ? (JSON.parse(JSON.stringify(v)) as JsonValue) : v));
}

function assertScope(scope: unknown, nonEmpty: boolean): asserts scope is JsonValue[] {
  if (!Array.isArray(scope) || (nonEmpty && scope.length === 0)) throw fail('ERR_INVALID_SCOPE');
  if (scope.length > defaultLimits.maxScopeLength) throw fail('ERR_LIMIT_SCOPE');
  try {
    // An element travels at depth 3 of its block (block list, segment list, element), and blocks obey the depth limit.
    for (const element of scope) assertJsonValue(element, defaultLimits.maxDepth - 2);
  } catch {
    throw fail('ERR_INVALID_SCOPE');
  }
}

function makeBlock(segment: readonly JsonValue[], r: Restrictions): Block {
  if (r.expiresAt !== undefined && !(Number.isSafeInteger(r.expiresAt) && r.expiresAt >= 0)) {
    throw fail('ERR_INVALID_VALUE', 'expiresAt must be a non-negative integer (ms since epoch)');
  }
  if (r.audience !== undefined && typeof r.audience !== 'string') throw fail('ERR_INVALID_VALUE', 'audience must be a string');
  return Object.freeze({ segment: deepFreeze(structuredCopy(segment)), expiresAt: r.expiresAt ?? null, audience: r.audience ?? null });
}

/** @internal Builds a capability from verified or decoded parts (used by the verifier and the client codec). */
export function capabilityFromParts(scope: JsonValue[], blocks: Block[], chain: SignedChain | undefined): Capability {
  const cap: Capability = Object.create(Capability.prototype);
  Object.assign(cap, { scope: deepFreeze(scope), blocks: deepFreeze(blocks) });
  cap[chainOf] = chain;
  return cap;
}

/** @internal Records how the server checked `cap`. */
export function setStatus(cap: Capability, status: Verification | CapsyncError): void {
  statuses.set(cap, status);
}

/** @internal How the server checked `cap`, if it did. */
export function statusOf(cap: Capability): Verification | CapsyncError | undefined {
  return statuses.get(cap);
}

/** @internal The revocation ids of every chain step, computed once. */
export function idsOf(v: Verification): readonly string[] {
  return (v.ids ??= v.tags.map(revocationId));
}

/**
 * Re-checks a verified capability at the moment of use: revocation and expiry apply at once, even when
 * the verification itself came from a cache. Throws the matching error.
 */
export function assertStillValid(v: Verification): void {
  const a = v.authority;
  if (v.expiresAt !== null && a.now() > v.expiresAt + a.clockToleranceMs) throw fail('ERR_CAPABILITY_EXPIRED');
  if (a.hasRevocations() && a.isRevoked(idsOf(v))) throw fail('ERR_CAPABILITY_REVOKED');
}
