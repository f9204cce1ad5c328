import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Capability, Codec, CapsyncError, nobleCrypto, unwrapCapability } from '../../protocol/index.js';
import { codeOf, counting, makeVerifier, nodeCrypto, toHex } from './helpers.js';

describe('new Capability(scope)', () => {
  it('keeps a non-empty list of JSON-compatible values as its scope', () => {
    const scope = ['youtube_videos', 42, 1.5, true, null, ['a', 'b'], { id: 'x', nested: { n: [1, { deep: false }] } }];
    expect(new Capability(scope).scope).toEqual(scope);
  });

  it('accepts maps without a prototype', () => {
    const map = Object.assign(Object.create(null) as Record<string, string>, { id: 'x' });
    expect(new Capability(['doc', map]).scope).toEqual(['doc', { id: 'x' }]);
  });

  it.each([
    ['an empty list', []],
    ['a string', 'youtube_videos'],
    ['null', null],
    ['undefined', [undefined]],
    ['NaN', [NaN]],
    ['Infinity', [Infinity]],
    ['a bigint', [1n]],
    ['a symbol', [Symbol('x')]],
    ['a function', [() => 1]],
    ['a Date', [new Date(0)]],
    ['a Map', [new Map()]],
    ['a Set', [new Set()]],
    ['a RegExp', [/x/]],
    ['a typed array', [new Uint8Array(1)]],
    ['a class instance', [new (class Thing {})()]],
    ['a map holding undefined', [{ a: undefined }]],
    ['a nested non-JSON value', [{ a: [1, { b: new Date(0) }] }]],
    ['a string with a lone surrogate', ['\ud800']],
    ['a map key with a lone surrogate', [{ '\udc00': 1 }]],
    ['a "__proto__" own key', [JSON.parse('{"__proto__": 1}')]],
    ['a value nested deeper than a block can carry', [JSON.parse('['.repeat(31) + ']'.repeat(31))]],
  ])('refuses %s with ERR_INVALID_SCOPE', (_, scope) => {
    expect(codeOf(() => new Capability(scope as never))).toBe('ERR_INVALID_SCOPE');
  });

  it('refuses a scope longer than the scope limit with ERR_LIMIT_SCOPE', () => {
    expect(codeOf(() => new Capability(Array.from({ length: 33 }, (_, i) => i)))).toBe('ERR_LIMIT_SCOPE');
    expect(new Capability(Array.from({ length: 32 }, (_, i) => i)).scope).toHaveLength(32);
  });

  it('copies its scope, so later changes to the argument do not reach it', () => {
    const element = { id: 'x' };
    const scope: [string, { id: string }] = ['doc', element];
    const cap = new Capability(scope);
    element.id = 'y';
    scope[0] = 'other';
    expect(cap.scope).toEqual(['doc', { id: 'x' }]);
  });

  it('freezes its scope all the way down', () => {
    const cap = new Capability(['doc', { id: 'x', tags: ['a'] }]);
    expect(Object.isFrozen(cap.scope)).toBe(true);
    const element = cap.scope[1] as { tags: string[] };
    expect(Object.isFrozen(element)).toBe(true);
    expect(Object.isFrozen(element.tags)).toBe(true);
  });

  it('is unsigned until a server signs it, and has no revocation id yet', () => {
    const cap = new Capability(['youtube_videos']);
    expect(cap.signed).toBe(false);
    expect(cap.revocationId).toBeUndefined();
  });

  it('can be unwrapped by the code that made it, as in the seed (test/protocol/local-capabilities.test.ts)', () => {
    expect(unwrapCapability(new Capability(['youtube_videos']), ['youtube_videos'])).toEqual(['youtube_videos']);
  });

  it('prints its scope but never its tag', async () => {
    const { verifier } = await makeVerifier();
    const cap = verifier.mint(['doc', 1]);
    expect(String(cap)).toBe('Capability(["doc",1])');
    expect(JSON.stringify(cap)).toBe('{"scope":["doc",1]}');
  });
});

