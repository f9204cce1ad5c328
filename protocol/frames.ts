// zod's mini build: the same validators, tree-shakable, so the browser client does not carry all of zod.
import * as z from 'zod/mini';
import { Capability } from './capability/capability.js';
import { fail } from './errors.js';
import { peekFrameId } from './frame-id.js';

/**
 * Every frame is a msgpack list whose first element is its type. Layouts are in protocol/SPEC.md.
 * Direction: c = client, s = server.
 */
export const FrameType = {
  /** s→c `[0, hello]` first frame of a session. */
  hello: 0,
  /**
   * c→s `[1, id, name, args]`, `[1, id, name, args, key]` or `[1, id, name, args, key, acks]` calls a server
   * function; a keyed call runs at most once; `acks` are keys whose answers the client has received.
   */
  call: 1,
  /** s→c `[2, id, value]` a call's result. */
  result: 2,
  /** s→c `[3, id | null, code, message]` a call's error, or a session error (id null). */
  error: 3,
  /** s→c `[4, address, type, version, state | null, seq?]` new state of a live object; null state = deleted. */
  push: 4,
  /** c→s `[5, id, to, cap, options]` delegates a capability to a connected user. */
  delegate: 5,
  /** s→c `[6, delegation]` a capability delegated to this user. */
  delegation: 6,
  /** c→s `[7, id, cap]` revokes a capability and all narrowed from it. */
  revoke: 7,
  /** s→c `[8, revocationId, scope, reason]` a capability this connection held no longer works. */
  revoked: 8,
  /** either `[9, nonce]` application-level ping. */
  ping: 9,
  /** either `[10, nonce]` answer to a ping. */
  pong: 10,
  /** c→s `[11, id, jwt]` replaces the session's JWT before it expires. */
  refresh: 11,
  /** s→c `[12, expiresAt]` the session's JWT expires soon: send `refresh` or be disconnected. */
  tokenExpiring: 12,
  /** c→s `[13, id]` or `[13, id, { watch }]` asks which users are online (as the server's presence policy allows); `watch` starts or stops this connection's presence events. */
  presence: 13,
  /** c→s `[14, id, {caps, seen, epoch, seq}]` resumes a session on a new connection: rights and what was seen. */
  resume: 14,
  /** c→s `[15, id]` lists the still-valid capabilities delegated to this user. */
  grants: 15,
  /** c→s `[16, id, cap, {type?, stop?}]` watches the collection of objects under a capability's scope (or stops). */
  watch: 16,
  /** s→c `[17, watchId, [object]]` one page of a watched collection's snapshot (each object with its capability). */
  snapshot: 17,
  /** s→c `[18, watchId, "add" | "remove" | "end", object | address | code]` a watched collection changed (or ended). */
  collectionChange: 18,
  /** s→c `[19, "join" | "leave", userId]` a user this one may see came online or went offline. */
  presenceEvent: 19,
} as const;

/** Most acknowledged call keys one call frame carries (a client with more sends the rest on its next call). */
export const MAX_CALL_ACKS = 256;

/** Longest call key, in characters: a client-made id (a UUID is 36). */
export const MAX_CALL_KEY_LENGTH = 128;

const id = z.number().check(z.int(), z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER));
const cap = z.instanceof(Capability);
const scope = z.array(z.unknown()).check(z.minLength(1));

export const helloSchema = z.object({
  protocol: z.literal(1),
  user: z.nullable(z.object({ id: z.string(), roles: z.array(z.string()) })),
  maxFrameBytes: z.number().check(z.int(), z.positive()),
  /**
   * Every limit the server holds the client's frames to (protocol/limits.ts `announcedLimitNames`); a client
   * checks what it sends against these. Absent from older servers (the client keeps its own then); a name
   * this version does not know is ignored.
   */
  limits: z.optional(z.record(z.string(), z.number())),
  tokenExpiresAt: z.nullable(z.number()),
  /** How often the server pings; a client that hears nothing for about two intervals treats the connection as dead. */
  pingIntervalMs: z.optional(z.number().check(z.int(), z.positive())),
  /** The store's identity and its latest change sequence number when the session started. */
  epoch: z.optional(z.string()),
  seq: z.optional(id),
  /** How long the server keeps a keyed call's outcome: a call first sent longer ago than this is not re-sent. */
  callKeyWindowMs: z.optional(z.number().check(z.int(), z.positive())),
  /** An anonymous session's identity: the client keeps it and re-presents it in `resume` (its capabilities are bound to it). */
  identity: z.optional(z.string()),
});

