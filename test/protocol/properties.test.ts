import fc from 'fast-check';
import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  ANY,
  Capability,
  CapsyncError,
  Codec,
  matchScope,
  registerPortable,
  unwrapCapability,
  jsonEqual,
  type JsonValue,
  type PatternElement,
} from '../../protocol/index.js';
import { makeVerifier } from './helpers.js';

const { verifier } = await makeVerifier();
const codec = new Codec();
const raw = new Unpackr({ useRecords: false, mapsAsObjects: true });
const rawPack = new Packr({ useRecords: false });

// ---- arbitraries ---------------------------------------------------------------------------------

/** Well-formed strings (msgpack carries UTF-8) with no "__proto__", which no frame may hold as a key. */
const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const key = text.filter((k) => k !== '__proto__');
/** Finite numbers; -0 travels as 0, as in JSON. */
const number = fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })).map((n) => (Object.is(n, -0) ? 0 : n));
const primitive: fc.Arbitrary<JsonValue> = fc.oneof(text, number, fc.boolean(), fc.constant(null));

const json: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    primitive,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 4, noNullPrototype: true }),
  ),
})).value;

/** A scope element: mostly short strings and small integers, so patterns and scopes often agree. */
const element: fc.Arbitrary<JsonValue> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('youtube_videos', 'video', 'videos', 'update', 'delete', 'x') },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: 3 }) },
  { weight: 1, arbitrary: json },
);
const scope = fc.array(element, { minLength: 1, maxLength: 4 });
const suffixes = fc.array(fc.array(element, { maxLength: 3 }), { minLength: 1, maxLength: 3 });

/** A code when `fn` throws a CapsyncError, 'ok' when it returns; anything else fails the property. */
function outcome(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (error) {
    if (!(error instanceof CapsyncError)) throw error;
    return error.code;
  }
}

/** A capability as the server sees it when a client sends it back: decoded and verified from its token. */
function received(cap: Capability, user: string | null = null): Capability {
  return verifier.decode(cap.toToken(), user);
}

/** A client's copy of a capability the server sent: decoded without a verifier. */
function onClient(cap: Capability): Capability {
  return (codec.decode(codec.encode([cap], { verifier })) as [Capability])[0];
}

// ---- narrowing never widens ----------------------------------------------------------------------

