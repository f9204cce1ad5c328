import fc from 'fast-check';
import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { capabilityFromToken, nobleCrypto, unwrapCapability, type Capability, type JsonValue } from '../../protocol/index.js';
import { statusOf, type Verification } from '../../protocol/capability/status.js';
import { readBlockFast, readTokenFast } from '../../protocol/capability/token-fast.js';
import { decodeToken, encodeBlock, encodeToken } from '../../protocol/capability/token.js';
import { defaultLimits, resolveLimits } from '../../protocol/limits.js';
import { nodeCrypto } from '../../server/node-crypto.js';
import { codeOf, counting, makeVerifier, toHex } from './helpers.js';

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, moreTypes: false });

function verification(cap: Capability): Verification {
  const status = statusOf(cap);
  if (status === undefined || status instanceof Error) throw new Error(`not verified: ${String(status)}`);
  return status;
}

/** The token of `cap` with its block `index` replaced by `block` and the tag replaced by `tag`. */
function spliced(cap: Capability, blocks: Uint8Array[], tag: Uint8Array): Uint8Array {
  return encodeToken({ kid: decodeToken(cap.toToken(), defaultLimits).kid, blocks, tag });
}

describe('precomputed root key HMAC state', () => {
  it('equals HMAC-SHA-256 under the key for any key and message, in both providers', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.array(fc.uint8Array({ maxLength: 400 }), { minLength: 1, maxLength: 4 }), (key, messages) => {
        for (const provider of [nobleCrypto, nodeCrypto]) {
          const keyed = provider.keyedHmac!(key);
          for (const message of messages) expect(toHex(keyed(message))).toBe(toHex(nobleCrypto.hmacSha256(key, message)));
        }
      }),
    );
  });
});