describe('Capability.narrow', () => {
  it('returns a new capability synchronously with the suffix appended', () => {
    const cap = new Capability(['youtube_videos']);
    const narrowed = cap.narrow(['dQw4w9WgXcQ', 'update']);
    expect(narrowed).toBeInstanceOf(Capability);
    expect(narrowed.scope).toEqual(['youtube_videos', 'dQw4w9WgXcQ', 'update']);
    expect(cap.scope).toEqual(['youtube_videos']);
  });

  it('accepts an empty suffix that only adds restrictions', () => {
    const narrowed = new Capability(['doc']).narrow([], { audience: 'alice' });
    expect(narrowed.scope).toEqual(['doc']);
    expect(narrowed.audiences).toEqual(['alice']);
  });

  it('refuses a suffix that is not JSON-compatible with ERR_INVALID_SCOPE', () => {
    const cap = new Capability(['doc']);
    expect(codeOf(() => cap.narrow([new Date(0)] as never))).toBe('ERR_INVALID_SCOPE');
    expect(codeOf(() => cap.narrow('x' as never))).toBe('ERR_INVALID_SCOPE');
  });

  it('refuses to grow the scope past the scope limit with ERR_LIMIT_SCOPE', () => {
    const cap = new Capability(Array.from({ length: 30 }, (_, i) => i));
    expect(codeOf(() => cap.narrow([1, 2, 3]))).toBe('ERR_LIMIT_SCOPE');
  });

  it('refuses more than the narrowing-step limit with ERR_LIMIT_STEPS', async () => {
    const { verifier } = await makeVerifier();
    let cap = verifier.mint(['doc']);
    for (let i = 0; i < 16; i++) cap = cap.narrow([]);
    expect(codeOf(() => cap.narrow([]))).toBe('ERR_LIMIT_STEPS');
  });

  it('on the server, keeps a verified capability verified', async () => {
    const { verifier } = await makeVerifier();
    const cap = verifier.mint(['youtube_videos', 'dQw4w9WgXcQ']).narrow(['update']);
    expect(unwrapCapability(cap, ['youtube_videos', 'dQw4w9WgXcQ', 'update'])).toEqual(['youtube_videos', 'dQw4w9WgXcQ', 'update']);
    expect(verifier.decode(cap.toToken(), null).scope).toEqual(['youtube_videos', 'dQw4w9WgXcQ', 'update']);
    expect(unwrapCapability(verifier.decode(cap.toToken(), null), ['youtube_videos', 'dQw4w9WgXcQ', 'update'])).toHaveLength(3);
  });

  it('on the client (decoded without a verifier), extends the chain so the server accepts the narrowed capability', async () => {
    const { verifier } = await makeVerifier();
    const codec = new Codec();
    const wire = codec.encode([verifier.mint(['youtube_videos', 'dQw4w9WgXcQ'])], { verifier });
    const [onClient] = codec.decode(wire) as [Capability];
    expect(onClient.signed).toBe(true);
    expect(codeOf(() => unwrapCapability(onClient, ['youtube_videos']))).toBe('ERR_CAPABILITY_NOT_VERIFIED');
    const narrowed = onClient.narrow(['update']);
    expect(narrowed.scope).toEqual(['youtube_videos', 'dQw4w9WgXcQ', 'update']);
    const [onServer] = codec.decode(codec.encode([narrowed]), { verifier, user: null }) as [Capability];
    expect(unwrapCapability(onServer, ['youtube_videos', 'dQw4w9WgXcQ', 'update'])).toEqual(['youtube_videos', 'dQw4w9WgXcQ', 'update']);
  });

  it('carries the rejection of a refused capability to everything narrowed from it', async () => {
    const { verifier } = await makeVerifier();
    const codec = new Codec();
    const [forged] = codec.decode(codec.encode([new Capability(['admin'])]), { verifier }) as [Capability];
    expect(codeOf(() => unwrapCapability(forged.narrow(['read']), ['admin', 'read']))).toBe('ERR_CAPABILITY_FORGED');
  });

  it('never lets the server sign a narrowing of a capability a client made', async () => {
    const { verifier } = await makeVerifier();
    const codec = new Codec();
    const [forged] = codec.decode(codec.encode([new Capability(['admin'])]), { verifier }) as [Capability];
    // Server code narrows what it received and sends it back: it must not come back signed.
    const echoed = codec.encode([forged.narrow(['read'])], { verifier });
    const [onClient] = codec.decode(echoed) as [Capability];
    expect(onClient.signed).toBe(false);
    const [returned] = codec.decode(codec.encode([onClient]), { verifier }) as [Capability];
    expect(codeOf(() => unwrapCapability(returned, ['admin', 'read']))).toBe('ERR_CAPABILITY_FORGED');
  });

  it('signs every pending step at once when server code narrows a capability it made itself', async () => {
    const { verifier } = await makeVerifier();
    const narrowed = new Capability(['doc']).narrow(['x'], { audience: 'alice' });
    const token = verifier.sign(narrowed);
    const decoded = verifier.decode(token, 'alice');
    expect(unwrapCapability(decoded, ['doc', 'x'])).toEqual(['doc', 'x']);
    expect(decoded.audiences).toEqual(['alice']);
  });
});

