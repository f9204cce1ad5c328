import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { FrameType, resultFrameAround, resultFrameInPlace } from '../../protocol/frames.js';
import { PackedValue } from '../../server/calls.js';

// A keyed call's answer is built around the value bytes its stored outcome already packed: the frame must be
// exactly what msgpackr would write for [2, id, value], at every id width.
describe('resultFrameAround', () => {
  const value = { title: 'a', n: [1, 2, 3], big: 'x'.repeat(300) };
  const packedValue = pack(value);
  for (const id of [0, 1, 0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff]) {
    it(`writes the same bytes as packing [2, ${id}, value]`, () => {
      const frame = resultFrameAround(id, packedValue)!;
      expect(Buffer.from(frame)).toEqual(pack([FrameType.result, id, value]));
      expect(unpack(frame)).toEqual([FrameType.result, id, value]);
    });
  }
  it('leaves ids msgpackr would not write as an unsigned integer to the caller', () => {
    for (const id of [-1, 0x100000000, 1.5, Number.NaN]) expect(resultFrameAround(id, packedValue)).toBeUndefined();
  });
});

// The first answer of a keyed call is written over its stored outcome's `{ ok: ` prefix: no copy.
describe('resultFrameInPlace', () => {
  const value = { title: 'a', n: [1, 2, 3] };
  const outcome = (): Uint8Array => new Uint8Array(pack({ ok: value }));
  const start = (bytes: Uint8Array): number => bytes.length - pack(value).length;
  for (const id of [0, 0x7f, 0x80, 0xff, 0x100, 0xffff]) {
    it(`writes [2, ${id}, value] as a view of the outcome's bytes`, () => {
      const bytes = outcome();
      const frame = resultFrameInPlace(id, bytes, start(bytes))!;
      expect(frame.buffer).toBe(bytes.buffer);
      expect(Buffer.from(frame)).toEqual(pack([FrameType.result, id, value]));
    });
  }
  it('leaves a head longer than the prefix, or an id past 32 bits, to the caller', () => {
    const bytes = outcome();
    expect(start(bytes)).toBe(6);
    expect(resultFrameInPlace(0x10000, bytes, start(bytes))).toBeUndefined();
    expect(resultFrameInPlace(-1, bytes, start(bytes))).toBeUndefined();
    expect(Buffer.from(bytes)).toEqual(pack({ ok: value }));
  });
  it('a packed value answered twice (a repeat that joined the call) copies the second frame, so the first is never changed', () => {
    const bytes = outcome();
    const packed = new PackedValue(bytes, start(bytes));
    const first = packed.frame(1)!;
    const firstCopy = Buffer.from(first);
    const second = packed.frame(2)!;
    expect(first.buffer).toBe(bytes.buffer);
    expect(second.buffer).not.toBe(bytes.buffer);
    expect(Buffer.from(first)).toEqual(firstCopy);
    expect(unpack(first)).toEqual([FrameType.result, 1, value]);
    expect(unpack(second)).toEqual([FrameType.result, 2, value]);
    expect(unpack(packed.frame(0x10000)!)).toEqual([FrameType.result, 0x10000, value]);
  });
});
