import * as crypto from 'node:crypto';
import { createHash, createHmac } from 'node:crypto';
import { constantTimeEqual, type CryptoProvider, type KeyedHmac } from '../protocol/crypto.js';
import { hmacKeyState, hmacSha256 as portableHmac, hmacWithState } from '../protocol/hmac-sha256.js';

// One-shot `crypto.hash` (Node 20.12+): no Hash object per digest, which is most of what a short digest costs.
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer }).hash;

/**
 * Below these message lengths the portable HMAC (noble's compression, no object per call) is cheaper than
 * OpenSSL's: a `node:crypto` digest costs a native call, a Buffer and a Hash or Hmac object, about the price
 * of three compressions in JS, whatever the length. A chain block is a few dozen bytes, so every step of a
 * capability's chain takes the portable path; longer messages (a large block) take OpenSSL's, whose
 * compressions are several times faster. Measured with bench/capability.ts and a sweep of message lengths:
 * under a precomputed key (2 compressions for a short block) the crossover is near 200 bytes, under a fresh
 * key (4) near 150.
 */
const PORTABLE_KEYED_MAX = 183; // 64 + 183 + 9 bytes: at most 4 blocks, 3 of them the message's
const PORTABLE_ONE_SHOT_MAX = 119; // 2 message blocks, plus the key's 2 and the outer 1

/**
 * HMAC-SHA-256 under a fixed key (a root key, a cached chain tag): the key's inner and outer states computed
 * once (protocol/hmac-sha256.ts), each short message run from them in JS. A long message goes through OpenSSL.
 */
function nodeKeyedHmac(key: Uint8Array): KeyedHmac {
  const state = hmacKeyState(key);
  const secret = Buffer.from(key);
  return (message) => (message.length <= PORTABLE_KEYED_MAX ? hmacWithState(state, message) : createHmac('sha256', secret).update(message).digest());
}

/**
 * The capability chain's primitives for the Node server: OpenSSL for long messages and SHA-256, the portable
 * HMAC for the short messages a chain is made of (see `PORTABLE_KEYED_MAX`), and a constant-time
 * comparison in JS (32 bytes: a native call costs more than the loop).
 */
export const nodeCrypto: CryptoProvider = {
  hmacSha256: (key, message) => (message.length <= PORTABLE_ONE_SHOT_MAX ? portableHmac(key, message) : createHmac('sha256', key).update(message).digest()),
  sha256: oneShot === undefined ? (message) => createHash('sha256').update(message).digest() : (message) => oneShot('sha256', message, 'buffer'),
  timingSafeEqual: constantTimeEqual,
  keyedHmac: nodeKeyedHmac,
};
