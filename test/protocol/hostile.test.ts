/**
 * A hostile peer's frames, byte for byte, against a server-side codec. Every frame gets its typed error code
 * (or, for a capability that parses but must not be honoured, a capability whose use throws that code), and
 * nothing else happens: no crash, no hang, no stack overflow, no hook called, no prototype touched.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Capability, CapsyncError, Codec, registerPortable, unwrapCapability, type CodecContext } from '../../protocol/index.js';
import { FIXED_KEY, OTHER_KEY, codeOf, ext, fixedKeyring, hex, makeVerifier } from './helpers.js';
import { CapabilityVerifier } from '../../protocol/index.js';

class Video {
  constructor(readonly id: string) {}
  play(): string {
    return this.id;
  }
}
registerPortable(Video, { name: 'Video' });

const { verifier, clock } = await makeVerifier();
const codec = new Codec();
const plain = new Packr({ useRecords: false });
const bytes = (...parts: (number | string | Uint8Array | number[])[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === 'number' ? [p] : typeof p === 'string' ? [...hex(p)] : [...p])));
const utf8 = (s: string): number[] => [...Buffer.from(s, 'utf8')];

let heard: unknown[] = [];
const server = (): CodecContext => ({ verifier, user: 'alice', onCapability: (c) => heard.push(c), onPortable: (o) => heard.push(o) });

/** The code a frame is refused with; checks that no hook heard anything from it. */
function refused(frame: Uint8Array, on: Codec = codec): string {
  heard = [];
  const code = codeOf(() => on.decode(frame, server()));
  expect(heard).toEqual([]);
  return code;
}

/** Decodes a frame that is well-formed and returns the capability inside `[cap]`. */
function received(frame: Uint8Array): Capability {
  const [cap] = codec.decode(frame, server()) as [Capability];
  expect(cap).toBeInstanceOf(Capability);
  return cap;
}

/** Token bytes assembled by hand: blocks signed along the chain from `key` (or given a tag outright). */
function token(blocks: unknown[][], options: { kid?: string; key?: Uint8Array; tag?: Uint8Array; version?: number } = {}): Uint8Array {
  const blockBytes = blocks.map((b) => plain.pack(b));
  let tag: Uint8Array = options.key ?? FIXED_KEY;
  for (const b of blockBytes) tag = createHmac('sha256', tag).update(b).digest();
  return plain.pack([options.version ?? 1, options.kid ?? 'k1', blockBytes, options.tag ?? tag]);
}

const prototypeBefore = Object.getOwnPropertyNames(Object.prototype).sort();
beforeEach(() => {
  heard = [];
});
afterEach(() => {
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(prototypeBefore);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(({} as Record<string, unknown>).x).toBeUndefined();
});

describe('truncated frames', () => {
  it.each([
    ['an empty frame', ''],
    ['a list announcing 3 values with 2', '93 01 02'],
    ['a string cut short', 'a5 68 65 6c'],
    ['a uint16 cut short', 'cd 01'],
    ['a float64 cut short', 'cb 00 00 00'],
    ['an array16 header cut short', 'dc 00'],
    ['a map missing its last value', '81 a1 61'],
    ['an ext8 announcing 5 bytes with 2', 'c7 05 01 94 01'],
    ['an ext header without its type', 'c7 05'],
    ['a bin8 announcing 4 bytes with 1', 'c4 04 00'],
  ])('refuses %s with ERR_FRAME_TRUNCATED', (_, frame) => {
    expect(refused(hex(frame))).toBe('ERR_FRAME_TRUNCATED');
  });

  it('refuses every proper prefix of a call frame carrying a capability with ERR_FRAME_TRUNCATED', () => {
    const frame = codec.encode([1, 7, 'set_video_description', [verifier.mint(['youtube_videos', 'x']), 'text']], { verifier });
    for (let n = 0; n < frame.length; n++) expect(refused(frame.subarray(0, n))).toBe('ERR_FRAME_TRUNCATED');
  });

  it('refuses bytes after the value with ERR_FRAME_TRAILING_BYTES', () => {
    expect(refused(hex('c0 c0'))).toBe('ERR_FRAME_TRAILING_BYTES');
    expect(refused(hex('91 01 02'))).toBe('ERR_FRAME_TRAILING_BYTES');
  });

  it('refuses the never-used byte 0xc1 with ERR_FRAME_MALFORMED', () => {
    expect(refused(hex('91 c1'))).toBe('ERR_FRAME_MALFORMED');
  });
});