describe('a token narrowed from a cached capability', () => {
  it('verifies with one HMAC step and the same result as a cold verify', async () => {
    const provider = counting(nodeCrypto);
    const { verifier } = await makeVerifier({ crypto: provider });
    const { verifier: cold } = await makeVerifier({ cacheSize: 0 });
    const parent = verifier.mint(['doc', 7], { expiresAt: 1_800_000_000_000 }).narrow(['read']);
    verifier.decode(parent.toToken(), 'alice');
    const child = capabilityFromToken(parent.toToken()).narrow(['page', -3], { audience: 'alice', expiresAt: 1_750_000_000_000 });
    provider.hmacs = 0;
    const viaStep = verifier.decode(child.toToken(), 'alice');
    expect(provider.hmacs).toBe(1);
    const viaCold = cold.decode(child.toToken(), 'alice');
    expect(viaStep.scope).toEqual(viaCold.scope);
    expect(viaStep.revocationId).toBe(viaCold.revocationId);
    const [a, b] = [verification(viaStep), verification(viaCold)];
    expect([a.expiresAt, a.audiences, a.tags.map(toHex)]).toEqual([b.expiresAt, b.audiences, b.tags.map(toHex)]);
    expect(unwrapCapability(viaStep, ['doc', 7, 'read', 'page', -3])).toHaveLength(5);
    // Neither keeps decoded blocks: both read them from the token, as the client's copy decodes them.
    const decoded = capabilityFromToken(child.toToken());
    expect(viaStep.blocks).toEqual(decoded.blocks);
    expect(viaCold.blocks).toEqual(decoded.blocks);
    expect(Object.isFrozen(viaStep.blocks) && Object.isFrozen(viaStep.blocks[3]) && Object.isFrozen(viaStep.blocks[0]!.segment)).toBe(true);
    expect([viaStep.expiresAt, viaStep.audiences]).toEqual([1_750_000_000_000, ['alice']]);
    expect([viaCold.expiresAt, viaCold.audiences]).toEqual([decoded.expiresAt, decoded.audiences]);
    // A verified capability narrowed on the server (its blocks not kept) gives a child whose blocks are its own plus one.
    const grandchild = viaStep.narrow(['line', 1]);
    expect(grandchild.blocks).toHaveLength(4);
    expect(grandchild.blocks[3]!.segment).toEqual(['line', 1]);
    expect(grandchild.scope).toEqual(['doc', 7, 'read', 'page', -3, 'line', 1]);
  });

  it('refuses a forged prefix that reuses a cached chain\'s last block and extends its tag', async () => {
    const { verifier } = await makeVerifier({ crypto: nodeCrypto });
    const held = verifier.mint(['doc', 'mine']).narrow(['read']);
    verifier.decode(held.toToken(), 'mallory');
    const parts = decodeToken(held.toToken(), defaultLimits);
    // Mallory knows her tag, so she can extend her chain; she swaps block 0 for a broader scope.
    const step = encodeBlock({ segment: [], expiresAt: null, audience: null }, new Uint8Array(16));
    const tag = nodeCrypto.hmacSha256(parts.tag, step);
    const broader = encodeBlock({ segment: ['doc'], expiresAt: null, audience: null }, new Uint8Array(16).fill(9));
    expect(codeOf(() => unwrapCapability(verifier.decode(spliced(held, [broader, parts.blocks[1]!, step], tag), 'mallory'), ['doc']))).toBe('ERR_CAPABILITY_BAD_SIGNATURE');
    // Dropping block 0 (the cached chain's last block now sits at a shorter prefix) is refused too.
    expect(codeOf(() => unwrapCapability(verifier.decode(spliced(held, [parts.blocks[1]!, step], tag), 'mallory'), ['read']))).toBe('ERR_CAPABILITY_BAD_SIGNATURE');
    // And the honest extension verifies.
    expect(unwrapCapability(verifier.decode(spliced(held, [...parts.blocks, step], tag), 'mallory'), ['doc', 'mine', 'read'])).toHaveLength(3);
  });

  it('refuses the same blocks under another key id, a wrong last tag, and a last block past the limits', async () => {
    const { verifier } = await makeVerifier({ crypto: nodeCrypto, limits: { maxScopeLength: 3 } });
    const parent = verifier.mint(['doc', 1]);
    verifier.decode(parent.toToken(), null);
    const parts = decodeToken(parent.toToken(), defaultLimits);
    const step = encodeBlock({ segment: ['x'], expiresAt: null, audience: null }, new Uint8Array(16));
    const tag = nodeCrypto.hmacSha256(parts.tag, step);
    const otherKid = encodeToken({ kid: 'k2', blocks: [...parts.blocks, step], tag });
    expect(codeOf(() => unwrapCapability(verifier.decode(otherKid, null), ['doc']))).toBe('ERR_CAPABILITY_UNKNOWN_KEY');
    const wrongTag = spliced(parent, [...parts.blocks, step], Uint8Array.from(tag, (x, i) => (i === 0 ? x ^ 1 : x)));
    expect(codeOf(() => unwrapCapability(verifier.decode(wrongTag, null), ['doc']))).toBe('ERR_CAPABILITY_BAD_SIGNATURE');
    const long = encodeBlock({ segment: ['x', 'y'], expiresAt: null, audience: null }, new Uint8Array(16));
    expect(codeOf(() => verifier.decode(spliced(parent, [...parts.blocks, long], nodeCrypto.hmacSha256(parts.tag, long)), null))).toBe('ERR_LIMIT_SCOPE');
    const malformed = packr.pack([['x'], 'soon', null, new Uint8Array(16)]);
    expect(codeOf(() => verifier.decode(spliced(parent, [...parts.blocks, malformed], nodeCrypto.hmacSha256(parts.tag, malformed)), null))).toBe('ERR_CAPABILITY_MALFORMED');
  });

  it('is revoked with its parent, expires with its own step, and keeps the audience of every step', async () => {
    const { verifier, clock } = await makeVerifier({ crypto: nodeCrypto });
    const parent = verifier.mint(['doc']).narrow([], { audience: 'alice' });
    verifier.decode(parent.toToken(), 'alice');
    const child = capabilityFromToken(parent.toToken()).narrow(['x'], { expiresAt: clock.now + 1_000 });
    expect(codeOf(() => unwrapCapability(verifier.decode(child.toToken(), 'bob'), ['doc']))).toBe('ERR_CAPABILITY_AUDIENCE');
    expect(unwrapCapability(verifier.decode(child.toToken(), 'alice'), ['doc', 'x'])).toHaveLength(2);
    clock.now += 2_000;
    expect(codeOf(() => unwrapCapability(verifier.decode(child.toToken(), 'alice'), ['doc']))).toBe('ERR_CAPABILITY_EXPIRED');
    clock.now -= 2_000;
    await verifier.revocations.add([{ id: parent.revocationId!, expiresAt: null }]);
    const sibling = capabilityFromToken(parent.toToken()).narrow(['y']);
    expect(codeOf(() => unwrapCapability(verifier.decode(sibling.toToken(), 'alice'), ['doc']))).toBe('ERR_CAPABILITY_REVOKED');
  });
});

