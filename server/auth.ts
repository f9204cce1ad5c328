import { SignJWT, createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { fail } from '../protocol/errors.js';

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

  constructor(options: AuthOptions) {
    this.#options = options;
    this.allowAnonymous = options.allowAnonymous ?? false;
    if (options.secret !== undefined) {
      this.#secret = new TextEncoder().encode(options.secret);
      if (this.#secret.length < 32) throw fail('ERR_KEY_INVALID', `the JWT secret needs at least 32 bytes (it has ${this.#secret.length})`);
    }
    if (options.jwks) this.#keys = createLocalJWKSet(options.jwks);
    else if (options.jwksUrl !== undefined) this.#keys = createRemoteJWKSet(jwksLocation(options.jwksUrl));
  }

  /** Authenticates a bearer token (or its absence). Throws `ERR_AUTH_REQUIRED`, `ERR_AUTH_INVALID` or `ERR_AUTH_EXPIRED`. */
  async authenticate(token: string | undefined): Promise<Authenticated> {
    if (token === undefined || token === '') {
      if (this.allowAnonymous) return { user: null, expiresAt: null };
      throw fail('ERR_AUTH_REQUIRED');
    }
    const verifyOptions = {
      issuer: this.#options.issuer,
      audience: this.#options.audience,
      clockTolerance: this.#options.clockToleranceSeconds ?? 5,
    };
    let payload;
    try {
      if (this.#secret) ({ payload } = await jwtVerify(token, this.#secret, { ...verifyOptions, algorithms: ['HS256'] }));
      else if (this.#keys) ({ payload } = await jwtVerify(token, this.#keys, verifyOptions));
      else throw fail('ERR_AUTH_INVALID', 'no JWT verification key is configured');
    } catch (error) {
      if (error instanceof errors.JWTExpired) throw fail('ERR_AUTH_EXPIRED');
      throw fail('ERR_AUTH_INVALID');
    }
    if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 256) throw fail('ERR_AUTH_INVALID', 'token has no subject');
    // Control characters are the anonymous identities' namespace: no user id may collide with one.
    if (CONTROL.test(payload.sub)) throw fail('ERR_AUTH_INVALID', 'token subject holds a control character');
    if (typeof payload.exp !== 'number' && !this.#options.allowTokensWithoutExpiry) throw fail('ERR_AUTH_INVALID', 'token has no expiry (exp)');
    const roles = Array.isArray(payload['roles']) ? payload['roles'].filter((r): r is string => typeof r === 'string') : [];
    return { user: { id: payload.sub, roles }, expiresAt: typeof payload.exp === 'number' ? payload.exp * 1000 : null };
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