describe('restrictions', () => {
  it('lets the earliest expiry in the chain win', async () => {
    const { verifier, clock } = await makeVerifier();
    const t = clock.now;
    const cap = verifier.mint(['doc'], { expiresAt: t + 1000 }).narrow(['a'], { expiresAt: t + 500 }).narrow(['b'], { expiresAt: t + 2000 });
    expect(cap.expiresAt).toBe(t + 500);
    const token = cap.toToken();
    clock.now = t + 500;
    expect(unwrapCapability(verifier.decode(token, null), ['doc', 'a', 'b'])).toEqual(['doc', 'a', 'b']);
    clock.now = t + 501;
    expect(codeOf(() => unwrapCapability(verifier.decode(token, null), ['doc', 'a', 'b']))).toBe('ERR_CAPABILITY_EXPIRED');
  });

  it('lets a later step shorten the expiry of a capability minted without one', async () => {
    const { verifier, clock } = await makeVerifier();
    const cap = verifier.mint(['doc']).narrow([], { expiresAt: clock.now - 1 });
    expect(codeOf(() => unwrapCapability(verifier.decode(cap.toToken(), null), ['doc']))).toBe('ERR_CAPABILITY_EXPIRED');
  });

  it('allows the configured clock tolerance after expiry and no more', async () => {
    const { verifier, clock } = await makeVerifier({ clockToleranceMs: 1000 });
    const token = verifier.mint(['doc'], { expiresAt: clock.now }).toToken();
    clock.now += 1000;
    expect(unwrapCapability(verifier.decode(token, null), ['doc'])).toEqual(['doc']);
    clock.now += 1;
    expect(codeOf(() => unwrapCapability(verifier.decode(token, null), ['doc']))).toBe('ERR_CAPABILITY_EXPIRED');
  });

  it('requires the caller to match every audience in the chain', async () => {
    const { verifier } = await makeVerifier();
    const forAlice = verifier.mint(['doc'], { audience: 'alice' }).narrow(['a'], { audience: 'alice' });
    expect(unwrapCapability(verifier.decode(forAlice.toToken(), 'alice'), ['doc', 'a'])).toEqual(['doc', 'a']);
    expect(codeOf(() => unwrapCapability(verifier.decode(forAlice.toToken(), 'bob'), ['doc', 'a']))).toBe('ERR_CAPABILITY_AUDIENCE');
    expect(codeOf(() => unwrapCapability(verifier.decode(forAlice.toToken(), null), ['doc', 'a']))).toBe('ERR_CAPABILITY_AUDIENCE');

    const contradictory = verifier.mint(['doc'], { audience: 'alice' }).narrow([], { audience: 'bob' });
    expect(contradictory.audiences).toEqual(['alice', 'bob']);
    for (const user of ['alice', 'bob', null]) {
      expect(codeOf(() => unwrapCapability(verifier.decode(contradictory.toToken(), user), ['doc']))).toBe('ERR_CAPABILITY_AUDIENCE');
    }
  });

  it('binds a capability minted without an audience once a step adds one', async () => {
    const { verifier } = await makeVerifier();
    const token = verifier.mint(['doc']).narrow([], { audience: 'alice' }).toToken();
    expect(unwrapCapability(verifier.decode(token, 'alice'), ['doc'])).toEqual(['doc']);
    expect(codeOf(() => unwrapCapability(verifier.decode(token, 'mallory'), ['doc']))).toBe('ERR_CAPABILITY_AUDIENCE');
  });

  it.each([
    ['a negative expiry', { expiresAt: -1 }],
    ['a fractional expiry', { expiresAt: 1.5 }],
    ['an unsafe integer expiry', { expiresAt: 2 ** 53 }],
    ['a string expiry', { expiresAt: '2030-01-01' }],
    ['a numeric audience', { audience: 7 }],
  ])('refuses %s with ERR_INVALID_VALUE', (_, restrictions) => {
    expect(codeOf(() => new Capability(['doc'], restrictions as never))).toBe('ERR_INVALID_VALUE');
    expect(codeOf(() => new Capability(['doc']).narrow([], restrictions as never))).toBe('ERR_INVALID_VALUE');
  });
});

