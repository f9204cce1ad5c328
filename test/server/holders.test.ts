import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonValue } from '../../protocol/json-value.js';
import { HolderIndex } from '../../server/holders.js';

const sorted = (holders: Set<string>): string[] => [...holders].sort();

describe('HolderIndex', () => {
  it('finds a holder whose scope is a prefix of the address (a broader capability)', () => {
    const index = new HolderIndex<string>();
    index.add(['youtube_videos'], 'all');
    index.add(['youtube_videos', 'x'], 'one');
    expect(sorted(index.lookup(['youtube_videos', 'x']))).toEqual(['all', 'one']);
    expect(sorted(index.lookup(['youtube_videos', 'y']))).toEqual(['all']);
    expect(sorted(index.lookup(['other', 'x']))).toEqual([]);
  });

  it('finds a holder whose scope extends the address (a narrower capability still sees the object)', () => {
    const index = new HolderIndex<string>();
    index.add(['youtube_videos', 'x', 'update'], 'editor');
    expect(sorted(index.lookup(['youtube_videos', 'x']))).toEqual(['editor']);
    expect(sorted(index.lookup(['youtube_videos']))).toEqual(['editor']);
    expect(sorted(index.lookup(['youtube_videos', 'y']))).toEqual([]);
    expect(sorted(index.lookup(['youtube_videos', 'x', 'delete']))).toEqual([]);
  });

  it('compares elements as JSON values: map key order ignored, 1 and "1" apart', () => {
    const index = new HolderIndex<string>();
    index.add(['docs', { a: 1, b: 2 }], 'map');
    index.add(['n', 1], 'number');
    expect(sorted(index.lookup(['docs', { b: 2, a: 1 }, 'page']))).toEqual(['map']);
    expect(sorted(index.lookup(['n', '1']))).toEqual([]);
    expect(sorted(index.lookup(['n', 1]))).toEqual(['number']);
  });

  it('does not mistake the concatenation of elements for the elements themselves', () => {
    const index = new HolderIndex<string>();
    index.add(['a\u0000b'], 'joined');
    expect(sorted(index.lookup(['a', 'b']))).toEqual([]);
  });

  it('counts a scope held twice by one holder, and forgets it after both are removed', () => {
    const index = new HolderIndex<string>();
    index.add(['v', 'x'], 'h');
    index.add(['v', 'x'], 'h');
    index.remove(['v', 'x'], 'h');
    expect(sorted(index.lookup(['v', 'x']))).toEqual(['h']);
    index.remove(['v', 'x'], 'h');
    expect(sorted(index.lookup(['v', 'x']))).toEqual([]);
  });

  it('keeps a holder found through another scope when one is removed', () => {
    const index = new HolderIndex<string>();
    index.add(['v'], 'h');
    index.add(['v', 'x', 'update'], 'h');
    index.remove(['v'], 'h');
    expect(sorted(index.lookup(['v', 'x']))).toEqual(['h']);
    expect(sorted(index.lookup(['v', 'y']))).toEqual([]);
  });

  it('removes one holder without touching another holding the same scope', () => {
    const index = new HolderIndex<string>();
    index.add(['v', 'x'], 'a');
    index.add(['v', 'x'], 'b');
    index.remove(['v', 'x'], 'a');
    expect(sorted(index.lookup(['v', 'x']))).toEqual(['b']);
  });

  it('leaves no empty key behind, and removing what was never added creates none', () => {
    const index = new HolderIndex<string>();
    index.remove(['never', 'added'], 'h');
    expect(index.keyCount).toBe(0);
    index.add(['a', 'b', 'c'], 'h');
    index.add(['a'], 'g');
    expect(index.keyCount).toBeGreaterThan(0);
    index.remove(['a', 'b', 'c'], 'h');
    index.remove(['a'], 'g');
    index.remove(['a'], 'g'); // once more than added
    expect(index.keyCount).toBe(0);
  });
});

/** The oracle: one scope covers an address when one is a prefix of the other, element by deep-equal element. */
function covers(scope: readonly JsonValue[], address: readonly JsonValue[]): boolean {
  const n = Math.min(scope.length, address.length);
  for (let i = 0; i < n; i++) if (!sameJson(scope[i]!, address[i]!)) return false;
  return true;
}

function sameJson(a: JsonValue, b: JsonValue): boolean {
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]!));
  }
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && sameJson(a[k]!, b[k]!));
}

// A small alphabet, so random scopes share prefixes often; maps come in both key orders.
const element: fc.Arbitrary<JsonValue> = fc.constantFrom<JsonValue>('a', 'b', 1, '1', null, true, [], ['a'], { k: 1, j: 2 }, { j: 2, k: 1 }, { k: 2 });
const scope = fc.array(element, { minLength: 1, maxLength: 4 });
const holder = fc.constantFrom('h1', 'h2', 'h3');

describe('HolderIndex against a brute-force oracle', () => {
  it('looks up exactly the holders of a covering scope, through adds and removes, and ends empty', () => {
    const step = fc.oneof(
      fc.record({ op: fc.constant('add' as const), holder, scope }),
      fc.record({ op: fc.constant('remove' as const), pick: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), fc.array(scope, { minLength: 1, maxLength: 10 }), (steps, addresses) => {
        const index = new HolderIndex<string>();
        const held: { holder: string; scope: JsonValue[] }[] = [];
        for (const s of steps) {
          if (s.op === 'add') {
            index.add(s.scope, s.holder);
            held.push({ holder: s.holder, scope: s.scope });
          } else if (held.length > 0) {
            const [removed] = held.splice(s.pick % held.length, 1);
            index.remove(removed!.scope, removed!.holder);
          }
        }
        for (const address of [...addresses, ...held.map((h) => h.scope)]) {
          const expected = new Set(held.filter((h) => covers(h.scope, address)).map((h) => h.holder));
          expect(sorted(index.lookup(address))).toEqual(sorted(expected));
        }
        for (const h of held) index.remove(h.scope, h.holder);
        expect(index.keyCount).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});
