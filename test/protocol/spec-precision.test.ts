import { describe, expect, it } from 'vitest';
import { Codec } from '../../protocol/codec.js';
import { codeOf, ext, hex, makeVerifier } from './helpers.js';

/** Each test pins one statement of protocol/SPEC.md sections 1 and 3.4 that a client written from it had to guess. */
const codec = new Codec();

describe('SPEC 1: precedence of the walk', () => {
  it.each([
    ['0xc1 in a map-key position', '81 c1 01', 'ERR_NON_STRING_KEY'],
    ['0xc1 in a map-value position', '81 a1 61 c1', 'ERR_FRAME_MALFORMED'],
    ['a non-string key before a 0xc1 value', '82 01 c1 a1 61 01', 'ERR_NON_STRING_KEY'],
    ['a truncated key before anything else', '81 a5 61', 'ERR_FRAME_TRUNCATED'],
    ['the earlier of two faults in the bytes', '92 c1 81 01 01', 'ERR_FRAME_MALFORMED'],
    ['a byte fault before a token fault', `92 c1 ${'d4 01 c1'}`, 'ERR_FRAME_MALFORMED'],
  ])('%s: %s is %s', (_, bytes, code) => {
    expect(codeOf(() => codec.decode(hex(bytes)))).toBe(code);
  });
});

describe('SPEC 1: duplicate map keys', () => {
  it('keeps the last value, counting both entries', () => {
    expect(codec.decode(hex('82 a1 61 01 a1 61 02'))).toEqual({ a: 2 });
    const small = new Codec({ maxElements: 4 });
    expect(codeOf(() => small.decode(hex('82 a1 61 01 a1 61 02')))).toBe('ERR_LIMIT_ELEMENTS');
  });

  it('refuses "__proto__" in either entry', () => {
    expect(codeOf(() => codec.decode(hex('82 a1 61 01 a9 5f 5f 70 72 6f 74 6f 5f 5f 02')))).toBe('ERR_FORBIDDEN_KEY');
  });
});

describe('SPEC 3.4 rule 1: the codes that survive from inside a token', () => {
  const deep = `${'91 '.repeat(40)}01`;
  it.each([
    ['0xc1', 'c1', 'ERR_CAPABILITY_MALFORMED'],
    ['a non-string key', '81 01 01', 'ERR_CAPABILITY_MALFORMED'],
    ['0xc1 in a map-key position', '81 c1 01', 'ERR_CAPABILITY_MALFORMED'],
    ['trailing bytes', '90 c0', 'ERR_CAPABILITY_MALFORMED'],
    ['missing bytes', 'a5 61', 'ERR_CAPABILITY_MALFORMED'],
    ['an extension inside', 'd4 02 00', 'ERR_CAPABILITY_MALFORMED'],
    ['a layout that is not a token', '94 01 a1 6b 90 c4 00', 'ERR_CAPABILITY_MALFORMED'],
    ['nesting over maxDepth', deep, 'ERR_LIMIT_DEPTH'],
    ['"__proto__" as a key', '81 a9 5f 5f 70 72 6f 74 6f 5f 5f 01', 'ERR_FORBIDDEN_KEY'],
  ])('%s is %s, refusing the whole frame', async (_, token, code) => {
    const { verifier } = await makeVerifier();
    const frame = Uint8Array.from([0x92, 0x01, ...ext(1, hex(token))]);
    expect(codeOf(() => new Codec().decode(frame, { verifier, user: null }))).toBe(code);
  });
});