describe('capabilities made outside the server', () => {
  it('are refused with ERR_CAPABILITY_FORGED when they reach the server', async () => {
    const { verifier } = await makeVerifier();
    const codec = new Codec();
    const clientMade = new Capability(['youtube_videos', 'dQw4w9WgXcQ']);
    const [received] = codec.decode(codec.encode([clientMade]), { verifier }) as [Capability];
    expect(received.scope).toEqual(['youtube_videos', 'dQw4w9WgXcQ']);
    expect(codeOf(() => unwrapCapability(received, ['youtube_videos', 'dQw4w9WgXcQ']))).toBe('ERR_CAPABILITY_FORGED');
  });

  it('stay forged when the client narrows them first', async () => {
    const { verifier } = await makeVerifier();
    const codec = new Codec();
    const [received] = codec.decode(codec.encode([new Capability(['doc']).narrow(['x'])]), { verifier }) as [Capability];
    expect(codeOf(() => unwrapCapability(received, ['doc', 'x']))).toBe('ERR_CAPABILITY_FORGED');
  });
});

describe('crypto providers', () => {
  it('node:crypto and @noble/hashes compute identical tags and revocation ids', async () => {
    const { verifier: byNobleVerifier } = await makeVerifier({ cacheSize: 0, crypto: nobleCrypto });
    const { verifier: byNodeVerifier } = await makeVerifier({ cacheSize: 0, crypto: nodeCrypto });
    const byNoble = byNobleVerifier.mint(['youtube_videos', { id: 'dQw4w9WgXcQ' }], { expiresAt: 1_900_000_000_000 }).narrow(['update'], { audience: 'alice' });
    // node:crypto re-derives the same chain from the same blocks: the token verifies and its id is the same.
    const byNode = byNodeVerifier.decode(byNoble.toToken(), 'alice');
    expect(unwrapCapability(byNode, ['youtube_videos', { id: 'dQw4w9WgXcQ' }, 'update'])).toHaveLength(3);
    expect(byNode.revocationId).toBe(byNoble.revocationId);
  });

  it('a verifier without a crypto option uses @noble/hashes', async () => {
    const { verifier } = await makeVerifier();
    expect(verifier.crypto).toBe(nobleCrypto);
  });

  it('capabilities a verifier mints or verifies narrow with its provider, and nothing else uses it', async () => {
    const provider = counting(nodeCrypto);
    const { verifier } = await makeVerifier({ cacheSize: 0, crypto: provider });
    const minted = verifier.mint(['doc']);
    expect(provider.hmacs).toBe(1);
    minted.narrow(['x']);
    expect(provider.hmacs).toBe(2);
    const verified = verifier.decode(minted.toToken(), null);
    expect(provider.hmacs).toBe(3);
    verified.narrow(['y']);
    expect(provider.hmacs).toBe(4);
    // The client side decodes without a verifier: its capabilities narrow with @noble/hashes.
    const codec = new Codec();
    const [onClient] = codec.decode(codec.encode([minted])) as [Capability];
    onClient.narrow(['z']);
    expect(provider.hmacs).toBe(4);
    // Another verifier's provider is untouched by this one's work: no process-wide choice.
    const { verifier: other } = await makeVerifier({ cacheSize: 0 });
    other.mint(['doc']).narrow(['x']);
    expect(provider.hmacs).toBe(4);
  });

  it('node:crypto and @noble/hashes compute identical HMAC-SHA-256 tags and SHA-256 digests for any input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 300 }), (key, message) => {
        expect(toHex(nodeCrypto.hmacSha256(key, message))).toBe(toHex(nobleCrypto.hmacSha256(key, message)));
        expect(toHex(nodeCrypto.sha256(message))).toBe(toHex(nobleCrypto.sha256(message)));
      }),
    );
  });

  it('a token signed under one provider verifies under the other', async () => {
    const { verifier: byNode } = await makeVerifier({ cacheSize: 0, crypto: nodeCrypto });
    const { verifier: byNoble } = await makeVerifier({ cacheSize: 0, crypto: nobleCrypto });
    const token = byNode.mint(['doc']).narrow(['x']).toToken();
    expect(unwrapCapability(byNoble.decode(token, null), ['doc', 'x'])).toEqual(['doc', 'x']);
  });

  it('compares equal-length tags in constant time and unequal lengths as different', () => {
    for (const provider of [nobleCrypto, nodeCrypto]) {
      expect(provider.timingSafeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(true);
      expect(provider.timingSafeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3))).toBe(false);
      expect(provider.timingSafeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3))).toBe(false);
    }
  });
});

describe('CapsyncError', () => {
  it('carries a stable code and, for codes that end a connection, a close code', async () => {
    const { verifier } = await makeVerifier();
    try {
      verifier.decode(Uint8Array.of(0x90), null);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(CapsyncError);
      expect((error as CapsyncError).code).toBe('ERR_CAPABILITY_MALFORMED');
      expect((error as CapsyncError).closeCode).toBe(1007);
    }
  });
});