const callKey = z.string().check(z.minLength(1), z.maxLength(MAX_CALL_KEY_LENGTH));
const callAcks = z.array(callKey).check(z.maxLength(MAX_CALL_ACKS));

export const resumeSchema = z.strictObject({
  /** Every capability the client still holds (whole tokens: handles belong to the old connection). */
  caps: z.array(cap),
  /** `[address, version]` of every live object the client has. */
  seen: z.array(z.tuple([scope, id])),
  /** The store identity the versions and `seq` belong to, or nil on a first connection. */
  epoch: z.nullable(z.string()),
  /** The highest change sequence number the client has seen (hello's, or a push's). */
  seq: id,
  /** An anonymous client's identity from its first hello: the server adopts it before verifying `caps`. */
  identity: z.optional(z.string().check(z.minLength(1), z.maxLength(512))),
});

/**
 * `bearer: true` delivers an unbound capability (whoever holds its bytes can use it); `bind` is accepted for
 * old clients and changes nothing: every delegation is bound to its recipient unless it is a bearer one.
 */
export const delegateOptionsSchema = z.strictObject({ bind: z.optional(z.boolean()), bearer: z.optional(z.boolean()) });

/** The options of a `watch`: only objects of a portable type; `stop` ends the watch of the same capability and type. */
export const watchOptionsSchema = z.strictObject({
  type: z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
  stop: z.optional(z.literal(true)),
});

export const delegationSchema = z.object({
  from: z.string(),
  cap,
  object: z.unknown(),
});

const schemas = {
  [FrameType.hello]: z.tuple([z.literal(FrameType.hello), helloSchema]),
  // A rest element stands for the optional trailing key and acks (and a push's seq); the hand check below
  // allows only `key` or `key, acks` there.
  [FrameType.call]: z.tuple([z.literal(FrameType.call), id, z.string().check(z.minLength(1), z.maxLength(256)), z.array(z.unknown())], z.union([callKey, callAcks])),
  [FrameType.result]: z.tuple([z.literal(FrameType.result), id, z.unknown()]),
  [FrameType.error]: z.tuple([z.literal(FrameType.error), z.nullable(id), z.string(), z.string()]),
  [FrameType.push]: z.tuple([z.literal(FrameType.push), scope, z.string(), id, z.nullable(z.record(z.string(), z.unknown()))], id),
  [FrameType.delegate]: z.tuple([z.literal(FrameType.delegate), id, z.string().check(z.minLength(1), z.maxLength(256)), cap, delegateOptionsSchema]),
  [FrameType.delegation]: z.tuple([z.literal(FrameType.delegation), delegationSchema]),
  [FrameType.revoke]: z.tuple([z.literal(FrameType.revoke), id, cap]),
  // The holding's own revocation id, its scope, the reason, and (optional) the revoked id that ended it when that is another one.
  [FrameType.revoked]: z.union([
    z.tuple([z.literal(FrameType.revoked), z.string(), scope, z.enum(['revoked', 'expired'])]),
    z.tuple([z.literal(FrameType.revoked), z.string(), scope, z.enum(['revoked', 'expired']), z.string()]),
  ]),
  [FrameType.ping]: z.tuple([z.literal(FrameType.ping), id]),
  [FrameType.pong]: z.tuple([z.literal(FrameType.pong), id]),
  [FrameType.refresh]: z.tuple([z.literal(FrameType.refresh), id, z.string().check(z.minLength(1), z.maxLength(16 * 1024))]),
  [FrameType.tokenExpiring]: z.tuple([z.literal(FrameType.tokenExpiring), z.number()]),
  // With `{ watch }`, the connection also starts (true) or stops (false) receiving presenceEvent frames.
  [FrameType.presence]: z.union([
    z.tuple([z.literal(FrameType.presence), id]),
    z.tuple([z.literal(FrameType.presence), id, z.strictObject({ watch: z.boolean() })]),
  ]),
  [FrameType.resume]: z.tuple([z.literal(FrameType.resume), id, resumeSchema]),
  [FrameType.grants]: z.tuple([z.literal(FrameType.grants), id]),
  [FrameType.watch]: z.tuple([z.literal(FrameType.watch), id, cap, watchOptionsSchema]),
  [FrameType.snapshot]: z.tuple([z.literal(FrameType.snapshot), id, z.array(z.unknown())]),
  [FrameType.collectionChange]: z.tuple([z.literal(FrameType.collectionChange), id, z.enum(['add', 'remove', 'end']), z.unknown()]),
  [FrameType.presenceEvent]: z.tuple([z.literal(FrameType.presenceEvent), z.enum(['join', 'leave']), z.string()]),
} as const;

