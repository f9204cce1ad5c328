import { base64url } from 'jose';
import type { CryptoProvider } from '../protocol/crypto.js';
import type { Keyring } from '../protocol/keyring.js';

/**
 * Every principal that anonymous sessions are, and anonymous capabilities are bound to, starts with this.
 * A user id never does: the server refuses a JWT `sub` with a control character (U+0000..U+001F), so no
 * authenticated user can ever be the audience of an anonymous client's capability, nor the reverse.
 */
export const ANONYMOUS_PREFIX = '\u0000anon:';

/** True for the principal of an anonymous client (never a user id). */
export function isAnonymousPrincipal(principal: string): boolean {
  return principal.startsWith(ANONYMOUS_PREFIX);
}

/** A fresh anonymous identity: the principal capabilities are bound to, and the proof the client keeps. */
export interface AnonymousIdentity {
  /** `ANONYMOUS_PREFIX` + the random id: the audience of this client's capabilities. */
  readonly principal: string;
  /** What hello carries and a resume re-presents: `id.mac.kid` (SPEC section 7.1). */
  readonly proof: string;
}

// Domain separation: these MACs are over this label and an id, never over msgpack block bytes (a capability
// chain's), so a proof can never be mistaken for a chain tag or the reverse.
const LABEL = new TextEncoder().encode('capsync anonymous identity\u0000');
const ID_BYTES = 16;
const MAX_PROOF_LENGTH = 512;

/**
 * Gives each anonymous session a per-client identity, and checks the proof a reconnecting client presents.
 * The proof is `base64url(id) "." base64url(HMAC-SHA-256(root key, label || id)) "." kid`, under the
 * capability keyring, so it survives restarts and rotates with the keys; a client cannot make one for an
 * id it was not given.
 */
export class AnonymousIdentities {
  readonly #keyring: Keyring;
  readonly #crypto: CryptoProvider;

  constructor(keyring: Keyring, crypto: CryptoProvider) {
    this.#keyring = keyring;
    this.#crypto = crypto;
  }

  /** A new identity for an anonymous session. */
  issue(): AnonymousIdentity {
    const id = base64url.encode(globalThis.crypto.getRandomValues(new Uint8Array(ID_BYTES)));
    const key = this.#keyring.current;
    return { principal: ANONYMOUS_PREFIX + id, proof: `${id}.${this.#mac(key.secret, id)}.${key.kid}` };
  }

  /** The principal a proof names, or undefined if it is not one this server made (or its key is gone). */
  verify(proof: unknown): string | undefined {
    if (typeof proof !== 'string' || proof.length > MAX_PROOF_LENGTH) return undefined;
    const first = proof.indexOf('.');
    const second = proof.indexOf('.', first + 1);
    if (first <= 0 || second <= first) return undefined;
    const id = proof.slice(0, first);
    const key = this.#keyring.get(proof.slice(second + 1));
    if (key === undefined || !/^[A-Za-z0-9_-]{22}$/.test(id)) return undefined;
    const expected = new TextEncoder().encode(this.#mac(key.secret, id));
    const given = new TextEncoder().encode(proof.slice(first + 1, second));
    return this.#crypto.timingSafeEqual(expected, given) ? ANONYMOUS_PREFIX + id : undefined;
  }

  #mac(secret: Uint8Array, id: string): string {
    const idBytes = new TextEncoder().encode(id);
    const message = new Uint8Array(LABEL.length + idBytes.length);
    message.set(LABEL);
    message.set(idBytes, LABEL.length);
    return base64url.encode(this.#crypto.hmacSha256(secret, message));
  }
}
