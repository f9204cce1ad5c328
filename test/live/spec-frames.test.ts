import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Capability } from '../../protocol/capability/capability.js';
import { Codec } from '../../protocol/codec.js';
import { FrameType, clientFrameTypes, serverFrameTypes, validateFrame } from '../../protocol/frames.js';

/** The vectors of SPEC.md section 7.2 (frames 16-19): the codec must produce these bytes and accept them. */
const spec = readFileSync(fileURLToPath(new URL('../../protocol/SPEC.md', import.meta.url)), 'utf8');
const vectors = new Map<string, string>();
for (const match of spec.matchAll(/```vector ([\w.]+)\n([\s\S]*?)```/g)) vectors.set(match[1]!, match[2]!.replace(/\s+/g, ''));
const vector = (name: string): Uint8Array => {
  expect(vectors.get(name), `SPEC.md has the vector ${name}`).toMatch(/^([0-9a-f]{2})+$/);
  return Uint8Array.from(Buffer.from(vectors.get(name)!, 'hex'));
};
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('SPEC.md vectors of frames 16-19', () => {
  const codec = new Codec();
  const narrowed = vector('token.narrowed');
  const held = (codec.decode(Uint8Array.from([0x91, 0xc7, narrowed.length, 0x01, ...narrowed])) as [Capability])[0];
  const cases: [string, unknown[], ReadonlySet<number>][] = [
    ['frame.watch', [FrameType.watch, 3, held, { type: 'Video' }], clientFrameTypes],
    ['frame.watch.stop', [FrameType.watch, 4, held, { type: 'Video', stop: true }], clientFrameTypes],
    ['frame.snapshot', [FrameType.snapshot, 3, []], serverFrameTypes],
    ['frame.collectionChange.remove', [FrameType.collectionChange, 3, 'remove', ['youtube_videos', 'dQw4w9WgXcQ']], serverFrameTypes],
    ['frame.collectionChange.end', [FrameType.collectionChange, 3, 'end', 'ERR_COLLECTION_TOO_LARGE'], serverFrameTypes],
    ['frame.presenceEvent', [FrameType.presenceEvent, 'join', 'alice'], serverFrameTypes],
  ];
  it.each(cases)('%s is what the codec encodes, and a valid frame from its sender', (name, frame, allowed) => {
    const bytes = codec.encode(frame);
    if (process.env.PRINT_VECTORS) console.log(name, hex(bytes));
    expect(hex(bytes)).toBe(hex(vector(name)));
    expect(() => validateFrame(codec.decode(vector(name)), allowed)).not.toThrow();
    // And only from its sender: a client never sends a snapshot, a server never watches.
    const other = allowed === clientFrameTypes ? serverFrameTypes : clientFrameTypes;
    expect(() => validateFrame(codec.decode(vector(name)), other)).toThrow(expect.objectContaining({ code: 'ERR_FRAME_INVALID' }));
  });

  it('refuses a watch with another option, or a presence event of another kind', () => {
    expect(() => validateFrame([FrameType.watch, 1, held, { limit: 5 }], clientFrameTypes)).toThrow(expect.objectContaining({ code: 'ERR_FRAME_INVALID' }));
    expect(() => validateFrame([FrameType.watch, 1, held, { stop: false }], clientFrameTypes)).toThrow(expect.objectContaining({ code: 'ERR_FRAME_INVALID' }));
    expect(() => validateFrame([FrameType.presenceEvent, 'away', 'alice'], serverFrameTypes)).toThrow(expect.objectContaining({ code: 'ERR_FRAME_INVALID' }));
  });
});