describe('wrong extension lengths', () => {
  const good = verifier.mint(['youtube_videos', 'x']).toToken();

  it('refuses a capability extension announcing more bytes than the frame holds with ERR_FRAME_TRUNCATED', () => {
    const framed = ext(1, good);
    const lying = Uint8Array.from(framed);
    lying[1] = framed[1]! + 1; // ext8 length
    expect(refused(bytes(0x91, lying))).toBe('ERR_FRAME_TRUNCATED');
  });

  it('refuses a capability extension announcing fewer bytes than its token with ERR_FRAME_TRAILING_BYTES', () => {
    const framed = Uint8Array.from(ext(1, good));
    framed[1] = framed[1]! - 3; // the last 3 token bytes now follow the extension
    expect(refused(bytes(0x91, framed))).toBe('ERR_FRAME_TRAILING_BYTES');
  });

  it('refuses a well-framed extension holding a cut or padded token with ERR_CAPABILITY_MALFORMED', () => {
    for (let n = 0; n < good.length; n++) expect(refused(bytes(0x91, ext(1, good.subarray(0, n))))).toBe('ERR_CAPABILITY_MALFORMED');
    expect(refused(bytes(0x91, ext(1, bytes(good, 0xc0))))).toBe('ERR_CAPABILITY_MALFORMED');
  });

  it.each([
    ['fixext1', 'd4 01 90'],
    ['fixext2', 'd5 01 92 01'],
    ['fixext4', 'd6 01 94 01 a0 90'],
    ['fixext8', 'd7 01 94 01 a0 90 c4 00 c0 c0'],
  ])('refuses a %s capability, too small for any token, with ERR_CAPABILITY_MALFORMED', (_, frame) => {
    expect(refused(hex(frame))).toBe('ERR_CAPABILITY_MALFORMED');
  });

  it('refuses a portable object whose payload is cut or padded with a typed error', () => {
    const payload = plain.pack(['Video', { id: 'x' }]);
    expect(refused(bytes(0x91, ext(2, payload.subarray(0, payload.length - 1))))).toBe('ERR_FRAME_TRUNCATED');
    expect(refused(bytes(0x91, ext(2, bytes(payload, 0xc0))))).toBe('ERR_PORTABLE_INVALID'); // valid msgpack, but not one [name, fields] value (issue 11)
    expect(refused(hex('d4 02 90'))).toBe('ERR_PORTABLE_INVALID');
  });
});

