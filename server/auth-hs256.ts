import { createHmac, timingSafeEqual } from 'node:crypto';
import { fail } from '../protocol/errors.js';

/** What {@link verifyHs256} checks besides the signature, as jose's `jwtVerify` options name them. */
export interface Hs256Checks {
  readonly issuer?: string | undefined;
  readonly audience?: string | undefined;
  /** Seconds. */
  readonly clockTolerance: number;
}

const SEGMENT = /^[A-Za-z0-9_-]*={0,2}$/;

/**
 * Verifies a compact HS256 JWS JWT with node:crypto, synchronously: jose verifies HMACs through WebCrypto,
 * whose promise job costs far more than the HMAC (the resume herd profile showed it as a quarter of the
 * server's CPU per resume). Same rules as jose's `jwtVerify(token, secret, { algorithms: ['HS256'], issuer,
 * audience, clockTolerance })`, which `test/server/auth-hs256.test.ts` checks token by token: the header must
 * be JSON with `alg: "HS256"` and no `crit` (jose would refuse every extension capsync knows none of); the signature is compared in constant time;
 * the payload must be a JSON object; `exp`, `nbf` and `iat` must be numbers when present; `exp` (with the
 * tolerance) must be in the future and `nbf` not; `iss` and `aud` must match when asked for.
 *
 * Returns the payload; throws `ERR_AUTH_EXPIRED` for an expired token and `ERR_AUTH_INVALID` for anything else.
 */
export function verifyHs256(token: string, secret: Uint8Array, checks: Hs256Checks, now = Date.now()): Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p)) || parts[0] === '' || parts[1] === '') throw fail('ERR_AUTH_INVALID');
  const [head, body, signature] = parts as [string, string, string];
  const header = json(head);
  if (header['alg'] !== 'HS256' || 'crit' in header) throw fail('ERR_AUTH_INVALID');
  const expected = createHmac('sha256', secret).update(`${head}.${body}`).digest();
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw fail('ERR_AUTH_INVALID');
  const payload = json(body);
  const seconds = Math.floor(now / 1000);
  for (const claim of ['exp', 'nbf', 'iat'] as const) {
    if (claim in payload && (typeof payload[claim] !== 'number' || !Number.isFinite(payload[claim]))) throw fail('ERR_AUTH_INVALID');
  }
  if (checks.issuer !== undefined && payload['iss'] !== checks.issuer) throw fail('ERR_AUTH_INVALID');
  if (checks.audience !== undefined) {
    const aud = payload['aud'];
    if (!(aud === checks.audience || (Array.isArray(aud) && aud.includes(checks.audience)))) throw fail('ERR_AUTH_INVALID');
  }
  if (typeof payload['nbf'] === 'number' && payload['nbf'] > seconds + checks.clockTolerance) throw fail('ERR_AUTH_INVALID');
  if (typeof payload['exp'] === 'number' && payload['exp'] <= seconds - checks.clockTolerance) throw fail('ERR_AUTH_EXPIRED');
  return payload;
}

function json(segment: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    throw fail('ERR_AUTH_INVALID');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail('ERR_AUTH_INVALID');
  return value as Record<string, unknown>;
}
