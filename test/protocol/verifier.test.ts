import { createHash, createHmac } from 'node:crypto';
import { Unpackr } from 'msgpackr';
import { base64url } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  ANY,
  Capability,
  CapabilityVerifier,
  Keyring,
  MemoryRevocationSet,
  revocationId,
  unwrapCapability,
  type RevocationEntry,
} from '../../protocol/index.js';
import { FIXED_KEY, OTHER_KEY, codeOf, fixedKeyring, jwkOf, makeVerifier } from './helpers.js';

const raw = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** The token's parts, read with a plain msgpack decoder: [version, kid, blocks, tag]. */
function parts(token: Uint8Array): { version: number; kid: string; blocks: Uint8Array[]; tag: Uint8Array } {
  const [version, kid, blocks, tag] = raw.unpack(token) as [number, string, Uint8Array[], Uint8Array];
  return { version, kid, blocks, tag };
}

async function revoke(verifier: CapabilityVerifier, cap: Capability): Promise<void> {
  await verifier.revocations.add([{ id: cap.revocationId!, expiresAt: null }]);
}

describe('the HMAC chain', () => {
  it('is tag0 = HMAC(root key, block0), tagN = HMAC(tagN-1, blockN), and only the last tag travels', async () => {
    const { verifier } = await makeVerifier();
    const token = verifier.mint(['youtube_videos']).narrow(['dQw4w9WgXcQ']).narrow(['update'], { audience: 'alice' }).toToken();
    const { version, kid, blocks, tag } = parts(token);
    expect(version).toBe(1);
    expect(kid).toBe('k1');
    expect(blocks).toHaveLength(3);
    let expected: Uint8Array = FIXED_KEY;
    for (const block of blocks) expected = createHmac('sha256', expected).update(block).digest();
    expect(Buffer.from(tag).equals(Buffer.from(expected))).toBe(true);
    expect(blocks.map((b) => raw.unpack(b))).toEqual([
      // every block carries a random 16-byte nonce, so equal scopes never share a tag
      [['youtube_videos'], null, null, expect.any(Uint8Array)],
      [['dQw4w9WgXcQ'], null, null, expect.any(Uint8Array)],
      [['update'], null, 'alice', expect.any(Uint8Array)],
    ]);
  });

  it('mints every capability with its own nonce, so equal scopes never share a tag or a revocation id', async () => {
    const { verifier } = await makeVerifier();
    const a = verifier.mint(['doc']);
    const b = verifier.mint(['doc']);
    expect(a.scope).toEqual(b.scope);
    expect(a.revocationId).not.toBe(b.revocationId);
    expect((raw.unpack(parts(a.toToken()).blocks[0]!) as unknown[])[3]).toHaveLength(16);
  });

  it('gives each step a revocation id: the first 16 bytes of SHA-256(tag), base64url', async () => {
    const { verifier } = await makeVerifier();
    const parent = verifier.mint(['doc']);
    const child = parent.narrow(['x']);
    const tag0 = createHmac('sha256', FIXED_KEY).update(parts(parent.toToken()).blocks[0]!).digest();
    expect(parent.revocationId).toBe(base64url.encode(createHash('sha256').update(tag0).digest().subarray(0, 16)));
    expect(revocationId(parts(child.toToken()).tag)).toBe(child.revocationId);
    expect(child.revocationId).not.toBe(parent.revocationId);
    expect(parent.revocationId).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});

describe('key rotation', () => {
  it('signs with the current key and still verifies tokens signed with an older key in the ring', async () => {
    const old = new CapabilityVerifier({ keyring: await fixedKeyring('k1') });
    const oldToken = old.mint(['doc']).toToken();
    const rotated = new CapabilityVerifier({ keyring: await Keyring.fromJwks([jwkOf(OTHER_KEY, 'k2'), jwkOf(FIXED_KEY, 'k1')]) });
    expect(rotated.keyring.current.kid).toBe('k2');
    expect(parts(rotated.mint(['doc']).toToken()).kid).toBe('k2');
    expect(unwrapCapability(rotated.decode(oldToken, null), ['doc'])).toEqual(['doc']);
  });

  it('refuses a token whose key left the ring with ERR_CAPABILITY_UNKNOWN_KEY', async () => {
    const old = new CapabilityVerifier({ keyring: await fixedKeyring('k1') });
    const oldToken = old.mint(['doc']).toToken();
    const retired = new CapabilityVerifier({ keyring: await Keyring.fromJwks([jwkOf(OTHER_KEY, 'k2')]) });
    expect(codeOf(() => unwrapCapability(retired.decode(oldToken, null), ['doc']))).toBe('ERR_CAPABILITY_UNKNOWN_KEY');
  });

  it('refuses a token signed with another secret under a known key id with ERR_CAPABILITY_BAD_SIGNATURE', async () => {
    const impostor = new CapabilityVerifier({ keyring: await fixedKeyring('k1', OTHER_KEY) });
    const { verifier } = await makeVerifier();
    expect(codeOf(() => unwrapCapability(verifier.decode(impostor.mint(['doc']).toToken(), null), ['doc']))).toBe('ERR_CAPABILITY_BAD_SIGNATURE');
  });

  it('lets currentKid choose the signing key', async () => {
    const keyring = await Keyring.fromJwks([jwkOf(FIXED_KEY, 'k1'), jwkOf(OTHER_KEY, 'k2')], 'k2');
    expect(keyring.current.kid).toBe('k2');
    expect(keyring.kids).toEqual(['k1', 'k2']);
    expect(keyring.get('nope')).toBeUndefined();
  });

  it('generates 256-bit JWKs whose kid is a short thumbprint, ready for a keyring', async () => {
    const jwk = await Keyring.generateJwk();
    expect(jwk.kty).toBe('oct');
    expect(base64url.decode(jwk.k!)).toHaveLength(32);
    const keyring = await Keyring.fromJwks([jwk]);
    expect(keyring.current.kid).toBe(jwk.kid);
    expect(jwk.kid).toMatch(/^[A-Za-z0-9_-]{8}$/);
    const { kid, ...withoutKid } = jwk;
    expect((await Keyring.fromJwks([withoutKid])).current.kid).toBe(kid);
  });

  it.each([
    ['an empty ring', []],
    ['a key shorter than 32 bytes', [jwkOf(new Uint8Array(31), 'short')]],
    ['an asymmetric key', [{ kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA', kid: 'ec' }]],
    ['a key without k', [{ kty: 'oct', kid: 'x' }]],
    ['an empty kid', [jwkOf(FIXED_KEY, '')]],
  ])('refuses %s with ERR_KEY_INVALID', async (_, jwks) => {
    await expect(Keyring.fromJwks(jwks as never)).rejects.toMatchObject({ code: 'ERR_KEY_INVALID' });
  });

  it('refuses a current kid that is not in the ring with ERR_KEY_INVALID', async () => {
    await expect(Keyring.fromJwks([jwkOf(FIXED_KEY, 'k1')], 'k9')).rejects.toMatchObject({ code: 'ERR_KEY_INVALID' });
  });
});

describe('revocation', () => {
  it('revokes a step and everything narrowed from it, never the broader parent', async () => {
    const { verifier } = await makeVerifier();
    const parent = verifier.mint(['youtube_videos', 'x']);
    const child = parent.narrow(['update']);
    const grandchild = child.narrow([], { audience: 'alice' });
    const sibling = parent.narrow(['play']);
    await revoke(verifier, child);
    const use = (cap: Capability, user: string | null = 'alice') => () => unwrapCapability(verifier.decode(cap.toToken(), user), [ANY, ANY, ANY]);
    expect(use(parent)()).toEqual(['youtube_videos', 'x', null]);
    expect(use(sibling)()).toEqual(['youtube_videos', 'x', 'play']);
    expect(codeOf(use(child))).toBe('ERR_CAPABILITY_REVOKED');
    expect(codeOf(use(grandchild))).toBe('ERR_CAPABILITY_REVOKED');
  });

  it('revoking the minted capability revokes every narrowing of it', async () => {
    const { verifier } = await makeVerifier();
    const parent = verifier.mint(['doc']);
    const descendants = [parent.narrow(['a']), parent.narrow(['a']).narrow(['b']), parent.narrow([], { audience: 'alice' })];
    await revoke(verifier, parent);
    for (const cap of [parent, ...descendants]) {
      expect(codeOf(() => unwrapCapability(verifier.decode(cap.toToken(), 'alice'), [ANY, ANY, ANY]))).toBe('ERR_CAPABILITY_REVOKED');
    }
  });

  it('applies at once to capabilities already decoded and held by server code', async () => {
    const { verifier } = await makeVerifier();
    const held = verifier.decode(verifier.mint(['doc']).toToken(), null);
    const narrowedByServer = held.narrow(['x']);
    expect(unwrapCapability(held, ['doc'])).toEqual(['doc']);
    await revoke(verifier, held);
    expect(codeOf(() => unwrapCapability(held, ['doc']))).toBe('ERR_CAPABILITY_REVOKED');
    expect(codeOf(() => unwrapCapability(narrowedByServer, ['doc', 'x']))).toBe('ERR_CAPABILITY_REVOKED');
  });
});

describe('the verified-capability cache', () => {
  it('still applies a revocation made after the token was cached', async () => {
    const { verifier } = await makeVerifier({ cacheSize: 100 });
    const cap = verifier.mint(['doc']).narrow(['x']);
    const token = cap.toToken();
    expect(unwrapCapability(verifier.decode(token, null), ['doc', 'x'])).toEqual(['doc', 'x']);
    await revoke(verifier, cap);
    expect(codeOf(() => unwrapCapability(verifier.decode(token, null), ['doc', 'x']))).toBe('ERR_CAPABILITY_REVOKED');
  });

  it('still applies expiry at once after the token was cached', async () => {
    const { verifier, clock } = await makeVerifier({ cacheSize: 100 });
    const token = verifier.mint(['doc'], { expiresAt: clock.now + 10 }).toToken();
    const held = verifier.decode(token, null);
    expect(unwrapCapability(held, ['doc'])).toEqual(['doc']);
    clock.now += 11;
    expect(codeOf(() => unwrapCapability(verifier.decode(token, null), ['doc']))).toBe('ERR_CAPABILITY_EXPIRED');
    expect(codeOf(() => unwrapCapability(held, ['doc']))).toBe('ERR_CAPABILITY_EXPIRED');
  });

  it('checks the audience on every decode, cached or not', async () => {
    const { verifier } = await makeVerifier({ cacheSize: 100 });
    const token = verifier.mint(['doc'], { audience: 'alice' }).toToken();
    expect(unwrapCapability(verifier.decode(token, 'alice'), ['doc'])).toEqual(['doc']);
    expect(codeOf(() => unwrapCapability(verifier.decode(token, 'bob'), ['doc']))).toBe('ERR_CAPABILITY_AUDIENCE');
    expect(unwrapCapability(verifier.decode(token, 'alice'), ['doc'])).toEqual(['doc']);
  });

  it('never serves a token that shares a cached tag but differs elsewhere', async () => {
    const { verifier } = await makeVerifier({ cacheSize: 100 });
    const token = verifier.mint(['doc', 'aaaa']).toToken();
    verifier.decode(token, null);
    const tampered = new Uint8Array(token);
    const at = Buffer.from(tampered).indexOf('aaaa');
    tampered[at] = 'b'.charCodeAt(0);
    expect(codeOf(() => unwrapCapability(verifier.decode(tampered, null), ['doc', 'baaa']))).toBe('ERR_CAPABILITY_BAD_SIGNATURE');
    expect(unwrapCapability(verifier.decode(token, null), ['doc', 'aaaa'])).toEqual(['doc', 'aaaa']);
  });

  it('keeps its own copy of a token, unaffected when the caller reuses its buffer', async () => {
    const { verifier } = await makeVerifier({ cacheSize: 100 });
    const token = verifier.mint(['doc']).toToken();
    const buffer = new Uint8Array(token);
    const cap = verifier.decode(buffer, null);
    buffer.fill(0);
    expect(Buffer.from(cap.toToken()).equals(Buffer.from(token))).toBe(true);
    expect(unwrapCapability(verifier.decode(token, null), ['doc'])).toEqual(['doc']);
  });

  it('verifies the same with the cache disabled', async () => {
    const { verifier, clock } = await makeVerifier({ cacheSize: 0 });
    const token = verifier.mint(['doc'], { expiresAt: clock.now + 1 }).toToken();
    expect(unwrapCapability(verifier.decode(token, null), ['doc'])).toEqual(['doc']);
    expect(unwrapCapability(verifier.decode(token, null), ['doc'])).toEqual(['doc']);
    clock.now += 2;
    expect(codeOf(() => unwrapCapability(verifier.decode(token, null), ['doc']))).toBe('ERR_CAPABILITY_EXPIRED');
  });
});

describe('MemoryRevocationSet', () => {
  it('tells subscribers about new ids only, once each', async () => {
    const set = new MemoryRevocationSet();
    const heard: RevocationEntry[][] = [];
    const unsubscribe = set.subscribe((entries) => heard.push([...entries]));
    await set.add([{ id: 'a', expiresAt: null }, { id: 'b', expiresAt: 10 }]);
    await set.add([{ id: 'a', expiresAt: null }]);
    unsubscribe();
    await set.add([{ id: 'c', expiresAt: null }]);
    expect(heard).toEqual([[{ id: 'a', expiresAt: null }, { id: 'b', expiresAt: 10 }]]);
    expect(set.has('c')).toBe(true);
    expect(set.size).toBe(3);
  });

  it('prunes entries whose capability has expired anyway', async () => {
    const set = new MemoryRevocationSet();
    await set.add([{ id: 'forever', expiresAt: null }, { id: 'soon', expiresAt: 10 }, { id: 'later', expiresAt: 100 }]);
    expect(await set.prune(50)).toBe(1);
    expect([set.has('forever'), set.has('soon'), set.has('later')]).toEqual([true, false, true]);
  });
});

describe('one scope list per distinct scope', () => {
  it('gives capabilities of equal scopes, minted apart or verified cold, one shared frozen list, and never a wrong one', async () => {
    const { verifier } = await makeVerifier();
    const { verifier: other } = await makeVerifier();
    // Ids as a store hands them out: equal strings, not the same string.
    const id = (): string => ['vid', 'eo-1'].join('');
    const a = verifier.mint(['youtube_videos', id(), 'update']);
    const b = verifier.mint(['youtube_videos', id(), 'update']);
    expect(b.scope).toBe(a.scope);
    expect(Object.isFrozen(a.scope)).toBe(true);
    // Signed when sent (server code's `new Capability`): the same list.
    const local = new Capability(['youtube_videos', id(), 'update']);
    verifier.signedToken(local);
    expect(local.scope).toBe(a.scope);
    // A copy verified cold by another verifier of the same key takes that verifier's list for it.
    const first = other.decode(a.toToken(), null);
    const second = other.decode(b.toToken(), null);
    expect(second.scope).toBe(first.scope);
    expect(unwrapCapability(second, ['youtube_videos', ANY, 'update'])).toEqual(['youtube_videos', 'video-1', 'update']);
    // Scopes that differ in a value, a type, an order or a sign of zero keep lists of their own.
    for (const scope of [['youtube_videos', 'video-2', 'update'], ['youtube_videos', 'video-1'], ['update', 'video-1', 'youtube_videos'], ['n', 1], ['n', '1'], ['z', 0], ['z', -0], ['t', true], ['t', null]]) {
      const cap = verifier.mint(scope);
      expect(cap.scope).toEqual(scope);
      expect(Object.is(cap.scope[1], scope[1])).toBe(true);
    }
    expect(verifier.mint(['z', -0]).scope).not.toBe(verifier.mint(['z', 0]).scope);
    // A scope holding a map is never shared, and stays deeply frozen.
    const withMap = verifier.mint(['docs', { a: 1 }]);
    expect(verifier.mint(['docs', { a: 1 }]).scope).not.toBe(withMap.scope);
    expect(Object.isFrozen(withMap.scope[1])).toBe(true);
  });
});