describe('unknown extension types', () => {
  // msgpackr's built-ins (0x65 Error, 0x78 RegExp, 0x73 Set, 0x74 typed arrays, 0x70 and 0x69 structured-clone
  // references, 0x72 records, 0x62 bundled strings, 0x42 BigInt, 0 undefined), the msgpack timestamp (-1), and others.
  const types = [0x00, 0x03, 0x42, 0x62, 0x65, 0x69, 0x70, 0x72, 0x73, 0x74, 0x78, 0x7f, 0xff, 0x80];
  it.each(types)('refuses type 0x%s in every extension format with ERR_EXTENSION_UNKNOWN', (type) => {
    for (const payload of [[], [0x90], [0x92, 0xa1, 0x61, 0xa0], [0, 0, 0, 0], new Array(8).fill(0), new Array(16).fill(0x90), new Array(300).fill(0xc0)]) {
      const framed = ext(type, Uint8Array.from(payload));
      expect(refused(framed)).toBe('ERR_EXTENSION_UNKNOWN');
      expect(refused(bytes(0x92, 0x01, framed))).toBe('ERR_EXTENSION_UNKNOWN');
      expect(refused(bytes(0x81, 0xa1, 0x61, framed))).toBe('ERR_EXTENSION_UNKNOWN');
    }
  });

  it('refuses a timestamp (-1) in all three of its layouts with ERR_EXTENSION_UNKNOWN', () => {
    expect(refused(hex('d6 ff 00 00 00 00'))).toBe('ERR_EXTENSION_UNKNOWN');
    expect(refused(hex('d7 ff 00 00 00 00 00 00 00 00'))).toBe('ERR_EXTENSION_UNKNOWN');
    expect(refused(hex('c7 0c ff 00 00 00 00 00 00 00 00 00 00 00 00'))).toBe('ERR_EXTENSION_UNKNOWN');
  });

  it('refuses a msgpackr record definition (fixext 0x72) ahead of positive fixints with ERR_EXTENSION_UNKNOWN', () => {
    expect(refused(hex('92 d4 72 40 40'))).toBe('ERR_EXTENSION_UNKNOWN');
    expect(refused(hex('92 d5 72 40 00 91 a1 61 40'))).toBe('ERR_EXTENSION_UNKNOWN');
  });

  it('reads 0x40..0x7f as plain integers, never as record references', () => {
    const all = Array.from({ length: 64 }, (_, i) => 0x40 + i);
    expect(codec.decode(bytes(0xdc, 0, 64, all), server())).toEqual(all);
  });

  it('refuses an unknown extension nested in a portable object or a list with ERR_EXTENSION_UNKNOWN', () => {
    const regexp = ext(0x78, plain.pack(['a', 'g']));
    const payload = bytes(0x92, 0xa5, utf8('Video'), 0x81, 0xa2, utf8('id'), regexp);
    expect(refused(ext(2, payload))).toBe('ERR_EXTENSION_UNKNOWN');
    expect(refused(bytes(0x91, 0x91, 0x91, regexp))).toBe('ERR_EXTENSION_UNKNOWN');
  });

  it('refuses an extension inside a capability token with ERR_CAPABILITY_MALFORMED', () => {
    const inner = token([[[{ when: new Date(0) }], null, null]]);
    expect(refused(bytes(0x91, ext(1, inner)))).toBe('ERR_CAPABILITY_MALFORMED');
  });

  it('refuses an extension as a map key with ERR_NON_STRING_KEY', () => {
    expect(refused(bytes(0x81, ext(1, verifier.mint(['a']).toToken()), 0xc0))).toBe('ERR_NON_STRING_KEY');
    expect(refused(hex('81 01 c0'))).toBe('ERR_NON_STRING_KEY');
  });
});

describe('deep nesting', () => {
  it('refuses 100,000 nested lists with ERR_LIMIT_DEPTH, without overflowing the stack', () => {
    expect(refused(bytes(new Array(100_000).fill(0x91), 0xc0))).toBe('ERR_LIMIT_DEPTH');
  });

  it('refuses 100,000 nested maps with ERR_LIMIT_DEPTH', () => {
    expect(refused(bytes(...Array.from({ length: 100_000 }, () => [0x81, 0xa1, 0x61]), 0xc0))).toBe('ERR_LIMIT_DEPTH');
  });

  it('accepts the depth limit exactly and refuses one more level', () => {
    expect(codec.decode(bytes(new Array(32).fill(0x91), 0xc0), server())).toBeDefined();
    expect(refused(bytes(new Array(33).fill(0x91), 0xc0))).toBe('ERR_LIMIT_DEPTH');
  });

  it('counts portable objects as levels: deep nesting of them is refused with ERR_LIMIT_DEPTH', () => {
    let inner: Uint8Array = hex('c0');
    for (let i = 0; i < 40; i++) inner = ext(2, bytes(0x92, 0xa5, utf8('Video'), 0x81, 0xa2, utf8('id'), inner));
    expect(refused(inner)).toBe('ERR_LIMIT_DEPTH');
  });

  it('refuses a capability whose scope nests too deep with ERR_LIMIT_DEPTH', () => {
    let element: unknown = 'x';
    for (let i = 0; i < 40; i++) element = [element];
    expect(refused(bytes(0x91, ext(1, token([[[element], null, null]]))))).toBe('ERR_LIMIT_DEPTH');
  });
});

