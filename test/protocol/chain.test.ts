/**
 * One capability chain: minting, narrowing and verification share one HMAC walk, the server's verifier and
 * the client's codec share one token decoder, and narrowing obeys the limits of whoever minted or decoded
 * the capability (protocol/capability/).
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { Capability, CapsyncError, Codec, capabilityFromToken, unwrapCapability } from '../../protocol/index.js';
import { codeOf, ext, makeVerifier } from './helpers.js';

const plain = new Packr({ useRecords: false, encodeUndefinedAsNil: true });

/** An unsigned token whose single block holds `segment` exactly as given, encoded by plain msgpack. */
function tokenWithSegment(segment: unknown[]): Uint8Array {
  const block = plain.pack([segment, null, null]);
  return plain.pack([1, '', [block], new Uint8Array(0)]);
}

/** What a decoder does with token bytes: 'ok' or the code it throws. */
function outcome(decode: () => unknown): string {
  try {
    decode();
    return 'ok';
  } catch (error) {
    return error instanceof CapsyncError ? error.code : `not a CapsyncError: ${String(error)}`;
  }
}

describe('narrowing honours the limits of the verifier or codec the capability came from', () => {
  it('a verifier with maxNarrowingSteps 2 refuses the third narrow of a capability it minted', async () => {
    const { verifier } = await makeVerifier({ limits: { maxNarrowingSteps: 2 } });
    const twice = verifier.mint(['doc']).narrow(['a']).narrow(['b']);
    expect(codeOf(() => twice.narrow(['c']))).toBe('ERR_LIMIT_STEPS');
  });

  it('a verifier with maxNarrowingSteps 2 refuses the third narrow of a capability it verified', async () => {
    const { verifier } = await makeVerifier({ limits: { maxNarrowingSteps: 2 } });
    const { verifier: lenient } = await makeVerifier();
    const received = verifier.decode(lenient.mint(['doc']).narrow(['a']).toToken(), null);
    const twice = received.narrow(['b']);
    expect(unwrapCapability(twice, ['doc', 'a', 'b'])).toEqual(['doc', 'a', 'b']);
    expect(codeOf(() => twice.narrow(['c']))).toBe('ERR_LIMIT_STEPS');
  });

  it('a client codec with maxNarrowingSteps 2 refuses the third narrow of a capability it decoded', async () => {
    const { verifier } = await makeVerifier();
    const server = new Codec();
    const client = new Codec({ maxNarrowingSteps: 2 });
    const [held] = client.decode(server.encode([verifier.mint(['doc'])], { verifier })) as [Capability];
    const twice = held.narrow(['a']).narrow(['b']);
    expect(codeOf(() => twice.narrow(['c']))).toBe('ERR_LIMIT_STEPS');
    // The same token decoded by a default codec narrows further.
    const [elsewhere] = new Codec().decode(server.encode([verifier.mint(['doc'])], { verifier })) as [Capability];
    expect(elsewhere.narrow(['a']).narrow(['b']).narrow(['c']).scope).toEqual(['doc', 'a', 'b', 'c']);
  });

  it('a verifier with a longer maxScopeLength mints and narrows past the default 32 elements', async () => {
    const { verifier } = await makeVerifier({ limits: { maxScopeLength: 40 } });
    const long = verifier.mint(Array.from({ length: 35 }, (_, i) => i));
    expect(long.narrow([35, 36]).scope).toHaveLength(37);
    expect(codeOf(() => long.narrow([1, 2, 3, 4, 5, 6]))).toBe('ERR_LIMIT_SCOPE');
    expect(codeOf(() => new Capability(Array.from({ length: 35 }, (_, i) => i)))).toBe('ERR_LIMIT_SCOPE');
  });

  it('a client codec with a shorter maxScopeLength refuses to narrow past it', async () => {
    const { verifier } = await makeVerifier();
    const [held] = new Codec({ maxScopeLength: 3 }).decode(new Codec().encode([verifier.mint(['a', 'b'])], { verifier })) as [Capability];
    expect(held.narrow(['c']).scope).toEqual(['a', 'b', 'c']);
    expect(codeOf(() => held.narrow(['c', 'd']))).toBe('ERR_LIMIT_SCOPE');
  });

  it('capabilityFromToken narrows with the limits it is given, the defaults otherwise', async () => {
    const { verifier } = await makeVerifier();
    const token = verifier.mint(['doc']).toToken();
    expect(codeOf(() => capabilityFromToken(token, { maxNarrowingSteps: 1 }).narrow(['a']).narrow(['b']))).toBe('ERR_LIMIT_STEPS');
    let cap = capabilityFromToken(token);
    for (let i = 0; i < 16; i++) cap = cap.narrow([]);
    expect(codeOf(() => cap.narrow([]))).toBe('ERR_LIMIT_STEPS');
  });

  it('a capability made by local code narrows with the default limits', () => {
    let cap = new Capability(['doc']);
    for (let i = 0; i < 16; i++) cap = cap.narrow([]);
    expect(codeOf(() => cap.narrow([]))).toBe('ERR_LIMIT_STEPS');
  });
});

describe('one token decoder on both sides', () => {
  it.each([
    ['a binary', [new Uint8Array([1, 2])]],
    ['a binary inside a list', ['doc', [new Uint8Array(1)]]],
    ['NaN', [Number.NaN]],
    ['Infinity', ['doc', Number.POSITIVE_INFINITY]],
  ])('refuses a scope element that is %s, on the client as on the server: ERR_CAPABILITY_MALFORMED', async (_, segment) => {
    const { verifier } = await makeVerifier();
    const token = tokenWithSegment(segment);
    expect(codeOf(() => verifier.decode(token, null))).toBe('ERR_CAPABILITY_MALFORMED');
    expect(codeOf(() => capabilityFromToken(token))).toBe('ERR_CAPABILITY_MALFORMED');
    expect(codeOf(() => new Codec().decode(ext(1, token)))).toBe('ERR_CAPABILITY_MALFORMED');
  });

  it('the client codec and the verifier accept and refuse exactly the same tokens', async () => {
    const { verifier } = await makeVerifier({ cacheSize: 0 });
    const codec = new Codec();
    const element = fc.oneof(
      fc.string(),
      fc.double(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.uint8Array({ maxLength: 4 }),
      fc.array(fc.oneof(fc.string(), fc.double(), fc.uint8Array({ maxLength: 2 })), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 3 }), fc.oneof(fc.integer(), fc.uint8Array({ maxLength: 2 })), { maxKeys: 2 }),
    );
    fc.assert(
      fc.property(fc.array(element, { maxLength: 40 }), (segment) => {
        const token = tokenWithSegment(segment);
        const onServer = outcome(() => verifier.decode(token, null));
        expect(outcome(() => capabilityFromToken(token))).toBe(onServer);
        expect(outcome(() => codec.decode(ext(1, token)))).toBe(onServer);
      }),
    );
  });
});