describe('narrowing (property)', () => {
  it('keeps the parent scope as a prefix, and whatever pattern accepts the child accepts the parent', () => {
    const patternFor = (elements: JsonValue[]) =>
      fc.array(fc.oneof(fc.constant<PatternElement>(ANY), fc.constantFrom<PatternElement>(...elements), element), { minLength: 1, maxLength: elements.length + 2 });
    fc.assert(
      fc.property(
        scope.chain((s) => suffixes.chain((steps) => patternFor([...s, ...steps.flat()]).map((p) => ({ s, steps, pattern: p })))),
        fc.boolean(),
        ({ s, steps, pattern }, narrowOnClient) => {
          const parent = verifier.mint(s);
          let child = narrowOnClient ? onClient(parent) : parent;
          for (const step of steps) child = child.narrow(step);
          const verified = received(child);
          // The parent's scope is a prefix of the child's, element by element, and the rest is the suffixes.
          expect(verified.scope.length).toBe(s.length + steps.flat().length);
          expect(verified.scope.slice(0, s.length).every((e, i) => jsonEqual(e, s[i]!))).toBe(true);

          const forParent = outcome(() => unwrapCapability(received(parent), pattern));
          const forChild = outcome(() => unwrapCapability(verified, pattern));
          if (forChild === 'ok') expect(forParent).toBe('ok');
          if (forParent === 'ERR_CAPABILITY_MISMATCH') expect(['ERR_CAPABILITY_MISMATCH', 'ERR_CAPABILITY_TOO_NARROW']).toContain(forChild);
          if (forParent === 'ERR_CAPABILITY_TOO_NARROW') expect(forChild).toBe('ERR_CAPABILITY_TOO_NARROW');
          // The pure matcher agrees with unwrapping a verified capability.
          expect(outcome(() => matchScope(verified.scope, pattern))).toBe(forChild);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('never relaxes a restriction: the earliest expiry and every audience survive any narrowing', () => {
    const restriction = fc.record({ expiresAt: fc.option(fc.integer({ min: 0, max: 2 ** 40 }), { nil: undefined }), audience: fc.option(fc.constantFrom('alice', 'bob'), { nil: undefined }) });
    fc.assert(
      fc.property(restriction, fc.array(restriction, { minLength: 1, maxLength: 4 }), (first, later) => {
        let cap = verifier.mint(['doc'], first);
        for (const r of later) cap = onClient(cap).narrow([], r);
        const all = [first, ...later];
        const expiries = all.map((r) => r.expiresAt).filter((e): e is number => e !== undefined);
        const verified = received(cap, 'alice');
        expect(verified.expiresAt).toBe(expiries.length > 0 ? Math.min(...expiries) : null);
        expect(verified.audiences).toEqual(all.map((r) => r.audience).filter((a) => a !== undefined));
      }),
      { numRuns: 200 },
    );
  });
});

// ---- tampering ---------------------------------------------------------------------------------

/** Every verification outcome that is not a success, for a token that decodes. */
function refusal(token: Uint8Array, pattern: PatternElement[]): string {
  return outcome(() => unwrapCapability(verifier.decode(token, 'alice'), pattern));
}

const chainArb = fc.record({ s: scope, steps: suffixes, audience: fc.boolean() });

function build({ s, steps, audience }: { s: JsonValue[]; steps: JsonValue[][]; audience: boolean }): Capability {
  let cap = verifier.mint(s);
  for (const step of steps) cap = cap.narrow(step, audience ? { audience: 'alice' } : {});
  return cap;
}

function tokenOf(kid: string, blocks: Uint8Array[], tag: Uint8Array): Uint8Array {
  return rawPack.pack([1, kid, blocks, tag]);
}

function partsOf(cap: Capability): { kid: string; blocks: Uint8Array[]; tag: Uint8Array } {
  const [, kid, blocks, tag] = raw.unpack(cap.toToken()) as [number, string, Uint8Array[], Uint8Array];
  return { kid, blocks, tag };
}

const sameBlocks = (a: Uint8Array[], b: Uint8Array[]) => a.length === b.length && a.every((x, i) => Buffer.from(x).equals(Buffer.from(b[i]!)));
const ALL: PatternElement[] = Array.from({ length: 40 }, (): PatternElement => ANY);

describe('tampering with a token (property)', () => {
  it('any single-bit flip anywhere in a token fails decoding or verification with a typed error', () => {
    fc.assert(
      fc.property(chainArb, fc.nat(), (chain, at) => {
        const token = new Uint8Array(build(chain).toToken());
        const bit = at % (token.length * 8);
        token[bit >> 3]! ^= 1 << (bit & 7);
        const result = outcome(() => unwrapCapability(verifier.decode(token, 'alice'), ALL));
        expect(result).not.toBe('ok');
        expect(result).toMatch(/^ERR_/);
      }),
      { numRuns: 500 },
    );
  });

  it('every single-bit flip of one 3-step token fails (exhaustively)', () => {
    const token = verifier.mint(['youtube_videos']).narrow(['dQw4w9WgXcQ']).narrow(['update'], { expiresAt: 2 ** 41 }).narrow([], { audience: 'alice' }).toToken();
    const outcomes = new Set<string>();
    for (let bit = 0; bit < token.length * 8; bit++) {
      const flipped = new Uint8Array(token);
      flipped[bit >> 3]! ^= 1 << (bit & 7);
      outcomes.add(refusal(flipped, ALL));
    }
    expect(outcomes.has('ok')).toBe(false);
    expect([...outcomes].every((c) => c.startsWith('ERR_'))).toBe(true);
    expect(refusal(token, ALL)).toBe('ok');
  });

  it('any single-bit flip inside a capability extension of a frame fails with a typed error', () => {
    fc.assert(
      fc.property(chainArb, fc.nat(), (chain, at) => {
        const cap = build(chain);
        const token = cap.toToken();
        const frame = codec.encode([1, 7, 'f', [cap]], { verifier });
        const start = Buffer.from(frame).indexOf(Buffer.from(token));
        expect(start).toBeGreaterThan(0);
        const bit = at % (token.length * 8);
        const flipped = new Uint8Array(frame);
        flipped[start + (bit >> 3)]! ^= 1 << (bit & 7);
        const result = outcome(() => {
          const decoded = codec.decode(flipped, { verifier, user: 'alice' }) as [number, number, string, [Capability]];
          unwrapCapability(decoded[3][0], ALL);
        });
        expect(result).not.toBe('ok');
        expect(result).toMatch(/^ERR_/);
      }),
      { numRuns: 300 },
    );
  });

  it('stripping, splicing, reordering or replacing chain steps fails, whichever tag travels with them', () => {
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('strip' as const), from: fc.nat(), count: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), from: fc.nat() }),
      fc.record({ kind: fc.constant('reorder' as const), seed: fc.nat() }),
      fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), segment: fc.array(element, { maxLength: 2 }) }),
    );
    fc.assert(
      fc.property(chainArb, chainArb, edit, fc.boolean(), (mine, theirs, e, useTheirTag) => {
        const a = partsOf(build(mine));
        const b = partsOf(build(theirs));
        let blocks = [...a.blocks];
        switch (e.kind) {
          case 'strip': {
            const from = e.from % blocks.length;
            blocks.splice(from, e.count);
            break;
          }
          case 'splice': {
            blocks.splice(e.at % (blocks.length + 1), 0, b.blocks[e.from % b.blocks.length]!);
            break;
          }
          case 'reorder': {
            const shift = 1 + (e.seed % Math.max(1, blocks.length - 1));
            blocks = [...blocks.slice(shift), ...blocks.slice(0, shift)];
            break;
          }
          case 'replace': {
            blocks[e.at % blocks.length] = rawPack.pack([e.segment, null, null]);
            break;
          }
        }
        const tag = useTheirTag ? b.tag : a.tag;
        const legitimate = useTheirTag ? b.blocks : a.blocks;
        fc.pre(blocks.length > 0 && !sameBlocks(blocks, legitimate));
        const result = refusal(tokenOf(a.kid, blocks, tag), ALL);
        expect(result).not.toBe('ok');
        expect(result).toMatch(/^ERR_/);
      }),
      { numRuns: 500 },
    );
  });
});

