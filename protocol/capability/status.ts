import { base64url } from 'jose';
import { nobleCrypto, type CryptoProvider } from '../crypto.js';
import { fail, type CapsyncError } from '../errors.js';
import type { Capability } from './capability.js';

/**
 * How a server checked a capability it holds, and the checks that run again at every use. A capability
 * that was decoded and verified carries a {@link Verification}; one that failed carries the
 * {@link CapsyncError} it fails with, raised when server code uses it (`unwrapCapability`).
 */

/** How a capability was checked by the server that holds it. Internal to capsync. */
export interface Verification {
  /** Every chain tag, first (minted) to last; revocation ids derive from them. */
  readonly tags: readonly Uint8Array[];
  readonly expiresAt: number | null;
  readonly audiences: readonly string[];
  readonly authority: VerificationAuthority;
  /**
   * The revocation ids named in block 0 of a delegated capability: those of the capability it was re-minted
   * from and of that one's ancestors. Revoking any of them revokes this capability too.
   */
  readonly ancestors?: readonly string[];
  /**
   * Minted or delegated with `bearer: true` (or narrowed from one by server code): sent as it is, never
   * bound to the recipient. Known only to the process that minted it.
   */
  readonly bearer?: boolean;
  /** Every (audience, generation) a block carries (SPEC section 3.9): stale once the audience's generation is higher. */
  readonly marks?: readonly GenerationMark[];
  ids?: readonly string[];
}

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

// Keyed by the capability object: a status belongs to the one object the verifier built or signed, so
// nothing a peer sends can carry one, and a copy of the object (a plain map, a structured clone) has none.
const statuses = new WeakMap<Capability, Verification | CapsyncError>();

/** @internal Records how the server checked `cap`. */
export function setStatus(cap: Capability, status: Verification | CapsyncError): void {
  statuses.set(cap, status);
}

/** @internal How the server checked `cap`, if it did. */
export function statusOf(cap: Capability): Verification | CapsyncError | undefined {
  return statuses.get(cap);
}

/**
 * The revocation id of a chain step: the first 16 bytes of SHA-256(tag), base64url (SPEC section 3.5).
 * One-way, safe to log and broadcast. Every provider computes the same id; `crypto` only picks the code.
 */
export function revocationId(tag: Uint8Array, crypto: CryptoProvider = nobleCrypto): string {
  return base64url.encode(crypto.sha256(tag).subarray(0, 16));
}

/** @internal The revocation ids of every chain step, then the ancestors block 0 names; computed once. */
export function idsOf(v: Verification): readonly string[] {
  const crypto = v.authority.crypto;
  if (v.ids !== undefined) return v.ids;
  const own = v.tags.map((tag) => revocationId(tag, crypto));
  return (v.ids = v.ancestors === undefined ? own : [...own, ...v.ancestors]);
}

/** @internal The ancestor revocation ids of a decoded block 0, as strings (base64url of the 16 bytes). */
export function ancestorIds(raw: readonly Uint8Array[] | undefined): readonly string[] | undefined {
  return raw === undefined ? undefined : raw.map((id) => base64url.encode(id));
}

/**
 * Re-checks a verified capability at the moment of use: revocation and expiry apply at once, even when
 * the verification itself came from a cache. Throws the matching error.
 */
export function assertStillValid(v: Verification): void {
  const a = v.authority;
  if (v.expiresAt !== null && a.now() > v.expiresAt + a.clockToleranceMs) throw fail('ERR_CAPABILITY_EXPIRED');
  if (a.hasRevocations() && a.isRevoked(idsOf(v))) throw fail('ERR_CAPABILITY_REVOKED');
  if (v.marks !== undefined && a.isStale(v.marks)) throw fail('ERR_CAPABILITY_REVOKED');
}

/** @internal The generation marks of a chain's blocks, or undefined if none carries one. */
export function marksOf(blocks: readonly { audience: string | null; generation?: number }[]): GenerationMark[] | undefined {
  let marks: GenerationMark[] | undefined;
  for (const b of blocks) if (b.generation !== undefined && b.audience !== null) (marks ??= []).push([b.audience, b.generation]);
  return marks;
}
