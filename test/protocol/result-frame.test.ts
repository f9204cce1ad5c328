import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { FrameType, resultFrameAround } from '../../protocol/frames.js';

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