type Schemas = typeof schemas;
/** A validated frame of the given type. */
export type FrameOf<T extends keyof Schemas> = z.infer<Schemas[T]>;
/** Any validated frame. */
export type Frame = { [T in keyof Schemas]: FrameOf<T> }[keyof Schemas];

/** Frames a client may send; the server refuses the rest with `ERR_FRAME_INVALID`. */
export const clientFrameTypes: ReadonlySet<number> = new Set([
  FrameType.call, FrameType.delegate, FrameType.revoke, FrameType.ping, FrameType.pong, FrameType.refresh, FrameType.presence,
  FrameType.resume, FrameType.grants, FrameType.watch,
]);

/** Frames a server may send. */
export const serverFrameTypes: ReadonlySet<number> = new Set([
  FrameType.hello, FrameType.result, FrameType.error, FrameType.push, FrameType.delegation, FrameType.revoked,
  FrameType.ping, FrameType.pong, FrameType.tokenExpiring, FrameType.snapshot, FrameType.collectionChange, FrameType.presenceEvent,
]);

const isId = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isCallKey = (v: unknown): boolean => typeof v === 'string' && v.length >= 1 && v.length <= MAX_CALL_KEY_LENGTH;
const isCallAcks = (v: unknown): boolean => Array.isArray(v) && v.length <= MAX_CALL_ACKS && v.every(isCallKey);
const isPlainMap = (v: unknown): boolean => typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;

/**
 * The frames on every call and push (call, result, push) checked by hand, with exactly their schemas' rules:
 * zod costs about half a microsecond per frame there, a third of capsync's own work per call. Undefined
 * for other frame types, which go through zod.
 */
function checkHotFrame(v: unknown[]): boolean | undefined {
  switch (v[0]) {
    case FrameType.call:
      return (
        (v.length === 4 || (v.length === 5 && isCallKey(v[4])) || (v.length === 6 && isCallKey(v[4]) && isCallAcks(v[5]))) &&
        isId(v[1]) && typeof v[2] === 'string' && v[2].length >= 1 && v[2].length <= 256 && Array.isArray(v[3])
      );
    case FrameType.result:
      return v.length === 3 && isId(v[1]);
    case FrameType.push:
      return (v.length === 5 || (v.length === 6 && isId(v[5]))) && Array.isArray(v[1]) && v[1].length >= 1 && typeof v[2] === 'string' && isId(v[3]) && (v[4] === null || isPlainMap(v[4]));
    case FrameType.resume:
      // Checked by hand too: zod's walk over a resume of 100 capabilities and 1,000 seen versions was a third
      // of the server's CPU for the whole resume (bench:resume's profile).
      return v.length === 3 && isId(v[1]) && isResumeMap(v[2]);
    default:
      return undefined;
  }
}

const resumeKeys: ReadonlySet<string> = new Set(['caps', 'seen', 'epoch', 'seq', 'identity']);

/** {@link resumeSchema}'s rules (a strict object: no other key), and a plain object, as msgpack decodes a map. */
function isResumeMap(value: unknown): boolean {
  if (!isPlainMap(value)) return false;
  const map = value as Record<string, unknown>;
  for (const key in map) if (!resumeKeys.has(key)) return false;
  const { caps, seen, epoch, seq, identity } = map;
  if (!Array.isArray(caps) || !Array.isArray(seen) || !isId(seq) || (epoch !== null && typeof epoch !== 'string')) return false;
  if (identity !== undefined && (typeof identity !== 'string' || identity.length < 1 || identity.length > 512)) return false;
  for (const cap of caps) if (!(cap instanceof Capability)) return false;
  for (const entry of seen) {
    if (!Array.isArray(entry) || entry.length !== 2 || !Array.isArray(entry[0]) || entry[0].length < 1 || !isId(entry[1])) return false;
  }
  return true;
}

/**
 * Checks a decoded value against the frame layouts allowed from this peer. Throws `ERR_FRAME_INVALID`;
 * the message names the frame type but never echoes the data.
 */
