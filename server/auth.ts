import { createHash } from 'node:crypto';
import { SignJWT, createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import { CapsyncError, fail } from '../protocol/errors.js';
import { verifyHs256 } from './auth-hs256.js';

/** The authenticated caller, as every server function sees it (Anvil's `anvil.users.get_user()`). */
export interface User {
  /** The user id: the JWT's `sub`. */
  readonly id: string;
  /** The user's roles: the JWT's `roles` claim (empty when absent). */
  readonly roles: readonly string[];
}

/** How connections authenticate: a JWT (HS256 shared secret, or a JWKS) presented at the WebSocket upgrade. */
export interface AuthOptions {
  /** Shared secret for HS256 JWTs (at least 32 bytes). */
  readonly secret?: string;
  /** A JWKS document (asymmetric keys) for verifying JWTs. */
  readonly jwks?: JSONWebKeySet;
  /** A JWKS URL (fetched and cached by jose). */
  readonly jwksUrl?: string;
  /** When set, a JWT must carry this `iss`. */
  readonly issuer?: string;
  /** When set, a JWT must carry this `aud`. */
  readonly audience?: string;
  /** Accept connections without a token; their user is null. Default false. */
  readonly allowAnonymous?: boolean;
  /** Seconds of clock tolerance for `exp`/`nbf`. Default 5. */
  readonly clockToleranceSeconds?: number;
  /**
   * Accept JWTs without an `exp` claim; their sessions never expire. Default false: such a token is refused
   * with `ERR_AUTH_INVALID`, since a leaked one would work forever.
   */
  readonly allowTokensWithoutExpiry?: boolean;
  /**
   * How many verified JWTs are remembered (keyed by a SHA-256 of the token string, each until its `exp`), so a
   * client that reconnects with the same token is not verified again. Default 10,000; 0 turns it off.
   */
  readonly verifiedCacheSize?: number;
}

/** The outcome of authenticating a token. */
export interface Authenticated {
  /** The user, or null for an anonymous session. */
  readonly user: User | null;
  /** When the JWT expires (ms since epoch), or null for anonymous sessions (and tokens without `exp`, where allowed). */
  readonly expiresAt: number | null;
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f]/;

/**
 * Verifies JWTs with jose: HS256 with a shared secret, or the algorithms of a JWKS's keys. The `sub` claim
 * (1-256 characters, no control character: those name anonymous clients, see server/identity.ts) is the user id, the `roles` claim (a list; non-strings ignored) the roles, and `exp` is
 * required unless `allowTokensWithoutExpiry`. Configuration mistakes (a short secret, a JWKS URL that is
 * not http(s)) throw `ERR_KEY_INVALID` at construction, with a message that says what to fix.
 */
export class Authenticator {
  /** Whether connections without a token are accepted (`auth.allowAnonymous`). */
  readonly allowAnonymous: boolean;
  readonly #options: AuthOptions;
  readonly #secret: Uint8Array | undefined;
  readonly #keys: JWTVerifyGetKey | undefined;
  /** Verified tokens by the SHA-256 of their string (its bytes as one-byte characters); never a refused one. */
  readonly #verified: LRUCache<string, Authenticated> | undefined;

  constructor(options: AuthOptions) {
    this.#options = options;
    this.allowAnonymous = options.allowAnonymous ?? false;
    if (options.secret !== undefined) {
      this.#secret = new TextEncoder().encode(options.secret);
      if (this.#secret.length < 32) throw fail('ERR_KEY_INVALID', `the JWT secret needs at least 32 bytes (it has ${this.#secret.length})`);
    }
    if (options.jwks) this.#keys = createLocalJWKSet(options.jwks);
    else if (options.jwksUrl !== undefined) this.#keys = createRemoteJWKSet(jwksLocation(options.jwksUrl));
    const size = options.verifiedCacheSize ?? 10_000;
    this.#verified = size > 0 ? new LRUCache({ max: size }) : undefined;
  }

  /** Authenticates a bearer token (or its absence). Throws `ERR_AUTH_REQUIRED`, `ERR_AUTH_INVALID` or `ERR_AUTH_EXPIRED`. */
  async authenticate(token: string | undefined): Promise<Authenticated> {
    if (token === undefined || token === '') {
      if (this.allowAnonymous) return { user: null, expiresAt: null };
      throw fail('ERR_AUTH_REQUIRED');
    }
    if (this.#verified === undefined) return this.#verify(token);
    // Its 32 bytes as a one-byte string: 48 bytes of heap per cached token, where base64url took 64.
    const hash = createHash('sha256').update(token).digest('binary');
    const cached = this.#verified.get(hash);
    if (cached !== undefined) {
      // exp is honoured as jose would: past it (and the tolerance), the token is expired, cached or not.
      if (cached.expiresAt === null || Date.now() < cached.expiresAt + this.#toleranceMs) return cached;
      this.#verified.delete(hash);
      throw fail('ERR_AUTH_EXPIRED');
    }
    const verified = await this.#verify(token);
    this.#verified.set(hash, verified);
    return verified;
  }

  get #toleranceMs(): number {
    return (this.#options.clockToleranceSeconds ?? 5) * 1000;
  }

  async #verify(token: string): Promise<Authenticated> {
    const verifyOptions = {
      issuer: this.#options.issuer,
      audience: this.#options.audience,
      clockTolerance: this.#options.clockToleranceSeconds ?? 5,
    };
    let payload;
    try {
      // HS256 by node:crypto, synchronously (jose's rules, see auth-hs256.ts); a JWKS through jose.
      if (this.#secret) payload = verifyHs256(token, this.#secret, verifyOptions);
      else if (this.#keys) ({ payload } = await jwtVerify(token, this.#keys, verifyOptions));
      else throw fail('ERR_AUTH_INVALID', 'no JWT verification key is configured');
    } catch (error) {
      if (error instanceof errors.JWTExpired || (error instanceof CapsyncError && error.code === 'ERR_AUTH_EXPIRED')) throw fail('ERR_AUTH_EXPIRED');
      throw fail('ERR_AUTH_INVALID');
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 256) throw fail('ERR_AUTH_INVALID', 'token has no subject');
    // Control characters are the anonymous identities' namespace: no user id may collide with one.
    if (CONTROL.test(payload.sub)) throw fail('ERR_AUTH_INVALID', 'token subject holds a control character');
    if (typeof payload.exp !== 'number' && !this.#options.allowTokensWithoutExpiry) throw fail('ERR_AUTH_INVALID', 'token has no expiry (exp)');
    const roles = Array.isArray(payload['roles']) ? payload['roles'].filter((r): r is string => typeof r === 'string') : [];
    const user = Object.freeze({ id: payload.sub, roles: roles.length === 0 ? noRoles : Object.freeze(roles) });
    return Object.freeze({ user, expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null });
  }

  /** Issues an HS256 JWT (development logins and tests). Needs `secret`. */
  async issue(user: User, expiresInSeconds = 3600): Promise<string> {
    if (!this.#secret) throw fail('ERR_KEY_INVALID', 'issuing tokens needs a shared secret');
    let jwt = new SignJWT({ roles: [...user.roles] })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(user.id)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + expiresInSeconds);
    if (this.#options.issuer) jwt = jwt.setIssuer(this.#options.issuer);
    if (this.#options.audience) jwt = jwt.setAudience(this.#options.audience);
    return jwt.sign(this.#secret);
  }
}

function jwksLocation(text: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    throw fail('ERR_KEY_INVALID', `the JWKS URL ${JSON.stringify(text)} is not an http(s) URL`);
  }
  return url;
}

/** The roles of every user without any: one frozen array, not one per session. */
const noRoles: readonly string[] = Object.freeze([]);
