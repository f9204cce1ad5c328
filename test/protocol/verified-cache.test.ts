import fc from 'fast-check';
import { Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { ANY, capabilityFromToken, unwrapCapability, type Capability } from '../../protocol/index.js';
import { chainOf } from '../../protocol/capability/chain.js';
import { statusOf, type Verification } from '../../protocol/capability/status.js';
import { TokenChain } from '../../protocol/capability/token-chain.js';
import { readBlockFast } from '../../protocol/capability/token-fast.js';
import { IntLru } from '../../protocol/capability/verified-cache.js';
import { ByteArena } from '../../protocol/capability/byte-arena.js';
import { decodeToken, encodeBlock, encodeToken } from '../../protocol/capability/token.js';
import { defaultLimits } from '../../protocol/limits.js';
import { nodeCrypto } from '../../server/node-crypto.js';
import { codeOf, counting, makeVerifier, toHex } from './helpers.js';

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

function verification(cap: Capability): Verification {
  const status = statusOf(cap);
  if (status === undefined || status instanceof Error) throw new Error(`not verified: ${String(status)}`);
  return status;
}

/** A token of `kid` over `blocks` and `tag`, as a client would write it. */
function tokenOf(kid: string, blocks: Uint8Array[], tag: Uint8Array): Uint8Array {
  return encodeToken({ kid, blocks, tag });
}

describe('the verified-capability cache (one entry per capability)', () => {
  it('refuses a forged block after a cached prefix, by its one HMAC step, and still verifies the honest one', async () => {
    const provider = counting(nodeCrypto);
    const { verifier } = await makeVerifier({ crypto: provider });
    const held = verifier.mint(['doc', 'mine']).narrow(['read']);
    verifier.decode(held.toToken(), 'mallory');
    const parts = decodeToken(held.toToken(), defaultLimits);
    const forged = encodeBlock({ segment: ['write'], expiresAt: null, audience: null }, new Uint8Array(16).fill(3));
    // Mallory does not know the prefix's tag: she signs the block with a guess.
    const guess = nodeCrypto.hmacSha256(new Uint8Array(32).fill(1), forged);
    provider.hmacs = 0;
    expect(codeOf(() => unwrapCapability(verifier.decode(tokenOf(parts.kid, [...parts.blocks, forged], guess), 'mallory'), ['doc']))).toBe('ERR_CAPABILITY_BAD_SIGNATURE');
    expect(provider.hmacs).toBe(1); // the step path: the prefix was found in the cache
    const honest = capabilityFromToken(held.toToken()).narrow(['page']);
    expect(unwrapCapability(verifier.decode(honest.toToken(), 'mallory'), ['doc', 'mine', 'read', 'page'])).toHaveLength(4);
  });

  it('finds no parent for a token whose last-but-one block is a cached chain\'s last but whose earlier bytes differ anywhere', async () => {
    const { verifier } = await makeVerifier({ crypto: nodeCrypto });
    const held = verifier.mint(['doc', 'a-long-scope-element-so-the-prefix-spans-many-words']).narrow(['read', 'x'], { expiresAt: 1_900_000_000_000 });
    verifier.decode(held.toToken(), null);
    const parts = decodeToken(held.toToken(), defaultLimits);
    const step = encodeBlock({ segment: [], expiresAt: null, audience: null }, new Uint8Array(16));
    const tag = nodeCrypto.hmacSha256(parts.tag, step); // Mallory holds the chain: she can extend it
    const pattern = ['doc', ANY, 'read', 'x'] as const;
    const honest = tokenOf(parts.kid, [...parts.blocks, step], tag);
    expect(unwrapCapability(verifier.decode(honest, null), pattern)).toHaveLength(4);
    // Every byte of block 0 changed in turn (same lengths: only the bytes tell the chains apart), and the
    // last byte of block 1 before its nonce: never accepted (codeOf fails the test if unwrap does not throw).
    for (let at = 0; at < parts.blocks[0]!.length; at++) {
      const block0 = Uint8Array.from(parts.blocks[0]!);
      block0[at]! ^= 0x20;
      const token = tokenOf(parts.kid, [block0, parts.blocks[1]!, step], tag);
      let code: string;
      try {
        const cap = verifier.decode(token, null);
        code = codeOf(() => unwrapCapability(cap, pattern));
      } catch (error) {
        code = (error as { code: string }).code; // refused at decode: no longer a well-formed block
      }
      expect(code === 'ERR_CAPABILITY_BAD_SIGNATURE' || code === 'ERR_CAPABILITY_MALFORMED' || code.startsWith('ERR_LIMIT_'), `block 0 byte ${at}: ${code}`).toBe(true);
    }
  });

  it('refuses every narrowing of a revoked prefix: one verified by its step, one cached before, and a bound child made after', async () => {
    const { verifier } = await makeVerifier({ crypto: nodeCrypto });
    const parent = verifier.mint(['doc']);
    verifier.decode(parent.toToken(), 'alice');
    const before = capabilityFromToken(parent.toToken()).narrow(['x']).toToken();
    expect(unwrapCapability(verifier.decode(before, 'alice'), ['doc', 'x'])).toHaveLength(2);
    await verifier.revocations.add([{ id: parent.revocationId!, expiresAt: null }]);
    const after = capabilityFromToken(parent.toToken()).narrow(['y']).toToken();
    expect(codeOf(() => unwrapCapability(verifier.decode(after, 'alice'), ['doc']))).toBe('ERR_CAPABILITY_REVOKED');
    expect(codeOf(() => unwrapCapability(verifier.decode(before, 'alice'), ['doc']))).toBe('ERR_CAPABILITY_REVOKED');
    const bound = verifier.boundFor(parent, 'alice');
    expect(codeOf(() => unwrapCapability(verifier.decode(bound.toToken(), 'alice'), ['doc']))).toBe('ERR_CAPABILITY_REVOKED');
    // And a sibling prefix, never revoked, still verifies its narrowings.
    const sibling = verifier.mint(['doc']);
    expect(unwrapCapability(verifier.decode(capabilityFromToken(sibling.toToken()).narrow(['z']).toToken(), 'alice'), ['doc', 'z'])).toHaveLength(2);
  });

  it('answers a collision of its keys (two chains ending in the same 16 bytes) with a miss, never the other capability', async () => {
    const provider = counting(nodeCrypto);
    // The same nonce for every minted block: block 0's last 16 bytes, the cache key, are the same for both.
    const { verifier } = await makeVerifier({ crypto: provider, random: (n) => new Uint8Array(n).fill(7) });
    const a = verifier.mint(['doc', 'a']);
    const b = verifier.mint(['doc', 'b']);
    const [ta, tb] = [a.toToken(), b.toToken()];
    expect(toHex(ta.subarray(ta.length - 50, ta.length - 34))).toBe(toHex(tb.subarray(tb.length - 50, tb.length - 34)));
    verifier.decode(ta, null);
    verifier.decode(tb, null); // takes the slot
    expect(unwrapCapability(verifier.decode(ta, null), ['doc', 'a'])).toHaveLength(2);
    const narrowedA = capabilityFromToken(verifier.decode(tb, null).toToken()).narrow(['n']);
    expect(unwrapCapability(verifier.decode(capabilityFromToken(ta).narrow(['n']).toToken(), null), ['doc', 'a', 'n'])).toHaveLength(3);
    expect(unwrapCapability(verifier.decode(narrowedA.toToken(), null), ['doc', 'b', 'n'])).toHaveLength(3);
  });

  it('verifies a narrowing of a bound child by one step, with what a cold verify finds: scope, ids, audiences, generation marks', async () => {
    const provider = counting(nodeCrypto);
    const { verifier } = await makeVerifier({ crypto: provider });
    const { verifier: cold } = await makeVerifier({ cacheSize: 0, crypto: nodeCrypto });
    const bound = verifier.boundFor(verifier.mint(['doc', 1], { expiresAt: 1_800_000_000_000 }), 'alice');
    const child = capabilityFromToken(bound.toToken()).narrow(['page'], { expiresAt: 1_750_000_000_000 });
    provider.hmacs = 0;
    const viaStep = verifier.decode(child.toToken(), 'alice');
    expect(provider.hmacs).toBe(1);
    const viaCold = cold.decode(child.toToken(), 'alice');
    const [s, c] = [verification(viaStep), verification(viaCold)];
    expect([viaStep.scope, viaStep.revocationId, s.expiresAt, s.audiences, s.marks, s.ids, s.tags.map(toHex)]).toEqual([
      viaCold.scope, viaCold.revocationId, c.expiresAt, c.audiences, c.marks, c.ids, c.tags.map(toHex),
    ]);
    expect([s.isBound(), s.boundOnlyTo('alice'), s.boundOnlyTo('bob'), s.markedFor('alice'), s.isStale()]).toEqual([true, true, false, true, false]);
    expect(codeOf(() => unwrapCapability(verifier.decode(child.toToken(), 'bob'), ['doc']))).toBe('ERR_CAPABILITY_AUDIENCE');
  });

  it('keeps a bound child as one verification, its root folded in, that answers as one made from the whole token', async () => {
    const { verifier } = await makeVerifier({ crypto: nodeCrypto });
    const { verifier: cold } = await makeVerifier({ cacheSize: 0, crypto: nodeCrypto });
    // A root with a prefix (a client's narrowing of a minted capability) and expiries of its own.
    const minted = verifier.mint(['doc', 1], { expiresAt: 1_800_000_000_000 });
    const root = verifier.decode(capabilityFromToken(minted.toToken()).narrow(['page'], { expiresAt: 1_700_000_000_000 }).toToken(), 'alice');
    const bound = verifier.boundFor(root, 'alice');
    const v = verification(bound);
    expect(v.parent).toBeUndefined(); // no second verification kept for the root
    const c = verification(cold.decode(bound.toToken(), 'alice'));
    expect([v.depth, v.expiresAt, v.audiences, v.marks, v.ids, v.stepIds, v.tags.map(toHex), v.ancestors, v.bearer]).toEqual([
      c.depth, c.expiresAt, c.audiences, c.marks, c.ids, c.stepIds, c.tags.map(toHex), c.ancestors, c.bearer,
    ]);
    expect([v.depth, v.audiences, v.expiresAt]).toEqual([3, ['alice'], 1_700_000_000_000]);
    expect(v.stepIds).toEqual([minted.revocationId, root.revocationId, bound.revocationId]);
    expect([v.isBound(), v.boundOnlyTo('alice'), v.boundOnlyTo('bob'), v.markedFor('alice'), v.markedFor('bob'), v.isStale()]).toEqual([true, true, false, true, false, false]);
    // Every step's id reaches it, the folded root's included.
    for (const id of [minted.revocationId!, root.revocationId!, bound.revocationId!]) expect(v.findId((x) => x === id)).toBe(id);
    // A step onto the folded one (the client narrows what it was sent) still answers as a cold decode does.
    const narrowed = capabilityFromToken(bound.toToken()).narrow(['x']).toToken();
    const s = verification(verifier.decode(narrowed, 'alice'));
    const d = verification(cold.decode(narrowed, 'alice'));
    expect(s.parent).toBe(v);
    expect([s.depth, s.audiences, s.marks, s.ids, s.tags.map(toHex)]).toEqual([d.depth, d.audiences, d.marks, d.ids, d.tags.map(toHex)]);
    expect(s.findId((x) => x === root.revocationId)).toBe(root.revocationId);
    // revokeUser makes the folded step's binding stale, and every step onto it.
    await verifier.revocations.bumpGeneration('alice');
    expect([v.isStale(), s.isStale()]).toEqual([true, true]);
  });

  it('hands out copies: a verified capability\'s toToken() owns its buffer (the kept bytes are a slice of one shared with others)', async () => {
    const { verifier } = await makeVerifier({ crypto: nodeCrypto });
    const caps = [verifier.mint(['doc', 1]), verifier.mint(['doc', 2])].map((cap) => verifier.decode(cap.toToken(), null));
    for (const cap of caps) {
      const token = cap.toToken();
      expect(token.byteOffset).toBe(0);
      expect(token.buffer.byteLength).toBe(token.length);
      const kept = (cap[chainOf] as TokenChain).token;
      expect(kept.buffer.byteLength).toBeGreaterThan(kept.length); // an arena slice
      expect(toHex(kept)).toBe(toHex(token));
    }
  });
});

describe('the canonical token writer', () => {
  const bytes = (max: number) => fc.uint8Array({ maxLength: max });
  it('writes the bytes msgpackr writes for any key id, block count and sizes, and reads its blocks and tag back', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 12 }), fc.string({ minLength: 250, maxLength: 300 })),
        fc.array(fc.oneof(bytes(70), bytes(300)), { maxLength: 20 }),
        // A forgery's tag may have any length: the chain keeps 0 and 32 as a code, and reads another from its bytes.
        fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ maxLength: 300 })),
        fc.boolean(),
        (kid, blocks, tag, inArena) => {
          const arena = new ByteArena();
          if (inArena) arena.take(13); // the next slice starts past the chunk's start
          const chain = TokenChain.write(kid, blocks, tag, undefined, inArena ? arena : undefined);
          expect(toHex(chain.token)).toBe(toHex(encodeToken({ kid, blocks, tag })));
          expect(chain.blockBytes.map(toHex)).toEqual(blocks.map(toHex));
          expect(toHex(chain.tag)).toBe(toHex(tag));
          expect([chain.count, chain.tagLength, chain.signed]).toEqual([blocks.length, tag.length, tag.length > 0]);
          expect(chain.blocksEnd).toBe(chain.token.length - tag.length - (tag.length < 256 ? 2 : 3));
          if (blocks.length > 0) {
            const block = new Uint8Array(20).fill(5);
            const longer = chain.extend(block, tag);
            expect(toHex(longer.token)).toBe(toHex(encodeToken({ kid, blocks: [...blocks, block], tag })));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('the fast block reader on a bound step', () => {
  it('reads the six-element block the server writes when it binds (it went through msgpackr), exactly as msgpackr does', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.nat({ max: 2 ** 31 }), fc.option(fc.nat({ max: Number.MAX_SAFE_INTEGER })), fc.uint8Array({ minLength: 16, maxLength: 16 }), (audience, generation, expiresAt, nonce) => {
        const block = encodeBlock({ segment: [], expiresAt, audience, generation }, nonce);
        const fast = readBlockFast(block, defaultLimits);
        if (/^[\x00-\x7f]*$/.test(audience)) expect(fast).toBeDefined();
        if (fast !== undefined) expect(fast).toEqual(unpackr.unpack(block));
      }),
      { numRuns: 500 },
    );
  });
});

describe('the cache\'s index (a fixed-size least-recently-used map of small integers)', () => {
  it('answers every get and set as a Map kept in recency order does, keys colliding in its table included, and forgets the least recent past its bound', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        // Few distinct keys (many repeats, many shared table positions), some far apart and negative.
        fc.array(fc.tuple(fc.boolean(), fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constantFrom(-1, 2 ** 30 - 1, 1 << 20, 3 << 20))), { maxLength: 300 }),
        (max, ops) => {
          const lru = new IntLru<number>(max);
          const model = new Map<number, number>();
          ops.forEach(([isSet, key], step) => {
            if (isSet) {
              model.delete(key);
              model.set(key, step);
              if (model.size > max) model.delete(model.keys().next().value!);
              lru.set(key, step);
            } else {
              const value = model.get(key);
              if (value !== undefined) (model.delete(key), model.set(key, value));
              expect(lru.get(key)).toBe(value);
            }
            expect(lru.size).toBe(model.size);
          });
          for (const [key, value] of [...model]) expect(lru.get(key)).toBe(value);
          lru.clear();
          expect(lru.get(ops[0]?.[1] ?? 0)).toBeUndefined();
        },
      ),
      { numRuns: 500 },
    );
  });
});
