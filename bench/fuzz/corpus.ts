import type { Capability } from '../../protocol/capability/capability.js';
import { Codec } from '../../protocol/codec.js';
import { FrameType } from '../../protocol/frames.js';

/** The id every corpus request is encoded with: a uint32 (`ce` + 4 bytes) at bytes 2..6, stamped per frame. */
const PLACEHOLDER_ID = 0xfffffff0;

/** A valid frame of the corpus, and whether bytes 2..6 are its request id (a uint32 to stamp). */
export interface Seed {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly stampable: boolean;
}

/** Extension bytes (ext8) of `type` around `payload`. */
function ext8(type: number, payload: Uint8Array): number[] {
  return [0xc7, payload.length, type, ...payload];
}

/**
 * Valid client frames of every type, built from what the server really sent this user (`caps`: bound,
 * signed capabilities; `objects`: portable objects such as the demo's videos), so that mutations start from
 * frames the server accepts and reach past the scan into validation, verification and the functions.
 */
export function buildCorpus(caps: readonly Capability[], objects: readonly object[], jwt: string): Seed[] {
  const codec = new Codec();
  const cap = caps[0];
  const seeds: Seed[] = [];
  const add = (name: string, frame: unknown[]): void => {
    seeds.push({ name, bytes: codec.encode(frame), stampable: frame[1] === PLACEHOLDER_ID });
  };
  const id = PLACEHOLDER_ID;
  // `[1, id, name, ...args]` with the arguments as raw bytes (what no encoder writes).
  const rawCall = (name: string, args: number[]): Uint8Array => Uint8Array.from([0x94, ...codec.encode([FrameType.call, id, name]).subarray(1), ...args]);
  add('ping', [FrameType.ping, 12345]);
  add('pong', [FrameType.pong, 1]);
  add('call get_my_videos', [FrameType.call, id, 'get_my_videos', []]);
  add('call keyed', [FrameType.call, id, 'get_my_videos', [], 'key-0123456789']);
  add('call unknown function', [FrameType.call, id, 'no_such_function', [1, 'two', { three: [3] }]]);
  add('call get_inspector', [FrameType.call, id, 'get_inspector', []]);
  add('presence', [FrameType.presence, id]);
  add('grants', [FrameType.grants, id]);
  add('refresh', [FrameType.refresh, id, jwt]);
  add('call with a map argument', [FrameType.call, id, 'add_video', ['title', 'a description']]);
  if (cap !== undefined) {
    add('call set_video_description', [FrameType.call, id, 'set_video_description', [cap, 'fuzzed description']]);
    add('call set_video_description fromVersion', [FrameType.call, id, 'set_video_description', [cap, 'x', 1]]);
    add('call delete_video', [FrameType.call, id, 'delete_video', [cap]]);
    add('delegate', [FrameType.delegate, id, 'editor2', cap, {}]);
    add('delegate bearer', [FrameType.delegate, id, 'admin', cap, { bearer: true }]);
    add('watch', [FrameType.watch, id, cap, {}]);
    add('watch stop', [FrameType.watch, id, cap, { stop: true }]);
    add('resume', [FrameType.resume, id, { caps: caps.slice(0, 3), seen: [[cap.scope, 1]], epoch: null, seq: 0 }]);
    add('call many capabilities', [FrameType.call, id, 'get_my_videos', [...caps]]);
    // Handles (types 5 and 6): a binding of the next handle, then a call that uses it.
    const token = cap.toToken();
    seeds.push({ name: 'call binding handle 0', bytes: rawCall('set_video_description', [0x92, ...ext8(6, Uint8Array.from([0, 0, 0, 0, ...token])), 0xa1, 0x62]), stampable: true });
    seeds.push({ name: 'call using handle 0', bytes: rawCall('set_video_description', [0x92, 0xd6, 0x05, 0, 0, 0, 0, 0xa1, 0x63]), stampable: true });
    // Revoking the fuzzer's own capabilities last in the list: its later uses fail with a typed code too.
    add('revoke', [FrameType.revoke, id, caps[caps.length - 1]!]);
  }
  for (const object of objects.slice(0, 2)) add('call with a portable argument', [FrameType.call, id, 'set_video_description', [object, 'p']]);
  // Duplicate map keys, raw: msgpack allows them, capsync keeps the last (SPEC section 1).
  seeds.push({ name: 'duplicate map keys', bytes: rawCall('get_my_videos', [0x91, 0x82, 0xa1, 0x61, 0x01, 0xa1, 0x61, 0x02]), stampable: true });
  return seeds;
}

/** Writes `id` as the uint32 at bytes 2..6 of a stampable seed (a copy). */
export function stamp(seed: Seed, id: number): Uint8Array {
  const bytes = Uint8Array.from(seed.bytes);
  if (seed.stampable && bytes[2] === 0xce) {
    bytes[3] = id >>> 24;
    bytes[4] = (id >>> 16) & 0xff;
    bytes[5] = (id >>> 8) & 0xff;
    bytes[6] = id & 0xff;
  }
  return bytes;
}
