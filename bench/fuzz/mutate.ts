import type { Prng } from './prng.js';

/** Bytes a mutation writes: every msgpack marker that announces a length, a container or an extension, and 0xc1. */
const MARKERS = [0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff];
/** Headers that announce far more than any frame holds. */
const OVERSIZE = [
  [0xdb, 0xff, 0xff, 0xff, 0xff], [0xdd, 0x7f, 0xff, 0xff, 0xff], [0xdf, 0x00, 0x10, 0x00, 0x00], [0xc6, 0x00, 0x08, 0x00, 0x00],
  [0xc9, 0xff, 0xff, 0xff, 0xff, 0x01], [0xc9, 0x00, 0x00, 0x40, 0x00, 0x02], [0xda, 0xff, 0xff], [0xdc, 0xff, 0xff], [0xde, 0xff, 0xff],
];
/** Extension types: capsync's four, types it refuses (msgpackr's built-ins, the timestamp) and others. */
const EXT_TYPES = [1, 2, 5, 6, 0, 3, 4, 7, 0x42, 0x62, 0x65, 0x69, 0x70, 0x72, 0x73, 0x74, 0x78, 0x7f, 0x80, 0xff];

/** One kind of damage; `other` is another corpus frame (for splices). */
type Mutation = (b: Uint8Array, rng: Prng, other: Uint8Array) => Uint8Array;

const at = (b: Uint8Array, rng: Prng): number => rng.below(b.length + 1);
const join = (...parts: ArrayLike<number>[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) (out.set(p, pos), (pos += p.length));
  return out;
};
// Half the time a value takes the place of one byte (a scalar of the frame, when it lands on one), so the frame
// still holds as many values as its lists announce and reaches past the scan; else it is inserted.
const insert = (b: Uint8Array, pos: number, bytes: ArrayLike<number>, rng: Prng): Uint8Array =>
  join(b.subarray(0, pos), bytes, b.subarray(Math.min(b.length, pos + rng.below(2))));
const replace = (b: Uint8Array, pos: number, bytes: ArrayLike<number>, drop = 1): Uint8Array => join(b.subarray(0, pos), bytes, b.subarray(Math.min(b.length, pos + drop)));

/** Every mutation by name: the outcome table and a reproduction name the one that made a frame. */
export const mutations: Record<string, Mutation> = {
  bitFlip: (b, rng) => {
    const out = Uint8Array.from(b);
    for (let i = 1 + rng.below(8); i > 0 && out.length > 0; i--) out[rng.below(out.length)]! ^= 1 << rng.below(8);
    return out;
  },
  marker: (b, rng) => replace(b, rng.below(b.length), [rng.pick(MARKERS)]),
  truncate: (b, rng) => b.subarray(0, rng.below(b.length)),
  splice: (b, rng, other) => join(b.subarray(0, rng.below(b.length + 1)), other.subarray(rng.below(other.length + 1))),
  insertRandom: (b, rng) => insert(b, at(b, rng), rng.bytes(1 + rng.below(16)), rng),
  // A value replaced by one of another type (a scalar where a list, a string or a map is, or the reverse).
  wrongType: (b, rng) => replace(b, 1 + rng.below(Math.max(1, b.length - 1)), rng.pick([[0xc0], [0xc3], [0x2a], [0xa1, 0x78], [0x90], [0x80], [0xcb, 0, 0, 0, 0, 0, 0, 0, 0], [0xc4, 1, 0]]), 1 + rng.below(4)),
  oversize: (b, rng) => insert(b, at(b, rng), rng.pick(OVERSIZE), rng),
  // A real, large value: a string or binary near and past the limits, or a list of many small values.
  bigValue: (b, rng) => {
    const n = rng.pick([70_000, 262_144, 262_145, 524_289, 1_100_000]);
    const kind = rng.below(3);
    const head = kind === 0 ? [0xdb, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff] : kind === 1 ? [0xc6, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff] : [0xdd, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
    return insert(b, Math.min(b.length, 2 + rng.below(Math.max(1, b.length - 2))), join(head, new Uint8Array(n).fill(kind === 2 ? 0x01 : 0x61)), rng);
  },
  deepNest: (b, rng) => {
    const depth = rng.pick([30, 31, 32, 33, 100, 5_000, 200_000]);
    const open = new Uint8Array(depth).fill(rng.below(2) === 0 ? 0x91 : 0x81);
    if (open[0] === 0x81) {
      // Maps need a key before each value: `81 a1 6b` per level.
      const levels = Math.min(depth, 60_000);
      const bytes = new Uint8Array(levels * 3);
      for (let i = 0; i < levels; i++) bytes.set([0x81, 0xa1, 0x6b], i * 3);
      return insert(b, at(b, rng), join(bytes, [0x01]), rng);
    }
    return insert(b, at(b, rng), join(open, [0x01]), rng);
  },
  extGarbage: (b, rng) => {
    const payload = rng.bytes(rng.pick([0, 1, 2, 4, 5, 8, 16, 40, 300]));
    const type = rng.pick(EXT_TYPES);
    const head = payload.length === 1 ? [0xd4, type] : payload.length === 2 ? [0xd5, type] : payload.length === 4 ? [0xd6, type] : [0xc8, payload.length >> 8, payload.length & 0xff, type];
    return insert(b, at(b, rng), join(head, payload), rng);
  },
  duplicateKeys: (b, rng) => insert(b, at(b, rng), [0x83, 0xa1, 0x6b, 0x01, 0xa1, 0x6b, 0xc0, 0xa1, 0x6b, 0x90], rng),
};

const names = Object.keys(mutations);

/** One to three mutations of `seed`, chosen by `rng`; returns the bytes and the names of what was applied. */
export function mutate(seed: Uint8Array, other: Uint8Array, rng: Prng): { bytes: Uint8Array; applied: string[] } {
  let bytes = seed;
  const applied: string[] = [];
  for (let i = 1 + rng.below(3); i > 0; i--) {
    const name = rng.pick(names);
    // Large values are costly to build and send: a few per hundred frames are enough to cover them.
    if ((name === 'bigValue' || name === 'deepNest') && rng.below(8) !== 0) continue;
    bytes = mutations[name]!(bytes, rng, other);
    applied.push(name);
  }
  if (applied.length === 0) (bytes = mutations.bitFlip!(bytes, rng, other)), applied.push('bitFlip');
  return { bytes, applied };
}
