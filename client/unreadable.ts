import type { Codec } from '../protocol/codec.js';
import { FrameType } from '../protocol/frames.js';
import { assertJsonValue, type JsonValue } from '../protocol/json-value.js';

/**
 * The address of a push the client could not decode (its state holds a portable class this side never
 * registered, say), read from the frame's plain parts. Nobody waits for a push, so without it the failure
 * would be silent: the live streams of that object error with the decoder's code instead.
 */
export function unreadablePushAddress(codec: Codec, bytes: Uint8Array): JsonValue[] | undefined {
  const outline = codec.outline(bytes);
  if (!Array.isArray(outline) || outline[0] !== FrameType.push) return undefined;
  const address: unknown = outline[1];
  if (!Array.isArray(address) || address.length === 0) return undefined;
  try {
    assertJsonValue(address);
  } catch {
    return undefined;
  }
  return address;
}
