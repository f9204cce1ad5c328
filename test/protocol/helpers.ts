import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { base64url } from 'jose';
import { expect } from 'vitest';
import { CapabilityVerifier, Keyring, type CryptoProvider, type VerifierOptions } from '../../protocol/index.js';

/** A fixed 32-byte root key (0x00..0x1f): the key of protocol/SPEC.md's test vectors. */
export const FIXED_KEY = Uint8Array.from({ length: 32 }, (_, i) => i);

/** A symmetric JWK for `secret` under `kid`. */
export function jwkOf(secret: Uint8Array, kid: string): { kty: 'oct'; k: string; kid: string } {
  return { kty: 'oct', k: base64url.encode(secret), kid };
}

/** A second, unrelated 32-byte key. */
export const OTHER_KEY = Uint8Array.from({ length: 32 }, (_, i) => 0xff - i);

/** A keyring holding only the fixed key, under kid "k1". */
export async function fixedKeyring(kid = 'k1', secret = FIXED_KEY): Promise<Keyring> {
  return Keyring.fromJwks([jwkOf(secret, kid)]);
}

/** A verifier over the fixed key with a clock the test moves by hand. */
export async function makeVerifier(options: Partial<VerifierOptions> = {}): Promise<{ verifier: CapabilityVerifier; clock: { now: number } }> {
  const clock = { now: 1_700_000_000_000 };
  const verifier = new CapabilityVerifier({ keyring: options.keyring ?? (await fixedKeyring()), now: () => clock.now, ...options });
  return { verifier, clock };
}

/** The chain primitives from node:crypto, as the server installs them. */
export const nodeCrypto: CryptoProvider = {
  hmacSha256: (key, message) => createHmac('sha256', key).update(message).digest(),
  sha256: (message) => createHash('sha256').update(message).digest(),
  timingSafeEqual: (a, b) => a.length === b.length && timingSafeEqual(a, b),
};

/** Runs `fn` and returns the `code` of what it threw (failing the test if it did not throw). */
export function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return (error as { code?: string }).code ?? `not a CapsyncError: ${String(error)}`;
  }
  expect.unreachable('expected a CapsyncError');
}

/** Bytes from a hex string with optional spaces. */
export function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

/** Hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** A msgpack ext value of `type` wrapping `payload`, in the smallest ext format that holds it. */
export function ext(type: number, payload: Uint8Array): Uint8Array {
  const t = type & 0xff;
  const n = payload.length;
  const fixed: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 };
  let head: number[];
  if (fixed[n] !== undefined) head = [fixed[n]!, t];
  else if (n < 0x100) head = [0xc7, n, t];
  else if (n < 0x10000) head = [0xc8, n >> 8, n & 0xff, t];
  else head = [0xc9, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff, t];
  return Uint8Array.from([...head, ...payload]);
}

/** A provider that counts its HMAC calls, to see which provider (and how many chain steps) a verification used. */
export function counting(base: CryptoProvider): CryptoProvider & { hmacs: number } {
  const provider = {
    hmacs: 0,
    hmacSha256: (key: Uint8Array, message: Uint8Array) => (provider.hmacs++, base.hmacSha256(key, message)),
    sha256: (message: Uint8Array) => base.sha256(message),
    timingSafeEqual: (a: Uint8Array, b: Uint8Array) => base.timingSafeEqual(a, b),
  };
  return provider;
}
