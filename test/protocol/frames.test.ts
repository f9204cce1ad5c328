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

  it.each([
    [[FrameType.call, -1, 'f', []], clientFrameTypes],
    [[FrameType.call, 1.5, 'f', []], clientFrameTypes],
    [[FrameType.call, 1, '', []], clientFrameTypes],
    [[FrameType.call, 1, 'x'.repeat(257), []], clientFrameTypes],
    [[FrameType.call, 1, 'f', {}], clientFrameTypes],
    [[FrameType.call, 1, 'f', [], 'extra'], clientFrameTypes],
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