describe('what a verifier keeps of the bytes it is given', () => {
  it('keeps no view of the caller\'s buffer (a Uint8Array or a Buffer): a frame reused after decode changes nothing, cold or by one step', async () => {
    for (const asFrame of [(t: Uint8Array) => Uint8Array.from(t), (t: Uint8Array) => Buffer.from(t)]) {
      const { verifier } = await makeVerifier({ crypto: nodeCrypto });
      const parent = verifier.mint(['doc', 7]).narrow(['read']);
      const child = capabilityFromToken(parent.toToken()).narrow(['page'], { audience: 'alice' });
      for (const token of [parent.toToken(), child.toToken()]) {
        const frame = asFrame(token);
        const cap = verifier.decode(frame, 'alice');
        frame.fill(0);
        expect(toHex(cap.toToken())).toBe(toHex(token));
        expect(verification(cap).tags.at(-1)).toEqual(token.subarray(token.length - 32));
        // The same bytes again are a cache hit; the zeroed frame is not.
        expect(verifier.decode(Uint8Array.from(token), 'alice')).toBe(cap);
        expect(() => verifier.decode(frame, 'alice')).toThrow();
      }
    }
  });

  it('confirms a cache hit on every part: the same tag under other blocks, another kid or a flipped tag byte is no hit', async () => {
    const { verifier } = await makeVerifier({ crypto: nodeCrypto });
    const cap = verifier.mint(['doc', 1]).narrow(['read']);
    const token = cap.toToken();
    verifier.decode(token, null);
    const parts = decodeToken(token, defaultLimits);
    const otherBlock = encodeBlock({ segment: ['write'], expiresAt: null, audience: null }, new Uint8Array(16));
    const sameTagOtherBlocks = encodeToken({ kid: parts.kid, blocks: [parts.blocks[0]!, otherBlock], tag: parts.tag });
    expect(codeOf(() => unwrapCapability(verifier.decode(sameTagOtherBlocks, null), ['doc']))).toBe('ERR_CAPABILITY_BAD_SIGNATURE');
    const otherKid = encodeToken({ kid: 'k9', blocks: parts.blocks, tag: parts.tag });
    expect(codeOf(() => unwrapCapability(verifier.decode(otherKid, null), ['doc']))).toBe('ERR_CAPABILITY_UNKNOWN_KEY');
    for (const at of [0, 31]) {
      const flipped = Uint8Array.from(token);
      flipped[flipped.length - 32 + at]! ^= 0x80;
      expect(codeOf(() => unwrapCapability(verifier.decode(flipped, null), ['doc']))).toBe('ERR_CAPABILITY_BAD_SIGNATURE');
    }
    expect(unwrapCapability(verifier.decode(token, null), ['doc', 1, 'read'])).toHaveLength(3);
  });

  it('verifies a token in a longer but valid encoding (bin16 blocks) as the same capability', async () => {
    const { verifier } = await makeVerifier({ crypto: nodeCrypto });
    const cap = verifier.mint(['doc', 2]);
    const parts = decodeToken(cap.toToken(), defaultLimits);
    const bin16 = (b: Uint8Array): number[] => [0xc5, b.length >> 8, b.length & 0xff, ...b];
    const kid = [...new TextEncoder().encode(parts.kid)];
    const long = Uint8Array.from([0x94, 0x01, 0xa0 + kid.length, ...kid, 0x91, ...bin16(parts.blocks[0]!), 0xc4, 32, ...parts.tag]);
    expect(long.length).toBeGreaterThan(cap.toToken().length);
    const first = verifier.decode(long, null);
    expect(unwrapCapability(first, ['doc', 2])).toHaveLength(2);
    expect(first.revocationId).toBe(cap.revocationId);
    expect(unwrapCapability(verifier.decode(long, null), ['doc', 2])).toHaveLength(2);
  });
});

