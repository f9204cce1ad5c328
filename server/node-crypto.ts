import * as crypto from 'node:crypto';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { CryptoProvider, KeyedHmac } from '../protocol/crypto.js';

// One-shot `crypto.hash` (Node 20.12+): no Hash object per digest, which is most of what a short digest costs.
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'buffer') => Buffer }).hash;

/**
 * HMAC-SHA-256 under a fixed key (a root key) from `node:crypto`. An OpenSSL Hmac cannot be cloned, and a
 * cloned Hash (`createHash().copy()`) costs more than a fresh Hmac: what a short HMAC costs in Node is the
 * objects, not the compressions. So the key's inner and outer pads are computed once and each message is two
 * one-shot digests, H(opad || H(ipad || message)), with no object made per call.
 */
function nodeKeyedHmac(key: Uint8Array): KeyedHmac {
  const secret = Buffer.from(key);
  if (oneShot === undefined) return (message) => createHmac('sha256', secret).update(message).digest();
  const hash = oneShot;
  const block = Buffer.alloc(64);
  block.set(key.length > 64 ? hash('sha256', key, 'buffer') : key);
  let inner = Buffer.alloc(64 + 256);
  const outer = Buffer.alloc(64 + 32);
  for (let i = 0; i < 64; i++) {
    inner[i] = block[i]! ^ 0x36;
    outer[i] = block[i]! ^ 0x5c;
  }
  return (message) => {
    if (64 + message.length > inner.length) {
      const larger = Buffer.alloc(64 + message.length);
      inner.copy(larger, 0, 0, 64);
      inner = larger;
    }
    inner.set(message, 64);
    outer.set(hash('sha256', inner.subarray(0, 64 + message.length), 'buffer'), 64);
    return hash('sha256', outer, 'buffer');
  };
}

/** The capability chain's primitives from `node:crypto` (OpenSSL): about twice as fast as the portable default. */
export const nodeCrypto: CryptoProvider = {
  hmacSha256: (key, message) => createHmac('sha256', key).update(message).digest(),
  sha256: oneShot === undefined ? (message) => createHash('sha256').update(message).digest() : (message) => oneShot('sha256', message, 'buffer'),
  timingSafeEqual: (a, b) => a.length === b.length && timingSafeEqual(a, b),
  keyedHmac: nodeKeyedHmac,
};
