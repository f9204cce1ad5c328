/**
 * The resume frame is checked by hand on the server's hot path (protocol/frames.ts): the hand check must
 * accept and refuse what its zod schema does, except that it also refuses a map that is not a plain object.
 */
import { describe, expect, it } from 'vitest';
import { Capability } from '../../protocol/capability/capability.js';
import { FrameType, resumeSchema, validateFrame, clientFrameTypes } from '../../protocol/frames.js';

const cap = new Capability(['notes', 'n1']);
const valid = { caps: [cap], seen: [[['notes', 'n1'], 3]], epoch: 'e1', seq: 7 };

const cases: [string, unknown][] = [
  ['a full resume', valid],
  ['a first resume', { caps: [], seen: [], epoch: null, seq: 0 }],
  ['with an identity', { ...valid, identity: 'x' }],
  ['an identity of 512', { ...valid, identity: 'x'.repeat(512) }],
  ['an identity of 513', { ...valid, identity: 'x'.repeat(513) }],
  ['an empty identity', { ...valid, identity: '' }],
  ['a numeric identity', { ...valid, identity: 5 }],
  ['an unknown key', { ...valid, extra: 1 }],
  ['no epoch', { caps: [], seen: [], seq: 0 }],
  ['a numeric epoch', { ...valid, epoch: 1 }],
  ['no seq', { caps: [], seen: [], epoch: null }],
  ['a negative seq', { ...valid, seq: -1 }],
  ['a fractional seq', { ...valid, seq: 1.5 }],
  ['an unsafe seq', { ...valid, seq: 2 ** 53 }],
  ['a string seq', { ...valid, seq: '1' }],
  ['caps not a list', { ...valid, caps: cap }],
  ['a cap that is not a Capability', { ...valid, caps: [{ scope: ['notes'] }] }],
  ['seen not a list', { ...valid, seen: {} }],
  ['a seen entry of three', { ...valid, seen: [[['notes'], 1, 2]] }],
  ['a seen entry of one', { ...valid, seen: [[['notes']]] }],
  ['a seen entry with an empty address', { ...valid, seen: [[[], 1]] }],
  ['a seen entry whose address is a string', { ...valid, seen: [['notes', 1]] }],
  ['a seen entry with a negative version', { ...valid, seen: [[['notes'], -1]] }],
  ['a seen entry that is a map', { ...valid, seen: [{ 0: ['notes'], 1: 1 }] }],
  ['a list instead of a map', [valid]],
  ['null', null],
];

const accepted = (frame: unknown[]): boolean => {
  try {
    validateFrame(frame, clientFrameTypes);
    return true;
  } catch {
    return false;
  }
};

describe('the resume frame check', () => {
  it.each(cases)('agrees with the schema on %s', (_name, map) => {
    expect(accepted([FrameType.resume, 1, map])).toBe(resumeSchema.safeParse(map).success);
  });

  it('refuses, stricter than the schema, a map that is not a plain object (a decoded portable instance)', () => {
    const instance = Object.assign(Object.create({ inherited: true }), valid);
    expect(resumeSchema.safeParse(instance).success).toBe(true);
    expect(accepted([FrameType.resume, 1, instance])).toBe(false);
  });

  it('checks the frame around the map as the schema does', () => {
    expect(accepted([FrameType.resume, 1, valid])).toBe(true);
    expect(accepted([FrameType.resume, -1, valid])).toBe(false);
    expect(accepted([FrameType.resume, 1, valid, 'more'])).toBe(false);
    expect(accepted([FrameType.resume, 1])).toBe(false);
  });
});
