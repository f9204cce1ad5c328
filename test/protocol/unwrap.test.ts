import { describe, expect, it } from 'vitest';
import { ANY, Capability, matchScope, scopesOverlap, unwrapCapability, type JsonValue } from '../../protocol/index.js';
import { codeOf, makeVerifier } from './helpers.js';

/** A capability as the server holds it after receiving it: minted, sent, decoded and verified. */
async function verified(scope: JsonValue[]): Promise<Capability> {
  const { verifier } = await makeVerifier();
  return verifier.decode(verifier.mint(scope).toToken(), null);
}

describe('unwrapCapability: the seed cases', () => {
  const pattern = ['youtube_videos', ANY, 'update'] as const;

  it('accepts ["youtube_videos", id] and pads the missing element with null', async () => {
    expect(unwrapCapability(await verified(['youtube_videos', 'dQw4w9WgXcQ']), pattern)).toEqual(['youtube_videos', 'dQw4w9WgXcQ', null]);
  });

  it('accepts the very broad ["youtube_videos"] with a null video id', async () => {
    expect(unwrapCapability(await verified(['youtube_videos']), pattern)).toEqual(['youtube_videos', null, null]);
  });

  it('accepts the exact scope', async () => {
    expect(unwrapCapability(await verified(['youtube_videos', 'x', 'update']), pattern)).toEqual(['youtube_videos', 'x', 'update']);
  });

  it('rejects ["youtube_videos", "x", "delete"] with ERR_CAPABILITY_MISMATCH', async () => {
    const cap = await verified(['youtube_videos', 'x', 'delete']);
    expect(codeOf(() => unwrapCapability(cap, pattern))).toBe('ERR_CAPABILITY_MISMATCH');
  });

  it('rejects ["youtube_videos", "x", "update", "y"] with ERR_CAPABILITY_TOO_NARROW', async () => {
    const cap = await verified(['youtube_videos', 'x', 'update', 'y']);
    expect(codeOf(() => unwrapCapability(cap, pattern))).toBe('ERR_CAPABILITY_TOO_NARROW');
  });
});

describe('unwrapCapability: element comparison', () => {
  it('compares elements whole, never as string prefixes', async () => {
    const cap_video = await verified(['video']);
    const cap_videos = await verified(['videos']);
    expect(codeOf(() => unwrapCapability(cap_videos, ['video']))).toBe('ERR_CAPABILITY_MISMATCH');
    expect(codeOf(() => unwrapCapability(cap_video, ['videos']))).toBe('ERR_CAPABILITY_MISMATCH');
    expect(unwrapCapability(cap_video, ['video'])).toEqual(['video']);
  });

  it('compares maps by deep equality, ignoring key order', async () => {
    const cap = await verified(['doc', { org: 'acme', id: 7, meta: { b: [1, 2], a: null } }]);
    expect(unwrapCapability(cap, ['doc', { id: 7, meta: { a: null, b: [1, 2] }, org: 'acme' }])).toEqual([
      'doc',
      { org: 'acme', id: 7, meta: { b: [1, 2], a: null } },
    ]);
  });

  it.each<[string, JsonValue, JsonValue]>([
    ['a number and its string', 1, '1'],
    ['true and 1', true, 1],
    ['null and false', null, false],
    ['lists in another order', [1, 2], [2, 1]],
    ['a list and a longer list', [1], [1, 2]],
    ['a map and a map with an extra key', { a: 1 }, { a: 1, b: 2 }],
    ['a map and a list', { 0: 'a' }, ['a']],
    ['maps differing deep inside', { a: { b: [{ c: 1 }] } }, { a: { b: [{ c: 2 }] } }],
  ])('tells apart %s', async (_, inScope, inPattern) => {
    const cap = await verified(['doc', inScope]);
    expect(codeOf(() => unwrapCapability(cap, ['doc', inPattern]))).toBe('ERR_CAPABILITY_MISMATCH');
  });

  it('matches ANY to any value at top level, maps and lists included', async () => {
    const cap = await verified(['doc', { id: [1, { x: null }] }, 3]);
    expect(unwrapCapability(cap, [ANY, ANY, ANY, ANY])).toEqual(['doc', { id: [1, { x: null }] }, 3, null]);
  });

  it('does not treat ANY as a wildcard inside a nested value: such a pattern is not JSON, so it is refused', async () => {
    const cap = await verified(['doc', ['a', 'b']]);
    expect(codeOf(() => unwrapCapability(cap, ['doc', ['a', ANY] as never]))).toBe('ERR_INVALID_PATTERN');
  });

  it('checks length before elements: a scope longer than the pattern is too narrow even if an element differs', async () => {
    const cap = await verified(['youtube_videos', 'x', 'delete', 'y']);
    expect(codeOf(() => unwrapCapability(cap, ['youtube_videos', ANY, 'update']))).toBe('ERR_CAPABILITY_TOO_NARROW');
  });

  it('returns values no caller can use to alter the capability', async () => {
    const cap = await verified(['doc', { id: 'x' }]);
    const [, element] = unwrapCapability(cap, ['doc', ANY]);
    expect(() => {
      (element as { id: string }).id = 'y';
    }).toThrow(TypeError);
    expect(cap.scope).toEqual(['doc', { id: 'x' }]);
  });
});

