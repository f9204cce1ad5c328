import { createHmac } from 'node:crypto';
import { SignJWT, errors, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { verifyHs256 } from '../../server/auth-hs256.js';
import { Authenticator } from '../../server/index.js';

const secretText = 'a-test-secret-that-is-long-enough-0123456789';
const secret = new TextEncoder().encode(secretText);
const other = new TextEncoder().encode('another-secret-that-is-long-enough-98765');
const now = Math.floor(Date.now() / 1000);
const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
/** A token with any header and payload, signed with `key` (or a given signature). */
const raw = (header: unknown, payload: unknown, key: Uint8Array = secret, signature?: string): string => {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${signature ?? createHmac('sha256', key).update(input).digest('base64url')}`;
};
const hs = { alg: 'HS256', typ: 'JWT' };
const good = { sub: 'ada', exp: now + 600 };

/** Hostile and odd tokens: jose and verifyHs256 must agree on each (accepted, expired or invalid). */
const cases: [string, string][] = [
  ['a good token', raw(hs, good)],
  ['no typ', raw({ alg: 'HS256' }, good)],
  ['alg none', raw({ alg: 'none' }, good, secret, '')],
  ['alg none with a signature', raw({ alg: 'none' }, good)],
  ['alg HS512 signed with SHA-256', raw({ alg: 'HS512' }, good)],
  ['alg RS256', raw({ alg: 'RS256' }, good)],
  ['another key', raw(hs, good, other)],
  ['a truncated signature', raw(hs, good).slice(0, -2)],
  ['an empty signature', raw(hs, good, secret, '')],
  ['a signature with padding', raw(hs, good) + '='],
  ['a payload changed after signing', (() => { const [h, , s] = raw(hs, good).split('.'); return `${h}.${b64({ ...good, sub: 'root' })}.${s}`; })()],
  ['a header changed after signing', (() => { const [, p, s] = raw(hs, good).split('.'); return `${b64({ alg: 'HS256', kid: 'x' })}.${p}.${s}`; })()],
  ['crit b64 false', raw({ alg: 'HS256', crit: ['b64'], b64: false }, good)],
  ['crit unknown', raw({ alg: 'HS256', crit: ['x-capsync'], 'x-capsync': 1 }, good)],
  ['a header that is not JSON', raw('{"alg":"HS256"', good)],
  ['a header that is an array', raw(['HS256'], good)],
  ['a payload that is not JSON', raw(hs, 'not json')],
  ['a payload that is a string', raw(hs, 'ada')],
  ['a payload that is null', raw(hs, null)],
  ['expired', raw(hs, { sub: 'ada', exp: now - 60 })],
  ['expired within the tolerance', raw(hs, { sub: 'ada', exp: now - 2 })],
  ['exp as a string', raw(hs, { sub: 'ada', exp: String(now + 600) })],
  ['nbf in the future', raw(hs, { ...good, nbf: now + 60 })],
  ['nbf within the tolerance', raw(hs, { ...good, nbf: now + 2 })],
  ['nbf as a string', raw(hs, { ...good, nbf: 'soon' })],
  ['iat as a string', raw(hs, { ...good, iat: 'now' })],
  ['two segments', raw(hs, good).split('.').slice(0, 2).join('.')],
  ['four segments', raw(hs, good) + '.x'],
  ['characters outside base64url', raw(hs, good).replace('.', '.+')],
  ['empty', '..'],
];

const viaJose = async (token: string, options: { issuer?: string; audience?: string } = {}): Promise<string> => {
  try {
    await jwtVerify(token, secret, { algorithms: ['HS256'], clockTolerance: 5, ...options });
    return 'ok';
  } catch (error) {
    return error instanceof errors.JWTExpired ? 'ERR_AUTH_EXPIRED' : 'ERR_AUTH_INVALID';
  }
};
const viaNode = (token: string, options: { issuer?: string; audience?: string } = {}): string => {
  try {
    verifyHs256(token, secret, { clockTolerance: 5, ...options });
    return 'ok';
  } catch (error) {
    return (error as { code: string }).code;
  }
};

describe('HS256 verification by node:crypto', () => {
  it.each(cases)('agrees with jose: %s', async (_name, token) => {
    expect(viaNode(token)).toBe(await viaJose(token));
  });

  it('accepts the good tokens and refuses the forged ones (the agreement is not vacuous)', () => {
    expect(viaNode(cases[0]![1])).toBe('ok');
    expect(cases.map(([, t]) => viaNode(t)).filter((r) => r === 'ok')).toHaveLength(5);
  });

  it.each([
    ['the issuer asked for', { iss: 'capsync' }, { issuer: 'capsync' }],
    ['another issuer', { iss: 'evil' }, { issuer: 'capsync' }],
    ['no issuer', {}, { issuer: 'capsync' }],
    ['the audience', { aud: 'app' }, { audience: 'app' }],
    ['the audience in a list', { aud: ['x', 'app'] }, { audience: 'app' }],
    ['another audience', { aud: ['x'] }, { audience: 'app' }],
  ])('agrees with jose on %s', async (_name, claims, options) => {
    const token = raw(hs, { ...good, ...claims });
    expect(viaNode(token, options)).toBe(await viaJose(token, options));
  });
});

describe('Authenticator: verified tokens are cached', () => {
  it('answers a cached token as before and still refuses it once it expired', async () => {
    let clock = Date.now();
    const realNow = Date.now;
    const auth = new Authenticator({ secret: secretText, clockToleranceSeconds: 0 });
    const token = await new SignJWT({ roles: ['editor'] }).setProtectedHeader({ alg: 'HS256' }).setSubject('ada').setExpirationTime(Math.floor(clock / 1000) + 2).sign(secret);
    const first = await auth.authenticate(token);
    expect(first.user).toEqual({ id: 'ada', roles: ['editor'] });
    expect(await auth.authenticate(token)).toBe(first);
    Date.now = () => clock;
    try {
      clock += 3000;
      await expect(auth.authenticate(token)).rejects.toMatchObject({ code: 'ERR_AUTH_EXPIRED' });
    } finally {
      Date.now = realNow;
    }
  });

  it('never caches a refusal, and a forged token is refused although a valid one with the same claims is cached', async () => {
    const auth = new Authenticator({ secret: secretText });
    const token = raw(hs, good);
    await auth.authenticate(token);
    const forged = raw(hs, good, other);
    await expect(auth.authenticate(forged)).rejects.toMatchObject({ code: 'ERR_AUTH_INVALID' });
    await expect(auth.authenticate(forged)).rejects.toMatchObject({ code: 'ERR_AUTH_INVALID' });
    const flipped = token.slice(0, -10) + (token.at(-10) === 'A' ? 'B' : 'A') + token.slice(-9);
    await expect(auth.authenticate(flipped)).rejects.toMatchObject({ code: 'ERR_AUTH_INVALID' });
  });

  it('is bounded: past its size the oldest token is verified again', async () => {
    const auth = new Authenticator({ secret: secretText, verifiedCacheSize: 2 });
    const tokens = ['a', 'b', 'c'].map((sub) => raw(hs, { sub, exp: now + 600 }));
    const results = [];
    for (const t of tokens) results.push(await auth.authenticate(t));
    expect(await auth.authenticate(tokens[2]!)).toBe(results[2]);
    const again = await auth.authenticate(tokens[0]!);
    expect(again).not.toBe(results[0]);
    expect(again).toEqual(results[0]);
  });
});
