import { base64url, calculateJwkThumbprint, exportJWK, generateSecret, type JWK } from 'jose';
import { fail } from './errors.js';

/** A capability root key: its id (travels in every token) and its secret bytes. */
export interface RootKey {
  /** The key id, carried in every token it signs. */
  readonly kid: string;
  /** The HMAC key bytes (32 or more); never leaves the server. */
  readonly secret: Uint8Array;
}

/** Smallest accepted root key: 256 bits, the HMAC-SHA-256 block security level. */
const MIN_KEY_BYTES = 32;

/**
 * The keys a server signs and verifies capabilities with. New capabilities are signed with the current
 * key; tokens signed with any key still in the ring verify, so keys rotate without breaking holders.
 * Keys are symmetric JWKs (`{ kty: "oct", k, kid }`), read and written with `jose`.
 */
export class Keyring {
  /** The key new capabilities are signed with. */
  readonly current: RootKey;
  readonly #byKid: Map<string, RootKey>;

  private constructor(keys: RootKey[], currentKid: string) {
    this.#byKid = new Map(keys.map((k) => [k.kid, k]));
    const current = this.#byKid.get(currentKid);
    if (!current) throw fail('ERR_KEY_INVALID', `current key ${currentKid} is not in the keyring`);
    this.current = current;
  }

  /** The key with this id, or undefined. */
  get(kid: string): RootKey | undefined {
    return this.#byKid.get(kid);
  }

  /** Every key id in the ring. */
  get kids(): string[] {
    return [...this.#byKid.keys()];
  }

  /**
   * A keyring from symmetric JWKs. The first key is current unless `currentKid` says otherwise.
   * A JWK without `kid` gets the first 8 characters of its RFC 7638 thumbprint as id.
   */
  static async fromJwks(jwks: readonly JWK[], currentKid?: string): Promise<Keyring> {
    if (jwks.length === 0) throw fail('ERR_KEY_INVALID', 'a keyring needs at least one key');
    const keys = await Promise.all(jwks.map(rootKeyFromJwk));
    return new Keyring(keys, currentKid ?? keys[0]!.kid);
  }

  /**
   * A new random 256-bit key as a JWK, ready to store. Its `kid` is the first 8 characters (48 bits) of its
   * RFC 7638 thumbprint: the id travels in every token, and a keyring holds a handful of keys, not millions.
   */
  static async generateJwk(): Promise<JWK> {
    const secret = await generateSecret('HS256', { extractable: true });
    const jwk = await exportJWK(secret);
    return { kty: 'oct', k: jwk.k!, kid: await shortThumbprint(jwk.k!) };
  }
}

/** The first 8 characters (48 bits) of a symmetric key's RFC 7638 thumbprint: the default key id. */
async function shortThumbprint(k: string): Promise<string> {
  return (await calculateJwkThumbprint({ kty: 'oct', k })).slice(0, 8);
}

async function rootKeyFromJwk(jwk: JWK): Promise<RootKey> {
  if (jwk.kty !== 'oct' || typeof jwk.k !== 'string') throw fail('ERR_KEY_INVALID');
  let secret: Uint8Array;
  try {
    secret = base64url.decode(jwk.k);
  } catch {
    throw fail('ERR_KEY_INVALID');
  }
  if (secret.length < MIN_KEY_BYTES) throw fail('ERR_KEY_INVALID', `capability keys need at least ${MIN_KEY_BYTES} bytes`);
  const kid = jwk.kid ?? (await shortThumbprint(jwk.k));
  if (kid.length === 0) throw fail('ERR_KEY_INVALID', 'key id must not be empty');
  return { kid, secret };
}
