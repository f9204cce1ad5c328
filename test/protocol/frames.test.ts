import { describe, expect, it } from 'vitest';
import { FrameType, clientFrameTypes, serverFrameTypes, validateFrame } from '../../protocol/frames.js';
import { codeOf } from './helpers.js';

describe('frame validation', () => {
  it('accepts well-formed call, result and push frames', () => {
    expect(validateFrame([FrameType.call, 1, 'f', []], clientFrameTypes)).toEqual([1, 1, 'f', []]);
    expect(validateFrame([FrameType.result, 0, { any: 'thing' }], serverFrameTypes)).toEqual([2, 0, { any: 'thing' }]);
    expect(validateFrame([FrameType.push, ['v', 1], 'Video', 3, { a: 1 }], serverFrameTypes)).toHaveLength(5);
    expect(validateFrame([FrameType.push, ['v', 1], 'Video', 4, null], serverFrameTypes)).toHaveLength(5);
  });

  it('accepts a keyed call, a push with its change sequence number, resume and grants', () => {
    expect(validateFrame([FrameType.call, 1, 'f', [], 'k-1'], clientFrameTypes)).toEqual([1, 1, 'f', [], 'k-1']);
    expect(validateFrame([FrameType.push, ['v'], 'Video', 3, { a: 1 }, 42], serverFrameTypes)).toHaveLength(6);
    const resume = [FrameType.resume, 2, { caps: [], seen: [[['v', 1], 3]], epoch: 'e', seq: 9 }];
    expect(validateFrame(resume, clientFrameTypes)).toEqual(resume);
    expect(validateFrame([FrameType.grants, 3], clientFrameTypes)).toEqual([15, 3]);
  });

  it.each([
    [[FrameType.call, -1, 'f', []], clientFrameTypes],
    [[FrameType.call, 1.5, 'f', []], clientFrameTypes],
    [[FrameType.call, 1, '', []], clientFrameTypes],
    [[FrameType.call, 1, 'x'.repeat(257), []], clientFrameTypes],
    [[FrameType.call, 1, 'f', {}], clientFrameTypes],
    [[FrameType.call, 1, 'f', [], ''], clientFrameTypes],
    [[FrameType.call, 1, 'f', [], 'k'.repeat(129)], clientFrameTypes],
    [[FrameType.call, 1, 'f', [], 7], clientFrameTypes],
    [[FrameType.call, 1, 'f', [], 'key', 'extra'], clientFrameTypes],
    [[FrameType.push, ['v'], 'Video', 1, {}, -1], serverFrameTypes],
    [[FrameType.push, ['v'], 'Video', 1, {}, 1, 2], serverFrameTypes],
    [[FrameType.resume, 1, { caps: [], seen: [], epoch: null }], clientFrameTypes],
    [[FrameType.resume, 1, { caps: ['not a capability'], seen: [], epoch: null, seq: 0 }], clientFrameTypes],
    [[FrameType.resume, 1, { caps: [], seen: [[[], 1]], epoch: null, seq: 0 }], clientFrameTypes],
    [[FrameType.resume, 1, { caps: [], seen: [], epoch: null, seq: 0, extra: 1 }], clientFrameTypes],
    [[FrameType.grants, 1, 'x'], clientFrameTypes],
    [[FrameType.call, 1, 'f'], clientFrameTypes],
    [[FrameType.result, 1, 'value'], clientFrameTypes],
    [[FrameType.result, 1], serverFrameTypes],
    [[FrameType.result, 1, 2, 3], serverFrameTypes],
    [[FrameType.push, [], 'Video', 1, {}], serverFrameTypes],
    [[FrameType.push, ['v'], 'Video', -1, {}], serverFrameTypes],
    [[FrameType.push, ['v'], 'Video', 1, [1]], serverFrameTypes],
    [[FrameType.push, ['v'], 7, 1, {}], serverFrameTypes],
    [[99, 1], clientFrameTypes],
    ['not a list', clientFrameTypes],
    [[FrameType.delegate, 1, 'bob', 'not a capability', {}], clientFrameTypes],
  ] as const)('refuses %j with ERR_FRAME_INVALID', (frame, allowed) => {
    expect(codeOf(() => validateFrame(frame as unknown, allowed))).toBe('ERR_FRAME_INVALID');
  });
});
