import { sha256 } from '@noble/hashes/sha2.js';
import { hmacKeyState, hmacSha256, hmacWithState } from './hmac-sha256.js';

/** HMAC-SHA-256 under one fixed key: what {@link CryptoProvider.keyedHmac} returns for a root key. */
export type KeyedHmac = (message: Uint8Array) => Uint8Array;

/**
 * The two primitives the capability chain needs, synchronous so `narrow()` never waits.
 * The default is `@noble/hashes` (audited, runs in browsers). There is no process-wide choice: a
 * `CapabilityVerifier` is given its provider (the Node server passes `nodeCrypto`: OpenSSL for long messages),
 * and the capabilities it mints or verifies keep it for narrowing. Both run a chain's HMACs through
 * protocol/hmac-sha256.ts, which for a message of a few dozen bytes is cheaper than a native call.
 */
export interface CryptoProvider {
  /** HMAC-SHA-256 of `message` under `key`. */
  hmacSha256(key: Uint8Array, message: Uint8Array): Uint8Array;
  /** SHA-256 of `message`. */
  sha256(message: Uint8Array): Uint8Array;
  /** Constant-time equality of two byte strings of the same length. */
  timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean;
  /**
   * Optional: HMAC-SHA-256 under `key` with the work that depends only on the key done once (the key's
   * inner and outer hash states), for a key used for many messages (a verifier's root keys). Must equal
   * `hmacSha256(key, message)` for every message. Without it, {@link keyedHmac} calls `hmacSha256`.
   */
  keyedHmac?(key: Uint8Array): KeyedHmac;
}

/** HMAC-SHA-256 under `key` through `crypto`: its precomputed form when it has one. */
export function keyedHmac(crypto: CryptoProvider, key: Uint8Array): KeyedHmac {
  if (crypto.keyedHmac !== undefined) return crypto.keyedHmac(key);
  const copy = new Uint8Array(key);
  return (message) => crypto.hmacSha256(copy, message);
}

/** Constant-time equality: no branch on the bytes, so the time depends on the length alone (which is public). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * HMAC under a fixed key with the key's inner and outer SHA-256 states computed once: each message then
 * costs its own compressions and the outer block's (two for a block of the chain), and no object but the tag.
 */
function precomputedHmac(key: Uint8Array): KeyedHmac {
  const state = hmacKeyState(key);
  return (message) => hmacWithState(state, message);
}

/** The isomorphic provider. */
export const nobleCrypto: CryptoProvider = {
  hmacSha256,
  sha256: (message) => sha256(message),
  timingSafeEqual: constantTimeEqual,
  keyedHmac: precomputedHmac,
};