describe('unwrapCapability: what is not a verified capability', () => {
  it.each<[string, unknown]>([
    ['null', null],
    ['a string', 'youtube_videos'],
    ['a plain map shaped like a capability', { scope: ['youtube_videos'], blocks: [{ segment: ['youtube_videos'], expiresAt: null, audience: null }] }],
    ['an object with the Capability prototype', Object.create(Capability.prototype)],
    ['a copy of a capability made in local code', { ...new Capability(['youtube_videos']) }],
  ])('refuses %s with ERR_CAPABILITY_NOT_VERIFIED', (_, value) => {
    expect(codeOf(() => unwrapCapability(value, ['youtube_videos']))).toBe('ERR_CAPABILITY_NOT_VERIFIED');
  });

  it('refuses an empty or non-list pattern with ERR_INVALID_PATTERN', async () => {
    const cap = await verified(['doc']);
    expect(codeOf(() => unwrapCapability(cap, []))).toBe('ERR_INVALID_PATTERN');
    expect(codeOf(() => unwrapCapability(cap, 'doc' as never))).toBe('ERR_INVALID_PATTERN');
  });
});

describe('matchScope and scopesOverlap', () => {
  it('matchScope applies the same rules without a signature', () => {
    expect(matchScope(['youtube_videos'], ['youtube_videos', ANY, 'update'])).toEqual(['youtube_videos', null, null]);
    expect(codeOf(() => matchScope(['a', 'b'], ['a']))).toBe('ERR_CAPABILITY_TOO_NARROW');
    expect(codeOf(() => matchScope(['a'], ['b']))).toBe('ERR_CAPABILITY_MISMATCH');
  });

  it('scopesOverlap holds when one scope is an element-wise prefix of the other', () => {
    expect(scopesOverlap(['youtube_videos'], ['youtube_videos', 'x'])).toBe(true);
    expect(scopesOverlap(['youtube_videos', 'x'], ['youtube_videos'])).toBe(true);
    expect(scopesOverlap(['doc', { b: 1, a: 2 }], ['doc', { a: 2, b: 1 }, 'x'])).toBe(true);
    expect(scopesOverlap(['video'], ['videos'])).toBe(false);
    expect(scopesOverlap(['youtube_videos', 'x'], ['youtube_videos', 'y'])).toBe(false);
  });
});

describe('patterns and equality: where capsync follows Anvil, and where it is stricter', () => {
  class Point {
    x = 1;
  }

  it('refuses a pattern element that is not JSON (Date, Map, Set, RegExp, a class instance, NaN, undefined)', async () => {
    const cap = await verified(['doc', {}]);
    for (const element of [new Date(0), new Map(), new Set(), /x/, new Point(), Number.NaN, undefined, () => 1]) {
      expect(codeOf(() => unwrapCapability(cap, ['doc', element as never])), String(element)).toBe('ERR_INVALID_PATTERN');
      expect(codeOf(() => matchScope(cap.scope, ['doc', element as never])), String(element)).toBe('ERR_INVALID_PATTERN');
    }
    expect(unwrapCapability(cap, ['doc', {}])).toEqual(['doc', {}]);
  });

  it('compares by JSON equality: true is not 1, and "1" is not 1', async () => {
    expect(codeOf(() => unwrapCapability(Promise.resolve() as never, ['x']))).toBe('ERR_CAPABILITY_NOT_VERIFIED');
    expect(codeOf(() => matchScope([true], [1]))).toBe('ERR_CAPABILITY_MISMATCH');
    expect(codeOf(() => matchScope([1], ['1']))).toBe('ERR_CAPABILITY_MISMATCH');
  });

  it('says two capabilities are equal when their scopes are (cap.equals), whatever their chains', async () => {
    const a = await verified(['doc', { b: 1, a: [2] }]);
    const b = new Capability(['doc', { a: [2], b: 1 }]);
    expect(a.equals(b)).toBe(true);
    expect(a.equals(a.narrow([], { audience: 'someone' }))).toBe(true);
    expect(a.equals(a.narrow(['more']))).toBe(false);
    expect(a.equals({ scope: a.scope })).toBe(false);
  });
});