describe('announced sizes', () => {
  it('refuses a 50 MB string announced in a 10-byte frame with ERR_LIMIT_STRING', () => {
    const frame = hex('db 03 20 00 00 61 62 63 64 65');
    expect(frame).toHaveLength(10);
    expect(refused(frame)).toBe('ERR_LIMIT_STRING');
  });

  it('refuses the same frame with ERR_FRAME_TRUNCATED when the string limit would allow 50 MB', () => {
    expect(refused(hex('db 03 20 00 00 61 62 63 64 65'), new Codec({ maxStringBytes: 64 * 1024 * 1024 }))).toBe('ERR_FRAME_TRUNCATED');
  });

  it('refuses a 50 MB key, binary or extension announced in a few bytes', () => {
    expect(refused(hex('81 db 03 20 00 00 61 62'))).toBe('ERR_LIMIT_STRING');
    expect(refused(hex('c6 03 20 00 00 61 62 63'))).toBe('ERR_LIMIT_BINARY');
    expect(refused(hex('c9 03 20 00 00 01 94 01'))).toBe('ERR_FRAME_TRUNCATED');
  });

  it.each([
    ['an array32 of 2^32-1', 'dd ff ff ff ff c0 c0 c0'],
    ['a map32 of 2^32-1', 'df ff ff ff ff a1 61 c0'],
    ['an array16 of 65,535', 'dc ff ff c0'],
    ['a map16 of 65,535', 'de ff ff a1 61 c0'],
    ['a nested array32 of 2^32-1', '92 01 dd ff ff ff ff'],
  ])('refuses %s announced in a few bytes with ERR_FRAME_TRUNCATED', (_, frame) => {
    expect(refused(hex(frame))).toBe('ERR_FRAME_TRUNCATED');
  });

  it('refuses more values than the element limit with ERR_LIMIT_ELEMENTS, even when the bytes are there', () => {
    const n = 100_001;
    expect(refused(bytes(0xdd, 0x00, n >> 16, (n >> 8) & 0xff, n & 0xff, new Array(n).fill(0xc0)))).toBe('ERR_LIMIT_ELEMENTS');
    const lists = Array.from({ length: 1000 }, () => [0xdc, 0x00, 0x64, ...new Array(100).fill(0xc0)]);
    expect(refused(bytes(0xdc, 0x03, 0xe8, ...lists))).toBe('ERR_LIMIT_ELEMENTS');
  });

  it('refuses a frame past the byte limit with ERR_FRAME_TOO_LARGE before reading it', () => {
    expect(refused(new Uint8Array(1024 * 1024 + 1))).toBe('ERR_FRAME_TOO_LARGE');
  });

  it('decodes a frame packed with tiny capabilities in linear time (each one refused on use)', () => {
    // msgpackr copies the whole frame on every nested unpack: this frame once took minutes to refuse.
    const tiny = ext(1, new Capability(['a']).toToken());
    const n = 40_000;
    const frame = bytes(0xdd, 0x00, n >> 16, (n >> 8) & 0xff, n & 0xff, ...Array.from({ length: n }, () => tiny));
    const caps = codec.decode(frame, { verifier }) as Capability[];
    expect(caps).toHaveLength(n);
    expect(codeOf(() => unwrapCapability(caps[n - 1], ['a']))).toBe('ERR_CAPABILITY_FORGED');
  }, 20_000);
});

