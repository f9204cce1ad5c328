import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';

/**
 * The two primitives the capability chain needs, synchronous so `narrow()` never waits.
 * The default is `@noble/hashes` (audited, runs in browsers). There is no process-wide choice: a
 * `CapabilityVerifier` is given its provider (the Node server passes `node:crypto`, about twice as fast),
 * and the capabilities it mints or verifies keep it for narrowing.
 */
export interface CryptoProvider {
  /** HMAC-SHA-256 of `message` under `key`. */
  hmacSha256(key: Uint8Array, message: Uint8Array): Uint8Array;
  /** SHA-256 of `message`. */
  sha256(message: Uint8Array): Uint8Array;
  /** Constant-time equality of two byte strings of the same length. */
  timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean;
}

function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** The isomorphic provider. */
export const nobleCrypto: CryptoProvider = {
  hmacSha256: (key, message) => hmac(sha256, key, message),
  sha256: (message) => sha256(message),
  timingSafeEqual: constantTimeEqual,
};