/** Bytes near a real token or block: the canonical encoding, then random edits and truncations. */
function mutated(base: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(base, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.nat()).map(([bytes, edits, cut]) => {
    const out = Uint8Array.from(bytes);
    for (const [at, value] of edits) out[at % out.length] = value;
    return cut % 4 === 0 ? out.subarray(0, cut % (out.length + 1)) : out;
  });
}

const element: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 6 }),
  fc.integer(),
  fc.integer({ min: -200, max: 200 }),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constant({ a: 1 }),
);
const blockBytes = fc
  .tuple(fc.array(element, { maxLength: 5 }), fc.option(fc.nat({ max: Number.MAX_SAFE_INTEGER })), fc.option(fc.string({ maxLength: 8 })), fc.uint8Array({ minLength: 16, maxLength: 16 }))
  .map(([segment, expiresAt, audience, nonce]) => encodeBlock({ segment, expiresAt, audience }, nonce));
const tokenBytes = fc
  .tuple(fc.string({ maxLength: 12 }), fc.array(blockBytes, { minLength: 0, maxLength: 18 }), fc.uint8Array({ maxLength: 40 }))
  .map(([kid, blocks, tag]) => encodeToken({ kid, blocks, tag }));

function generic(bytes: Uint8Array): unknown {
  try {
    return unpackr.unpack(bytes);
  } catch {
    return 'refused';
  }
}

describe('the fast token and block readers', () => {
  it('read exactly what msgpackr reads, whenever they read anything', () => {
    const limits = resolveLimits({});
    fc.assert(
      fc.property(mutated(tokenBytes), mutated(blockBytes), (token, block) => {
        const fastToken = readTokenFast(token, limits);
        if (fastToken !== undefined) expect(fastToken).toEqual(generic(token));
        const fastBlock = readBlockFast(block, limits);
        if (fastBlock !== undefined) expect(fastBlock).toEqual(generic(block));
      }),
      { numRuns: 2_000 },
    );
  });

  it('read the tokens capsync writes (they are the fast path), and leave what breaks a limit to the generic path', async () => {
    const { verifier } = await makeVerifier();
    const token = verifier.mint(['youtube_videos', 'dQw4w9WgXcQ', 3]).narrow(['update'], { expiresAt: 1_900_000_000_000, audience: 'alice' }).toToken();
    const parts = readTokenFast(token, defaultLimits)!;
    expect(parts[2]).toHaveLength(2);
    expect(parts[2].map((b) => readBlockFast(b, defaultLimits))).not.toContain(undefined);
    expect(readTokenFast(token, resolveLimits({ maxStringBytes: 1 }))).toBeUndefined();
    expect(readBlockFast(parts[2][0]!, resolveLimits({ maxBinaryBytes: 8 }))).toBeUndefined();
    expect(readBlockFast(parts[2][0]!, resolveLimits({ maxDepth: 1 }))).toBeUndefined();
  });
});