describe('__proto__ and other dangerous keys', () => {
  const proto = utf8('__proto__');
  it.each([
    ['a fixstr key', bytes(0x81, 0xa9, proto, 0x81, 0xa8, utf8('polluted'), 0xc3)],
    ['a str8 key', bytes(0x81, 0xd9, 9, proto, 0xc3)],
    ['a str16 key', bytes(0x81, 0xda, 0, 9, proto, 0xc3)],
    ['a str32 key', bytes(0x81, 0xdb, 0, 0, 0, 9, proto, 0xc3)],
    ['a key deep in a list', bytes(0x91, 0x91, 0x82, 0xa1, 0x61, 0x01, 0xa9, proto, 0x81, 0xa1, 0x78, 0x01)],
    ['a key in a call argument', bytes(0x94, 0x01, 0x07, 0xa1, 0x66, 0x91, 0x81, 0xa9, proto, 0x80)],
  ])('refuses "__proto__" as %s with ERR_FORBIDDEN_KEY', (_, frame) => {
    expect(refused(frame)).toBe('ERR_FORBIDDEN_KEY');
  });

  it('refuses "__proto__" among the fields of a portable object with ERR_FORBIDDEN_KEY', () => {
    const payload = bytes(0x92, 0xa5, utf8('Video'), 0x82, 0xa2, utf8('id'), 0xa1, 0x78, 0xa9, proto, 0x80);
    expect(refused(ext(2, payload))).toBe('ERR_FORBIDDEN_KEY');
  });

  it('refuses "__proto__" inside a signed capability scope with ERR_FORBIDDEN_KEY', () => {
    const forged = token([[['doc', JSON.parse('{"__proto__": {"polluted": true}}')], null, null]]);
    expect(refused(bytes(0x91, ext(1, forged)))).toBe('ERR_FORBIDDEN_KEY');
  });

  it('does not read an overlong UTF-8 spelling as "__proto__"', () => {
    const overlong = [0xc1, 0x9f, 0xc1, 0x9f, ...utf8('proto'), 0xc1, 0x9f, 0xc1, 0x9f];
    const value = codec.decode(bytes(0x81, 0xa0 + overlong.length, overlong, 0x81, 0xa1, 0x78, 0xc3), server()) as object;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).not.toContain('__proto__');
    expect((value as { x?: unknown }).x).toBeUndefined();
  });

  it('keeps "constructor" and "prototype" keys as plain data', () => {
    const value = codec.decode(plain.pack({ constructor: { prototype: { polluted: true } } }), server()) as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.getOwnPropertyNames(value)).toEqual(['constructor']);
    expect(({} as { constructor: unknown }).constructor).toBe(Object);
  });

  it('refuses a portable field that shadows a method or constructor with ERR_PORTABLE_INVALID', () => {
    expect(refused(ext(2, plain.pack(['Video', { id: 'x', play: 'evil' }])))).toBe('ERR_PORTABLE_INVALID');
    expect(refused(ext(2, plain.pack(['Video', { id: 'x', constructor: 'evil' }])))).toBe('ERR_PORTABLE_INVALID');
  });
});