export function validateFrame(value: unknown, allowed: ReadonlySet<number>): Frame {
  if (!Array.isArray(value) || typeof value[0] !== 'number' || !allowed.has(value[0])) {
    throw fail('ERR_FRAME_INVALID', 'unknown or unexpected frame type');
  }
  const fast = checkHotFrame(value);
  if (fast !== undefined) {
    if (!fast) throw fail('ERR_FRAME_INVALID', `invalid frame of type ${value[0]}`);
    return value as Frame;
  }
  const schema = schemas[value[0] as keyof Schemas];
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw fail('ERR_FRAME_INVALID', `invalid frame of type ${value[0]}`);
  return parsed.data as Frame;
}

/** Client frames that carry a request id in position 1 (answered by a result or an error frame with that id). */
const requestTypes: ReadonlySet<number> = new Set([
  FrameType.call, FrameType.delegate, FrameType.revoke, FrameType.refresh, FrameType.presence, FrameType.resume,
  FrameType.grants, FrameType.watch,
]);

/** Server frames that answer a request by its id. */
const answerTypes: ReadonlySet<number> = new Set([FrameType.result, FrameType.error]);

/** The call id of a frame that failed validation, when one can be read, so the error can answer the call. */
export function frameIdOf(value: unknown): number | null {
  if (Array.isArray(value) && typeof value[1] === 'number' && Number.isSafeInteger(value[1]) && value[1] >= 0 && requestTypes.has(value[0] as number)) {
    return value[1];
  }
  return null;
}

/**
 * The id of a request frame read from its first bytes, for a frame the scan or the decoder refused: the
 * server's error frame then answers that request (SPEC section 5).
 */
export function peekRequestId(bytes: Uint8Array): number | null {
  return peekFrameId(bytes, requestTypes);
}

/**
 * The id of a result or error frame read from its first bytes, without decoding the rest: a client that
 * cannot decode a result (say, a portable class it never registered) still fails the right call, at once.
 */
export function peekAnswerId(bytes: Uint8Array): number | null {
  return peekFrameId(bytes, answerTypes);
}

/**
 * The result frame `[2, id, value]` written in place over the `room` bytes before the packed value in
 * `buffer` (what precedes it there, such as a stored outcome's `{ ok: ` prefix, is overwritten): the frame
 * is then a view of `buffer`, no copy. Undefined if the frame's head takes more than `room` bytes or the id
 * is past 32 bits; the caller then uses {@link resultFrameAround}.
 */
export function resultFrameInPlace(id: number, buffer: Uint8Array, room: number): Uint8Array | undefined {
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) return undefined;
  const head = 2 + idLength(id);
  if (head > room) return undefined;
  writeResultHead(buffer, room - head, id);
  return buffer.subarray(room - head);
}

function idLength(id: number): number {
  return id < 0x80 ? 1 : id < 0x100 ? 2 : id < 0x10000 ? 3 : 5;
}

/** Writes the head of a result frame (array of 3, type, id) at `at`. */
function writeResultHead(frame: Uint8Array, at: number, id: number): void {
  frame[at] = 0x93;
  frame[at + 1] = FrameType.result;
  switch (idLength(id)) {
    case 1:
      frame[at + 2] = id;
      break;
    case 2:
      frame[at + 2] = 0xcc;
      frame[at + 3] = id;
      break;
    case 3:
      // Big-endian by hand: a DataView per answer cost more than the rest of the framing.
      frame[at + 2] = 0xcd;
      frame[at + 3] = id >>> 8;
      frame[at + 4] = id & 0xff;
      break;
    default:
      frame[at + 2] = 0xce;
      frame[at + 3] = id >>> 24;
      frame[at + 4] = (id >>> 16) & 0xff;
      frame[at + 5] = (id >>> 8) & 0xff;
      frame[at + 6] = id & 0xff;
  }
}

/**
 * The bytes of the result frame `[2, id, value]` around `value` already packed on its own (msgpack: a
 * three-element array, the type, the id as msgpackr writes it, then the value's bytes as they are), so a
 * value packed once serves twice (a keyed call's stored outcome and its answer). Undefined for an id past
 * 32 bits (msgpackr writes those as floats): the caller encodes that frame whole.
 */
export function resultFrameAround(id: number, value: Uint8Array): Uint8Array | undefined {
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) return undefined;
  const head = 2 + idLength(id);
  const frame = new Uint8Array(head + value.length);
  writeResultHead(frame, 0, id);
  frame.set(value, head);
  return frame;
}