// ---- round trips ---------------------------------------------------------------------------------

/** A portable class for the round trip: its fields are arbitrary values. */
class Box {
  constructor(readonly content: unknown) {}
}
registerPortable(Box, { name: 'Box' });

type Tree = JsonValue | Capability | Box | Tree[] | { [key: string]: Tree };

const pool = [['youtube_videos'], ['youtube_videos', 'x', 'update'], ['doc', { id: 1, org: 'acme' }], ['n', 0, null, true]] as JsonValue[][];

const tree: fc.Arbitrary<Tree> = fc.letrec<{ value: Tree }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true, maxDepth: 8 },
    primitive,
    fc.integer({ min: 0, max: pool.length - 1 }).map((i) => new Capability(pool[i]!)),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(key, tie('value'), { maxKeys: 4, noNullPrototype: true }),
    tie('value').map((content) => new Box(content)),
  ),
})).value;

/** A comparable picture of a value: capabilities by scope, boxes by content. */
function picture(value: unknown): unknown {
  if (value instanceof Capability) return { capability: value.scope };
  if (value instanceof Box) return { box: picture(value.content) };
  if (Array.isArray(value)) return value.map(picture);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, picture(v)]));
  return value;
}

function capabilitiesIn(value: unknown, found: Capability[] = []): Capability[] {
  if (value instanceof Capability) found.push(value);
  else if (value instanceof Box) capabilitiesIn(value.content, found);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) capabilitiesIn(v, found);
  return found;
}

describe('encode/decode (property)', () => {
  it('round-trips arbitrary JSON values', () => {
    fc.assert(
      fc.property(json, (value) => {
        expect(codec.decode(codec.encode(value))).toEqual(value);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips values with capabilities nested anywhere: server to client and back, every capability verified', () => {
    fc.assert(
      fc.property(tree, (value) => {
        const toClient = codec.decode(codec.encode(value, { verifier }));
        expect(picture(toClient)).toEqual(picture(value));
        for (const cap of capabilitiesIn(toClient)) expect(cap.signed).toBe(true);
        const seen: Capability[] = [];
        const backOnServer = codec.decode(codec.encode(toClient), { verifier, onCapability: (c) => seen.push(c) });
        expect(picture(backOnServer)).toEqual(picture(value));
        const caps = capabilitiesIn(backOnServer);
        expect(seen).toHaveLength(caps.length);
        for (const cap of caps) expect(unwrapCapability(cap, [...cap.scope])).toEqual(cap.scope);
      }),
      { numRuns: 200 },
    );
  });
});