describe('forged capabilities', () => {
  const use = (cap: Capability) => codeOf(() => unwrapCapability(cap, ['youtube_videos', 'x']));

  it('a plain map shaped like a capability is data, never a capability: ERR_CAPABILITY_NOT_VERIFIED', () => {
    const shaped = { scope: ['youtube_videos', 'x'], blocks: [{ segment: ['youtube_videos', 'x'], expiresAt: null, audience: null }], kid: 'k1', tag: new Uint8Array(32) };
    const [value] = codec.decode(plain.pack([shaped]), server()) as [unknown];
    expect(value).not.toBeInstanceOf(Capability);
    expect(heard).toEqual([]);
    expect(codeOf(() => unwrapCapability(value, ['youtube_videos', 'x']))).toBe('ERR_CAPABILITY_NOT_VERIFIED');
  });

  it('a token signed with another key under a known kid: ERR_CAPABILITY_BAD_SIGNATURE', () => {
    expect(use(received(bytes(0x91, ext(1, token([[['youtube_videos', 'x'], null, null]], { key: OTHER_KEY })))))).toBe('ERR_CAPABILITY_BAD_SIGNATURE');
  });

  it('a token from a server with another keyring: ERR_CAPABILITY_UNKNOWN_KEY', async () => {
    const elsewhere = new CapabilityVerifier({ keyring: await fixedKeyring('k-other', OTHER_KEY) });
    expect(use(received(bytes(0x91, ext(1, elsewhere.mint(['youtube_videos', 'x']).toToken()))))).toBe('ERR_CAPABILITY_UNKNOWN_KEY');
  });

  it('an expired token: ERR_CAPABILITY_EXPIRED', () => {
    const expired = verifier.mint(['youtube_videos', 'x'], { expiresAt: clock.now - 1 }).toToken();
    expect(use(received(bytes(0x91, ext(1, expired))))).toBe('ERR_CAPABILITY_EXPIRED');
  });

  it('a revoked token: ERR_CAPABILITY_REVOKED', async () => {
    const cap = verifier.mint(['youtube_videos', 'x']);
    await verifier.revocations.add([{ id: cap.revocationId!, expiresAt: null }]);
    expect(use(received(bytes(0x91, ext(1, cap.toToken()))))).toBe('ERR_CAPABILITY_REVOKED');
  });

  it('a token bound to another user: ERR_CAPABILITY_AUDIENCE', () => {
    expect(use(received(bytes(0x91, ext(1, verifier.mint(['youtube_videos', 'x'], { audience: 'bob' }).toToken()))))).toBe('ERR_CAPABILITY_AUDIENCE');
  });

  it('an unsigned token (kid "" and an empty tag), as a client makes: ERR_CAPABILITY_FORGED', () => {
    expect(use(received(bytes(0x91, ext(1, token([[['youtube_videos', 'x'], null, null]], { kid: '', tag: new Uint8Array(0) })))))).toBe('ERR_CAPABILITY_FORGED');
    expect(use(received(bytes(0x91, ext(1, token([[['youtube_videos', 'x'], null, null]], { tag: new Uint8Array(0) })))))).toBe('ERR_CAPABILITY_FORGED');
  });

  it('a tag of the wrong length: ERR_CAPABILITY_BAD_SIGNATURE', () => {
    const cut = token([[['youtube_videos', 'x'], null, null]]);
    const [v, kid, blocks, tag] = new Packr({ useRecords: false }).unpack(cut) as [number, string, Uint8Array[], Uint8Array];
    expect(use(received(bytes(0x91, ext(1, plain.pack([v, kid, blocks, tag.subarray(0, 31)])))))).toBe('ERR_CAPABILITY_BAD_SIGNATURE');
  });

  it.each<[string, Uint8Array]>([
    ['an unknown token version', token([[['youtube_videos'], null, null]], { version: 2 })],
    ['an empty scope', token([[[], null, null]])],
    ['no blocks', plain.pack([1, 'k1', [], new Uint8Array(32)])],
    ['a block that is not a list of three', token([[['youtube_videos'], null]])],
    ['a scope holding binary', token([[['youtube_videos', new Uint8Array(2)], null, null]])],
    ['a scope holding NaN', token([[['youtube_videos', NaN], null, null]])],
    ['a negative expiry', token([[['youtube_videos'], -5, null]])],
    ['a numeric audience', token([[['youtube_videos'], null, 7]])],
    ['a token that is not a list', plain.pack({ v: 1 })],
  ])('%s: ERR_CAPABILITY_MALFORMED', (_, bad) => {
    expect(refused(bytes(0x91, ext(1, bad)))).toBe('ERR_CAPABILITY_MALFORMED');
  });

  it('a token with more steps than the limit: ERR_LIMIT_STEPS', () => {
    const steps = Array.from({ length: 18 }, (_, i) => [i === 0 ? ['doc'] : [], null, null]);
    expect(refused(bytes(0x91, ext(1, token(steps))))).toBe('ERR_LIMIT_STEPS');
  });

  it('a token larger than the token limit: ERR_CAPABILITY_MALFORMED', () => {
    expect(refused(bytes(0x91, ext(1, token([[['doc', 'x'.repeat(9000)], null, null]]))))).toBe('ERR_CAPABILITY_MALFORMED');
  });

  it('a scope longer than the limit: ERR_LIMIT_SCOPE', () => {
    expect(refused(bytes(0x91, ext(1, token([[Array.from({ length: 33 }, (_, i) => i), null, null]]))))).toBe('ERR_LIMIT_SCOPE');
  });
});

describe('arbitrary bytes (property)', () => {
  const isTyped = (fn: () => unknown): boolean => {
    try {
      fn();
      return true;
    } catch (error) {
      return error instanceof CapsyncError;
    }
  };

  it('any byte string decodes or is refused with a CapsyncError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (frame) => {
        expect(isTyped(() => codec.decode(frame, server()))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('any mutation of a valid frame decodes or is refused with a CapsyncError, nothing else', () => {
    const frame = codec.encode([1, 7, 'f', [verifier.mint(['youtube_videos', 'x']).narrow(['update']), new Video('v'), { a: [1, 'b'] }]], { verifier });
    const mutation = fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }), kind: fc.constantFrom('set', 'insert', 'delete') });
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        const mutated = [...frame];
        for (const m of mutations) {
          const at = m.at % (mutated.length + 1);
          if (m.kind === 'set') mutated[Math.min(at, mutated.length - 1)] = m.value;
          else if (m.kind === 'insert') mutated.splice(at, 0, m.value);
          else mutated.splice(at, 1);
        }
        expect(isTyped(() => codec.decode(Uint8Array.from(mutated), server()))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
