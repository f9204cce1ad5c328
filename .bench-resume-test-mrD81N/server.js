// bench/resume/server.ts
import { join } from "node:path";
import { parseArgs } from "node:util";
import { WebSocketServer as WebSocketServer2 } from "ws";

// protocol/codec.ts
import { Packr as Packr2, Unpackr as Unpackr2 } from "msgpackr";

// protocol/errors.ts
var CloseCode = {
  /** Normal closure: the app closed the client, or the server is done with it. */
  normal: 1e3,
  /** Going away: the server drains for a deploy; the client reconnects. */
  goingAway: 1001,
  /** Protocol error: a frame broke the protocol; terminal. */
  protocolError: 1002,
  /** Never sent: what a peer observes when the connection dropped without a close frame. */
  abnormal: 1006,
  /** Bad data: a frame that does not decode; terminal. */
  badData: 1007,
  /** Policy violation (origin, authentication); terminal. */
  policy: 1008,
  /** A frame larger than `Limits.maxFrameBytes`; terminal. */
  tooBig: 1009,
  /** The server failed unexpectedly; the client reconnects. */
  internal: 1011,
  /** The peer did not answer pings in time. */
  heartbeatTimeout: 4e3,
  /** The peer did not read fast enough; its unsent bytes passed the limit. */
  slowConsumer: 4001,
  /** The session's JWT expired and no fresh token arrived in time. */
  sessionExpired: 4002,
  /** Too many malformed frames from this connection. */
  tooManyBadFrames: 4003,
  /** The connection sent calls over its budget (token bucket) for too long: a flood (server/fairness.ts). */
  overBudget: 4004,
  /** The connection's user has `maxConnectionsPerUser` connections open already. */
  tooManyConnections: 4005
};
var closeCodeClasses = Object.freeze({
  [CloseCode.normal]: "terminal",
  // the app closed the connection on purpose
  [CloseCode.goingAway]: "retryable",
  [CloseCode.protocolError]: "terminal",
  [CloseCode.abnormal]: "retryable",
  [CloseCode.badData]: "terminal",
  [CloseCode.policy]: "terminal",
  [CloseCode.tooBig]: "terminal",
  [CloseCode.internal]: "terminal",
  [CloseCode.heartbeatTimeout]: "retryable",
  [CloseCode.slowConsumer]: "retryable",
  [CloseCode.sessionExpired]: "new-token",
  [CloseCode.tooManyBadFrames]: "terminal",
  [CloseCode.overBudget]: "retryable",
  // after a backoff the budget is full again
  [CloseCode.tooManyConnections]: "retryable"
  // once another of the user's connections closes, it works
});
var definitions = {
  // Values and scopes
  ERR_INVALID_VALUE: ["value is not JSON-compatible"],
  ERR_INVALID_SCOPE: ["scope must be a non-empty list of JSON-compatible values"],
  ERR_INVALID_PATTERN: ["pattern must be a non-empty list of JSON-compatible values or ANY"],
  // Capabilities
  ERR_CAPABILITY_NOT_VERIFIED: ["not a capability verified by this server"],
  ERR_CAPABILITY_FORGED: ["capabilities can only be created in server code"],
  ERR_CAPABILITY_BAD_SIGNATURE: ["capability signature does not verify"],
  ERR_CAPABILITY_MALFORMED: ["capability token is malformed", CloseCode.badData],
  ERR_CAPABILITY_UNKNOWN_KEY: ["capability was signed with an unknown key"],
  ERR_CAPABILITY_REVOKED: ["capability has been revoked"],
  ERR_CAPABILITY_EXPIRED: ["capability has expired"],
  ERR_CAPABILITY_AUDIENCE: ["capability is bound to another user"],
  ERR_CAPABILITY_TOO_NARROW: ["capability scope is narrower than the pattern"],
  ERR_CAPABILITY_MISMATCH: ["capability scope does not match the pattern"],
  ERR_REVOCATION_FEED_STALE: ["this server cannot tell whether the capability was revoked (its revocation feed is behind); try again"],
  // Keys
  ERR_KEY_INVALID: ["capability key is not a usable symmetric JWK"],
  // Codec and limits
  ERR_FRAME_TOO_LARGE: ["frame exceeds the byte limit", CloseCode.tooBig],
  ERR_FRAME_TRUNCATED: ["frame ends before its announced contents", CloseCode.badData],
  ERR_FRAME_TRAILING_BYTES: ["frame has bytes after its value", CloseCode.badData],
  ERR_FRAME_MALFORMED: ["frame is not valid msgpack", CloseCode.badData],
  ERR_FRAME_INVALID: ["frame does not have a valid shape", CloseCode.protocolError],
  ERR_LIMIT_DEPTH: ["frame nesting is too deep", CloseCode.policy],
  ERR_LIMIT_ELEMENTS: ["frame has too many elements", CloseCode.policy],
  ERR_LIMIT_STRING: ["string exceeds the length limit", CloseCode.policy],
  ERR_LIMIT_BINARY: ["binary exceeds the length limit", CloseCode.policy],
  ERR_LIMIT_SCOPE: ["capability scope is too long", CloseCode.policy],
  ERR_LIMIT_STEPS: ["capability has too many narrowing steps", CloseCode.policy],
  ERR_LIMIT_ANCESTORS: ["capability names too many ancestors", CloseCode.policy],
  ERR_LIMIT_HOLDINGS: ["this user holds too many capabilities: this one gets no pushes"],
  ERR_EXTENSION_UNKNOWN: ["msgpack extension type is not accepted", CloseCode.badData],
  ERR_FORBIDDEN_KEY: ["map key is not allowed", CloseCode.policy],
  ERR_NON_STRING_KEY: ["map keys must be strings", CloseCode.badData],
  ERR_PORTABLE_UNKNOWN: ["portable class is not registered"],
  ERR_PORTABLE_INVALID: ["portable object is invalid"],
  ERR_NOT_ENCODABLE: ["value cannot be encoded"],
  // Calls and sessions
  ERR_FUNCTION_UNKNOWN: ["no server function with that name"],
  ERR_BAD_ARGUMENTS: ["arguments do not have the expected shape"],
  ERR_FUNCTION_FAILED: ["server function failed"],
  ERR_CALL_TIMEOUT: ["call timed out"],
  ERR_NOT_CONNECTED: ["not connected"],
  ERR_CONNECTION_CLOSED: ["connection closed"],
  ERR_RATE_LIMITED: ["too many calls in flight"],
  ERR_CALL_OUTCOME_UNKNOWN: ["the call may or may not have run: its outcome is unknown"],
  ERR_AUTH_REQUIRED: ["authentication required"],
  ERR_AUTH_INVALID: ["authentication token is invalid"],
  ERR_AUTH_EXPIRED: ["authentication token has expired"],
  ERR_FORBIDDEN: ["not allowed"],
  ERR_NOT_FOUND: ["object not found"],
  ERR_VERSION_CONFLICT: ["the object changed since the version it was edited from"],
  // Live collections
  ERR_COLLECTION_TOO_LARGE: ["collection has more objects than the server sends"],
  ERR_TOO_MANY_WATCHES: ["too many collections watched on this connection"],
  // Delegation
  ERR_RECIPIENT_OFFLINE: ["recipient is not connected"],
  ERR_NOT_ATTACHED: ["object is not attached to a client session"],
  // Connection ends: each closes the connection with its own close code
  ERR_SERVER_CLOSING: ["server is going away", CloseCode.goingAway],
  ERR_HEARTBEAT_TIMEOUT: ["no answer to pings in time", CloseCode.heartbeatTimeout],
  ERR_SLOW_CONSUMER: ["unsent bytes passed the limit", CloseCode.slowConsumer],
  ERR_SESSION_EXPIRED: ["session token expired", CloseCode.sessionExpired],
  ERR_TOO_MANY_BAD_FRAMES: ["too many refused frames", CloseCode.tooManyBadFrames],
  ERR_OVER_BUDGET: ["calls sent faster than the connection budget for too long", CloseCode.overBudget],
  ERR_LIMIT_CONNECTIONS: ["this user has too many connections open", CloseCode.tooManyConnections],
  // Server setup
  ERR_STORE_UNAVAILABLE: ["store is unavailable: its optional dependency is not installed"]
};
var errorCodes = Object.freeze(Object.keys(definitions));
var CapsyncError = class extends Error {
  /** Always `CapsyncError`, whatever the code. */
  name = "CapsyncError";
  /** The stable code to switch on (`ERR_...`); the message is for people and may change. */
  code;
  /** The WebSocket close code when this error ends a connection, else undefined. */
  closeCode;
  constructor(code, message) {
    const def = definitions[code];
    super(message ?? def[0]);
    this.code = code;
    this.closeCode = def[1];
  }
};
var VersionConflictError = class extends CapsyncError {
  /** The object's version now (0: no live object at the address). */
  current;
  constructor(current, expected) {
    super("ERR_VERSION_CONFLICT", `object is at version ${current}${expected === void 0 ? "" : `, not ${expected}`}`);
    this.current = current;
  }
};
function isErrorCode(code) {
  return typeof code === "string" && Object.prototype.hasOwnProperty.call(definitions, code);
}
function fail(code, message) {
  return new CapsyncError(code, message);
}

// protocol/json-value.ts
function isPlainObject(value) {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
var LONE_SURROGATE = new RegExp("\\p{Cs}", "u");
function assertJsonValue(value, maxDepth = 32) {
  if (!isJson(value, maxDepth)) throw fail("ERR_INVALID_VALUE");
}
function isJson(value, depth) {
  switch (typeof value) {
    case "string":
      return !LONE_SURROGATE.test(value);
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (value === null) return true;
      if (depth <= 0) return false;
      if (Array.isArray(value)) return value.every((v) => isJson(v, depth - 1));
      if (!isPlainObject(value)) return false;
      for (const key of Object.keys(value)) {
        if (key === "__proto__" || LONE_SURROGATE.test(key) || !isJson(value[key], depth - 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}
function canonicalKey(value) {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return "[" + value.map(canonicalKey).join(",") + "]";
  const keys = Object.keys(value).sort();
  return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalKey(value[k])).join(",") + "}";
}
function jsonEqual(a, b) {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bl = b;
    return a.length === bl.length && a.every((v, i) => jsonEqual(v, bl[i]));
  }
  const ao = a;
  const bo = b;
  const ak = Object.keys(ao);
  if (ak.length !== Object.keys(bo).length) return false;
  return ak.every((k) => Object.prototype.hasOwnProperty.call(bo, k) && jsonEqual(ao[k], bo[k]));
}

// protocol/limits.ts
var defaultLimits = Object.freeze({
  maxFrameBytes: 1024 * 1024,
  maxDepth: 32,
  maxElements: 1e5,
  maxStringBytes: 256 * 1024,
  maxBinaryBytes: 512 * 1024,
  maxScopeLength: 32,
  maxNarrowingSteps: 16,
  maxTokenBytes: 8 * 1024,
  // 16 steps per hop at most: 64 ids cover four fully narrowed hops, or about twenty typical ones
  // (minted, bound, narrowed once), in 1.2 KB of token.
  maxAncestors: 64
});
function resolveLimits(partial) {
  return Object.freeze({ ...defaultLimits, ...partial });
}

// protocol/crypto.ts
import { sha256 as sha2562 } from "@noble/hashes/sha2.js";

// protocol/hmac-sha256.ts
import { _SHA256, sha256 } from "@noble/hashes/sha2.js";
var Engine = class extends _SHA256 {
  /** The block being compressed. */
  pad = new Uint8Array(64);
  padView = new DataView(this.pad.buffer);
  /** SHA-256's initial state, read once from a fresh instance. */
  iv;
  constructor() {
    super();
    this.iv = Int32Array.from(this.get());
  }
  /** Compresses {@link pad} from the 8 words of `state` at `offset`; the result is left in A..H. */
  compress(state, offset) {
    this.set(state[offset], state[offset + 1], state[offset + 2], state[offset + 3], state[offset + 4], state[offset + 5], state[offset + 6], state[offset + 7]);
    this.process(this.padView, 0);
  }
  /** Compresses {@link pad} again, from the state the last compression left. */
  next() {
    this.process(this.padView, 0);
  }
  /** Writes A..H into `to` at `offset`. */
  store(to, offset) {
    to[offset] = this.A;
    to[offset + 1] = this.B;
    to[offset + 2] = this.C;
    to[offset + 3] = this.D;
    to[offset + 4] = this.E;
    to[offset + 5] = this.F;
    to[offset + 6] = this.G;
    to[offset + 7] = this.H;
  }
  /** A..H as the first 32 bytes of {@link pad}, big-endian: the inner digest, as the outer block's message. */
  digestToPad() {
    const v = this.padView;
    v.setInt32(0, this.A);
    v.setInt32(4, this.B);
    v.setInt32(8, this.C);
    v.setInt32(12, this.D);
    v.setInt32(16, this.E);
    v.setInt32(20, this.F);
    v.setInt32(24, this.G);
    v.setInt32(28, this.H);
  }
  /** A..H as a new 32-byte digest (32 bytes stay on the JS heap: no backing store to allocate and free). */
  digest32() {
    const out = new Uint8Array(32);
    word(out, 0, this.A);
    word(out, 4, this.B);
    word(out, 8, this.C);
    word(out, 12, this.D);
    word(out, 16, this.E);
    word(out, 20, this.F);
    word(out, 24, this.G);
    word(out, 28, this.H);
    return out;
  }
  /** Zeroes the scratch block and noble's message schedule (they held key material). */
  wipe() {
    this.pad.fill(0);
    this.roundClean();
  }
};
function word(out, offset, w) {
  out[offset] = w >>> 24;
  out[offset + 1] = w >>> 16 & 255;
  out[offset + 2] = w >>> 8 & 255;
  out[offset + 3] = w & 255;
}
var engine = new Engine();
var oneShotState = new Int32Array(16);
function keyStateInto(key, into) {
  const k = key.length > 64 ? sha256(key) : key;
  const pad = engine.pad;
  for (let i = 0; i < 64; i++) pad[i] = (k[i] ?? 0) ^ 54;
  engine.compress(engine.iv, 0);
  engine.store(into, 0);
  for (let i = 0; i < 64; i++) pad[i] = (k[i] ?? 0) ^ 92;
  engine.compress(engine.iv, 0);
  engine.store(into, 8);
  engine.wipe();
  return into;
}
function hmacKeyState(key) {
  return keyStateInto(key, new Int32Array(16));
}
function hmacWithState(state, message) {
  const pad = engine.pad;
  const length = message.length;
  let offset = 0;
  let first = true;
  for (; offset + 64 <= length; offset += 64) {
    for (let i = 0; i < 64; i++) pad[i] = message[offset + i];
    if (first) engine.compress(state, 0);
    else engine.next();
    first = false;
  }
  const rest = length - offset;
  for (let i = 0; i < rest; i++) pad[i] = message[offset + i];
  pad[rest] = 128;
  pad.fill(0, rest + 1);
  if (rest >= 56) {
    if (first) engine.compress(state, 0);
    else engine.next();
    first = false;
    pad.fill(0, 0, 56);
  }
  const bits = (64 + length) * 8;
  engine.padView.setUint32(56, Math.floor(bits / 4294967296));
  engine.padView.setUint32(60, bits >>> 0);
  if (first) engine.compress(state, 0);
  else engine.next();
  engine.digestToPad();
  pad[32] = 128;
  pad.fill(0, 33, 62);
  pad[62] = 3;
  pad[63] = 0;
  engine.compress(state, 8);
  const tag = engine.digest32();
  pad.fill(0, 0, 32);
  return tag;
}
function hmacSha256(key, message) {
  const tag = hmacWithState(keyStateInto(key, oneShotState), message);
  oneShotState.fill(0);
  return tag;
}

// protocol/crypto.ts
function keyedHmac(crypto2, key) {
  if (crypto2.keyedHmac !== void 0) return crypto2.keyedHmac(key);
  const copy = new Uint8Array(key);
  return (message) => crypto2.hmacSha256(copy, message);
}
function constantTimeEqual(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
function precomputedHmac(key) {
  const state = hmacKeyState(key);
  return (message) => hmacWithState(state, message);
}
var nobleCrypto = {
  hmacSha256,
  sha256: (message) => sha2562(message),
  timingSafeEqual: constantTimeEqual,
  keyedHmac: precomputedHmac
};

// protocol/capability/token.ts
import { Packr, Unpackr } from "msgpackr";

// protocol/wire-guard.ts
var ExtensionType = {
  capability: 1,
  portable: 2,
  /** A capability this connection bound earlier: a 4-byte big-endian handle. Client to server only. */
  capabilityHandle: 5,
  /** A capability bound to a handle as it is sent: a 4-byte handle, then the token. Client to server only. */
  capabilityBind: 6
};
var PROTO = [95, 95, 112, 114, 111, 116, 111, 95, 95];
function scanFrame(bytes, limits, allowExtensions = true) {
  if (bytes.length > limits.maxFrameBytes) throw fail("ERR_FRAME_TOO_LARGE");
  const state = { elements: 0 };
  stackTop = 0;
  const end = scanValue(bytes, 0, bytes.length, 0, limits, allowExtensions, state);
  if (end !== bytes.length) throw fail("ERR_FRAME_TRAILING_BYTES");
}
var remaining = [];
var mapState = [];
var stackTop = 0;
function scanValue(b, start, end, baseDepth, limits, allowExtensions, state) {
  const base = stackTop;
  remaining[stackTop] = 1;
  mapState[stackTop] = 0;
  stackTop++;
  let pos = start;
  while (stackTop > base) {
    const top = stackTop - 1;
    if (remaining[top] === 0) {
      stackTop--;
      continue;
    }
    remaining[top]--;
    const m = mapState[top];
    const expectingKey = m === 2;
    if (m !== 0) mapState[top] = 3 - m;
    if (++state.elements > limits.maxElements) throw fail("ERR_LIMIT_ELEMENTS");
    need(pos, 1, end);
    const t = b[pos++];
    let strLen = -1;
    if (t >= 160 && t <= 191) strLen = t - 160;
    else if (t === 217) need(pos, 1, end), strLen = b[pos++];
    else if (t === 218) strLen = u16(b, pos, end), pos += 2;
    else if (t === 219) strLen = u32(b, pos, end), pos += 4;
    if (strLen >= 0) {
      if (strLen > limits.maxStringBytes) throw fail("ERR_LIMIT_STRING");
      need(pos, strLen, end);
      if (expectingKey && strLen === 9 && isProto(b, pos)) throw fail("ERR_FORBIDDEN_KEY");
      pos += strLen;
      continue;
    }
    if (expectingKey) throw fail("ERR_NON_STRING_KEY");
    if (t <= 127 || t >= 224 || t === 192 || t === 194 || t === 195) continue;
    let containerLen = -1;
    let mapContainer = false;
    if (t >= 144 && t <= 159) containerLen = t - 144;
    else if (t === 220) containerLen = u16(b, pos, end), pos += 2;
    else if (t === 221) containerLen = u32(b, pos, end), pos += 4;
    else if (t >= 128 && t <= 143) containerLen = t - 128, mapContainer = true;
    else if (t === 222) containerLen = u16(b, pos, end), pos += 2, mapContainer = true;
    else if (t === 223) containerLen = u32(b, pos, end), pos += 4, mapContainer = true;
    if (containerLen >= 0) {
      const values2 = mapContainer ? containerLen * 2 : containerLen;
      need(pos, values2, end);
      if (state.elements + values2 > limits.maxElements) throw fail("ERR_LIMIT_ELEMENTS");
      if (values2 > 0) {
        if (baseDepth + stackTop - base > limits.maxDepth) throw fail("ERR_LIMIT_DEPTH");
        remaining[stackTop] = values2;
        mapState[stackTop] = mapContainer ? 2 : 0;
        stackTop++;
      }
      continue;
    }
    switch (t) {
      case 204:
      case 208:
        need(pos, 1, end);
        pos += 1;
        continue;
      case 205:
      case 209:
        need(pos, 2, end);
        pos += 2;
        continue;
      case 202:
      case 206:
      case 210:
        need(pos, 4, end);
        pos += 4;
        continue;
      case 203:
      case 207:
      case 211:
        need(pos, 8, end);
        pos += 8;
        continue;
      case 196:
      case 197:
      case 198: {
        let len;
        if (t === 196) need(pos, 1, end), len = b[pos++];
        else if (t === 197) len = u16(b, pos, end), pos += 2;
        else len = u32(b, pos, end), pos += 4;
        if (len > limits.maxBinaryBytes) throw fail("ERR_LIMIT_BINARY");
        need(pos, len, end);
        pos += len;
        continue;
      }
    }
    let extLen = -1;
    if (t === 212) extLen = 1;
    else if (t === 213) extLen = 2;
    else if (t === 214) extLen = 4;
    else if (t === 215) extLen = 8;
    else if (t === 216) extLen = 16;
    else if (t === 199) need(pos, 1, end), extLen = b[pos++];
    else if (t === 200) extLen = u16(b, pos, end), pos += 2;
    else if (t === 201) extLen = u32(b, pos, end), pos += 4;
    if (extLen < 0) throw fail("ERR_FRAME_MALFORMED");
    need(pos, 1 + extLen, end);
    const type = b[pos++];
    if (!allowExtensions || type < ExtensionType.capability || type > ExtensionType.capabilityBind || type === 3 || type === 4) {
      throw fail("ERR_EXTENSION_UNKNOWN");
    }
    if (type === ExtensionType.capability) {
      if (extLen > limits.maxTokenBytes) throw fail("ERR_CAPABILITY_MALFORMED", "capability token is too large");
    } else if (type === ExtensionType.capabilityHandle) {
      if (extLen !== 4) throw fail("ERR_CAPABILITY_MALFORMED", "a capability handle is 4 bytes");
    } else if (type === ExtensionType.capabilityBind) {
      if (extLen < 5 || extLen - 4 > limits.maxTokenBytes) throw fail("ERR_CAPABILITY_MALFORMED", "capability binding has a bad length");
    } else {
      if (baseDepth + stackTop - base > limits.maxDepth) throw fail("ERR_LIMIT_DEPTH");
      const inner = scanValue(b, pos, pos + extLen, baseDepth + stackTop - base, limits, allowExtensions, state);
      if (inner !== pos + extLen) throw fail("ERR_FRAME_MALFORMED", "portable object payload has trailing bytes");
    }
    pos += extLen;
  }
  return pos;
}
function need(pos, n, end) {
  if (pos + n > end) throw fail("ERR_FRAME_TRUNCATED");
}
function u16(b, pos, end) {
  need(pos, 2, end);
  return (b[pos] << 8 | b[pos + 1]) >>> 0;
}
function u32(b, pos, end) {
  need(pos, 4, end);
  return (b[pos] << 24 | b[pos + 1] << 16 | b[pos + 2] << 8 | b[pos + 3]) >>> 0;
}
function isProto(b, pos) {
  for (let i = 0; i < PROTO.length; i++) if (b[pos + i] !== PROTO[i]) return false;
  return true;
}

// protocol/capability/token-fast.ts
function listLength(r) {
  const t = r.b[r.pos];
  if (t === void 0) return -1;
  if (t >= 144 && t <= 159) return r.pos++, t - 144;
  if (t === 220 && r.pos + 3 <= r.end) {
    const n = r.b[r.pos + 1] << 8 | r.b[r.pos + 2];
    r.pos += 3;
    return n;
  }
  return -1;
}
function asciiString(r, limits) {
  const t = r.b[r.pos];
  let len;
  let start;
  if (t >= 160 && t <= 191) len = t - 160, start = r.pos + 1;
  else if (t === 217) len = r.b[r.pos + 1] ?? -1, start = r.pos + 2;
  else if (t === 218) len = (r.b[r.pos + 1] ?? 0) << 8 | (r.b[r.pos + 2] ?? 0), start = r.pos + 3;
  else return void 0;
  if (len < 0 || start + len > r.end || len > limits.maxStringBytes) return void 0;
  let text = "";
  for (let i = start; i < start + len; i++) {
    const c = r.b[i];
    if (c >= 128) return void 0;
    text += String.fromCharCode(c);
  }
  r.pos = start + len;
  return text;
}
function binary(r, limits) {
  const start = binaryAt(r, limits);
  return start < 0 ? void 0 : r.b.subarray(start, r.pos);
}
var NOT_READ = /* @__PURE__ */ Symbol("not read");
function scalar(r, limits) {
  const b = r.b;
  const t = b[r.pos];
  if (t <= 127) return r.pos++, t;
  if (t >= 224) return r.pos++, t - 256;
  if (t === 192) return r.pos++, null;
  if (t === 194 || t === 195) return r.pos++, t === 195;
  const p = r.pos;
  switch (t) {
    case 204:
      if (p + 2 > r.end) return NOT_READ;
      r.pos += 2;
      return b[p + 1];
    case 205:
      if (p + 3 > r.end) return NOT_READ;
      r.pos += 3;
      return b[p + 1] << 8 | b[p + 2];
    case 206:
      if (p + 5 > r.end) return NOT_READ;
      r.pos += 5;
      return (b[p + 1] << 24 | b[p + 2] << 16 | b[p + 3] << 8 | b[p + 4]) >>> 0;
    case 208:
      if (p + 2 > r.end) return NOT_READ;
      r.pos += 2;
      return b[p + 1] << 24 >> 24;
    case 209:
      if (p + 3 > r.end) return NOT_READ;
      r.pos += 3;
      return (b[p + 1] << 8 | b[p + 2]) << 16 >> 16;
    case 210:
      if (p + 5 > r.end) return NOT_READ;
      r.pos += 5;
      return b[p + 1] << 24 | b[p + 2] << 16 | b[p + 3] << 8 | b[p + 4];
  }
  return asciiString(r, limits) ?? NOT_READ;
}
function readTokenFast(bytes, limits) {
  const r = { b: bytes, pos: 0, end: bytes.length };
  if (bytes[0] !== 148 || bytes[1] !== 1 || limits.maxDepth < 2 || bytes.length > limits.maxFrameBytes) return void 0;
  r.pos = 2;
  const kid = asciiString(r, limits);
  if (kid === void 0) return void 0;
  const count = listLength(r);
  if (count < 0 || 6 + count > limits.maxElements) return void 0;
  const blocks = new Array(count);
  for (let i = 0; i < count; i++) {
    const block = binary(r, limits);
    if (block === void 0) return void 0;
    blocks[i] = block;
  }
  const tag = binary(r, limits);
  if (tag === void 0 || r.pos !== r.end) return void 0;
  return [1, kid, blocks, tag];
}
function readBlockFast(bytes, limits) {
  if (bytes[0] !== 148 || limits.maxDepth < 2 || bytes.length > limits.maxFrameBytes) return void 0;
  const r = { b: bytes, pos: 1, end: bytes.length };
  const count = listLength(r);
  if (count < 0 || 6 + count > limits.maxElements) return void 0;
  const segment = new Array(count);
  for (let i = 0; i < count; i++) {
    if (r.pos >= r.end) return void 0;
    const value = scalar(r, limits);
    if (value === NOT_READ) return void 0;
    segment[i] = value;
  }
  if (r.pos >= r.end) return void 0;
  let expiresAt;
  if (bytes[r.pos] === 203) {
    if (r.pos + 9 > r.end) return void 0;
    expiresAt = new DataView(bytes.buffer, bytes.byteOffset + r.pos + 1, 8).getFloat64(0);
    r.pos += 9;
  } else {
    const value = scalar(r, limits);
    if (value === NOT_READ) return void 0;
    expiresAt = value;
  }
  if (r.pos >= r.end) return void 0;
  const audience = scalar(r, limits);
  if (audience === NOT_READ) return void 0;
  const nonce = binary(r, limits);
  if (nonce === void 0 || r.pos !== r.end) return void 0;
  return [segment, expiresAt, audience, nonce];
}
function readTokenLayout(bytes, limits) {
  const r = { b: bytes, pos: 0, end: bytes.length };
  if (bytes[0] !== 148 || bytes[1] !== 1 || limits.maxDepth < 2 || bytes.length > limits.maxFrameBytes) return void 0;
  r.pos = 2;
  const kid = asciiString(r, limits);
  if (kid === void 0) return void 0;
  const count = listLength(r);
  if (count < 0 || 6 + count > limits.maxElements) return void 0;
  const at = new Array(2 * count + 2);
  for (let i = 0; i <= count; i++) {
    const start = binaryAt(r, limits);
    if (start < 0) return void 0;
    at[2 * i] = start;
    at[2 * i + 1] = r.pos;
  }
  return r.pos === r.end ? { kid, at } : void 0;
}
function binaryAt(r, limits) {
  const t = r.b[r.pos];
  let len;
  let start;
  if (t === 196 && r.pos + 2 <= r.end) len = r.b[r.pos + 1], start = r.pos + 2;
  else if (t === 197 && r.pos + 3 <= r.end) len = r.b[r.pos + 1] << 8 | r.b[r.pos + 2], start = r.pos + 3;
  else return -1;
  if (start + len > r.end || len > limits.maxBinaryBytes) return -1;
  r.pos = start + len;
  return start;
}

// protocol/capability/token.ts
var TOKEN_VERSION = 1;
var TAG_BYTES = 32;
var NONCE_BYTES = 16;
var ANCESTOR_ID_BYTES = 16;
var packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, moreTypes: false });
var unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: "number" });
function encodeBlock(block, nonce) {
  if (block.generation !== void 0 && block.audience !== null && nonce) {
    const ancestors = block.ancestors !== void 0 && block.ancestors.length > 0 ? block.ancestors : null;
    return own(packr.pack([block.segment, block.expiresAt, block.audience, nonce, ancestors, block.generation]));
  }
  if (block.ancestors !== void 0 && block.ancestors.length > 0 && nonce) {
    return own(packr.pack([block.segment, block.expiresAt, block.audience, nonce, block.ancestors]));
  }
  return own(packr.pack(nonce ? [block.segment, block.expiresAt, block.audience, nonce] : [block.segment, block.expiresAt, block.audience]));
}
function encodeToken(parts) {
  return own(packr.pack([TOKEN_VERSION, parts.kid, parts.blocks, parts.tag]));
}
function own(bytes) {
  return new Uint8Array(bytes);
}
function isBytes(value) {
  return value instanceof Uint8Array;
}
function unpackInner(bytes, limits) {
  try {
    scanFrame(bytes, limits, false);
    return unpackr.unpack(bytes);
  } catch (error) {
    if (error instanceof CapsyncError && (error.code.startsWith("ERR_LIMIT_") || error.code === "ERR_FORBIDDEN_KEY")) throw error;
    throw fail("ERR_CAPABILITY_MALFORMED");
  }
}
function decodeToken(bytes, limits) {
  if (bytes.length > limits.maxTokenBytes) throw fail("ERR_CAPABILITY_MALFORMED", "capability token is too large");
  const value = readTokenFast(bytes, limits) ?? unpackInner(bytes, limits);
  if (!Array.isArray(value) || value.length !== 4 || value[0] !== TOKEN_VERSION) throw fail("ERR_CAPABILITY_MALFORMED");
  const [, kid, blocks, tag] = value;
  if (typeof kid !== "string" || !Array.isArray(blocks) || !isBytes(tag)) throw fail("ERR_CAPABILITY_MALFORMED");
  if (blocks.length === 0 || !blocks.every(isBytes)) throw fail("ERR_CAPABILITY_MALFORMED");
  if (blocks.length - 1 > limits.maxNarrowingSteps) throw fail("ERR_LIMIT_STEPS");
  return { kid, blocks, tag };
}
function decodeBlock(bytes, limits, first = false) {
  const value = readBlockFast(bytes, limits) ?? unpackInner(bytes, limits);
  if (!Array.isArray(value) || value.length !== 3 && value.length !== 4 && !(first && value.length === 5) && value.length !== 6) {
    throw fail("ERR_CAPABILITY_MALFORMED");
  }
  const [segment, expiresAt, audience, nonce, ancestors, generation] = value;
  if (value.length >= 4 && !(nonce instanceof Uint8Array && nonce.length === NONCE_BYTES)) throw fail("ERR_CAPABILITY_MALFORMED");
  if (value.length === 6) {
    if (typeof audience !== "string" || !(typeof generation === "number" && Number.isSafeInteger(generation) && generation >= 0)) throw fail("ERR_CAPABILITY_MALFORMED");
    if (ancestors !== null && !first) throw fail("ERR_CAPABILITY_MALFORMED");
  }
  if (value.length === 5 || value.length === 6 && ancestors !== null) {
    if (!Array.isArray(ancestors) || ancestors.length === 0) throw fail("ERR_CAPABILITY_MALFORMED");
    if (ancestors.length > limits.maxAncestors) throw fail("ERR_LIMIT_ANCESTORS");
    if (!ancestors.every((id2) => id2 instanceof Uint8Array && id2.length === ANCESTOR_ID_BYTES)) throw fail("ERR_CAPABILITY_MALFORMED");
  }
  if (!Array.isArray(segment)) throw fail("ERR_CAPABILITY_MALFORMED");
  if (expiresAt !== null && !(typeof expiresAt === "number" && Number.isSafeInteger(expiresAt) && expiresAt >= 0)) {
    throw fail("ERR_CAPABILITY_MALFORMED");
  }
  if (audience !== null && typeof audience !== "string") throw fail("ERR_CAPABILITY_MALFORMED");
  for (const element of segment) {
    try {
      assertJsonValue(element, limits.maxDepth);
    } catch {
      throw fail("ERR_CAPABILITY_MALFORMED", "capability scope holds a value that is not JSON-compatible");
    }
  }
  const block = { segment, expiresAt, audience };
  const withAncestors = value.length === 5 || value.length === 6 && ancestors !== null ? { ...block, ancestors } : block;
  return value.length === 6 ? { ...withAncestors, generation } : withAncestors;
}
function parseToken(bytes, limits) {
  const token = new Uint8Array(bytes);
  return parseBlocks(token, decodeToken(token, limits), limits);
}
function parseBlocks(token, parts, limits) {
  const { decoded, scope: scope2 } = decodeBlocks(parts.blocks, limits);
  return { kid: parts.kid, blocks: parts.blocks, tag: parts.tag, token, decoded, scope: scope2 };
}
function decodeBlocks(blocks, limits) {
  const decoded = new Array(blocks.length);
  const scope2 = [];
  for (let i = 0; i < blocks.length; i++) {
    const block = decoded[i] = decodeBlock(blocks[i], limits, i === 0);
    for (const element of block.segment) scope2.push(element);
  }
  checkScopeLength(scope2.length, limits);
  return { decoded, scope: scope2 };
}
function checkScopeLength(length, limits) {
  if (length === 0) throw fail("ERR_CAPABILITY_MALFORMED", "capability scope is empty");
  if (length > limits.maxScopeLength) throw fail("ERR_LIMIT_SCOPE");
}

// protocol/capability/chain.ts
var defaultSuite = Object.freeze({ crypto: nobleCrypto, limits: defaultLimits });
var chainOf = /* @__PURE__ */ Symbol("capsync.chain");
function link(crypto2, previous, blockBytes) {
  return crypto2.hmacSha256(previous, blockBytes);
}
function walkChain(crypto2, root, blockBytes) {
  const tags = new Array(blockBytes.length);
  let tag = tags[0] = root(blockBytes[0]);
  for (let i = 1; i < blockBytes.length; i++) tags[i] = tag = link(crypto2, tag, blockBytes[i]);
  return tags;
}
function signChain(blocks, kid, root, suite, random = randomNonce) {
  const blockBytes = blocks.map((block) => encodeBlock(block, random(NONCE_BYTES)));
  const tags = walkChain(suite.crypto, root, blockBytes);
  return { chain: { kid, blockBytes, tag: tags[tags.length - 1], suite }, tags };
}
function verifyChain(chain, root, crypto2) {
  if (chain.tag.length !== TAG_BYTES) return void 0;
  const tags = walkChain(crypto2, root, chain.blockBytes);
  return crypto2.timingSafeEqual(tags[tags.length - 1], chain.tag) ? tags : void 0;
}
function verifyLastStep(crypto2, previous, lastBlock, tag) {
  if (tag.length !== TAG_BYTES) return void 0;
  const next = previous(lastBlock);
  return crypto2.timingSafeEqual(next, tag) ? next : void 0;
}
function extendChain(chain, block) {
  const bytes = encodeBlock(block, randomNonce());
  const blockBytes = [...chain.blockBytes, bytes];
  const suite = chain.suite;
  if (chain.tag.length === 0) return { kid: chain.kid, blockBytes, tag: chain.tag, suite };
  return { kid: chain.kid, blockBytes, tag: link((suite ?? defaultSuite).crypto, chain.tag, bytes), suite };
}
function chainToken(chain) {
  return chain.token ??= encodeToken({ kid: chain.kid, blocks: chain.blockBytes, tag: chain.tag });
}
function unsignedToken(blocks) {
  return encodeToken({ kid: "", blocks: blocks.map((b) => encodeBlock(b)), tag: new Uint8Array(0) });
}
function restrictionsOf(blocks) {
  let expiresAt = null;
  const audiences = [];
  for (const b of blocks) {
    expiresAt = minExpiry(expiresAt, b.expiresAt);
    if (b.audience !== null) audiences.push(b.audience);
  }
  return { expiresAt, audiences };
}
function minExpiry(a, b) {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}
function tagKey(tag) {
  return String.fromCharCode.apply(null, tag);
}
var NONCE_POOL_BYTES = 4096;
var noncePool = new Uint8Array(0);
var noncePoolOffset = 0;
function randomNonce() {
  if (noncePoolOffset + NONCE_BYTES > noncePool.length) {
    noncePool = globalThis.crypto.getRandomValues(new Uint8Array(NONCE_POOL_BYTES));
    noncePoolOffset = 0;
  }
  return noncePool.slice(noncePoolOffset, noncePoolOffset += NONCE_BYTES);
}

// protocol/capability/status.ts
import { base64url } from "jose";
var statuses = /* @__PURE__ */ new WeakMap();
function setStatus(cap2, status) {
  statuses.set(cap2, status);
}
function statusOf(cap2) {
  return statuses.get(cap2);
}
function revocationId(tag, crypto2 = nobleCrypto) {
  return base64url.encode(crypto2.sha256(tag).subarray(0, 16));
}
function idsOf(v) {
  const crypto2 = v.authority.crypto;
  if (v.ids !== void 0) return v.ids;
  const own2 = v.tags.map((tag) => revocationId(tag, crypto2));
  return v.ids = v.ancestors === void 0 ? own2 : [...own2, ...v.ancestors];
}
function ancestorIds(raw) {
  return raw === void 0 ? void 0 : raw.map((id2) => base64url.encode(id2));
}
function assertStillValid(v) {
  const a = v.authority;
  if (v.expiresAt !== null && a.now() > v.expiresAt + a.clockToleranceMs) throw fail("ERR_CAPABILITY_EXPIRED");
  if (a.hasRevocations() && a.isRevoked(idsOf(v))) throw fail("ERR_CAPABILITY_REVOKED");
  if (v.marks !== void 0 && a.isStale(v.marks)) throw fail("ERR_CAPABILITY_REVOKED");
}
function marksOf(blocks) {
  let marks;
  for (const b of blocks) if (b.generation !== void 0 && b.audience !== null) (marks ??= []).push([b.audience, b.generation]);
  return marks;
}

// protocol/capability/capability.ts
var builtLocally;
var Capability = class _Capability {
  /**
   * The local-origin brand. Only the constructor gives an object this class-private field, which no code
   * outside this class body can read or write; every capability built from wire data is made with
   * `Object.create` (see {@link capabilityFromParts}), so a value a peer sent can never carry it.
   */
  #local = true;
  /** Parts of the child that {@link narrow} has checked, for the constructor to take as they are (synchronous: one slot). */
  static #derived;
  static {
    builtLocally = (value) => #local in value;
  }
  /** The full scope, narrowing included. */
  scope;
  /** The pending (unsigned) blocks or the decoded blocks of the chain. */
  blocks;
  /** @internal */
  [chainOf];
  /**
   * @param scope a non-empty list of JSON-compatible values.
   * @param restrictions an optional expiry and audience.
   */
  constructor(scope2, restrictions = {}) {
    const derived = _Capability.#derived;
    if (derived !== void 0) {
      _Capability.#derived = void 0;
      this.scope = derived.scope;
      this.blocks = derived.blocks;
      this[chainOf] = void 0;
      return;
    }
    assertScope(scope2, true, defaultLimits);
    this.blocks = Object.freeze([makeBlock(scope2, restrictions)]);
    this.scope = deepFreeze(structuredCopy(scope2));
    this[chainOf] = void 0;
  }
  /** The earliest expiry in the chain (ms since epoch), or null. */
  get expiresAt() {
    return restrictionsOf(this.blocks).expiresAt;
  }
  /** Every audience in the chain; the caller must match all of them. */
  get audiences() {
    return restrictionsOf(this.blocks).audiences;
  }
  /** True once the capability carries a server signature (it may still fail verification). */
  get signed() {
    const chain = this[chainOf];
    return chain !== void 0 && chain.tag.length > 0;
  }
  /**
   * The revocation id of this exact capability (its last chain step), or undefined if it is unsigned.
   * Revoking it revokes this capability and everything narrowed from it, never the broader one it came from.
   */
  get revocationId() {
    const chain = this[chainOf];
    return chain && chain.tag.length > 0 ? revocationId(chain.tag, (chain.suite ?? defaultSuite).crypto) : void 0;
  }
  /**
   * A new capability with `suffix` appended to the scope and `restrictions` added. Synchronous, offline,
   * on client or server: the chain's next tag is HMAC(previous tag, new block). The limits are those of
   * the verifier or codec this capability came from (the defaults for one made by local code).
   */
  narrow(suffix = [], restrictions = {}) {
    const chain = this[chainOf];
    const limits = (chain?.suite ?? defaultSuite).limits;
    assertScope(suffix, false, limits);
    if (this.scope.length + suffix.length > limits.maxScopeLength) throw fail("ERR_LIMIT_SCOPE");
    if (this.blocks.length > limits.maxNarrowingSteps) throw fail("ERR_LIMIT_STEPS");
    const block = makeBlock(suffix, restrictions);
    const child = Object.create(_Capability.prototype);
    const scope2 = deepFreeze([...this.scope, ...structuredCopy(suffix)]);
    Object.assign(child, { scope: scope2, blocks: Object.freeze([...this.blocks, block]) });
    const status = statusOf(this);
    if (status instanceof CapsyncError) setStatus(child, status);
    if (chain === void 0) {
      if (!builtLocally(this)) {
        child[chainOf] = void 0;
        return child;
      }
      _Capability.#derived = { scope: child.scope, blocks: child.blocks };
      return new _Capability(child.scope);
    }
    const next = extendChain(chain, block);
    child[chainOf] = next;
    if (status !== void 0 && !(status instanceof CapsyncError) && next.tag.length > 0) {
      setStatus(child, {
        tags: [...status.tags, next.tag],
        expiresAt: minExpiry(status.expiresAt, block.expiresAt),
        audiences: block.audience === null ? status.audiences : [...status.audiences, block.audience],
        authority: status.authority,
        ...block.generation !== void 0 && block.audience !== null ? { marks: [...status.marks ?? [], [block.audience, block.generation]] } : status.marks !== void 0 ? { marks: status.marks } : {},
        ...status.ancestors !== void 0 ? { ancestors: status.ancestors } : {},
        ...status.bearer === true ? { bearer: true } : {}
      });
    }
    return child;
  }
  /** The token bytes carried in msgpack extension type 1. Unsigned capabilities travel with an empty tag. */
  toToken() {
    const chain = this[chainOf];
    return chain === void 0 ? unsignedToken(this.blocks) : chainToken(chain);
  }
  /** A readable form for logs and debugging; never includes the tag. */
  toString() {
    return `Capability(${JSON.stringify(this.scope)})`;
  }
  /** What `JSON.stringify` shows: the scope only, never the token (a log line must not leak the right). */
  toJSON() {
    return { scope: this.scope };
  }
  /**
   * True when `other` is a capability with an equal scope (deep JSON equality, map key order ignored), as
   * Anvil compares its capabilities. Restrictions, chains and signatures are not compared: two capabilities
   * may be equal and still differ in who may use them, or in whether they verify.
   */
  equals(other) {
    if (!(other instanceof _Capability) || other.scope.length !== this.scope.length) return false;
    return this.scope.every((element, i) => jsonEqual(element, other.scope[i]));
  }
};
function isLocalCapability(cap2) {
  return builtLocally(cap2);
}
function deepFreeze(value) {
  if (typeof value !== "object" || value === null || Object.isFrozen(value) || ArrayBuffer.isView(value)) return value;
  Object.freeze(value);
  if (Array.isArray(value)) for (let i = 0; i < value.length; i++) deepFreeze(value[i]);
  else for (const key in value) deepFreeze(value[key]);
  return value;
}
function structuredCopy(values2) {
  return values2.map((v) => v !== null && typeof v === "object" ? JSON.parse(JSON.stringify(v)) : v);
}
function assertScope(scope2, nonEmpty, limits) {
  if (!Array.isArray(scope2) || nonEmpty && scope2.length === 0) throw fail("ERR_INVALID_SCOPE");
  if (scope2.length > limits.maxScopeLength) throw fail("ERR_LIMIT_SCOPE");
  try {
    for (const element of scope2) assertJsonValue(element, limits.maxDepth - 2);
  } catch {
    throw fail("ERR_INVALID_SCOPE");
  }
}
function makeBlock(segment, r) {
  if (r.expiresAt !== void 0 && !(Number.isSafeInteger(r.expiresAt) && r.expiresAt >= 0)) {
    throw fail("ERR_INVALID_VALUE", "expiresAt must be a non-negative integer (ms since epoch)");
  }
  if (r.audience !== void 0 && typeof r.audience !== "string") throw fail("ERR_INVALID_VALUE", "audience must be a string");
  const block = { segment: deepFreeze(structuredCopy(segment)), expiresAt: r.expiresAt ?? null, audience: r.audience ?? null };
  if (r.generation === void 0 || r.audience === void 0) return Object.freeze(block);
  if (!(Number.isSafeInteger(r.generation) && r.generation >= 0)) throw fail("ERR_INVALID_VALUE", "generation must be a non-negative integer");
  return Object.freeze({ ...block, generation: r.generation });
}
function pendingCapability(scope2, restrictions, limits, ancestors) {
  assertScope(scope2, true, limits);
  const block = makeBlock(scope2, restrictions);
  const first = ancestors === void 0 || ancestors.length === 0 ? block : Object.freeze({ ...block, ancestors: Object.freeze([...ancestors]) });
  return capabilityFromParts(structuredCopy(scope2), [first], void 0);
}
function capabilityFromParts(scope2, blocks, chain) {
  const cap2 = Object.create(Capability.prototype);
  Object.assign(cap2, { scope: deepFreeze(scope2), blocks: deepFreeze(blocks) });
  cap2[chainOf] = chain;
  return cap2;
}
function decodeCapability(bytes, suite) {
  const parsed = parseToken(bytes, suite.limits);
  return capabilityFromParts(parsed.scope, parsed.decoded, { kid: parsed.kid, blockBytes: parsed.blocks, tag: parsed.tag, token: parsed.token, suite });
}

// protocol/handles.ts
var MAX_HANDLES = 1024;
var InboundHandles = class {
  #caps = [];
  bind(handle, cap2) {
    if (handle !== this.#caps.length || handle >= MAX_HANDLES) throw fail("ERR_CAPABILITY_MALFORMED", "capability handle out of sequence");
    this.#caps.push(cap2);
  }
  lookup(handle) {
    const cap2 = this.#caps[handle];
    if (cap2 === void 0) throw fail("ERR_CAPABILITY_MALFORMED", "unknown capability handle");
    return cap2;
  }
  /** Replaces every bound capability by `replace(cap)` (the connection's principal changed: re-verified for it). */
  remap(replace) {
    for (let i = 0; i < this.#caps.length; i++) this.#caps[i] = replace(this.#caps[i]);
  }
};
function writeHandle(allocate, handle) {
  const { target, position } = allocate(6);
  target[position] = 214;
  target[position + 1] = ExtensionType.capabilityHandle;
  writeU32(target, position + 2, handle);
  return void 0;
}
function writeBinding(allocate, handle, token) {
  const length = 4 + token.length;
  const header = length < 256 ? 3 : length < 65536 ? 4 : 6;
  const { target, position } = allocate(header + length);
  let at = position;
  if (header === 3) target[at++] = 199, target[at++] = length;
  else if (header === 4) target[at++] = 200, target[at++] = length >> 8, target[at++] = length & 255;
  else target[at++] = 201, writeU32(target, at, length), at += 4;
  target[at++] = ExtensionType.capabilityBind;
  writeU32(target, at, handle);
  target.set(token, at + 4);
  return void 0;
}
function readHandle(payload) {
  return (payload[0] << 24 | payload[1] << 16 | payload[2] << 8 | payload[3]) >>> 0;
}
function writeU32(target, at, value) {
  target[at] = value >>> 24;
  target[at + 1] = value >>> 16 & 255;
  target[at + 2] = value >>> 8 & 255;
  target[at + 3] = value & 255;
}

// protocol/extensions.ts
import { addExtension } from "msgpackr";
var active = null;
function withRun(run2, body) {
  const previous = active;
  active = run2;
  try {
    return body();
  } finally {
    active = previous;
  }
}
function encodingBy(packr2) {
  const run2 = active;
  if (run2 === null || run2.decoding || run2.packr !== packr2) {
    throw fail("ERR_NOT_ENCODABLE", "capsync capabilities and portable objects are only encoded by a capsync Codec");
  }
  return run2;
}
function noteExtension(type, payload) {
  const run2 = active;
  if (run2 === null || !run2.decoding) throw fail("ERR_EXTENSION_UNKNOWN", "capsync extensions are only decoded by a capsync Codec");
  return run2.noteExtension(type, payload);
}
addExtension({
  Class: Capability,
  type: ExtensionType.capability,
  pack(cap2, allocate) {
    return encodingBy(this).packCapability(cap2, allocate);
  },
  unpack: (token) => noteExtension(ExtensionType.capability, token)
});
for (const type of [ExtensionType.capabilityHandle, ExtensionType.capabilityBind]) {
  addExtension({ type, unpack: (payload) => noteExtension(type, payload) });
}
var dispatched = /* @__PURE__ */ new WeakSet();
function dispatchPortableClass(cls) {
  if (dispatched.has(cls)) return;
  dispatched.add(cls);
  addExtension({
    Class: cls,
    type: ExtensionType.portable,
    pack(object2) {
      return encodingBy(this).packPortable(object2);
    },
    unpack: (payload) => noteExtension(ExtensionType.portable, payload)
  });
}

// protocol/portable.ts
var PortableRegistry = class {
  #byName = /* @__PURE__ */ new Map();
  #byClass = /* @__PURE__ */ new Map();
  /**
   * Registers a class under a name. Registering the same class under the same name again is a no-op;
   * another class under a taken name is `ERR_PORTABLE_INVALID`. `Capability` (or a subclass) can never be
   * portable: an instance revived from wire fields would be a capability nobody signed or checked.
   */
  register(cls, options) {
    if (typeof options.name !== "string" || options.name.length === 0) throw fail("ERR_PORTABLE_INVALID", "portable name must be a non-empty string");
    if (typeof cls !== "function" || cls === Capability || cls.prototype instanceof Capability) {
      throw fail("ERR_PORTABLE_INVALID", "a capability class cannot be portable");
    }
    const existing = this.#byName.get(options.name);
    if (existing !== void 0) {
      if (existing.cls === cls) return;
      throw fail("ERR_PORTABLE_INVALID", `portable name ${options.name} is already registered`);
    }
    const type = { ...options, cls };
    this.#byName.set(options.name, type);
    this.#byClass.set(cls, type);
    dispatchPortableClass(cls);
  }
  /** The registration of a class name, or undefined. */
  byName(name) {
    return this.#byName.get(name);
  }
  /** The registration of a class, or undefined. */
  ofClass(cls) {
    return this.#byClass.get(cls);
  }
  /** The registration of an instance's own class (not a subclass's), or undefined. */
  of(object2) {
    return this.#byClass.get(object2.constructor);
  }
  /**
   * @internal Rebuilds an instance from wire fields without running its constructor (which may mint
   * capabilities and so only runs in server code). A field may not shadow anything on the class's prototype
   * chain: wire data never replaces a method or `constructor`.
   */
  revive(name, fields) {
    if (typeof name !== "string") throw fail("ERR_PORTABLE_INVALID");
    const type = this.#byName.get(name);
    if (type === void 0) throw fail("ERR_PORTABLE_UNKNOWN", `portable class ${JSON.stringify(name).slice(0, 64)} is not registered`);
    if (fields === null || typeof fields !== "object" || Array.isArray(fields)) throw fail("ERR_PORTABLE_INVALID");
    const proto = type.cls.prototype;
    const object2 = Object.create(proto);
    for (const key of Object.keys(fields)) {
      if (key in proto) throw fail("ERR_PORTABLE_INVALID", `field ${JSON.stringify(key).slice(0, 64)} shadows the class`);
      Object.defineProperty(object2, key, { value: fields[key], writable: true, enumerable: true, configurable: true });
    }
    return object2;
  }
};
var defaultPortables = new PortableRegistry();
function registerPortable(cls, options) {
  defaultPortables.register(cls, options);
}
function portableByName(name, registry = defaultPortables) {
  return registry.byName(name);
}
function portableOfClass(cls, registry = defaultPortables) {
  return registry.ofClass(cls);
}
function portableOf(object2, registry = defaultPortables) {
  return registry.of(object2);
}
function addressOf(object2, registry = defaultPortables) {
  const type = registry.of(object2);
  return type?.address?.(object2);
}
function fieldsOf(object2) {
  return { ...object2 };
}
function revive(name, fields, registry = defaultPortables) {
  return registry.revive(name, fields);
}

// protocol/codec.ts
var Run = class {
  constructor(codec, context, decoding) {
    this.codec = codec;
    this.context = context;
    this.decoding = decoding;
    this.packr = codec.packr;
  }
  codec;
  context;
  decoding;
  /** Extensions met by the decoder, resolved once msgpackr has returned. */
  pending = 0;
  capabilities = [];
  portables = [];
  /** Capabilities bound to new handles by this encode (undone if the encode fails). */
  bound = [];
  packr;
  /** A capability: signed (server side), as a handle (client side), or whole. */
  packCapability(cap2, allocate) {
    const verifier = this.context.verifier;
    if (verifier) {
      const bindTo = this.context.bindTo;
      const sent = bindTo === void 0 ? cap2 : verifier.boundFor(cap2, bindTo);
      this.capabilities.push(sent);
      return verifier.sign(sent);
    }
    this.capabilities.push(cap2);
    const handle = this.context.outboundHandles?.handleFor(cap2);
    if (handle === void 0) return cap2.toToken();
    if (!handle.bind) return writeHandle(allocate, handle.handle);
    this.bound.push(cap2);
    return writeBinding(allocate, handle.handle, cap2.toToken());
  }
  /** The payload of a portable object, if this codec's registry holds its class. */
  packPortable(object2) {
    const type = this.codec.portables.of(object2);
    if (type === void 0) throw fail("ERR_NOT_ENCODABLE", "this codec has no portable class for the object");
    return this.packr.pack([type.name, fieldsOf(object2)]);
  }
  noteExtension(type, payload) {
    this.pending++;
    return new Pending(type, payload);
  }
};
var Pending = class {
  constructor(type, bytes) {
    this.type = type;
    this.bytes = bytes;
  }
  type;
  bytes;
};
function resolve(value, run2) {
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Pending) {
    run2.pending--;
    switch (value.type) {
      case ExtensionType.capability:
        return resolveCapability(value.bytes, run2);
      case ExtensionType.portable:
        return resolvePortable(value.bytes, run2);
      default:
        return resolveHandle(value.type, value.bytes, run2);
    }
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length && run2.pending > 0; i++) {
      const item = value[i];
      if (item !== null && typeof item === "object") value[i] = resolve(item, run2);
    }
    return value;
  }
  if (value instanceof Uint8Array) return value;
  const map = value;
  for (const key of Object.keys(map)) {
    if (run2.pending === 0) break;
    const item = map[key];
    if (item !== null && typeof item === "object") map[key] = resolve(item, run2);
  }
  return map;
}
function resolveCapability(token, run2) {
  const { verifier, user } = run2.context;
  const cap2 = verifier ? verifier.decode(token, user ?? null) : decodeCapability(token, run2.codec.suite);
  run2.capabilities.push(cap2);
  return cap2;
}
function resolveHandle(type, payload, run2) {
  const handles = run2.context.inboundHandles;
  if (handles === void 0) throw fail("ERR_EXTENSION_UNKNOWN", "capability handles are not accepted here");
  const handle = readHandle(payload);
  if (type === ExtensionType.capabilityHandle) {
    const { verifier, user } = run2.context;
    const bound = handles.lookup(handle);
    const cap3 = verifier ? verifier.readmit(bound, user ?? null) : bound;
    run2.capabilities.push(cap3);
    return cap3;
  }
  const cap2 = resolveCapability(payload.subarray(4), run2);
  handles.bind(handle, cap2);
  return cap2;
}
function resolvePortable(payload, run2) {
  const value = run2.codec.unpackr.unpack(payload);
  if (!Array.isArray(value) || value.length !== 2) throw fail("ERR_PORTABLE_INVALID");
  const [name, fields] = value;
  if (fields === null || typeof fields !== "object" || Array.isArray(fields) || fields instanceof Pending || fields instanceof Uint8Array) {
    throw fail("ERR_PORTABLE_INVALID");
  }
  const object2 = run2.codec.portables.revive(name, resolve(fields, run2));
  run2.portables.push(object2);
  return object2;
}
var Codec = class {
  /** The limits every frame this codec reads or writes is held to. */
  limits;
  /** The portable classes this codec encodes and revives. */
  portables;
  /** @internal What capabilities decoded without a verifier (client side) narrow with. */
  suite;
  /** @internal */
  packr = new Packr2({ useRecords: false, encodeUndefinedAsNil: true, moreTypes: false, structuredClone: false });
  /** @internal */
  unpackr = new Unpackr2({ useRecords: false, mapsAsObjects: true, int64AsType: "number", structuredClone: false });
  constructor(limits, options = {}) {
    this.limits = resolveLimits(limits);
    this.suite = limits === void 0 ? defaultSuite : Object.freeze({ crypto: nobleCrypto, limits: this.limits });
    this.portables = options.portables ?? defaultPortables;
  }
  /** Encodes a value. Unsigned capabilities are signed when the context has a verifier (server side). */
  encode(value, context = {}, options = {}) {
    const run2 = new Run(this, context, false);
    let bytes;
    try {
      bytes = withRun(run2, () => this.packr.pack(value));
    } catch (error) {
      context.outboundHandles?.rollback(run2.bound);
      throw error instanceof CapsyncError ? error : fail("ERR_NOT_ENCODABLE");
    }
    if (options.check) {
      try {
        scanFrame(bytes, this.limits);
      } catch (error) {
        context.outboundHandles?.rollback(run2.bound);
        throw fail("ERR_NOT_ENCODABLE", `value cannot be sent: ${error.code}`);
      }
    }
    if (context.onCapability) for (const cap2 of run2.capabilities) context.onCapability(cap2);
    return bytes;
  }
  /** Decodes bytes from a peer: scans limits first, then builds the value. Throws a {@link CapsyncError}. */
  decode(bytes, context = {}) {
    scanFrame(bytes, this.limits);
    const run2 = new Run(this, context, true);
    let value;
    try {
      value = withRun(run2, () => {
        const decoded = this.unpackr.unpack(bytes);
        return run2.pending > 0 ? resolve(decoded, run2) : decoded;
      });
    } catch (error) {
      throw error instanceof CapsyncError ? error : fail("ERR_FRAME_MALFORMED");
    }
    if (context.onCapability) for (const cap2 of run2.capabilities) context.onCapability(cap2);
    if (context.onPortable) for (const object2 of run2.portables) context.onPortable(object2);
    return value;
  }
};

// protocol/frames.ts
import * as z from "zod/mini";
var FrameType = {
  /** s→c `[0, hello]` first frame of a session. */
  hello: 0,
  /** c→s `[1, id, name, args]` or `[1, id, name, args, key]` calls a server function; a keyed call runs at most once. */
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
  /** c→s `[13, id]` asks which users are online (as the server's presence policy allows). */
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
  presenceEvent: 19
};
var MAX_CALL_KEY_LENGTH = 128;
var id = z.number().check(z.int(), z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER));
var cap = z.instanceof(Capability);
var scope = z.array(z.unknown()).check(z.minLength(1));
var helloSchema = z.object({
  protocol: z.literal(1),
  user: z.nullable(z.object({ id: z.string(), roles: z.array(z.string()) })),
  maxFrameBytes: z.number().check(z.int(), z.positive()),
  tokenExpiresAt: z.nullable(z.number()),
  /** How often the server pings; a client that hears nothing for about two intervals treats the connection as dead. */
  pingIntervalMs: z.optional(z.number().check(z.int(), z.positive())),
  /** The store's identity and its latest change sequence number when the session started. */
  epoch: z.optional(z.string()),
  seq: z.optional(id),
  /** How long the server keeps a keyed call's outcome: a call first sent longer ago than this is not re-sent. */
  callKeyWindowMs: z.optional(z.number().check(z.int(), z.positive())),
  /** An anonymous session's identity: the client keeps it and re-presents it in `resume` (its capabilities are bound to it). */
  identity: z.optional(z.string())
});
var callKey = z.string().check(z.minLength(1), z.maxLength(MAX_CALL_KEY_LENGTH));
var resumeSchema = z.strictObject({
  /** Every capability the client still holds (whole tokens: handles belong to the old connection). */
  caps: z.array(cap),
  /** `[address, version]` of every live object the client has. */
  seen: z.array(z.tuple([scope, id])),
  /** The store identity the versions and `seq` belong to, or nil on a first connection. */
  epoch: z.nullable(z.string()),
  /** The highest change sequence number the client has seen (hello's, or a push's). */
  seq: id,
  /** An anonymous client's identity from its first hello: the server adopts it before verifying `caps`. */
  identity: z.optional(z.string().check(z.minLength(1), z.maxLength(512)))
});
var delegateOptionsSchema = z.strictObject({ bind: z.optional(z.boolean()), bearer: z.optional(z.boolean()) });
var watchOptionsSchema = z.strictObject({
  type: z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
  stop: z.optional(z.literal(true))
});
var delegationSchema = z.object({
  from: z.string(),
  cap,
  object: z.unknown()
});
var schemas = {
  [FrameType.hello]: z.tuple([z.literal(FrameType.hello), helloSchema]),
  // A rest element stands for the optional trailing key (and a push's seq); the hand check below allows at most one.
  [FrameType.call]: z.tuple([z.literal(FrameType.call), id, z.string().check(z.minLength(1), z.maxLength(256)), z.array(z.unknown())], callKey),
  [FrameType.result]: z.tuple([z.literal(FrameType.result), id, z.unknown()]),
  [FrameType.error]: z.tuple([z.literal(FrameType.error), z.nullable(id), z.string(), z.string()]),
  [FrameType.push]: z.tuple([z.literal(FrameType.push), scope, z.string(), id, z.nullable(z.record(z.string(), z.unknown()))], id),
  [FrameType.delegate]: z.tuple([z.literal(FrameType.delegate), id, z.string().check(z.minLength(1), z.maxLength(256)), cap, delegateOptionsSchema]),
  [FrameType.delegation]: z.tuple([z.literal(FrameType.delegation), delegationSchema]),
  [FrameType.revoke]: z.tuple([z.literal(FrameType.revoke), id, cap]),
  [FrameType.revoked]: z.tuple([z.literal(FrameType.revoked), z.string(), scope, z.enum(["revoked", "expired"])]),
  [FrameType.ping]: z.tuple([z.literal(FrameType.ping), id]),
  [FrameType.pong]: z.tuple([z.literal(FrameType.pong), id]),
  [FrameType.refresh]: z.tuple([z.literal(FrameType.refresh), id, z.string().check(z.minLength(1), z.maxLength(16 * 1024))]),
  [FrameType.tokenExpiring]: z.tuple([z.literal(FrameType.tokenExpiring), z.number()]),
  [FrameType.presence]: z.tuple([z.literal(FrameType.presence), id]),
  [FrameType.resume]: z.tuple([z.literal(FrameType.resume), id, resumeSchema]),
  [FrameType.grants]: z.tuple([z.literal(FrameType.grants), id]),
  [FrameType.watch]: z.tuple([z.literal(FrameType.watch), id, cap, watchOptionsSchema]),
  [FrameType.snapshot]: z.tuple([z.literal(FrameType.snapshot), id, z.array(z.unknown())]),
  [FrameType.collectionChange]: z.tuple([z.literal(FrameType.collectionChange), id, z.enum(["add", "remove", "end"]), z.unknown()]),
  [FrameType.presenceEvent]: z.tuple([z.literal(FrameType.presenceEvent), z.enum(["join", "leave"]), z.string()])
};
var clientFrameTypes = /* @__PURE__ */ new Set([
  FrameType.call,
  FrameType.delegate,
  FrameType.revoke,
  FrameType.ping,
  FrameType.pong,
  FrameType.refresh,
  FrameType.presence,
  FrameType.resume,
  FrameType.grants,
  FrameType.watch
]);
var serverFrameTypes = /* @__PURE__ */ new Set([
  FrameType.hello,
  FrameType.result,
  FrameType.error,
  FrameType.push,
  FrameType.delegation,
  FrameType.revoked,
  FrameType.ping,
  FrameType.pong,
  FrameType.tokenExpiring,
  FrameType.snapshot,
  FrameType.collectionChange,
  FrameType.presenceEvent
]);
var isId = (v) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
var isPlainMap = (v) => typeof v === "object" && v !== null && Object.getPrototypeOf(v) === Object.prototype;
function checkHotFrame(v) {
  switch (v[0]) {
    case FrameType.call:
      return (v.length === 4 || v.length === 5 && typeof v[4] === "string" && v[4].length >= 1 && v[4].length <= MAX_CALL_KEY_LENGTH) && isId(v[1]) && typeof v[2] === "string" && v[2].length >= 1 && v[2].length <= 256 && Array.isArray(v[3]);
    case FrameType.result:
      return v.length === 3 && isId(v[1]);
    case FrameType.push:
      return (v.length === 5 || v.length === 6 && isId(v[5])) && Array.isArray(v[1]) && v[1].length >= 1 && typeof v[2] === "string" && isId(v[3]) && (v[4] === null || isPlainMap(v[4]));
    default:
      return void 0;
  }
}
function validateFrame(value, allowed) {
  if (!Array.isArray(value) || typeof value[0] !== "number" || !allowed.has(value[0])) {
    throw fail("ERR_FRAME_INVALID", "unknown or unexpected frame type");
  }
  const fast = checkHotFrame(value);
  if (fast !== void 0) {
    if (!fast) throw fail("ERR_FRAME_INVALID", `invalid frame of type ${value[0]}`);
    return value;
  }
  const schema = schemas[value[0]];
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw fail("ERR_FRAME_INVALID", `invalid frame of type ${value[0]}`);
  return parsed.data;
}
function frameIdOf(value) {
  if (Array.isArray(value) && typeof value[1] === "number" && Number.isSafeInteger(value[1]) && value[1] >= 0) {
    const type = value[0];
    if (type === FrameType.call || type === FrameType.delegate || type === FrameType.revoke || type === FrameType.refresh || type === FrameType.presence || type === FrameType.resume || type === FrameType.grants || type === FrameType.watch) {
      return value[1];
    }
  }
  return null;
}

// protocol/verifier.ts
import { LRUCache } from "lru-cache";
import { base64url as base64url2 } from "jose";

// protocol/capability/token-match.ts
function tokenMatches(bytes, chain) {
  const end = bytes.length;
  if (bytes[0] !== 148 || bytes[1] !== 1) return false;
  let p = 2;
  const t = bytes[p];
  let length;
  if (t >= 160 && t <= 191) length = t - 160, p += 1;
  else if (t === 217) length = bytes[p + 1] ?? -1, p += 2;
  else if (t === 218) length = (bytes[p + 1] ?? 0) << 8 | (bytes[p + 2] ?? 0), p += 3;
  else return false;
  const kid = chain.kid;
  if (length !== kid.length || p + length > end) return false;
  for (let i = 0; i < length; i++) if (bytes[p + i] !== kid.charCodeAt(i)) return false;
  p += length;
  const blocks = chain.blockBytes;
  const h = bytes[p];
  let count;
  if (h !== void 0 && h >= 144 && h <= 159) count = h - 144, p += 1;
  else if (h === 220 && p + 3 <= end) count = bytes[p + 1] << 8 | bytes[p + 2], p += 3;
  else return false;
  if (count !== blocks.length) return false;
  for (let b = 0; b < count; b++) {
    const block = blocks[b];
    const start2 = binaryStart(bytes, p, block.length);
    if (start2 < 0) return false;
    for (let i = 0; i < block.length; i++) if (bytes[start2 + i] !== block[i]) return false;
    p = start2 + block.length;
  }
  const tag = chain.tag;
  const start = binaryStart(bytes, p, tag.length);
  if (start < 0 || start + tag.length !== end || tag.length === 0) return false;
  let diff = 0;
  for (let i = 0; i < tag.length; i++) diff |= bytes[start + i] ^ tag[i];
  return diff === 0;
}
function binaryStart(bytes, p, length) {
  const t = bytes[p];
  let start;
  let n;
  if (t === 196) n = bytes[p + 1] ?? -1, start = p + 2;
  else if (t === 197) n = (bytes[p + 1] ?? 0) << 8 | (bytes[p + 2] ?? 0), start = p + 3;
  else return -1;
  return n === length && start + length <= bytes.length ? start : -1;
}

// protocol/revocation.ts
var MemoryRevocationSet = class {
  entries = /* @__PURE__ */ new Map();
  generations = /* @__PURE__ */ new Map();
  listeners = /* @__PURE__ */ new Set();
  generationListeners = /* @__PURE__ */ new Set();
  has(id2) {
    return this.entries.has(id2);
  }
  get size() {
    return this.entries.size;
  }
  async add(entries) {
    this.apply(entries);
  }
  /** Adds entries to the mirror and tells subscribers about the new ones. */
  apply(entries) {
    const fresh = [];
    for (const e of entries) {
      if (this.entries.has(e.id)) continue;
      this.entries.set(e.id, e.expiresAt);
      fresh.push(e);
    }
    if (fresh.length > 0) for (const listener of this.listeners) listener(fresh);
  }
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  generation(user) {
    return this.generations.size === 0 ? 0 : this.generations.get(user) ?? 0;
  }
  async bumpGeneration(user) {
    const generation = this.generation(user) + 1;
    this.applyGeneration(user, generation);
    return generation;
  }
  /** Raises the mirror's generation of `user` (never lowers it) and tells subscribers if it rose. */
  applyGeneration(user, generation) {
    if (generation <= this.generation(user)) return;
    this.generations.set(user, generation);
    for (const listener of this.generationListeners) listener(user, generation);
  }
  subscribeGenerations(listener) {
    this.generationListeners.add(listener);
    return () => this.generationListeners.delete(listener);
  }
  async prune(now2) {
    let dropped = 0;
    for (const [id2, expiresAt] of this.entries) {
      if (expiresAt !== null && expiresAt < now2) this.entries.delete(id2), dropped++;
    }
    return dropped;
  }
};

// protocol/verifier.ts
var CapabilityVerifier = class {
  /** The keys this verifier signs and verifies with. */
  keyring;
  /** The revocation set every verification consults. */
  revocations;
  /** The limits minted and verified capabilities are held to. */
  limits;
  /** Milliseconds of clock skew allowed on expiry. */
  clockToleranceMs;
  /** The clock expiry is judged by (ms since the epoch). */
  now;
  crypto;
  /** The provider and limits every capability this verifier mints or verifies narrows with. */
  #suite;
  #random;
  /** Verified chains by 30 bits of their last tag ({@link cacheKey}). */
  #cache;
  /** The same entries by their chain's last block (see {@link prefixKey}): where a narrowed token finds its parent. */
  #prefixes;
  /** HMAC under each root key, its inner and outer state computed once. */
  #roots = /* @__PURE__ */ new WeakMap();
  /** The bound child sent to each (capability, principal): the same token and holding every time it is resent. */
  #bound;
  constructor(options) {
    this.keyring = options.keyring;
    this.revocations = options.revocations ?? new MemoryRevocationSet();
    this.limits = resolveLimits(options.limits);
    this.clockToleranceMs = options.clockToleranceMs ?? 0;
    this.now = options.now ?? Date.now;
    this.crypto = options.crypto ?? nobleCrypto;
    this.#suite = Object.freeze({ crypto: this.crypto, limits: this.limits });
    this.#random = options.random ?? randomNonce;
    const size = options.cacheSize ?? 1e4;
    this.#cache = size > 0 ? new LRUCache({ max: size }) : void 0;
    this.#prefixes = size > 0 ? new LRUCache({ max: size }) : void 0;
    this.#bound = size > 0 ? new LRUCache({ max: size }) : void 0;
  }
  /** True when any of these revocation ids (a chain and its ancestors) is revoked. */
  isRevoked(ids) {
    return ids.some((id2) => this.revocations.has(id2));
  }
  /** True when the revocation set holds anything at all (a fast path for the common case). */
  hasRevocations() {
    return this.revocations.size > 0;
  }
  isStale(marks) {
    return marks.some(([audience, generation]) => generation < this.revocations.generation(audience));
  }
  /** A new capability signed with the current key and already verified for this server. */
  mint(scope2, options = {}) {
    const { bearer, ancestors, ...restrictions } = options;
    if (ancestors !== void 0 && ancestors.length > this.limits.maxAncestors) throw fail("ERR_LIMIT_ANCESTORS");
    const raw = ancestors?.map((id2) => base64url2.decode(id2));
    if (raw?.some((id2) => id2.length !== 16)) throw fail("ERR_INVALID_VALUE", "an ancestor is not a revocation id");
    const generation = restrictions.audience !== void 0 ? { generation: this.revocations.generation(restrictions.audience) } : {};
    const cap2 = pendingCapability(scope2, { ...restrictions, ...generation }, this.limits, raw);
    this.#signPending(cap2, bearer === true);
    return cap2;
  }
  /**
   * Signs an unsigned capability in place (with every pending block) and marks it verified. Signed
   * capabilities are returned as they are. Returns the token bytes to send.
   */
  sign(cap2) {
    if (cap2[chainOf] === void 0) this.#signPending(cap2, false);
    return cap2.toToken();
  }
  #signPending(cap2, bearer) {
    const key = this.keyring.current;
    const { chain, tags } = signChain(cap2.blocks, key.kid, this.#root(key), this.#suite, this.#random);
    cap2[chainOf] = chain;
    const ancestors = ancestorIds(cap2.blocks[0].ancestors);
    const marks = marksOf(cap2.blocks);
    setStatus(cap2, { tags, ...restrictionsOf(cap2.blocks), authority: this, ...ancestors ? { ancestors } : {}, ...bearer ? { bearer } : {}, ...marks ? { marks } : {} });
  }
  /**
   * What to send to `principal` in place of `cap` (SPEC section 3.8, bound by default): the capability bound
   * to that principal by one more chain step (audience = principal), made once per (capability, principal)
   * so that resending it yields the same token and the same holding. `cap` itself stays unbound. A local
   * capability is signed first. Sent as it is: a bearer capability, one already bound (to this principal,
   * or to someone else: it passes through but is no cover), and one that failed verification.
   */
  boundFor(cap2, principal) {
    if (cap2[chainOf] === void 0) this.#signPending(cap2, false);
    const key = this.#boundKey(cap2, principal);
    if (key === void 0) return cap2;
    const known = this.#bound?.get(key);
    if (known !== void 0) return known;
    const binding = { audience: principal, generation: this.revocations.generation(principal) };
    const child = cap2.narrow([], binding);
    const verification = statusOf(child);
    idsOf(verification);
    this.#remember({ cap: child, verification });
    this.#bound?.set(key, child);
    return child;
  }
  /** The bound child {@link boundFor} made of `cap` for `principal`, if it made one and still remembers it. */
  boundChildOf(cap2, principal) {
    const key = this.#boundKey(cap2, principal);
    return key === void 0 ? void 0 : this.#bound?.get(key);
  }
  /** Where the bound child of `cap` is remembered, or undefined when `cap` is sent as it is. */
  #boundKey(cap2, principal) {
    const status = statusOf(cap2);
    if (status === void 0 || status instanceof CapsyncError || status.bearer === true || status.audiences.length > 0) return void 0;
    return tagKey(status.tags[status.tags.length - 1]) + "\0" + this.revocations.generation(principal) + "\0" + principal;
  }
  /**
   * Decodes and verifies token bytes received from `user` (null when anonymous).
   * Malformed tokens throw; tokens that parse but fail verification come back as a capability whose
   * use (`unwrapCapability`) throws the reason: forged, bad signature, unknown key, revoked, expired, audience.
   */
  decode(token, user) {
    const entry = this.#lookup(token) ?? this.#verify(token);
    if (entry instanceof Capability) return entry;
    return this.#admit(entry.cap, entry.verification, user);
  }
  /**
   * Re-admits a capability this verifier already decoded (one a connection bound to a handle): the same
   * checks as {@link decode} after its signature, so a revoked, expired or misdirected one comes back rejected.
   */
  readmit(cap2, user) {
    const status = statusOf(cap2);
    return status === void 0 || status instanceof CapsyncError ? cap2 : this.#admit(cap2, status, user);
  }
  #admit(cap2, verification, user) {
    try {
      const audiences = verification.audiences;
      if (audiences.length > 0 && !audiences.every((a) => a === user)) throw fail("ERR_CAPABILITY_AUDIENCE");
      assertStillValid(verification);
    } catch (error) {
      return rejected(cap2.scope, cap2.blocks, cap2[chainOf], error);
    }
    return cap2;
  }
  /** Forgets cached verifications (call after removing a key from the ring). */
  clearCache() {
    this.#cache?.clear();
    this.#prefixes?.clear();
    this.#bound?.clear();
  }
  #lookup(token) {
    if (this.#cache === void 0 || token.length < TAG_BYTES) return void 0;
    const entry = this.#cache.get(cacheKey(token, token.length - TAG_BYTES));
    return entry !== void 0 && tokenMatches(token, entry.cap[chainOf]) ? entry : void 0;
  }
  #root(key) {
    let root = this.#roots.get(key);
    if (root === void 0) this.#roots.set(key, root = keyedHmac(this.crypto, key.secret));
    return root;
  }
  #remember(entry) {
    if (this.#cache === void 0) return entry;
    const chain = entry.cap[chainOf];
    this.#cache.set(cacheKey(chain.tag, 0), entry);
    const last = chain.blockBytes[chain.blockBytes.length - 1];
    this.#prefixes.set(prefixKey(last, 0, last.length, chain.blockBytes.length), entry);
    return entry;
  }
  /**
   * Verifies token bytes the cache did not hold. The caller's buffer (a frame the transport may reuse) is
   * read, never kept: the chain keeps a copy of each block and of the tag, not of the whole token (which
   * {@link Capability.toToken} re-encodes if the capability is ever sent on). A token in the encoding capsync
   * writes is read in place (no view made of its parts); any other goes through the generic decoder.
   */
  #verify(bytes) {
    const limits = this.limits;
    const layout = bytes.length > limits.maxTokenBytes ? void 0 : readTokenLayout(bytes, limits);
    if (layout === void 0) return this.#verifyParts(decodeToken(bytes, limits));
    const { kid, at } = layout;
    const count = at.length / 2 - 1;
    if (count === 0) throw fail("ERR_CAPABILITY_MALFORMED");
    if (count - 1 > limits.maxNarrowingSteps) throw fail("ERR_LIMIT_STEPS");
    const tagStart = at[2 * count];
    const parent = this.#parentAt(bytes, kid, at, tagStart);
    if (parent !== void 0) return this.#verifyStep(kid, copyOf(bytes, at[2 * count - 2], at[2 * count - 1]), bytes.subarray(tagStart), parent);
    const blocks = new Array(count);
    for (let i = 0; i < count; i++) blocks[i] = copyOf(bytes, at[2 * i], at[2 * i + 1]);
    return this.#verifyCold(kid, blocks, copyOf(bytes, tagStart, bytes.length));
  }
  /** {@link #verify} of a token the generic decoder split (its parts may be views of the caller's buffer). */
  #verifyParts(parts) {
    const parent = this.#parentOf(parts);
    if (parent !== void 0) return this.#verifyStep(parts.kid, owned(parts.blocks[parts.blocks.length - 1]), parts.tag, parent);
    return this.#verifyCold(parts.kid, parts.blocks.map(owned), owned(parts.tag));
  }
  /** Verifies a whole chain from its root key; `blockBytes` and `tag` are the verifier's own copies. */
  #verifyCold(kid, blockBytes, tag) {
    const { scope: scope2, decoded: blocks } = decodeBlocks(blockBytes, this.limits);
    const chain = { kid, blockBytes, tag, suite: this.#suite };
    if (chain.kid === "" || chain.tag.length === 0) return rejected(scope2, blocks, chain, fail("ERR_CAPABILITY_FORGED"));
    const key = this.keyring.get(chain.kid);
    if (key === void 0) return rejected(scope2, blocks, chain, fail("ERR_CAPABILITY_UNKNOWN_KEY"));
    const tags = verifyChain(chain, this.#root(key), this.crypto);
    if (tags === void 0) return rejected(scope2, blocks, chain, fail("ERR_CAPABILITY_BAD_SIGNATURE"));
    const cap2 = capabilityFromParts(scope2, blocks, chain);
    const ancestors = ancestorIds(blocks[0].ancestors);
    const marks = marksOf(blocks);
    const verification = { tags, ...restrictionsOf(blocks), authority: this, ...ancestors ? { ancestors } : {}, ...marks ? { marks } : {} };
    setStatus(cap2, verification);
    return this.#remember({ cap: cap2, verification });
  }
  /**
   * The cached, verified chain that `parts` extends by exactly one block: same key id, and every block but
   * the last byte for byte the cached chain's. Found by the last block's bytes, confirmed in full.
   */
  #parentOf(parts) {
    const blocks = parts.blocks;
    const length = blocks.length - 1;
    if (this.#prefixes === void 0 || length < 1 || parts.kid === "" || parts.tag.length !== TAG_BYTES) return void 0;
    const last = blocks[length - 1];
    const entry = this.#prefixes.get(prefixKey(last, 0, last.length, length));
    if (entry === void 0) return void 0;
    const chain = entry.cap[chainOf];
    if (chain.kid !== parts.kid || chain.blockBytes.length !== length || this.keyring.get(parts.kid) === void 0) return void 0;
    for (let i = 0; i < length; i++) if (!bytesEqualAt(chain.blockBytes[i], blocks[i], 0, blocks[i].length)) return void 0;
    return entry;
  }
  /** {@link #parentOf} of a token read in place: block `i` is `bytes` from `at[2i]` to `at[2i + 1]`. */
  #parentAt(bytes, kid, at, tagStart) {
    const length = at.length / 2 - 2;
    if (this.#prefixes === void 0 || length < 1 || kid === "" || bytes.length - tagStart !== TAG_BYTES) return void 0;
    const entry = this.#prefixes.get(prefixKey(bytes, at[2 * length - 2], at[2 * length - 1], length));
    if (entry === void 0) return void 0;
    const chain = entry.cap[chainOf];
    if (chain.kid !== kid || chain.blockBytes.length !== length || this.keyring.get(kid) === void 0) return void 0;
    for (let i = 0; i < length; i++) if (!bytesEqualAt(chain.blockBytes[i], bytes, at[2 * i], at[2 * i + 1])) return void 0;
    return entry;
  }
  /**
   * Verifies a token that extends `parent` by one block, `lastBytes` (the verifier's copy): that block alone
   * is decoded (the others are the parent's, byte for byte, and the child shares the parent's copies) and
   * one HMAC step from the parent's last tag checks the token's `tag` (read, not kept).
   */
  #verifyStep(kid, lastBytes, tokenTag, parent) {
    const last = decodeBlock(lastBytes, this.limits);
    const scope2 = appended(parent.cap.scope, last.segment);
    checkScopeLength(scope2.length, this.limits);
    const blocks = appended(parent.cap.blocks, [last]);
    const blockBytes = appended(parent.cap[chainOf].blockBytes, [lastBytes]);
    const base = parent.verification;
    parent.step ??= keyedHmac(this.crypto, base.tags[base.tags.length - 1]);
    const tag = verifyLastStep(this.crypto, parent.step, lastBytes, tokenTag);
    if (tag === void 0) return rejected(scope2, blocks, { kid, blockBytes, tag: owned(tokenTag), suite: this.#suite }, fail("ERR_CAPABILITY_BAD_SIGNATURE"));
    const cap2 = capabilityFromParts(scope2, blocks, { kid, blockBytes, tag, suite: this.#suite });
    const verification = {
      tags: appended(base.tags, [tag]),
      expiresAt: minExpiry(base.expiresAt, last.expiresAt),
      audiences: last.audience === null ? base.audiences : appended(base.audiences, [last.audience]),
      authority: this
    };
    if (base.ancestors !== void 0) verification.ancestors = base.ancestors;
    const marks = last.generation !== void 0 && last.audience !== null ? appended(base.marks ?? [], [[last.audience, last.generation]]) : base.marks;
    if (marks !== void 0) verification.marks = marks;
    setStatus(cap2, verification);
    return this.#remember({ cap: cap2, verification });
  }
};
function rejected(scope2, blocks, chain, error) {
  const cap2 = capabilityFromParts(scope2, blocks, chain);
  setStatus(cap2, error);
  return cap2;
}
function prefixKey(bytes, start, end, length) {
  let h = length;
  for (let i = Math.max(start, end - 16); i < end; i++) h = Math.imul(h, 31) + bytes[i] | 0;
  return h & 1073741823;
}
function appended(head, tail) {
  const out = new Array(head.length + tail.length);
  for (let i = 0; i < head.length; i++) out[i] = head[i];
  for (let i = 0; i < tail.length; i++) out[head.length + i] = tail[i];
  return out;
}
function bytesEqualAt(a, bytes, start, end) {
  if (a.length !== end - start) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== bytes[start + i]) return false;
  return true;
}
function copyOf(bytes, start, end) {
  const out = new Uint8Array(end - start);
  if (out.length > 64) out.set(bytes.subarray(start, end));
  else for (let i = 0; i < out.length; i++) out[i] = bytes[start + i];
  return out;
}
function owned(bytes) {
  return new Uint8Array(bytes);
}
function cacheKey(bytes, offset) {
  return bytes[offset] | bytes[offset + 1] << 8 | bytes[offset + 2] << 16 | (bytes[offset + 3] & 63) << 24;
}

// server/activity.ts
var activityDefaults = Object.freeze({ events: 50, callWindowSeconds: 60 });
var Activity = class {
  #clock;
  #events = [];
  /** Calls per second in a ring: slot `second % size` holds the count of that second. */
  #calls = new Array(activityDefaults.callWindowSeconds).fill(0);
  #callSeconds = new Array(activityDefaults.callWindowSeconds).fill(-1);
  #callsTotal = 0;
  constructor(clock) {
    this.#clock = clock;
  }
  /** A server function call arrived (counted before it runs, refused or not). */
  call() {
    const second = Math.floor(this.#clock.now() / 1e3);
    const slot = second % this.#calls.length;
    if (this.#callSeconds[slot] !== second) {
      this.#callSeconds[slot] = second;
      this.#calls[slot] = 0;
    }
    this.#calls[slot]++;
    this.#callsTotal++;
  }
  delegated(event) {
    this.#add({ kind: "delegated", at: this.#clock.now(), ...event });
  }
  revoked(event) {
    this.#add({ kind: "revoked", at: this.#clock.now(), ...event });
  }
  /** The recent events, newest first. */
  recent() {
    return [...this.#events].reverse();
  }
  /** Calls since the node started. */
  get callsTotal() {
    return this.#callsTotal;
  }
  /** The mean calls per second over the last `seconds` full seconds (the current, partial one left out). */
  callsPerSecond(seconds = 10) {
    const now2 = Math.floor(this.#clock.now() / 1e3);
    const window = Math.min(seconds, this.#calls.length - 1);
    let sum = 0;
    for (let s = now2 - window; s < now2; s++) {
      const slot = (s % this.#calls.length + this.#calls.length) % this.#calls.length;
      if (this.#callSeconds[slot] === s) sum += this.#calls[slot];
    }
    return sum / window;
  }
  #add(event) {
    this.#events.push(event);
    if (this.#events.length > activityDefaults.events) this.#events.shift();
  }
};

// server/auth.ts
import { createHash } from "node:crypto";
import { SignJWT, createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify } from "jose";
import { LRUCache as LRUCache2 } from "lru-cache";

// server/auth-hs256.ts
import { createHmac, timingSafeEqual } from "node:crypto";
var SEGMENT = /^[A-Za-z0-9_-]*={0,2}$/;
function verifyHs256(token, secret2, checks, now2 = Date.now()) {
  const parts = token.split(".");
  if (parts.length !== 3 || !parts.every((p) => SEGMENT.test(p)) || parts[0] === "" || parts[1] === "") throw fail("ERR_AUTH_INVALID");
  const [head, body, signature] = parts;
  const header = json(head);
  if (header["alg"] !== "HS256" || "crit" in header) throw fail("ERR_AUTH_INVALID");
  const expected = createHmac("sha256", secret2).update(`${head}.${body}`).digest();
  const given = Buffer.from(signature, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw fail("ERR_AUTH_INVALID");
  const payload = json(body);
  const seconds = Math.floor(now2 / 1e3);
  for (const claim of ["exp", "nbf", "iat"]) {
    if (claim in payload && (typeof payload[claim] !== "number" || !Number.isFinite(payload[claim]))) throw fail("ERR_AUTH_INVALID");
  }
  if (checks.issuer !== void 0 && payload["iss"] !== checks.issuer) throw fail("ERR_AUTH_INVALID");
  if (checks.audience !== void 0) {
    const aud = payload["aud"];
    if (!(aud === checks.audience || Array.isArray(aud) && aud.includes(checks.audience))) throw fail("ERR_AUTH_INVALID");
  }
  if (typeof payload["nbf"] === "number" && payload["nbf"] > seconds + checks.clockTolerance) throw fail("ERR_AUTH_INVALID");
  if (typeof payload["exp"] === "number" && payload["exp"] <= seconds - checks.clockTolerance) throw fail("ERR_AUTH_EXPIRED");
  return payload;
}
function json(segment) {
  let value;
  try {
    value = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
  } catch {
    throw fail("ERR_AUTH_INVALID");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw fail("ERR_AUTH_INVALID");
  return value;
}

// server/auth.ts
var CONTROL = /[\u0000-\u001f]/;
var Authenticator = class {
  /** Whether connections without a token are accepted (`auth.allowAnonymous`). */
  allowAnonymous;
  #options;
  #secret;
  #keys;
  /** Verified tokens by the SHA-256 of their string; never a refused one. */
  #verified;
  constructor(options) {
    this.#options = options;
    this.allowAnonymous = options.allowAnonymous ?? false;
    if (options.secret !== void 0) {
      this.#secret = new TextEncoder().encode(options.secret);
      if (this.#secret.length < 32) throw fail("ERR_KEY_INVALID", `the JWT secret needs at least 32 bytes (it has ${this.#secret.length})`);
    }
    if (options.jwks) this.#keys = createLocalJWKSet(options.jwks);
    else if (options.jwksUrl !== void 0) this.#keys = createRemoteJWKSet(jwksLocation(options.jwksUrl));
    const size = options.verifiedCacheSize ?? 1e4;
    this.#verified = size > 0 ? new LRUCache2({ max: size }) : void 0;
  }
  /** Authenticates a bearer token (or its absence). Throws `ERR_AUTH_REQUIRED`, `ERR_AUTH_INVALID` or `ERR_AUTH_EXPIRED`. */
  async authenticate(token) {
    if (token === void 0 || token === "") {
      if (this.allowAnonymous) return { user: null, expiresAt: null };
      throw fail("ERR_AUTH_REQUIRED");
    }
    if (this.#verified === void 0) return this.#verify(token);
    const hash2 = createHash("sha256").update(token).digest("base64url");
    const cached = this.#verified.get(hash2);
    if (cached !== void 0) {
      if (cached.expiresAt === null || Date.now() < cached.expiresAt + this.#toleranceMs) return cached;
      this.#verified.delete(hash2);
      throw fail("ERR_AUTH_EXPIRED");
    }
    const verified = await this.#verify(token);
    this.#verified.set(hash2, verified);
    return verified;
  }
  get #toleranceMs() {
    return (this.#options.clockToleranceSeconds ?? 5) * 1e3;
  }
  async #verify(token) {
    const verifyOptions = {
      issuer: this.#options.issuer,
      audience: this.#options.audience,
      clockTolerance: this.#options.clockToleranceSeconds ?? 5
    };
    let payload;
    try {
      if (this.#secret) payload = verifyHs256(token, this.#secret, verifyOptions);
      else if (this.#keys) ({ payload } = await jwtVerify(token, this.#keys, verifyOptions));
      else throw fail("ERR_AUTH_INVALID", "no JWT verification key is configured");
    } catch (error) {
      if (error instanceof errors.JWTExpired || error instanceof CapsyncError && error.code === "ERR_AUTH_EXPIRED") throw fail("ERR_AUTH_EXPIRED");
      throw fail("ERR_AUTH_INVALID");
    }
    if (typeof payload.sub !== "string" || payload.sub.length === 0 || payload.sub.length > 256) throw fail("ERR_AUTH_INVALID", "token has no subject");
    if (CONTROL.test(payload.sub)) throw fail("ERR_AUTH_INVALID", "token subject holds a control character");
    if (typeof payload.exp !== "number" && !this.#options.allowTokensWithoutExpiry) throw fail("ERR_AUTH_INVALID", "token has no expiry (exp)");
    const roles = Array.isArray(payload["roles"]) ? payload["roles"].filter((r) => typeof r === "string") : [];
    const user = Object.freeze({ id: payload.sub, roles: Object.freeze(roles) });
    return Object.freeze({ user, expiresAt: typeof payload.exp === "number" ? payload.exp * 1e3 : null });
  }
  /** Issues an HS256 JWT (development logins and tests). Needs `secret`. */
  async issue(user, expiresInSeconds = 3600) {
    if (!this.#secret) throw fail("ERR_KEY_INVALID", "issuing tokens needs a shared secret");
    let jwt = new SignJWT({ roles: [...user.roles] }).setProtectedHeader({ alg: "HS256" }).setSubject(user.id).setIssuedAt().setExpirationTime(Math.floor(Date.now() / 1e3) + expiresInSeconds);
    if (this.#options.issuer) jwt = jwt.setIssuer(this.#options.issuer);
    if (this.#options.audience) jwt = jwt.setAudience(this.#options.audience);
    return jwt.sign(this.#secret);
  }
};
function jwksLocation(text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    url = void 0;
  }
  if (url === void 0 || url.protocol !== "https:" && url.protocol !== "http:") {
    throw fail("ERR_KEY_INVALID", `the JWKS URL ${JSON.stringify(text)} is not an http(s) URL`);
  }
  return url;
}

// server/deadlines.ts
var MAX_TIMER_MS = 2 ** 31 - 1;
var Deadlines = class {
  #clock;
  #heap = [];
  #timer;
  #armedFor = Infinity;
  #closed = false;
  constructor(clock) {
    this.#clock = clock;
  }
  /** Number of pending deadlines (for tests and metrics). */
  get size() {
    return this.#heap.length;
  }
  /** Runs `run` at `at` (ms since epoch). A deadline already due runs on the next timer turn, never synchronously. */
  schedule(at, run2) {
    const deadline = { at, run: run2, index: this.#heap.length };
    this.#heap.push(deadline);
    this.#up(deadline.index);
    this.#arm();
    return deadline;
  }
  /** Removes a deadline that has not fired; harmless for one that has or for undefined. */
  cancel(deadline) {
    if (deadline === void 0 || deadline.index < 0) return;
    const i = deadline.index;
    const last = this.#heap.pop();
    deadline.index = -1;
    if (last !== deadline) {
      this.#heap[i] = last;
      last.index = i;
      this.#down(i);
      this.#up(last.index);
    }
    if (this.#heap.length === 0) this.#disarm();
  }
  /** Runs every deadline that is due now (the timer calls this; tests with a manual clock may too). */
  runDue() {
    const now2 = this.#clock.now();
    while (this.#heap.length > 0 && this.#heap[0].at <= now2) {
      const first = this.#heap[0];
      this.cancel(first);
      try {
        first.run();
      } catch {
      }
    }
    this.#arm();
  }
  /** Cancels everything and stops the timer. */
  close() {
    this.#closed = true;
    for (const d of this.#heap) d.index = -1;
    this.#heap.length = 0;
    this.#disarm();
  }
  #arm() {
    if (this.#closed) return;
    const first = this.#heap[0];
    if (first === void 0) return this.#disarm();
    if (this.#timer !== void 0 && this.#armedFor <= first.at) return;
    this.#disarm();
    this.#armedFor = first.at;
    const wait = Math.min(Math.max(first.at - this.#clock.now(), 0), MAX_TIMER_MS);
    this.#timer = setTimeout(() => {
      this.#timer = void 0;
      this.#armedFor = Infinity;
      this.runDue();
    }, wait);
    this.#timer.unref?.();
  }
  #disarm() {
    clearTimeout(this.#timer);
    this.#timer = void 0;
    this.#armedFor = Infinity;
  }
  #up(i) {
    const heap = this.#heap;
    const item = heap[i];
    while (i > 0) {
      const parent = i - 1 >> 1;
      if (heap[parent].at <= item.at) break;
      heap[i] = heap[parent];
      heap[i].index = i;
      i = parent;
    }
    heap[i] = item;
    item.index = i;
  }
  #down(i) {
    const heap = this.#heap;
    const n = heap.length;
    const item = heap[i];
    for (; ; ) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && heap[right].at < heap[left].at ? right : left;
      if (heap[child].at >= item.at) break;
      heap[i] = heap[child];
      heap[i].index = i;
      i = child;
    }
    heap[i] = item;
    item.index = i;
  }
};

// server/calls.ts
var CallKeys = class {
  /** This server run: a claim from another run with no outcome was interrupted. */
  owner;
  #options;
  /** Keyed calls running in this process, so a repeat that arrives meanwhile joins the first. */
  #running = /* @__PURE__ */ new Map();
  /** Outcomes encode capabilities signed, never as handles or holdings of any connection. */
  #context;
  constructor(options) {
    this.#options = options;
    this.owner = randomId();
    this.#context = { verifier: options.verifier };
  }
  /**
   * Runs `run` once for `(principal, key)`: its result (or error) now, or the stored outcome of an earlier
   * run. `principal` scopes keys to a caller, so one user can never read another's outcome; `user` is the
   * caller's user id, against which capabilities in a stored outcome are checked again.
   */
  run(principal, user, key, run2) {
    const id2 = `${principal.length}:${principal}${key}`;
    const running = this.#running.get(id2);
    if (running !== void 0) return running;
    const promise = this.#claimAndRun(principal, user, key, run2).finally(() => this.#running.delete(id2));
    this.#running.set(id2, promise);
    return promise;
  }
  /** Drops outcomes past their window. */
  prune() {
    return this.#options.store.pruneCalls(this.#options.clock.now());
  }
  async #claimAndRun(principal, user, key, run2) {
    const { store, clock, windowMs } = this.#options;
    const existing = await store.claimCall(principal, key, this.owner, clock.now() + windowMs);
    if (existing !== void 0) {
      if (existing.outcome === null) throw fail("ERR_CALL_OUTCOME_UNKNOWN");
      return this.#replay(existing.outcome, user);
    }
    let outcome;
    try {
      outcome = { ok: await run2() };
    } catch (error) {
      const err = error instanceof CapsyncError ? error : fail("ERR_FUNCTION_FAILED");
      outcome = { error: { code: err.code, message: err.message } };
      await this.#record(principal, key, outcome);
      throw error;
    }
    await this.#record(principal, key, outcome);
    return outcome.ok;
  }
  async #record(principal, key, outcome) {
    let bytes;
    try {
      bytes = this.#options.codec.encode(outcome, this.#context);
    } catch {
      bytes = this.#options.codec.encode({ error: { code: "ERR_FUNCTION_FAILED", message: "server function returned a value that cannot be sent" } });
    }
    try {
      await this.#options.store.finishCall(principal, key, bytes);
    } catch (error) {
      this.#options.logger.error({ event: "store_error", err: error });
    }
  }
  #replay(bytes, user) {
    const outcome = this.#options.codec.decode(bytes, { verifier: this.#options.verifier, user });
    if ("ok" in outcome) return outcome.ok;
    const { code, message } = outcome.error;
    throw new CapsyncError(isErrorCode(code) ? code : "ERR_FUNCTION_FAILED", message);
  }
};
function randomId() {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// server/holders.ts
var HolderIndex = class {
  /** key(S) -> holders with a capability of exactly scope S (with a count: a holder may hold several). */
  #exact = /* @__PURE__ */ new Map();
  /** key(P) -> holders with a capability whose scope strictly extends P. */
  #extending = /* @__PURE__ */ new Map();
  add(scope2, holder) {
    const keys = prefixKeys(scope2);
    bump(this.#exact, keys[keys.length - 1], holder, 1);
    for (let i = 0; i < keys.length - 1; i++) bump(this.#extending, keys[i], holder, 1);
  }
  remove(scope2, holder) {
    const keys = prefixKeys(scope2);
    bump(this.#exact, keys[keys.length - 1], holder, -1);
    for (let i = 0; i < keys.length - 1; i++) bump(this.#extending, keys[i], holder, -1);
  }
  /** @internal How many scope keys the index holds: removing every holding must leave none behind. */
  get keyCount() {
    return this.#exact.size + this.#extending.size;
  }
  /** Every holder with a capability covering `address`. */
  lookup(address) {
    const found = /* @__PURE__ */ new Set();
    const keys = prefixKeys(address);
    for (const key of keys) for (const h of this.#exact.get(key)?.keys() ?? []) found.add(h);
    for (const h of this.#extending.get(keys[keys.length - 1])?.keys() ?? []) found.add(h);
    return found;
  }
};
function prefixKeys(scope2) {
  const keys = [];
  let key = "";
  for (const element of scope2) keys.push(key += canonicalKey(element) + "\0");
  return keys;
}
function bump(index, key, holder, delta) {
  let holders = index.get(key);
  if (holders === void 0) {
    if (delta < 0) return;
    index.set(key, holders = /* @__PURE__ */ new Map());
  }
  const count = (holders.get(holder) ?? 0) + delta;
  if (count > 0) holders.set(holder, count);
  else {
    holders.delete(holder);
    if (holders.size === 0) index.delete(key);
  }
}

// protocol/unwrap.ts
var ANY = /* @__PURE__ */ Symbol("capsync.ANY");
function unwrapCapability(cap2, pattern) {
  assertPattern(pattern);
  if (!(cap2 instanceof Capability)) throw fail("ERR_CAPABILITY_NOT_VERIFIED");
  const status = statusOf(cap2);
  if (status === void 0) {
    if (!isLocalCapability(cap2)) throw fail("ERR_CAPABILITY_NOT_VERIFIED");
    const expiresAt = cap2.expiresAt;
    if (expiresAt !== null && Date.now() > expiresAt) throw fail("ERR_CAPABILITY_EXPIRED");
  } else if (status instanceof CapsyncError) {
    throw fail(status.code);
  } else {
    assertStillValid(status);
  }
  return matchChecked(cap2.scope, pattern);
}
function assertPattern(pattern) {
  if (!Array.isArray(pattern) || pattern.length === 0) throw fail("ERR_INVALID_PATTERN");
  for (const element of pattern) {
    if (element === ANY || element === null) continue;
    const type = typeof element;
    if (type === "string" || type === "boolean") continue;
    if (type === "number" ? Number.isFinite(element) : isJsonObject(element)) continue;
    throw fail("ERR_INVALID_PATTERN");
  }
}
function isJsonObject(value) {
  try {
    assertJsonValue(value);
    return true;
  } catch {
    return false;
  }
}
function matchChecked(scope2, pattern) {
  if (scope2.length > pattern.length) throw fail("ERR_CAPABILITY_TOO_NARROW");
  const result = [];
  for (let i = 0; i < pattern.length; i++) {
    if (i >= scope2.length) {
      result.push(null);
      continue;
    }
    const expected = pattern[i];
    if (expected !== ANY && !jsonEqual(scope2[i], expected)) throw fail("ERR_CAPABILITY_MISMATCH");
    result.push(scope2[i]);
  }
  return result;
}
function scopesOverlap(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (!jsonEqual(a[i], b[i])) return false;
  return true;
}

// server/resume.ts
var defaultResumeLimits = Object.freeze({ pageSize: 1e3, snapshotAfter: 5e4, maxSnapshotObjects: 1e4 });
function capabilityError(cap2) {
  if (!(cap2 instanceof Capability)) return fail("ERR_CAPABILITY_NOT_VERIFIED");
  try {
    unwrapCapability(cap2, cap2.scope.map(() => ANY));
    return void 0;
  } catch (error) {
    return error instanceof CapsyncError ? error : void 0;
  }
}
async function resumeSession(live, request, send, limits = defaultResumeLimits) {
  for (const [address] of request.seen) assertJsonValue(address);
  const refused = [];
  const scopes = [];
  request.caps.forEach((cap2, i) => {
    const error = capabilityError(cap2);
    if (error === void 0) scopes.push(cap2.scope);
    else refused.push([i, error.code]);
  });
  const [epoch, seq, horizon] = await Promise.all([live.epoch(), live.seq(), live.horizon()]);
  const covered = (address) => scopes.some((s) => scopesOverlap(s, address));
  const sentKeys = /* @__PURE__ */ new Set();
  const sendOnce = (update) => {
    const key = canonicalKey(update.address);
    if (sentKeys.has(key)) return;
    sentKeys.add(key);
    send(update);
  };
  const snapshot = request.epoch !== epoch || request.seq < horizon || seq - request.seq > limits.snapshotAfter;
  if (!snapshot) {
    for (let since = request.seq; since < seq; ) {
      const page = await live.changesSince(since, limits.pageSize, covered);
      for (const change of page.changes) sendOnce(change);
      if (page.read < limits.pageSize) break;
      since = page.last;
    }
  } else {
    for (const scope2 of scopes) {
      for (let n = 1; n < scope2.length; n++) {
        const object2 = await live.at(scope2.slice(0, n));
        if (object2 !== void 0) sendOnce(object2);
      }
      for (const object2 of await live.under(scope2, limits.maxSnapshotObjects)) sendOnce(object2);
    }
    for (const [address, version] of request.seen) {
      const json2 = address;
      if (covered(json2) && !sentKeys.has(canonicalKey(json2))) sendOnce({ address: json2, type: "", version: version + 1, state: null, seq });
    }
  }
  return { epoch, seq, refused, sent: sentKeys.size, snapshot };
}

// server/collections.ts
var defaults = { maxObjects: 1e3, maxWatches: 16, pageSize: 100 };
var Collections = class {
  #live;
  #logger;
  #options;
  #index = new HolderIndex();
  #bySession = /* @__PURE__ */ new Map();
  constructor(live, logger, options = {}) {
    this.#live = live;
    this.#logger = logger;
    this.#options = { ...defaults, ...options };
  }
  /** Watches connected now (for tests: a closed connection leaves none). */
  get size() {
    let n = 0;
    for (const watches of this.#bySession.values()) n += watches.size;
    return n;
  }
  /** The `watch` request: starts (or replaces, or with `stop` ends) the watch of `cap`'s scope by this session. */
  async watch(session, id2, cap2, options) {
    const key = `${canonicalKey(cap2.scope)}\0${options.type ?? ""}`;
    let watches = this.#bySession.get(session);
    if (options.stop) {
      const found = watches?.get(key);
      if (found !== void 0) this.#remove(found);
      return { stopped: found !== void 0 };
    }
    const refused = capabilityError(cap2);
    if (refused !== void 0) throw fail(refused.code);
    if (!session.holds(cap2)) throw fail("ERR_CAPABILITY_AUDIENCE");
    const previous = watches?.get(key);
    if (previous !== void 0) this.#remove(previous);
    else if ((watches?.size ?? 0) >= this.#options.maxWatches) throw fail("ERR_TOO_MANY_WATCHES");
    if (session.closed) throw fail("ERR_CONNECTION_CLOSED");
    if (watches === void 0) this.#bySession.set(session, watches = /* @__PURE__ */ new Map());
    const watch = { session, id: id2, key, cap: cap2, prefix: cap2.scope, type: options.type, members: /* @__PURE__ */ new Map(), pending: true, ended: false, work: Promise.resolve() };
    watches.set(key, watch);
    this.#index.add(watch.prefix, watch);
    const snapshot = this.#snapshot(watch);
    watch.work = snapshot.then(() => void 0, () => void 0);
    try {
      return { size: await snapshot };
    } catch (error) {
      this.#remove(watch);
      throw error;
    }
  }
  /** A change anywhere: queued on every watch whose scope it is under. */
  changed(update) {
    for (const watch of this.#index.lookup(update.address)) {
      if (update.address.length < watch.prefix.length) continue;
      if (watch.type !== void 0 && update.type !== watch.type) continue;
      const duringSnapshot = watch.pending;
      watch.work = watch.work.then(() => this.#apply(watch, update, duringSnapshot)).catch((error) => this.#failed(watch, error));
    }
  }
  /**
   * The session stopped holding a capability of `scope` (revoked, expired, evicted): a watch of that scope
   * whose capability is no longer held ends now, with the capability's code, not at the next change.
   */
  released(session, scope2) {
    const watches = this.#bySession.get(session);
    if (watches === void 0 || session.closed) return;
    const key = canonicalKey(scope2);
    for (const watch of [...watches.values()]) {
      if (canonicalKey(watch.prefix) !== key || session.holds(watch.cap)) continue;
      this.#end(watch, capabilityError(watch.cap)?.code ?? "ERR_CAPABILITY_REVOKED");
    }
  }
  /** A connection closed: its watches go. */
  closed(session) {
    for (const watch of [...this.#bySession.get(session)?.values() ?? []]) this.#remove(watch);
    this.#bySession.delete(session);
  }
  async #snapshot(watch) {
    const { maxObjects, pageSize, reveal } = this.#options;
    const scan = reveal === void 0 ? maxObjects + 1 : maxObjects * 10 + 1;
    const found = await this.#live.under(watch.prefix, scan);
    if (found.length >= scan) throw fail("ERR_COLLECTION_TOO_LARGE");
    const entries = [];
    for (const current of found) {
      if (watch.type !== void 0 && current.type !== watch.type) continue;
      const entry = await this.#entry(watch, current.type, current.address, current.state);
      if (entry === void 0) continue;
      if (entries.length >= maxObjects) throw fail("ERR_COLLECTION_TOO_LARGE");
      entries.push(entry);
      watch.members.set(canonicalKey(current.address), current.version);
    }
    if (watch.ended) throw fail("ERR_CONNECTION_CLOSED");
    for (let i = 0; i < entries.length || i === 0; i += pageSize) watch.session.send([FrameType.snapshot, watch.id, entries.slice(i, i + pageSize)]);
    watch.pending = false;
    return entries.length;
  }
  /** The object as the watcher gets it (with its capability), or undefined if it is not revealed. */
  async #entry(watch, type, address, state) {
    if (portableByName(type) === void 0) return void 0;
    const object2 = revive(type, state);
    const narrowed = watch.cap.narrow(address.slice(watch.prefix.length));
    const reveal = this.#options.reveal;
    const cap2 = reveal === void 0 ? narrowed : await reveal({ user: watch.session.user, object: object2, cap: narrowed, watched: watch.cap });
    if (cap2 === null || cap2 === void 0) return void 0;
    return Object.assign(object2, { cap: cap2 });
  }
  async #apply(watch, update, duringSnapshot) {
    if (watch.ended) return;
    const refused = capabilityError(watch.cap);
    if (refused !== void 0) return this.#end(watch, refused.code);
    const key = canonicalKey(update.address);
    const known = watch.members.get(key);
    if (update.state === null) {
      if (known === void 0) return;
      watch.members.delete(key);
      watch.session.send([FrameType.collectionChange, watch.id, "remove", update.address]);
      return;
    }
    if (known !== void 0) {
      if (update.version <= known) return;
      watch.members.set(key, update.version);
      if (duringSnapshot) watch.session.sendBytes(this.#live.encodePush(update));
      return;
    }
    const entry = await this.#entry(watch, update.type, update.address, update.state);
    if (entry === void 0 || watch.ended) return;
    if (watch.members.size >= this.#options.maxObjects) return this.#end(watch, "ERR_COLLECTION_TOO_LARGE");
    watch.members.set(key, update.version);
    watch.session.send([FrameType.collectionChange, watch.id, "add", entry]);
  }
  #failed(watch, error) {
    if (!(error instanceof CapsyncError)) this.#logger.warn({ event: "collection_failed", session: watch.session.id, err: error });
    this.#end(watch, error instanceof CapsyncError ? error.code : "ERR_FUNCTION_FAILED");
  }
  #end(watch, code) {
    if (watch.ended) return;
    this.#remove(watch);
    watch.session.send([FrameType.collectionChange, watch.id, "end", code]);
  }
  #remove(watch) {
    if (watch.ended) return;
    watch.ended = true;
    this.#index.remove(watch.prefix, watch);
    const watches = this.#bySession.get(watch.session);
    if (watches?.get(watch.key) === watch) watches.delete(watch.key);
    if (watches?.size === 0) this.#bySession.delete(watch.session);
  }
};

// server/delegation.ts
async function grantsFor(deps, session, except = /* @__PURE__ */ new Set()) {
  const user = session.user;
  if (user === null) throw fail("ERR_AUTH_REQUIRED");
  const now2 = deps.clock.now();
  const grants = [];
  for (const record2 of await deps.store.delegations({ to: user.id, now: now2 })) {
    if (except.has(record2.revocationId) || record2.token.length === 0) continue;
    const cap2 = deps.verifier.decode(record2.token, user.id);
    if (capabilityError(cap2) !== void 0) continue;
    grants.push({ from: record2.from, cap: cap2, object: await deps.live.grantedBy(cap2) ?? null, at: record2.at });
  }
  return grants;
}
async function delegate(deps, session, to, cap2, options) {
  const from = session.user;
  if (from === null) throw fail("ERR_AUTH_REQUIRED");
  unwrapCapability(cap2, cap2.scope.map(() => ANY));
  const recipients = deps.directory.ofUser(to);
  const elsewhere = recipients.size === 0 && deps.cluster !== void 0 && (await deps.cluster.onlineUsers()).includes(to);
  if (recipients.size === 0 && !elsewhere || !deps.presence.visible(from, to)) throw fail("ERR_RECIPIENT_OFFLINE");
  const bearer = options.bearer === true;
  const granted = deps.verifier.mint([...cap2.scope], {
    ...cap2.expiresAt !== null ? { expiresAt: cap2.expiresAt } : {},
    ...bearer ? { bearer } : { audience: to },
    ancestors: lineageOf(cap2)
  });
  const revocationId2 = granted.revocationId;
  const object2 = await deps.live.grantedBy(granted);
  const bound = !bearer;
  await deps.store.recordDelegation({
    from: from.id,
    to,
    scope: [...granted.scope],
    revocationId: revocationId2,
    bound,
    at: deps.clock.now(),
    token: granted.toToken(),
    expiresAt: granted.expiresAt
  });
  for (const recipient of recipients) recipient.send([FrameType.delegation, { from: from.id, cap: granted, object: object2 ?? null }]);
  await pushIfNewer(deps.live, recipients, object2);
  const remote = deps.cluster === void 0 ? 0 : await deps.cluster.deliver(to, { from: from.id, token: granted.toToken() });
  deps.logger.info({ event: "delegated", from: from.id, to, revocationId: revocationId2, bound });
  return { revocationId: revocationId2, delivered: recipients.size + remote };
}
function lineageOf(cap2) {
  const status = statusOf(cap2);
  if (status === void 0 || !("tags" in status)) throw fail("ERR_CAPABILITY_NOT_VERIFIED");
  return idsOf(status);
}
async function pushIfNewer(live, recipients, object2) {
  const address = object2 == null ? void 0 : addressOf(object2);
  const latest = address === void 0 ? void 0 : await live.at(address);
  if (latest === void 0 || latest.version <= (object2.version ?? 0)) return;
  const bytes = live.encodePush(latest);
  for (const recipient of recipients) recipient.sendBytes(bytes);
}
async function deliverRemote(deps, to, from, token) {
  const recipients = deps.directory.ofUser(to);
  if (recipients.size === 0) return;
  const cap2 = deps.verifier.decode(token, to);
  if (capabilityError(cap2) !== void 0) return;
  const object2 = await deps.live.grantedBy(cap2);
  for (const recipient of recipients) recipient.send([FrameType.delegation, { from, cap: cap2, object: object2 ?? null }]);
  await pushIfNewer(deps.live, recipients, object2);
}

// server/directory.ts
var SessionDirectory = class {
  #sessions = /* @__PURE__ */ new Set();
  #byUser = /* @__PURE__ */ new Map();
  #events;
  /** `events` hears a user's first session opening and last one closing (a cluster's presence). */
  constructor(events = {}) {
    this.#events = events;
  }
  get size() {
    return this.#sessions.size;
  }
  add(session) {
    this.#sessions.add(session);
    const user = session.user;
    if (user === null) return;
    let set = this.#byUser.get(user.id);
    if (set === void 0) {
      this.#byUser.set(user.id, set = /* @__PURE__ */ new Set());
      this.#events.joined?.(user.id);
    }
    set.add(session);
  }
  remove(session) {
    if (!this.#sessions.delete(session)) return;
    const user = session.user;
    if (user === null) return;
    const set = this.#byUser.get(user.id);
    set?.delete(session);
    if (set?.size === 0) {
      this.#byUser.delete(user.id);
      this.#events.left?.(user.id);
    }
  }
  /** The open sessions of a user (empty if none). */
  ofUser(userId) {
    return this.#byUser.get(userId) ?? empty;
  }
  /** Ids of users with at least one open session. */
  users() {
    return [...this.#byUser.keys()];
  }
  /** Every open session (a snapshot: safe to close sessions while iterating). */
  all() {
    return [...this.#sessions];
  }
  [Symbol.iterator]() {
    return this.#sessions.values();
  }
};
var empty = /* @__PURE__ */ new Set();

// server/fanout.ts
var LocalFanout = class {
  #listeners = /* @__PURE__ */ new Set();
  async publish(update) {
    for (const listener of this.#listeners) listener(update);
  }
  subscribe(listener) {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
  async close() {
    this.#listeners.clear();
  }
};

// server/holdings.ts
var HoldingBudgets = class {
  #max;
  #byPrincipal = /* @__PURE__ */ new Map();
  constructor(max) {
    this.#max = max;
  }
  /** Counts one more holding of `principal`, or returns undefined if it holds its maximum already. */
  take(principal) {
    let budget = this.#byPrincipal.get(principal);
    if (budget === void 0) this.#byPrincipal.set(principal, budget = { count: 0 });
    if (budget.count >= this.#max) return void 0;
    budget.count++;
    return budget;
  }
  give(principal, budget) {
    if (--budget.count <= 0 && this.#byPrincipal.get(principal) === budget) this.#byPrincipal.delete(principal);
  }
  /** Capabilities `principal` holds over all its connections. */
  held(principal) {
    return this.#byPrincipal.get(principal)?.count ?? 0;
  }
};
var Holdings = class {
  #holdings = /* @__PURE__ */ new Map();
  /**
   * Capability objects known to be held here, so that one sent with every call (the verifier's cache hands
   * back the same object for the same token) skips rebuilding its key. Emptied whenever a holding is
   * released: membership always means the holding is still there.
   */
  #held = /* @__PURE__ */ new WeakSet();
  #max;
  #deadlines;
  #events;
  #budgets;
  constructor(max, deadlines, events, budgets = new HoldingBudgets(Infinity)) {
    this.#max = max;
    this.#deadlines = deadlines;
    this.#events = events;
    this.#budgets = budgets;
  }
  get size() {
    return this.#holdings.size;
  }
  /** True if `cap` is held. */
  has(cap2) {
    const key = holdingKey(cap2);
    return key !== void 0 && this.#holdings.has(key);
  }
  /**
   * Holds a capability that crossed the connection, if it is cover for `userId` (the connection's principal): verified by this server,
   * valid now, and bound to no one else. Returns the revocation id of a new holding, else undefined.
   */
  add(cap2, userId) {
    if (this.#held.has(cap2)) return void 0;
    const status = statusOf(cap2);
    if (status === void 0 || status instanceof CapsyncError) return void 0;
    try {
      assertStillValid(status);
    } catch {
      return void 0;
    }
    if (status.audiences.some((a) => a !== userId)) return void 0;
    const key = tagKey(status.tags[status.tags.length - 1]);
    if (this.#holdings.has(key)) {
      this.#held.add(cap2);
      return void 0;
    }
    if (this.#holdings.size >= this.#max) this.#releaseOldest();
    const owner = userId ?? "";
    let budget = this.#budgets.take(owner);
    if (budget === void 0 && this.#holdings.size > 0) {
      this.#releaseOldest();
      budget = this.#budgets.take(owner);
    }
    if (budget === void 0) {
      this.#events.refused(fail("ERR_LIMIT_HOLDINGS"));
      return void 0;
    }
    const holding = { cap: cap2, verification: status, budget, owner };
    this.#holdings.set(key, holding);
    this.#held.add(cap2);
    this.#events.held(cap2.scope);
    const id2 = revocationId(status.tags[status.tags.length - 1], status.authority.crypto);
    const expiresAt = status.expiresAt;
    if (expiresAt !== null) {
      holding.expiry = this.#deadlines.schedule(expiresAt + status.authority.clockToleranceMs + 1, () => this.#end(key, holding, "expired", id2));
    }
    const byGeneration = userId !== void 0 && status.marks !== void 0 && status.marks.some(([a]) => a === userId);
    return { id: id2, expiresAt, byGeneration };
  }
  /**
   * A read-only view of what is held, for the inspector: scope, revocation ids (the capability's and its
   * ancestors'), expiry and binding. Never the capability or its token.
   */
  list() {
    return Array.from(this.#holdings.values(), ({ cap: cap2, verification: v }) => ({
      scope: cap2.scope,
      revocationId: idsOf(v)[v.tags.length - 1],
      revocationIds: idsOf(v),
      expiresAt: v.expiresAt,
      bound: v.audiences.length > 0
    }));
  }
  /** Ends every holding that a revoked id covers. */
  revoked(ids) {
    for (const [key, holding] of this.#holdings) {
      const hit = idsOf(holding.verification).find((id2) => ids.has(id2));
      if (hit !== void 0) this.#end(key, holding, "revoked", hit);
    }
  }
  /** Ends every holding bound at a generation below its audience's current one (revokeUser); returns how many. */
  stale() {
    let ended = 0;
    for (const [key, holding] of this.#holdings) {
      const v = holding.verification;
      if (v.marks === void 0 || !v.authority.isStale(v.marks)) continue;
      ended++;
      this.#end(key, holding, "revoked", revocationId(v.tags[v.tags.length - 1], v.authority.crypto));
    }
    return ended;
  }
  /** The connection is now `principal`: holdings bound to anyone else stop being cover. */
  rebind(principal) {
    for (const [key, holding] of this.#holdings) {
      if (holding.verification.audiences.some((a) => a !== principal)) this.#release(key, holding);
    }
  }
  /** Releases everything (the connection closed). */
  clear() {
    for (const holding of this.#holdings.values()) {
      this.#deadlines.cancel(holding.expiry);
      this.#giveBack(holding);
      this.#events.released(holding.cap.scope);
    }
    this.#holdings.clear();
    this.#held = /* @__PURE__ */ new WeakSet();
  }
  // Bounded memory per connection: a client that keeps asking for fresh capabilities releases its oldest.
  #releaseOldest() {
    const [oldestKey, oldest] = this.#holdings.entries().next().value;
    this.#release(oldestKey, oldest);
  }
  #giveBack(holding) {
    this.#budgets.give(holding.owner, holding.budget);
  }
  #release(key, holding) {
    if (!this.#holdings.delete(key)) return false;
    this.#giveBack(holding);
    this.#held = /* @__PURE__ */ new WeakSet();
    this.#deadlines.cancel(holding.expiry);
    this.#events.released(holding.cap.scope);
    return true;
  }
  #end(key, holding, reason, id2) {
    if (this.#release(key, holding)) this.#events.ended(id2, holding.cap.scope, reason);
  }
};
function holdingKey(cap2) {
  const status = statusOf(cap2);
  if (status === void 0 || status instanceof CapsyncError) return void 0;
  return tagKey(status.tags[status.tags.length - 1]);
}

// server/identity.ts
import { base64url as base64url3 } from "jose";
var ANONYMOUS_PREFIX = "\0anon:";
function isAnonymousPrincipal(principal) {
  return principal.startsWith(ANONYMOUS_PREFIX);
}
var LABEL = new TextEncoder().encode("capsync anonymous identity\0");
var ID_BYTES = 16;
var MAX_PROOF_LENGTH = 512;
var AnonymousIdentities = class {
  #keyring;
  #crypto;
  constructor(keyring, crypto2) {
    this.#keyring = keyring;
    this.#crypto = crypto2;
  }
  /** A new identity for an anonymous session. */
  issue() {
    const id2 = base64url3.encode(globalThis.crypto.getRandomValues(new Uint8Array(ID_BYTES)));
    const key = this.#keyring.current;
    return { principal: ANONYMOUS_PREFIX + id2, proof: `${id2}.${this.#mac(key.secret, id2)}.${key.kid}` };
  }
  /** The principal a proof names, or undefined if it is not one this server made (or its key is gone). */
  verify(proof) {
    if (typeof proof !== "string" || proof.length > MAX_PROOF_LENGTH) return void 0;
    const first = proof.indexOf(".");
    const second = proof.indexOf(".", first + 1);
    if (first <= 0 || second <= first) return void 0;
    const id2 = proof.slice(0, first);
    const key = this.#keyring.get(proof.slice(second + 1));
    if (key === void 0 || !/^[A-Za-z0-9_-]{22}$/.test(id2)) return void 0;
    const expected = new TextEncoder().encode(this.#mac(key.secret, id2));
    const given = new TextEncoder().encode(proof.slice(first + 1, second));
    return this.#crypto.timingSafeEqual(expected, given) ? ANONYMOUS_PREFIX + id2 : void 0;
  }
  #mac(secret2, id2) {
    const idBytes = new TextEncoder().encode(id2);
    const message = new Uint8Array(LABEL.length + idBytes.length);
    message.set(LABEL);
    message.set(idBytes, LABEL.length);
    return base64url3.encode(this.#crypto.hmacSha256(secret2, message));
  }
};

// protocol/keyring.ts
import { base64url as base64url4, calculateJwkThumbprint, exportJWK, generateSecret } from "jose";
var MIN_KEY_BYTES = 32;
var Keyring = class _Keyring {
  /** The key new capabilities are signed with. */
  current;
  #byKid;
  constructor(keys, currentKid) {
    this.#byKid = new Map(keys.map((k) => [k.kid, k]));
    const current = this.#byKid.get(currentKid);
    if (!current) throw fail("ERR_KEY_INVALID", `current key ${currentKid} is not in the keyring`);
    this.current = current;
  }
  /** The key with this id, or undefined. */
  get(kid) {
    return this.#byKid.get(kid);
  }
  /** Every key id in the ring. */
  get kids() {
    return [...this.#byKid.keys()];
  }
  /**
   * A keyring from symmetric JWKs. The first key is current unless `currentKid` says otherwise.
   * A JWK without `kid` gets the first 8 characters of its RFC 7638 thumbprint as id.
   */
  static async fromJwks(jwks, currentKid) {
    if (jwks.length === 0) throw fail("ERR_KEY_INVALID", "a keyring needs at least one key");
    const keys = await Promise.all(jwks.map(rootKeyFromJwk));
    return new _Keyring(keys, currentKid ?? keys[0].kid);
  }
  /**
   * A new random 256-bit key as a JWK, ready to store. Its `kid` is the first 8 characters (48 bits) of its
   * RFC 7638 thumbprint: the id travels in every token, and a keyring holds a handful of keys, not millions.
   */
  static async generateJwk() {
    const secret2 = await generateSecret("HS256", { extractable: true });
    const jwk = await exportJWK(secret2);
    return { kty: "oct", k: jwk.k, kid: await shortThumbprint(jwk.k) };
  }
};
async function shortThumbprint(k) {
  return (await calculateJwkThumbprint({ kty: "oct", k })).slice(0, 8);
}
async function rootKeyFromJwk(jwk) {
  if (jwk.kty !== "oct" || typeof jwk.k !== "string") throw fail("ERR_KEY_INVALID");
  let secret2;
  try {
    secret2 = base64url4.decode(jwk.k);
  } catch {
    throw fail("ERR_KEY_INVALID");
  }
  if (secret2.length < MIN_KEY_BYTES) throw fail("ERR_KEY_INVALID", `capability keys need at least ${MIN_KEY_BYTES} bytes`);
  const kid = jwk.kid ?? await shortThumbprint(jwk.k);
  if (kid.length === 0) throw fail("ERR_KEY_INVALID", "key id must not be empty");
  return { kid, secret: secret2 };
}

// server/keys.ts
var storeKeysSetting = "capability-keys";
async function loadKeyring(store, configured) {
  let jwks = configured;
  if (jwks === void 0) {
    jwks = JSON.parse(await settingOnce(store, storeKeysSetting, async () => JSON.stringify([await Keyring.generateJwk()])));
  }
  return Keyring.fromJwks(jwks);
}
async function settingOnce(store, name, make) {
  const saved = await store.getSetting(name);
  if (saved !== void 0) return saved;
  const value = await make();
  if (store.setSettingIfAbsent !== void 0) return store.setSettingIfAbsent(name, value);
  await store.setSetting(name, value);
  return value;
}

// server/keyed-queue.ts
var KeyedQueue = class {
  #tails = /* @__PURE__ */ new Map();
  run(key, task) {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => void 0,
      () => void 0
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
  /** Keys with a task queued or running (for tests). */
  get size() {
    return this.#tails.size;
  }
};

// server/live.ts
var UPDATE_ATTEMPTS = 100;
var LiveObjects = class {
  #store;
  #fanout;
  #codec;
  /** Updates of one object take turns in this process on a store without an atomic `update`. */
  #turns = new KeyedQueue();
  constructor(store, fanout, codec) {
    this.#store = store;
    this.#fanout = fanout;
    this.#codec = codec;
  }
  /**
   * Stores `object`'s state and pushes it to its holders. Sets and returns its new version. With
   * `{ ifVersion }` it writes only if the stored object is at that version now (0: only if there is none),
   * else fails with `VersionConflictError` (`ERR_VERSION_CONFLICT`, carrying the current version).
   */
  async put(object2, condition) {
    const { address, type } = describe(object2);
    const state = stateOf(object2);
    const bytes = this.#codec.encode(state, noCapabilities, { check: true });
    const written = await this.#store.put(address, type, bytes, condition);
    return this.#written(object2, address, type, state, written);
  }
  /**
   * An atomic read-modify-write of the object of class `cls` at `address`: `mutate` gets it as an instance
   * (without capabilities) and changes it in place, synchronously; returning `false` writes nothing. Two
   * concurrent updates never lose one another's change. On a store with an atomic `update` (SQLite: one
   * transaction; memory) it runs once; otherwise it is a read and a conditional put, retried on conflict.
   * Resolves to the updated instance (its `version` set), or undefined when there is no such object or
   * `mutate` returned false. `mutate` may throw (a `VersionConflictError` when the caller's own version check
   * fails, say): nothing is written and the error propagates.
   */
  async update(cls, address, mutate) {
    const type = nameOf(cls);
    let changed;
    const apply = (stored) => {
      changed = void 0;
      if (stored === void 0 || stored.type !== type) return void 0;
      const object3 = this.#instantiate(stored);
      const outcome = mutate(object3);
      if (outcome instanceof Promise) throw new TypeError("live.update: mutate must be synchronous");
      if (outcome === false) return void 0;
      if (canonicalKey(describe(object3).address) !== canonicalKey(address)) throw fail("ERR_PORTABLE_INVALID", "an update must not change the address");
      const state2 = stateOf(object3);
      changed = { object: object3, state: state2 };
      return { type, state: this.#codec.encode(state2, noCapabilities, { check: true }) };
    };
    const store = this.#store;
    let written;
    if (store.update !== void 0) written = await store.update(address, apply);
    else written = await this.#turns.run(canonicalKey(address), () => retryOnConflict(async () => {
      const stored = await store.get(address);
      const next = apply(stored);
      return next && store.put(address, type, next.state, { ifVersion: stored.version }).catch((error) => {
        throw error instanceof VersionConflictError ? new StoreConflict(error) : error;
      });
    }));
    if (written === void 0 || changed === void 0) return void 0;
    const { object: object2, state } = changed;
    await this.#written(object2, address, type, state, written);
    return object2;
  }
  async #written(object2, address, type, state, { version, seq }) {
    object2.version = version;
    await this.#fanout.publish({ address, type, version, seq, state: { ...state, version } });
    return version;
  }
  /** Deletes the object at `object`'s address and pushes the deletion. Returns the deletion's version, or undefined. */
  async delete(object2) {
    const { address, type } = describe(object2);
    const written = await this.#store.delete(address);
    if (written !== void 0) await this.#fanout.publish({ address, type, version: written.version, seq: written.seq, state: null });
    return written?.version;
  }
  /** The object at `address` rebuilt as an instance of `cls` (without capabilities), or undefined. */
  async get(cls, address) {
    const stored = await this.#store.get(address);
    return stored && stored.type === nameOf(cls) ? this.#instantiate(stored) : void 0;
  }
  /** Every stored object of class `cls`, as instances (without capabilities). */
  async list(cls) {
    return (await this.#store.list(nameOf(cls))).map((s) => this.#instantiate(s));
  }
  /**
   * What changed after seq `since`, oldest first, at most `limit`: each object once, with its latest state,
   * a deleted one with state null. Deletions at or below {@link LiveObjects.horizon} may be missing.
   */
  async changesSince(since, limit, wanted = () => true) {
    const rows = await this.#store.changes(since, limit);
    const changes = rows.filter((c) => wanted(c.address)).map((c) => isLive(c) ? this.#current(c) : { ...c, state: null });
    return { changes, read: rows.length, last: rows.length > 0 ? rows[rows.length - 1].seq : since };
  }
  /** The object at `address` as a push would carry it, whatever its class, or undefined. */
  async at(address) {
    const stored = await this.#store.get(address);
    return stored && this.#current(stored);
  }
  /** Every live object whose address starts with `prefix`, in the order they were first put, at most `limit`. */
  async under(prefix, limit) {
    return (await this.#store.listUnder(prefix, limit)).map((o) => this.#current(o));
  }
  /** The store's identity: seqs from a store with another epoch mean nothing here. */
  epoch() {
    return this.#store.epoch();
  }
  /** The latest change's seq (0 if none): what a client that is sent everything has seen. */
  seq() {
    return this.#store.seq();
  }
  /** The highest seq of a forgotten deletion: a client that saw less needs a full snapshot. */
  horizon() {
    return this.#store.horizon();
  }
  /**
   * The live object a capability grants: the object at the longest prefix of its scope, with `cap` set to
   * that capability. Undefined when no object lives there.
   */
  async grantedBy(cap2) {
    for (let n = cap2.scope.length; n > 0; n--) {
      const stored = await this.#store.get(cap2.scope.slice(0, n));
      if (stored && portableByName(stored.type)) return Object.assign(this.#instantiate(stored), { cap: cap2 });
    }
    return void 0;
  }
  /**
   * Rebuilds a stored object. Its state is decoded by the same codec and limits as a peer's frame, refusing
   * capabilities as encoding did, so a store holding foreign or damaged bytes yields a typed error.
   */
  #instantiate(stored) {
    return revive(stored.type, { ...this.#decode(stored), version: stored.version });
  }
  #current(stored) {
    const { address, type, version, seq } = stored;
    return { address, type, version, seq, state: { ...this.#decode(stored), version } };
  }
  #decode(stored) {
    const state = this.#codec.decode(stored.state, noCapabilities);
    if (state === null || typeof state !== "object" || Array.isArray(state) || state instanceof Uint8Array || portableOf(state) !== void 0) {
      throw fail("ERR_PORTABLE_INVALID", `stored state of ${stored.type} is not a map`);
    }
    return state;
  }
  /** Encodes the push frame for an update, once for all its recipients. */
  encodePush(update) {
    return this.#codec.encode([FrameType.push, update.address, update.type, update.version, update.state, update.seq], noCapabilities, { check: true });
  }
};
var StoreConflict = class {
  constructor(error) {
    this.error = error;
  }
  error;
};
async function retryOnConflict(attempt) {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof StoreConflict)) throw error;
      if (n >= UPDATE_ATTEMPTS) throw error.error;
    }
  }
}
function isLive(change) {
  return change.state !== null;
}
var noCapabilities = {
  onCapability() {
    throw fail("ERR_NOT_ENCODABLE", "live object state must not contain capabilities");
  }
};
function nameOf(cls) {
  const name = portableOfClass(cls)?.name;
  if (name === void 0) throw fail("ERR_PORTABLE_UNKNOWN");
  return name;
}
function describe(object2) {
  const type = portableOf(object2);
  if (type === void 0) throw fail("ERR_PORTABLE_UNKNOWN");
  if (type.address === void 0) throw fail("ERR_PORTABLE_INVALID", `portable class ${type.name} has no address`);
  return { address: type.address(object2), type: type.name };
}
function stateOf(object2) {
  const state = {};
  for (const [key, value] of Object.entries(object2)) {
    if (key !== "version" && value !== void 0 && !(value instanceof Capability)) state[key] = value;
  }
  return state;
}

// server/logger.ts
var levelNumbers = { debug: 20, info: 30, warn: 40, error: 50 };
function consoleLogger(level = "warn", sink = (line) => console.error(line)) {
  const threshold = level === "silent" ? Infinity : levelNumbers[level];
  const at = (name) => {
    const number2 = levelNumbers[name];
    return number2 < threshold ? () => {
    } : (entry) => sink(formatLine(number2, entry));
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
var warningLogger = consoleLogger("warn");
function formatLine(level, entry) {
  const line = { level, time: Date.now() };
  for (const [key, value] of Object.entries(entry)) line[key] = key === "err" ? serializeError(value) : value;
  try {
    return JSON.stringify(line, (_key, value) => typeof value === "bigint" ? value.toString() : value);
  } catch {
    return JSON.stringify({ level, time: line["time"], event: entry.event, logError: "entry could not be serialized" });
  }
}
function serializeError(value, depth = 0) {
  if (!(value instanceof Error)) return value;
  const out = { type: value.name, message: value.message, stack: value.stack };
  for (const [key, field] of Object.entries(value)) if (!(key in out)) out[key] = field;
  if (value.cause !== void 0 && depth < 3) out["cause"] = serializeError(value.cause, depth + 1);
  return out;
}

// server/options.ts
var systemClock = { now: () => Date.now() };
var defaultConnectionLimits = Object.freeze({
  maxBufferedBytes: 8 * 1024 * 1024,
  maxBadFrames: 16,
  maxInFlight: 64,
  maxHoldings: 1e4,
  maxConnectionsPerUser: 32,
  maxHoldingsPerUser: 5e4,
  callsPerSecond: 2e3,
  callBurst: 4e3,
  overBudgetCloseMs: 1e4,
  maxQueuedBytes: 8 * 1024 * 1024
});
var serverDefaults = Object.freeze({
  clockToleranceMs: 0,
  tokenRefreshWindowMs: 3e4,
  heartbeatMs: 3e4,
  pushSliceSize: 256,
  clientPingIntervalMs: 5e3,
  drainMs: 2e3,
  listenBacklog: 4096,
  closeSpreadMs: 0,
  callKeyWindowMs: 6e5,
  tombstoneHorizonMs: 7 * 24 * 36e5,
  /** Warnings and errors to stderr: a failing server function must show up somewhere. */
  logger: warningLogger,
  /** Revocation entries are pruned once the capability they revoke has expired anyway. */
  revocationPruneMs: 36e5
});

// server/presence.ts
var Presence = class {
  #policy;
  constructor(policy = "all") {
    this.#policy = policy;
  }
  /** True if `viewer` may see `other`. */
  visible(viewer, other) {
    const policy = this.#policy;
    if (policy === "all") return true;
    if (policy === "none") return false;
    return policy(viewer, [other]).includes(other);
  }
  /** The users of `online` that `viewer` may see, without the viewer. */
  list(viewer, online) {
    const others = online.filter((u) => u !== viewer.id);
    const policy = this.#policy;
    if (policy === "all") return others;
    if (policy === "none") return [];
    const allowed = new Set(policy(viewer, others));
    return others.filter((u) => allowed.has(u));
  }
};

// server/presence-events.ts
var defaultPresenceGraceMs = 5e3;
var PresenceTracker = class {
  #users = /* @__PURE__ */ new Map();
  #deadlines;
  #clock;
  #graceMs;
  #announce;
  constructor(deadlines, clock, graceMs, announce) {
    this.#deadlines = deadlines;
    this.#clock = clock;
    this.#graceMs = graceMs;
    this.#announce = announce;
  }
  /** A connection of `user` opened. */
  opened(user) {
    const entry = this.#users.get(user);
    if (entry === void 0) {
      this.#users.set(user, { connections: 1 });
      this.#announce({ type: "join", user });
      return;
    }
    entry.connections++;
    this.#deadlines.cancel(entry.leaving);
    delete entry.leaving;
  }
  /** A connection of `user` closed. */
  closed(user) {
    const entry = this.#users.get(user);
    if (entry === void 0 || entry.connections === 0) return;
    if (--entry.connections > 0) return;
    if (this.#graceMs <= 0) return this.#leave(user, entry);
    entry.leaving = this.#deadlines.schedule(this.#clock.now() + this.#graceMs, () => this.#leave(user, entry));
  }
  /** Users online now: with an open connection, or within the grace after their last one. */
  online() {
    return [...this.#users.keys()];
  }
  isOnline(user) {
    return this.#users.has(user);
  }
  /** Entries kept (for tests: a user who left leaves nothing behind). */
  get size() {
    return this.#users.size;
  }
  #leave(user, entry) {
    if (this.#users.get(user) !== entry || entry.connections > 0) return;
    this.#users.delete(user);
    this.#announce({ type: "leave", user });
  }
};

// server/push-slices.ts
var PushSlicer = class {
  #sliceSize;
  #queue = [];
  #scheduled = false;
  constructor(sliceSize) {
    this.#sliceSize = Math.max(1, sliceSize);
  }
  /** Pushes queued or being sliced (for tests and metrics). */
  get pending() {
    return this.#queue.length;
  }
  send(targets, bytes) {
    const list = Array.isArray(targets) ? targets : [...targets];
    if (this.#queue.length === 0 && list.length <= this.#sliceSize) {
      for (const target of list) target.sendBytes(bytes);
      return;
    }
    this.#queue.push({ targets: list, bytes, next: 0 });
    if (this.#queue.length === 1) this.#slice();
  }
  #slice() {
    this.#scheduled = false;
    let budget = this.#sliceSize;
    while (budget > 0 && this.#queue.length > 0) {
      const job = this.#queue[0];
      const end = Math.min(job.targets.length, job.next + budget);
      for (let i = job.next; i < end; i++) job.targets[i].sendBytes(job.bytes);
      budget -= end - job.next;
      job.next = end;
      if (job.next >= job.targets.length) this.#queue.shift();
    }
    if (this.#queue.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#slice());
    }
  }
};

// server/registry.ts
var RESERVED = /* @__PURE__ */ new Set(["__proto__", "constructor", "prototype", "hasOwnProperty", "toString", "valueOf"]);
var FunctionRegistry = class {
  #functions = /* @__PURE__ */ new Map();
  /** Registers `fn` under `name`; a reserved or empty name is `ERR_FUNCTION_UNKNOWN`. */
  register(name, fn, options = {}) {
    if (typeof name !== "string" || name.length === 0 || name.length > 256 || RESERVED.has(name)) {
      throw fail("ERR_FUNCTION_UNKNOWN", `cannot register a server function named ${JSON.stringify(name)}`);
    }
    if (typeof fn !== "function") throw fail("ERR_BAD_ARGUMENTS", "a server function must be a function");
    this.#functions.set(name, { fn, ...options.args ? { args: options.args } : {} });
  }
  /** Whether a function is registered under `name`. */
  has(name) {
    return this.#functions.has(name);
  }
  /**
   * Runs a function: returns its value or its promise; throws (synchronously) for unknown names and bad
   * arguments. A failure that is not a {@link CapsyncError} (a bug) comes out as a
   * {@link ServerFunctionError} naming the function, so the failed-call log line says which one it was.
   */
  invoke(name, ctx, args) {
    const entry = this.#functions.get(name);
    if (entry === void 0) throw fail("ERR_FUNCTION_UNKNOWN");
    if (!entry.args) return run(name, entry.fn, ctx, args);
    const outcome = entry.args["~standard"].validate(args);
    if (outcome instanceof Promise) return outcome.then((checked) => run(name, entry.fn, ctx, validated(checked, args.length)));
    return run(name, entry.fn, ctx, validated(outcome, args.length));
  }
};
function validated(outcome, received) {
  if (outcome.issues) throw fail("ERR_BAD_ARGUMENTS", describeArgumentIssues(outcome.issues, received));
  if (!Array.isArray(outcome.value)) throw fail("ERR_FUNCTION_FAILED", "the arguments schema did not produce a list");
  return outcome.value;
}
function run(name, fn, ctx, args) {
  let result;
  try {
    result = fn(ctx, ...args);
  } catch (error) {
    throw named(name, error);
  }
  if (result instanceof Promise) return result.catch((error) => Promise.reject(named(name, error)));
  return result;
}
var ServerFunctionError = class extends Error {
  /** Always `ServerFunctionError`. */
  name = "ServerFunctionError";
  /** The server function that failed. */
  fn;
  constructor(fn, cause) {
    super(`server function ${JSON.stringify(fn)} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.fn = fn;
  }
};
function named(fn, error) {
  return error instanceof CapsyncError ? error : new ServerFunctionError(fn, error);
}
function describeArgumentIssues(issues, received) {
  const issue = issues[0];
  if (issue === void 0) return "arguments do not have the expected shape";
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : "";
  const [index, ...rest] = (issue.path ?? []).map((segment) => typeof segment === "object" && segment !== null ? segment.key : segment);
  if (index === void 0) {
    if (issue.code === "too_big") return `expected at most ${String(issue.maximum)} arguments, received ${received}${more}`;
    if (issue.code === "too_small") return `expected at least ${String(issue.minimum)} arguments, received ${received}${more}`;
    return `arguments: ${expectation(issue.message)}${more}`;
  }
  const field = rest.map((key) => typeof key === "number" ? `[${key}]` : `.${String(key)}`).join("");
  const where = typeof index === "number" ? `argument ${index}${field}` : `arguments.${String(index)}${field}`;
  return `${where.length > 100 ? `${where.slice(0, 100)}...` : where}: ${expectation(issue.message)}${more}`;
}
function expectation(message) {
  const text = message.replace(/^Invalid input: /, "");
  return text.length > 200 ? `${text.slice(0, 200)}...` : text;
}

// server/revocation.ts
var Revocations = class {
  #store;
  #logger;
  #clock;
  #unsubscribe;
  #unsubscribeGenerations;
  /** Holdings the last generation raise ended on this node. */
  #ended = 0;
  constructor(store, sessions, logger, clock) {
    this.#store = store;
    this.#logger = logger;
    this.#clock = clock;
    this.#unsubscribe = store.revocations.subscribe((entries) => {
      const ids = new Set(entries.map((e) => e.id));
      for (const session of sessions) session.revoked(ids);
    });
    this.#unsubscribeGenerations = store.revocations.subscribeGenerations(() => {
      this.#ended = 0;
      for (const session of sessions) this.#ended += session.revokedGeneration();
    });
  }
  /** Revokes `cap` and everything narrowed from it. `by` names who asked (a user id, or 'server'). */
  async revoke(cap2, by) {
    unwrapCapability(cap2, cap2.scope.map(() => ANY));
    const revocationId2 = cap2.revocationId;
    await this.#store.revocations.add([{ id: revocationId2, expiresAt: cap2.expiresAt }]);
    this.#logger.info({ event: "revoked", revocationId: revocationId2, by });
    return { revocationId: revocationId2 };
  }
  /**
   * Revokes every capability the server sent to `userId` and that has not expired: one bump of the user's
   * generation covers every capability bound to them (SPEC section 3.9); the few recorded one by one (bearer
   * capabilities sent to them, and any issued before generations existed) are revoked by id. Returns how
   * many were revoked by id plus how many capabilities held on this node's connections ended.
   */
  async revokeUser(userId) {
    this.#ended = 0;
    const generation = await this.#store.revocations.bumpGeneration(userId);
    const ended = this.#ended;
    const issued = await this.#store.issuedTo(userId, this.#clock.now());
    await this.#store.revocations.add(issued);
    this.#logger.info({ event: "revoked_user", user: userId, generation, count: issued.length, ended });
    return issued.length + ended;
  }
  /** Drops entries and issued records whose capability has expired anyway (it no longer verifies). */
  async prune(toleranceMs) {
    const before = this.#clock.now() - toleranceMs;
    await this.#store.pruneIssued(before);
    return this.#store.revocations.prune(before);
  }
  close() {
    this.#unsubscribe();
    this.#unsubscribeGenerations();
  }
};

// server/session-requests.ts
var SessionRequests = class {
  #env;
  #session;
  #inFlight = 0;
  constructor(env, session) {
    this.#env = env;
    this.#session = session;
  }
  /** Runs `frame` (request id `id`) and sends its result or error frame. Never throws. */
  run(id2, frame) {
    const event = eventNames[frame[0]];
    const fn = frame[0] === FrameType.call ? frame[2] : void 0;
    if (this.#inFlight >= this.#env.connection.maxInFlight) {
      this.#session.sendError(id2, fail("ERR_RATE_LIMITED"));
      return;
    }
    let result;
    try {
      result = this.#env.request(this.#session, frame);
    } catch (error) {
      this.#failed(id2, event, error, fn);
      return;
    }
    if (!isThenable(result)) {
      this.#answer(id2, event, result, fn);
      return;
    }
    this.#inFlight++;
    result.then(
      (value) => {
        this.#inFlight--;
        this.#answer(id2, event, value, fn);
      },
      (error) => {
        this.#inFlight--;
        this.#failed(id2, event, error, fn);
      }
    );
  }
  #answer(id2, event, value, fn) {
    try {
      this.#session.send([FrameType.result, id2, value]);
    } catch (error) {
      this.#env.logFailure(this.#session, event, "ERR_NOT_ENCODABLE", error, fn);
      this.#session.sendError(id2, fail("ERR_FUNCTION_FAILED", "server function returned a value that cannot be sent"));
    }
  }
  #failed(id2, event, error, fn) {
    const err = error instanceof CapsyncError ? error : fail("ERR_FUNCTION_FAILED");
    this.#env.logFailure(this.#session, event, err.code, error instanceof CapsyncError ? void 0 : error, fn);
    this.#session.sendError(id2, err);
  }
};
var eventNames = {
  [FrameType.call]: "call",
  [FrameType.delegate]: "delegate",
  [FrameType.revoke]: "revoke",
  [FrameType.refresh]: "refresh",
  [FrameType.presence]: "presence",
  [FrameType.resume]: "resume",
  [FrameType.grants]: "grants",
  [FrameType.watch]: "watch"
};
function isThenable(value) {
  return typeof value === "object" && value !== null && typeof value.then === "function";
}

// server/session.ts
var ServerSession = class {
  id;
  user;
  /** An anonymous session's identity (what hello tells the client to keep); undefined for a user. */
  #anonymous;
  #tokenExpiresAt;
  #env;
  #transport;
  #holdings;
  #requests;
  #inbound;
  #handles = new InboundHandles();
  #outbound;
  #issuedBatch = [];
  /** Every capability this session was sent as cover, by revocation id (what `revokeSession` revokes). */
  #sent = /* @__PURE__ */ new Map();
  /** The first capability in the frame being decoded that failed verification: a call holding it never runs. */
  #refusal;
  #tokenDeadlines = [];
  #badFrames = 0;
  #closed = false;
  constructor(env, transport, id2, user, tokenExpiresAt, anonymous) {
    this.#env = env;
    this.#requests = new SessionRequests(env, this);
    this.#transport = transport;
    this.id = id2;
    this.user = user;
    this.#anonymous = user === null ? anonymous : void 0;
    this.#tokenExpiresAt = tokenExpiresAt;
    this.#holdings = new Holdings(env.connection.maxHoldings, env.deadlines, {
      held: (scope2) => env.hold(this, scope2),
      released: (scope2) => env.release(this, scope2),
      ended: (id3, scope2, reason) => this.send([FrameType.revoked, id3, scope2, reason]),
      refused: (error) => {
        env.logFailure(this, "holding_refused", error.code);
        this.sendError(null, error);
      }
    }, env.holdingBudgets);
    const verifier = env.verifier;
    const self = this;
    this.#inbound = {
      verifier,
      get user() {
        return self.principal;
      },
      inboundHandles: this.#handles,
      onCapability: (cap2) => this.#received(cap2)
    };
    this.#outbound = {
      verifier,
      get user() {
        return self.principal;
      },
      get bindTo() {
        return self.principal ?? void 0;
      },
      onCapability: (cap2) => this.#hold(cap2, true)
    };
  }
  /**
   * Who this session is to capabilities: its user's id, or its anonymous identity (a string no user id can
   * be, server/identity.ts). Every capability sent to the session is bound to it, and only capabilities whose
   * audiences all name it are cover here.
   */
  get principal() {
    return this.user?.id ?? this.#anonymous?.principal ?? null;
  }
  /**
   * An anonymous session becomes the client it was before (a resume presented that identity's proof):
   * capabilities bound to the session's fresh identity are no longer cover, and those that arrived refused
   * for it (the resume's own, bound to handles) are verified again for the adopted one. Returns that
   * re-verification, for the resume's capabilities; undefined for a user's session, which never changes.
   */
  adopt(identity) {
    if (this.user !== null || this.#anonymous === void 0) return void 0;
    this.#anonymous = identity;
    this.#holdings.rebind(identity.principal);
    const again = /* @__PURE__ */ new Map();
    const reverify = (cap2) => {
      const status = statusOf(cap2);
      if (!(status instanceof CapsyncError) || status.code !== "ERR_CAPABILITY_AUDIENCE") return cap2;
      let fresh = again.get(cap2);
      if (fresh === void 0) {
        again.set(cap2, fresh = this.#env.verifier.decode(cap2.toToken(), identity.principal));
        this.#hold(fresh, false);
      }
      return fresh;
    };
    this.#handles.remap(reverify);
    return reverify;
  }
  /** The anonymous identity's proof, as hello and the resume's answer tell the client; undefined for a user. */
  get identityProof() {
    return this.#anonymous?.proof;
  }
  /** The revocation ids (and expiries) of every capability this session was sent as cover. */
  sentEntries() {
    return Array.from(this.#sent, ([id2, expiresAt]) => ({ id: id2, expiresAt }));
  }
  get closed() {
    return this.#closed;
  }
  /** When the session's JWT expires (ms since epoch), or null. */
  get tokenExpiresAt() {
    return this.#tokenExpiresAt;
  }
  /** Number of capabilities held (for tests and metrics). */
  get holdingCount() {
    return this.#holdings.size;
  }
  /** What this connection holds, read-only (the inspector): scopes and revocation ids, never tokens. */
  heldCapabilities() {
    return this.#holdings.list();
  }
  /** Sends the first frame (with the core's `extra` hello fields) and arms the token's deadlines. */
  start(extra = {}) {
    this.send([FrameType.hello, {
      protocol: 1,
      user: this.user && { id: this.user.id, roles: this.user.roles },
      maxFrameBytes: this.#env.codec.limits.maxFrameBytes,
      tokenExpiresAt: this.#tokenExpiresAt,
      ...this.#anonymous !== void 0 ? { identity: this.#anonymous.proof } : {},
      ...extra
    }]);
    this.#armToken();
  }
  /** A fresh JWT for the same user: new roles, new expiry, deadlines re-armed. */
  renew(user, expiresAt) {
    this.user = user;
    this.#tokenExpiresAt = expiresAt;
    this.#armToken();
  }
  #armToken() {
    for (const d of this.#tokenDeadlines) this.#env.deadlines.cancel(d);
    this.#tokenDeadlines = [];
    const expiresAt = this.#tokenExpiresAt;
    if (expiresAt === null || this.#closed) return;
    const { deadlines, tokenRefreshWindowMs } = this.#env;
    this.#tokenDeadlines = [
      deadlines.schedule(expiresAt - tokenRefreshWindowMs, () => this.send([FrameType.tokenExpiring, expiresAt])),
      deadlines.schedule(expiresAt, () => this.end(fail("ERR_SESSION_EXPIRED")))
    ];
  }
  /** Handles one binary frame from the peer. Never throws: every failure becomes an error frame. */
  receive(bytes) {
    if (this.#closed) return;
    let value;
    let frame;
    this.#refusal = void 0;
    try {
      value = this.#env.codec.decode(bytes, this.#inbound);
      frame = validateFrame(value, clientFrameTypes);
    } catch (error) {
      this.#badFrame(frameIdOf(value), error);
      return;
    }
    switch (frame[0]) {
      case FrameType.ping:
        this.send([FrameType.pong, frame[1]]);
        return;
      case FrameType.pong:
        return;
      case FrameType.call: {
        const refused = this.#refusal;
        if (refused !== void 0) {
          const refusal = fail(refused.code);
          this.#env.logFailure(this, "call", refusal.code, void 0, frame[2]);
          this.sendError(frame[1], refusal);
          return;
        }
        this.#requests.run(frame[1], frame);
        return;
      }
      case FrameType.delegate:
      case FrameType.revoke:
      case FrameType.refresh:
      case FrameType.presence:
      case FrameType.resume:
      case FrameType.grants:
      case FrameType.watch:
        this.#requests.run(frame[1], frame);
    }
  }
  /** A text frame: capsync frames are binary, so it counts as a refused frame like any other. */
  receiveText() {
    if (!this.#closed) this.#badFrame(null, fail("ERR_FRAME_MALFORMED", "frames must be binary"));
  }
  #badFrame(id2, error) {
    const err = error instanceof CapsyncError ? error : fail("ERR_FRAME_MALFORMED");
    this.#env.logFailure(this, "bad_frame", err.code);
    this.sendError(id2, err);
    if (++this.#badFrames > this.#env.connection.maxBadFrames) this.end(fail("ERR_TOO_MANY_BAD_FRAMES"));
  }
  /** Encodes and sends a frame; capabilities in it are signed and become holdings of this connection. */
  send(frame) {
    if (this.#closed) return;
    const bytes = this.#env.codec.encode(frame, this.#outbound, { check: true });
    this.#flushIssued();
    this.sendBytes(bytes);
  }
  /** Sends an error frame with a safe message. */
  sendError(id2, error) {
    this.send([FrameType.error, id2, error.code, error.message]);
  }
  /** Sends pre-encoded bytes (a push encoded once for all its recipients), enforcing the unsent-bytes bound. */
  sendBytes(bytes) {
    if (this.#closed) return;
    if (this.#transport.bufferedAmount + bytes.length > this.#env.connection.maxBufferedBytes) {
      this.end(fail("ERR_SLOW_CONSUMER"));
      return;
    }
    this.#transport.send(bytes);
  }
  /** True if this connection holds `cap` (or the child of it bound to this session) as cover for pushes (for tests and tools). */
  holds(cap2) {
    if (this.#holdings.has(cap2)) return true;
    const principal = this.principal;
    const child = principal === null ? void 0 : this.#env.verifier.boundChildOf(cap2, principal);
    return child !== void 0 && this.#holdings.has(child);
  }
  #received(cap2) {
    const status = statusOf(cap2);
    if (status instanceof CapsyncError) this.#refusal ??= status;
    else this.#hold(cap2, false);
  }
  #hold(cap2, outgoing) {
    const added = this.#holdings.add(cap2, this.principal ?? void 0);
    if (added === void 0 || !outgoing) return;
    this.#sent.set(added.id, added.expiresAt);
    if (this.user && !added.byGeneration) this.#issuedBatch.push({ id: added.id, expiresAt: added.expiresAt });
  }
  #flushIssued() {
    if (this.#issuedBatch.length === 0) return;
    const batch = this.#issuedBatch;
    this.#issuedBatch = [];
    this.#env.issued(this, batch);
  }
  /** Drops every holding that a revoked id covers, telling the client which capability ended. */
  revoked(ids) {
    this.#holdings.revoked(ids);
  }
  /** Drops every holding whose audience's generation rose (revokeUser); returns how many. */
  revokedGeneration() {
    return this.#holdings.stale();
  }
  /** Ends the connection because of `error`, with the error's own close code. */
  end(error) {
    this.close(error.closeCode ?? 1011, error.message);
  }
  /** Closes the connection and releases everything it held. */
  close(code = 1e3, reason = "") {
    if (this.#closed) return;
    this.#transport.close(code, reason);
    this.dispose();
  }
  /** Releases holdings and deadlines after the transport closed (from either side). */
  dispose() {
    if (this.#closed) return;
    this.#closed = true;
    for (const d of this.#tokenDeadlines) this.#env.deadlines.cancel(d);
    this.#tokenDeadlines = [];
    this.#holdings.clear();
    this.#env.closed(this);
  }
};

// server/node-crypto.ts
import * as crypto from "node:crypto";
import { createHash as createHash2, createHmac as createHmac2 } from "node:crypto";
var oneShot = crypto.hash;
var PORTABLE_KEYED_MAX = 183;
var PORTABLE_ONE_SHOT_MAX = 119;
function nodeKeyedHmac(key) {
  const state = hmacKeyState(key);
  const secret2 = Buffer.from(key);
  return (message) => message.length <= PORTABLE_KEYED_MAX ? hmacWithState(state, message) : createHmac2("sha256", secret2).update(message).digest();
}
var nodeCrypto = {
  hmacSha256: (key, message) => message.length <= PORTABLE_ONE_SHOT_MAX ? hmacSha256(key, message) : createHmac2("sha256", key).update(message).digest(),
  sha256: oneShot === void 0 ? (message) => createHash2("sha256").update(message).digest() : (message) => oneShot("sha256", message, "buffer"),
  timingSafeEqual: constantTimeEqual,
  keyedHmac: nodeKeyedHmac
};

// server/store/memory.ts
import { randomUUID } from "node:crypto";

// server/store/prefix.ts
function prefixKeys2(prefix) {
  if (prefix.length === 0) return null;
  const whole = canonicalKey(prefix);
  const stem = whole.slice(0, -1);
  return { whole, open: stem + ",", openEnd: stem + "-" };
}
function isUnder(key, keys) {
  return keys === null || key === keys.whole || key.startsWith(keys.open);
}

// server/store/memory.ts
var MemoryStore = class {
  revocations = new MemoryRevocationSet();
  // A Map iterates in first-insertion order, and tombstones keep their place: `list` orders as SQLite's
  // `created` column does, which a re-creation does not move either.
  #objects = /* @__PURE__ */ new Map();
  // The same entries, re-inserted on every change, so this one iterates in seq order: `changes` needs no sort.
  #bySeq = /* @__PURE__ */ new Map();
  #issued = /* @__PURE__ */ new Map();
  #delegations = [];
  #calls = /* @__PURE__ */ new Map();
  #settings = /* @__PURE__ */ new Map();
  #epoch = randomUUID();
  #clock;
  #seq = 0;
  #horizon = 0;
  constructor(options = {}) {
    this.#clock = options.clock ?? Date;
  }
  async get(address) {
    const entry = this.#objects.get(canonicalKey(address));
    return entry && entry.state !== null ? toObject(entry) : void 0;
  }
  async list(type) {
    const found = [];
    for (const entry of this.#objects.values()) if (entry.type === type && entry.state !== null) found.push(toObject(entry));
    return found;
  }
  async put(address, type, state, condition) {
    const key = canonicalKey(address);
    if (condition?.ifVersion !== void 0) {
      const current = liveVersion(this.#objects.get(key));
      if (current !== condition.ifVersion) throw new VersionConflictError(current, condition.ifVersion);
    }
    return this.#write(key, address, type, state);
  }
  async update(address, mutate) {
    const key = canonicalKey(address);
    const entry = this.#objects.get(key);
    const next = mutate(entry && entry.state !== null ? toObject(entry) : void 0);
    return next && this.#write(key, address, next.type, next.state);
  }
  #write(key, address, type, state) {
    const bytes = new Uint8Array(state);
    let entry = this.#objects.get(key);
    if (entry === void 0) {
      entry = { address: structuredClone(address), type, state: bytes, version: 0, seq: 0, changedAt: 0 };
      this.#objects.set(key, entry);
    }
    entry.type = type;
    entry.state = bytes;
    return this.#changed(key, entry);
  }
  async delete(address) {
    const key = canonicalKey(address);
    const entry = this.#objects.get(key);
    if (entry === void 0 || entry.state === null) return void 0;
    entry.state = null;
    return this.#changed(key, entry);
  }
  #changed(key, entry) {
    entry.version++;
    entry.seq = ++this.#seq;
    entry.changedAt = this.#clock.now();
    this.#bySeq.delete(key);
    this.#bySeq.set(key, entry);
    return { version: entry.version, seq: entry.seq };
  }
  async epoch() {
    return this.#epoch;
  }
  async seq() {
    return this.#seq;
  }
  async changes(since, limit) {
    const found = [];
    for (const entry of this.#bySeq.values()) {
      if (found.length >= limit) break;
      if (entry.seq > since) {
        found.push({ address: structuredClone(entry.address), type: entry.type, version: entry.version, seq: entry.seq, state: entry.state && entry.state.slice() });
      }
    }
    return found;
  }
  async listUnder(prefix, limit) {
    const keys = prefixKeys2(prefix);
    const found = [];
    for (const [key, entry] of this.#objects) {
      if (found.length >= limit) break;
      if (entry.state !== null && isUnder(key, keys)) found.push(toObject(entry));
    }
    return found;
  }
  async pruneTombstones(before) {
    let dropped = 0;
    for (const [key, entry] of this.#objects) {
      if (entry.state !== null || entry.changedAt >= before) continue;
      this.#objects.delete(key);
      this.#bySeq.delete(key);
      this.#horizon = Math.max(this.#horizon, entry.seq);
      dropped++;
    }
    return dropped;
  }
  async horizon() {
    return this.#horizon;
  }
  async claimCall(principal, key, owner, expiresAt) {
    const id2 = callId(principal, key);
    const found = this.#calls.get(id2);
    if (found !== void 0) return { ...found, outcome: found.outcome && found.outcome.slice() };
    this.#calls.set(id2, { owner, outcome: null, expiresAt });
    return void 0;
  }
  async finishCall(principal, key, outcome) {
    const id2 = callId(principal, key);
    const found = this.#calls.get(id2);
    if (found !== void 0) found.outcome = new Uint8Array(outcome);
  }
  async pruneCalls(now2) {
    let dropped = 0;
    for (const [id2, record2] of this.#calls) if (record2.expiresAt < now2 && this.#calls.delete(id2)) dropped++;
    return dropped;
  }
  async recordIssued(user, entries) {
    let issued = this.#issued.get(user);
    if (issued === void 0) this.#issued.set(user, issued = /* @__PURE__ */ new Map());
    for (const e of entries) if (!issued.has(e.id)) issued.set(e.id, { id: e.id, expiresAt: e.expiresAt });
  }
  async issuedTo(user, now2) {
    const live = [];
    for (const e of this.#issued.get(user)?.values() ?? []) if (e.expiresAt === null || e.expiresAt >= now2) live.push({ ...e });
    return live;
  }
  async pruneIssued(now2) {
    let dropped = 0;
    for (const [user, issued] of this.#issued) {
      for (const [id2, e] of issued) if (e.expiresAt !== null && e.expiresAt < now2 && issued.delete(id2)) dropped++;
      if (issued.size === 0) this.#issued.delete(user);
    }
    return dropped;
  }
  async recordDelegation(record2) {
    this.#delegations.push(copyDelegation(record2));
  }
  async delegations(filter) {
    return this.#delegations.filter((r) => (filter.from === void 0 || r.from === filter.from) && (filter.to === void 0 || r.to === filter.to)).filter((r) => filter.now === void 0 || r.expiresAt === null || r.expiresAt >= filter.now).map(copyDelegation);
  }
  async pruneDelegations(now2) {
    const before = this.#delegations.length;
    const kept = this.#delegations.filter((r) => r.expiresAt === null || r.expiresAt >= now2);
    this.#delegations.splice(0, before, ...kept);
    return before - kept.length;
  }
  async getSetting(name) {
    return this.#settings.get(name);
  }
  async setSetting(name, value) {
    this.#settings.set(name, value);
  }
  async close() {
  }
};
function liveVersion(entry) {
  return entry === void 0 || entry.state === null ? 0 : entry.version;
}
function toObject(entry) {
  return { address: structuredClone(entry.address), type: entry.type, state: entry.state.slice(), version: entry.version, seq: entry.seq };
}
function copyDelegation(r) {
  return { from: r.from, to: r.to, scope: structuredClone(r.scope), revocationId: r.revocationId, bound: r.bound, at: r.at, token: new Uint8Array(r.token), expiresAt: r.expiresAt };
}
function callId(principal, key) {
  return `${principal.length}:${principal}${key}`;
}

// server/hub.ts
function principalOf(session) {
  return session.user !== null ? `user:${session.user.id}` : `anon:${session.principal ?? session.id}`;
}
var Hub = class _Hub {
  codec;
  verifier;
  store;
  live;
  auth;
  limits;
  logger;
  clock;
  connection;
  /** Recent delegations and revocations, calls per second: what the inspector (server/inspect.ts) reads. */
  activity;
  #functions = new FunctionRegistry();
  #holders = new HolderIndex();
  #directory;
  #cluster;
  #unsubscribeCluster;
  #deadlines;
  #presence;
  #online;
  #collections;
  /** Sessions counted by {@link Hub.#online} (a session refused while closing never was). */
  #counted = /* @__PURE__ */ new WeakSet();
  #revocations;
  #fanout;
  #unsubscribeFanout;
  #env;
  /** What server functions get as `ctx.server`: the public operations only. */
  #api;
  #delegationDeps;
  #calls;
  #slicer;
  #epoch;
  /** The highest change sequence number this node has seen (announced in hello; a lower bound is safe). */
  #seq;
  #hello;
  #tombstoneHorizonMs;
  #identities;
  #nextSessionId = 1;
  #closing = false;
  constructor(options, keyring, store, epoch, seq) {
    this.#epoch = epoch;
    this.#seq = seq;
    this.limits = resolveLimits(options.limits);
    this.clock = options.clock ?? systemClock;
    this.activity = new Activity(this.clock);
    this.connection = Object.freeze({ ...defaultConnectionLimits, ...options.connection });
    this.logger = options.logger ?? serverDefaults.logger;
    this.codec = new Codec(this.limits);
    this.store = store;
    const clock = this.clock;
    this.verifier = new CapabilityVerifier({
      keyring,
      revocations: store.revocations,
      limits: this.limits,
      clockToleranceMs: options.clockToleranceMs ?? serverDefaults.clockToleranceMs,
      now: () => clock.now(),
      // The server checks a capability on every call: OpenSSL's HMAC is about twice as fast as the portable one.
      crypto: nodeCrypto
    });
    this.#identities = new AnonymousIdentities(keyring, nodeCrypto);
    this.#cluster = options.cluster;
    this.#directory = new SessionDirectory(this.#cluster ?? {});
    this.#fanout = options.fanout ?? new LocalFanout();
    this.live = new LiveObjects(store, this.#fanout, this.codec);
    this.auth = new Authenticator(options.auth);
    this.#deadlines = new Deadlines(clock);
    this.#presence = new Presence(options.presence);
    this.#collections = new Collections(this.live, this.logger, options.collections);
    this.#online = new PresenceTracker(this.#deadlines, clock, options.presenceGraceMs ?? defaultPresenceGraceMs, (change) => this.#announce(change));
    this.#revocations = new Revocations(store, this.#directory, this.logger, clock);
    this.#slicer = new PushSlicer(options.pushSliceSize ?? serverDefaults.pushSliceSize);
    this.#unsubscribeFanout = this.#fanout.subscribe((update) => this.#push(update));
    this.#delegationDeps = {
      directory: this.#directory,
      presence: this.#presence,
      live: this.live,
      store,
      logger: this.logger,
      clock,
      verifier: this.verifier,
      cluster: this.#cluster
    };
    this.#unsubscribeCluster = this.#cluster?.onDelivery((to, d) => {
      deliverRemote(this.#delegationDeps, to, d.from, d.token).catch((error) => this.logger.warn({ event: "remote_delegation_failed", err: error }));
    }) ?? (() => {
    });
    const callKeyWindowMs = options.callKeyWindowMs ?? serverDefaults.callKeyWindowMs;
    this.#calls = new CallKeys({ store, codec: this.codec, verifier: this.verifier, clock, logger: this.logger, windowMs: callKeyWindowMs });
    this.#tombstoneHorizonMs = options.tombstoneHorizonMs ?? serverDefaults.tombstoneHorizonMs;
    this.#hello = { pingIntervalMs: Math.min(options.clientPingIntervalMs ?? serverDefaults.clientPingIntervalMs, options.heartbeatMs ?? Infinity), callKeyWindowMs };
    this.#api = Object.freeze({
      live: this.live,
      mint: (scope2, options2) => this.mint(scope2, options2),
      revoke: (cap2) => this.revoke(cap2),
      revokeUser: (userId) => this.revokeUser(userId),
      revokeSession: (sessionId) => this.revokeSession(sessionId),
      isValid: (cap2) => this.isValid(cap2)
    });
    this.#env = {
      codec: this.codec,
      verifier: this.verifier,
      connection: this.connection,
      deadlines: this.#deadlines,
      holdingBudgets: new HoldingBudgets(this.connection.maxHoldingsPerUser),
      tokenRefreshWindowMs: options.tokenRefreshWindowMs ?? serverDefaults.tokenRefreshWindowMs,
      request: (session, frame) => this.#request(session, frame),
      hold: (session, scope2) => {
        this.#holders.add(scope2, session);
        this.#fanout.hold?.(scope2);
      },
      release: (session, scope2) => {
        this.#holders.remove(scope2, session);
        this.#fanout.release?.(scope2);
        this.#collections.released(session, scope2);
      },
      issued: (session, entries) => {
        if (session.user === null) return;
        store.recordIssued(session.user.id, entries).catch((error) => this.logger.error({ event: "store_error", err: error }));
      },
      closed: (session) => {
        this.#directory.remove(session);
        this.#collections.closed(session);
        if (session.user !== null && this.#counted.has(session)) {
          this.#counted.delete(session);
          this.#online.closed(session.user.id);
        }
      },
      logFailure: (session, event, code, detail, fn) => {
        const entry = { event, code, session: session.id, user: session.user?.id ?? null, ...fn !== void 0 ? { fn } : {} };
        if (detail === void 0) this.logger.info(entry);
        else this.logger.warn({ ...entry, err: detail });
      }
    };
  }
  /** Creates a core; loads (or generates and stores) the capability keys. */
  static async create(options) {
    const store = options.store ?? new MemoryStore();
    const [keyring, epoch, seq] = await Promise.all([loadKeyring(store, options.capabilityKeys), store.epoch(), store.seq()]);
    return new _Hub(options, keyring, store, epoch, seq);
  }
  /** Registers a server function callable by name. Names are looked up in a null-prototype map. */
  callable(name, fn, options) {
    this.#functions.register(name, fn, options);
  }
  /**
   * A capability minted with the current key (server code). It is bound to each session it is sent to,
   * unless `bearer: true` (then whoever holds its bytes can use it).
   */
  mint(scope2, options) {
    return this.verifier.mint(scope2, options);
  }
  /**
   * Revokes every capability one session was sent (Anvil's `reset_session`), wherever it is used: a capability
   * is bound to the session's principal, so the same user's other connections lose it too. Returns how many.
   */
  async revokeSession(sessionId) {
    const session = this.#directory.all().find((s) => s.id === sessionId);
    if (session === void 0) return 0;
    const entries = session.sentEntries();
    await this.store.revocations.add(entries);
    this.activity.revoked({ by: "server", what: `session:${sessionId}`, revocationId: null, count: entries.length });
    this.logger.info({ event: "revoked_session", session: sessionId, count: entries.length });
    return entries.length;
  }
  /** True when `cap` is a capability this server verified (or server code built) that still works now (Anvil's `is_valid`). */
  isValid(cap2) {
    return capabilityError(cap2) === void 0;
  }
  /** Revokes a capability and everything narrowed from it, now, everywhere (server code). */
  revoke(cap2) {
    return this.#revoked(this.#revocations.revoke(cap2, "server"), cap2, "server");
  }
  /** Revokes every capability the server ever sent to `userId` (Anvil's `invalidate_client_objects`, per user). */
  async revokeUser(userId) {
    const count = await this.#revocations.revokeUser(userId);
    this.activity.revoked({ by: "server", what: `user:${userId}`, revocationId: null, count });
    return count;
  }
  /**
   * Periodic upkeep: drops revocation entries and delegation records whose capability has expired anyway,
   * call outcomes past their window, and tombstones past the horizon.
   */
  async prune() {
    const now2 = this.clock.now();
    await this.#revocations.prune(this.verifier.clockToleranceMs);
    await this.#calls.prune();
    await this.store.pruneDelegations(now2 - this.verifier.clockToleranceMs);
    await this.store.pruneTombstones(now2 - this.#tombstoneHorizonMs);
  }
  /**
   * Starts a session on an authenticated transport: sends hello, arms the token's deadlines. The caller
   * feeds the session the peer's frames (`receive`, `receiveText`) and calls `dispose()` when the transport
   * has closed.
   */
  handleConnection(transport, authenticated) {
    const user = authenticated.user;
    if (user !== null && isAnonymousPrincipal(user.id)) throw fail("ERR_AUTH_INVALID", "a user id cannot name an anonymous client");
    const anonymous = user === null ? this.#identities.issue() : void 0;
    const session = new ServerSession(this.#env, transport, String(this.#nextSessionId++), user, authenticated.expiresAt, anonymous);
    if (this.#closing) {
      session.end(fail("ERR_SERVER_CLOSING"));
      return session;
    }
    if (user !== null && this.#directory.ofUser(user.id).size >= this.connection.maxConnectionsPerUser) {
      const refused = fail("ERR_LIMIT_CONNECTIONS");
      this.logger.info({ event: "connection_refused", code: refused.code, user: user.id });
      session.sendError(null, refused);
      session.end(refused);
      return session;
    }
    this.#directory.add(session);
    session.start({ ...this.#hello, epoch: this.#epoch, seq: this.#seq });
    if (user !== null) {
      this.#counted.add(session);
      this.#online.opened(user.id);
    }
    return session;
  }
  /** Number of open sessions. */
  get sessionCount() {
    return this.#directory.size;
  }
  /** The ids of users with at least one open session. */
  get onlineUsers() {
    return this.#directory.users();
  }
  /** Every open session (for the adapter's drain on close). */
  sessions() {
    return this.#directory.all();
  }
  /** Stops deadlines, fan-out and the store. Sessions must have been closed by the adapter first. */
  /** From now on new connections are refused with 1001 (the first step of closing: nothing new while draining). */
  stopAccepting() {
    this.#closing = true;
  }
  async close() {
    this.#closing = true;
    for (const session of this.#directory.all()) session.end(fail("ERR_SERVER_CLOSING"));
    this.#deadlines.close();
    this.#unsubscribeFanout();
    this.#unsubscribeCluster();
    this.#revocations.close();
    await this.#fanout.close();
    await this.store.close();
  }
  #request(session, frame) {
    switch (frame[0]) {
      case FrameType.call: {
        this.activity.call();
        const ctx = { user: session.user, session, server: this.#api };
        const key = frame[4];
        if (key === void 0) return this.#functions.invoke(frame[2], ctx, frame[3]);
        return this.#calls.run(principalOf(session), session.principal, key, () => this.#functions.invoke(frame[2], ctx, frame[3]));
      }
      case FrameType.resume:
        return this.#resume(session, frame[2]);
      case FrameType.grants:
        return grantsFor(this.#delegationDeps, session);
      case FrameType.watch:
        return this.#collections.watch(session, frame[1], frame[2], frame[3]);
      case FrameType.delegate:
        return delegate(this.#delegationDeps, session, frame[2], frame[3], frame[4]).then((result) => {
          const cap2 = frame[3];
          this.activity.delegated({
            from: session.user?.id ?? "",
            to: frame[2],
            scope: [...cap2.scope],
            revocationId: result.revocationId,
            bearer: frame[4]?.bearer === true,
            expiresAt: cap2.expiresAt
          });
          return result;
        });
      case FrameType.revoke:
        return this.#revoked(this.#revocations.revoke(frame[2], session.user?.id ?? null), frame[2], session.user?.id ?? "anonymous");
      case FrameType.refresh:
        return this.#refresh(session, frame[2]);
      case FrameType.presence: {
        if (session.user === null) throw fail("ERR_AUTH_REQUIRED");
        if (this.#cluster === void 0) return this.#presence.list(session.user, this.#online.online());
        const viewer = session.user;
        return this.#cluster.onlineUsers().then((others) => this.#presence.list(viewer, [.../* @__PURE__ */ new Set([...this.#online.online(), ...others])]));
      }
    }
  }
  async #revoked(revocation, cap2, by) {
    const result = await revocation;
    this.activity.revoked({ by, what: [...cap2.scope], revocationId: result.revocationId, count: 1 });
    return result;
  }
  async #refresh(session, jwt) {
    const { user, expiresAt } = await this.auth.authenticate(jwt);
    if (user === null || session.user === null || user.id !== session.user.id) throw fail("ERR_AUTH_INVALID", "a refreshed token must name the same user");
    session.renew(user, expiresAt);
    return { expiresAt };
  }
  async #resume(session, presented) {
    const request = this.#adoptIdentity(session, presented);
    const answer = await resumeSession(this.live, request, (update) => session.sendBytes(this.live.encodePush(update)));
    if (session.user !== null) {
      const held = new Set(request.caps.map((cap2) => cap2.revocationId).filter((id2) => id2 !== void 0));
      for (const grant of await grantsFor(this.#delegationDeps, session, held)) {
        session.send([FrameType.delegation, { from: grant.from, cap: grant.cap, object: grant.object }]);
        await pushIfNewer(this.live, [session], grant.object);
      }
    }
    const identity = session.identityProof;
    return identity === void 0 ? answer : { ...answer, identity };
  }
  /**
   * An anonymous client re-presented its identity: the session becomes it, and the capabilities the frame
   * carried, refused for the session's fresh identity, are verified again for the adopted one (and held).
   * A proof this server did not make is ignored: the client keeps the fresh identity hello gave it.
   */
  #adoptIdentity(session, request) {
    if (request.identity === void 0 || session.user !== null) return request;
    const principal = this.#identities.verify(request.identity);
    const reverify = principal === void 0 ? void 0 : session.adopt({ principal, proof: request.identity });
    return reverify === void 0 ? request : { ...request, caps: request.caps.map(reverify) };
  }
  /** Tells every user who may see `change.user` (by the presence policy) that it joined or left; never the user itself. */
  #announce(change) {
    if (this.#closing) return;
    for (const session of this.#directory) {
      const viewer = session.user;
      if (viewer === null || viewer.id === change.user || !this.#presence.visible(viewer, change.user)) continue;
      session.send([FrameType.presenceEvent, change.type, change.user]);
    }
  }
  #push(update) {
    if (update.seq > this.#seq) this.#seq = update.seq;
    this.#collections.changed(update);
    const holders = this.#holders.lookup(update.address);
    if (holders.size === 0) return;
    this.#slicer.send(holders, this.live.encodePush(update));
  }
};

// server/node/listener.ts
import { createServer } from "node:http";
import { WebSocketServer } from "ws";

// server/node/http.ts
var SUBPROTOCOL = "capsync.v1";
var BEARER_PROTOCOL = "capsync.bearer.";
function bearerToken(request) {
  const header = request.headers.authorization;
  if (header !== void 0) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (match === null) throw fail("ERR_AUTH_INVALID", 'the Authorization header must be "Bearer <jwt>"');
    return match[1];
  }
  const protocols = request.headers["sec-websocket-protocol"];
  if (protocols === void 0) return void 0;
  for (const p of protocols.split(",")) {
    const trimmed = p.trim();
    if (trimmed.startsWith(BEARER_PROTOCOL)) return trimmed.slice(BEARER_PROTOCOL.length);
  }
  return void 0;
}
function originAllowed(request, allowed) {
  const origin = request.headers.origin;
  if (origin === void 0) return true;
  if (allowed === "*" || allowed !== void 0 && allowed.includes("*")) return true;
  if (allowed !== void 0) return allowed.includes(origin);
  return sameHost(origin, request.headers.host);
}
function sameHost(origin, hostHeader) {
  if (hostHeader === void 0 || hostHeader === "") return false;
  let originUrl;
  let hostUrl;
  try {
    originUrl = new URL(origin);
    hostUrl = new URL(`${originUrl.protocol}//${hostHeader}`);
  } catch {
    return false;
  }
  if (originUrl.protocol !== "http:" && originUrl.protocol !== "https:") return false;
  return originUrl.host === hostUrl.host && hostUrl.pathname === "/" && hostUrl.username === "" && hostUrl.password === "";
}
var LOOPBACK_HOSTNAMES = /* @__PURE__ */ new Set(["localhost", "127.0.0.1", "[::1]"]);
function isLoopbackHost(hostHeader, port) {
  if (hostHeader === void 0) return false;
  let url;
  try {
    url = new URL(`http://${hostHeader}`);
  } catch {
    return false;
  }
  if (url.pathname !== "/" || url.username !== "" || url.password !== "") return false;
  const actualPort = url.port === "" ? 80 : Number(url.port);
  return LOOPBACK_HOSTNAMES.has(url.hostname.toLowerCase()) && actualPort === port;
}
function isLoopbackAddress(address) {
  const a = address.toLowerCase();
  return a === "localhost" || a === "::1" || a === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a) || /^::ffff:127\./.test(a);
}
function refuseUpgrade(socket, status, error) {
  const reason = status === 401 ? "Unauthorized" : status === 403 ? "Forbidden" : "Bad Request";
  const body = JSON.stringify({ code: error.code, message: error.message });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r
Connection: close\r
Content-Type: application/json\r
X-Capsync-Error: ${error.code}\r
Content-Length: ${Buffer.byteLength(body)}\r
\r
${body}`
  );
}
function sendJson(response, status, body) {
  const text = JSON.stringify(body);
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), "cache-control": "no-store" });
  response.end(text);
}

// server/node/routes.ts
function devLoginRefusal(options, req) {
  const address = options.address();
  if (address === void 0) return "the server is not listening";
  if (!options.devLoginBeyondLoopback && !isLoopbackAddress(address.address)) return "development login is off when the server listens beyond loopback";
  if (!isLoopbackHost(req.headers.host, address.port)) return "development login answers only requests to localhost, 127.0.0.1 or [::1] on this port";
  return void 0;
}
function ownDevId(id2, devUsers) {
  return /^[A-Za-z0-9._-]{1,64}$/.test(id2) && !Object.values(devUsers).some((u) => u.id === id2);
}
function handleRequest(options, req, res) {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (url.pathname === "/healthz") return sendJson(res, 200, { ok: true, sessions: options.sessionCount() });
  const devUsers = options.devUsers;
  if (url.pathname === "/dev/login" && devUsers && req.method === "GET") {
    const refusal = devLoginRefusal(options, req);
    if (refusal !== void 0) return sendJson(res, 403, { code: "ERR_FORBIDDEN", message: refusal });
    const name = url.searchParams.get("user") ?? "";
    const devUser = Object.prototype.hasOwnProperty.call(devUsers, name) ? devUsers[name] : void 0;
    if (devUser === void 0) return sendJson(res, 404, { code: "ERR_NOT_FOUND", message: "no such development user" });
    const as = url.searchParams.get("as");
    if (as !== null && !ownDevId(as, devUsers)) {
      return sendJson(res, 400, { code: "ERR_BAD_ARGUMENTS", message: `as: 1-64 letters, digits, ".", "_" or "-", and not a development user's id` });
    }
    const user = as === null ? devUser : { id: as, roles: devUser.roles };
    void options.auth.issue(user).then(
      (token) => sendJson(res, 200, { token, user }),
      (error) => sendJson(res, 500, { code: error instanceof CapsyncError ? error.code : "ERR_FUNCTION_FAILED", message: "cannot issue a token" })
    );
    return;
  }
  if (options.http?.(req, res)) return;
  sendJson(res, 404, { code: "ERR_NOT_FOUND", message: "not found" });
}

// server/fairness.ts
var FairInbox = class {
  #options;
  #now;
  #io;
  #tokens;
  #refilledAt;
  #queue = [];
  #queuedBytes = 0;
  /** Since when the bucket has not been full (set when a frame first had to wait). */
  #overSince;
  #timer;
  #paused = false;
  #closed = false;
  constructor(options, io, now2 = () => performance.now()) {
    this.#options = options;
    this.#io = io;
    this.#now = now2;
    this.#tokens = options.callBurst;
    this.#refilledAt = now2();
  }
  /** Frames waiting for budget (for tests and metrics). */
  get queued() {
    return this.#queue.length;
  }
  /** A frame read from the socket. */
  push(data, isBinary) {
    if (this.#closed) return;
    const now2 = this.#now();
    this.#refill(now2);
    if (this.#queue.length === 0 && this.#tokens >= 1) {
      this.#tokens--;
      this.#io.deliver(data, isBinary);
      return;
    }
    this.#queue.push({ data, isBinary });
    this.#queuedBytes += data.length;
    this.#overSince ??= now2;
    if (this.#queuedBytes > this.#options.maxQueuedBytes || now2 - this.#overSince > this.#options.overBudgetCloseMs) return this.#close();
    if (!this.#paused) {
      this.#paused = true;
      this.#io.pause();
    }
    this.#schedule();
  }
  /** The connection closed: drops the queue and the timer. */
  dispose() {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = void 0;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
  }
  #refill(now2) {
    const { callsPerSecond, callBurst } = this.#options;
    this.#tokens = Math.min(callBurst, this.#tokens + (now2 - this.#refilledAt) * callsPerSecond / 1e3);
    this.#refilledAt = now2;
    if (this.#tokens >= callBurst) this.#overSince = void 0;
  }
  #schedule() {
    if (this.#timer !== void 0) return;
    const ms = Math.max(1, Math.ceil((1 - this.#tokens) * 1e3 / this.#options.callsPerSecond));
    this.#timer = setTimeout(() => this.#drain(), ms);
    this.#timer.unref?.();
  }
  #drain() {
    this.#timer = void 0;
    if (this.#closed) return;
    const now2 = this.#now();
    this.#refill(now2);
    while (this.#queue.length > 0 && this.#tokens >= 1 && !this.#closed) {
      const frame = this.#queue.shift();
      this.#queuedBytes -= frame.data.length;
      this.#tokens--;
      this.#io.deliver(frame.data, frame.isBinary);
    }
    if (this.#closed) return;
    if (this.#queue.length > 0) return this.#schedule();
    if (this.#overSince !== void 0 && now2 - this.#overSince > this.#options.overBudgetCloseMs) return this.#close();
    this.#paused = false;
    this.#io.resume();
  }
  #close() {
    if (this.#closed) return;
    this.dispose();
    if (this.#paused) this.#io.resume();
    this.#io.close(fail("ERR_OVER_BUDGET"));
  }
};

// server/node/listener.ts
var NodeListener = class {
  #hub;
  #options;
  #http;
  #wss;
  #sessions = /* @__PURE__ */ new Map();
  #alive = /* @__PURE__ */ new WeakSet();
  #heartbeat;
  #prune;
  constructor(hub, options) {
    this.#hub = hub;
    this.#options = options;
    const routes = {
      auth: hub.auth,
      devUsers: options.devUsers,
      devLoginBeyondLoopback: options.devLoginBeyondLoopback,
      http: options.http,
      sessionCount: () => hub.sessionCount,
      address: () => this.address
    };
    this.#http = createServer((req, res) => handleRequest(routes, req, res));
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: hub.limits.maxFrameBytes,
      perMessageDeflate: false,
      handleProtocols: (protocols) => protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false
    });
    this.#http.on("upgrade", (req, socket, head) => void this.#upgrade(req, socket, head));
  }
  /** Starts listening; resolves with the bound address. */
  async listen(port, host) {
    await new Promise((resolve2, reject) => {
      this.#http.once("error", reject);
      this.#http.listen({ port, host, backlog: this.#options.listenBacklog ?? serverDefaults.listenBacklog }, () => {
        this.#http.off("error", reject);
        resolve2();
      });
    });
    this.#heartbeat = setInterval(() => this.#beat(), this.#options.heartbeatMs ?? serverDefaults.heartbeatMs);
    this.#heartbeat.unref();
    this.#prune = setInterval(() => {
      this.#hub.prune().catch((error) => this.#hub.logger.error({ event: "store_error", err: error }));
    }, serverDefaults.revocationPruneMs);
    this.#prune.unref();
    const address = this.address;
    this.#hub.logger.info({ event: "listening", port: address.port, host: address.address });
    if (this.#options.devUsers && !isLoopbackAddress(address.address)) this.#warnDevLogin(address);
    return address;
  }
  #warnDevLogin(address) {
    if (this.#options.devLoginBeyondLoopback) {
      this.#hub.logger.warn({
        event: "dev_login_exposed",
        host: address.address,
        warning: "DEVELOPMENT LOGIN IS ON BEYOND LOOPBACK: it hands out tokens for every development user, admin included, without a password. Never run this in production."
      });
    } else {
      this.#hub.logger.warn({ event: "dev_login_refused", host: address.address, warning: "development login is off: the server listens beyond loopback (force it with devLoginBeyondLoopback)" });
    }
  }
  /** The bound address, or undefined before `listen`. */
  get address() {
    const a = this.#http.address();
    return a !== null && typeof a === "object" ? a : void 0;
  }
  /**
   * Drains: every connection gets a 1001 close frame (all at once, or spread over `closeSpreadMs` in a random
   * order, serving the others meanwhile), and the listener waits (at most `drainMs` after the last) for the
   * close handshakes, so clients see "going away" rather than a dropped socket; then terminates the rest.
   */
  async close() {
    clearInterval(this.#heartbeat);
    clearInterval(this.#prune);
    const closing = this.#http.listening ? new Promise((resolve2) => this.#http.close(() => resolve2())) : Promise.resolve();
    const pending = [...this.#wss.clients].map((ws) => new Promise((resolve2) => ws.readyState === ws.CLOSED ? resolve2() : ws.once("close", () => resolve2())));
    await spreadCloses(this.#hub.sessions(), this.#options.closeSpreadMs ?? serverDefaults.closeSpreadMs);
    let timer;
    const drained = await Promise.race([
      Promise.all(pending).then(() => true),
      new Promise((resolve2) => timer = setTimeout(() => resolve2(false), this.#options.drainMs ?? serverDefaults.drainMs))
    ]);
    clearTimeout(timer);
    if (!drained) for (const ws of this.#wss.clients) ws.terminate();
    this.#http.closeAllConnections();
    await new Promise((resolve2) => this.#wss.close(() => resolve2()));
    await closing;
  }
  async #upgrade(req, socket, head) {
    socket.on("error", () => socket.destroy());
    const logger = this.#hub.logger;
    if (!originAllowed(req, this.#options.origins)) {
      logger.warn({ event: "upgrade_refused", reason: "origin", origin: req.headers.origin });
      return refuseUpgrade(socket, 403, fail("ERR_FORBIDDEN", "origin not allowed"));
    }
    let authenticated;
    try {
      authenticated = await this.#hub.auth.authenticate(bearerToken(req));
    } catch (error) {
      const err = error instanceof CapsyncError ? error : fail("ERR_AUTH_INVALID");
      logger.warn({ event: "upgrade_refused", reason: err.code });
      return refuseUpgrade(socket, 401, err);
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const session = this.#hub.handleConnection(socketTransport(ws), authenticated);
      this.#sessions.set(ws, session);
      this.#alive.add(ws);
      const user = authenticated.user?.id ?? null;
      ws.on("pong", () => this.#alive.add(ws));
      const inbox = new FairInbox(this.#hub.connection, {
        deliver: (data, isBinary) => isBinary ? session.receive(data) : session.receiveText(),
        pause: () => ws.pause(),
        resume: () => ws.resume(),
        close: (error) => {
          logger.warn({ event: "over_budget", session: session.id, user });
          session.end(error);
        }
      });
      ws.on("message", (data, isBinary) => inbox.push(data, isBinary));
      ws.on("close", (code) => {
        inbox.dispose();
        this.#sessions.delete(ws);
        session.dispose();
        logger.info({ event: "disconnected", session: session.id, user, code });
      });
      ws.on("error", () => ws.terminate());
      logger.info({ event: "connected", session: session.id, user, remote: req.socket.remoteAddress });
    });
  }
  /**
   * A peer that answered no ping since the last beat is closed with 4000 (a close frame it may still read),
   * and terminated if its close handshake does not follow within one more interval.
   */
  #beat() {
    for (const ws of this.#wss.clients) {
      if (this.#alive.has(ws)) {
        this.#alive.delete(ws);
        ws.ping();
        continue;
      }
      if (ws.readyState === ws.CLOSING) {
        ws.terminate();
        continue;
      }
      const session = this.#sessions.get(ws);
      if (session) session.end(fail("ERR_HEARTBEAT_TIMEOUT"));
      else ws.terminate();
    }
  }
};
async function spreadCloses(sessions, spreadMs) {
  const order = [...sessions];
  if (spreadMs <= 0 || order.length < 2) {
    for (const session of order) session.end(fail("ERR_SERVER_CLOSING"));
    return;
  }
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  const started = performance.now();
  const step = spreadMs / (order.length - 1);
  for (let next = 0; next < order.length; ) {
    const due = Math.min(order.length, Math.floor((performance.now() - started) / step) + 1);
    for (; next < due; next++) order[next].end(fail("ERR_SERVER_CLOSING"));
    if (next < order.length) await new Promise((resolve2) => setTimeout(resolve2, Math.max(1, Math.min(step, 50))));
  }
}
function socketTransport(ws) {
  return {
    send: (bytes) => ws.send(bytes),
    close: (code, reason) => ws.close(code, reason),
    get bufferedAmount() {
      return ws.bufferedAmount;
    }
  };
}

// server/server.ts
var hubs = /* @__PURE__ */ new WeakMap();
var CapsyncServer = class _CapsyncServer {
  #hub;
  #listener;
  constructor(hub, options) {
    this.#hub = hub;
    hubs.set(this, hub);
    this.#listener = new NodeListener(hub, options);
  }
  /** Creates a server; loads (or generates and stores) the capability keys. */
  static async create(options) {
    return new _CapsyncServer(await Hub.create(options), options);
  }
  /** Live objects: store them and push their changes to every holder of a covering capability. */
  get live() {
    return this.#hub.live;
  }
  /** Verifies session JWTs at the upgrade; `auth.issue(user)` makes one (HS256 secret only). */
  get auth() {
    return this.#hub.auth;
  }
  /** The store this server keeps objects, keys, revocations and delegations in. */
  get store() {
    return this.#hub.store;
  }
  /** The logger this server writes connection events and failed calls to. */
  get logger() {
    return this.#hub.logger;
  }
  /** Registers a server function callable by name. Names are looked up in a null-prototype map. */
  callable(name, fn, options) {
    this.#hub.callable(name, fn, options);
    return this;
  }
  /**
   * Registers server functions declared with {@link serverFunction}, each under its key. `typeof functions`
   * is then the type a client passes to `connect<typeof functions>(...)` for calls checked end to end.
   */
  callables(functions) {
    for (const [name, { fn, args }] of Object.entries(functions)) this.#hub.callable(name, fn, { args });
    return this;
  }
  /**
   * A capability minted with the current key, verified for this server (server code). Every session it is
   * sent to gets it bound to its own user (or anonymous identity); `{ bearer: true }` sends it unbound, usable
   * by whoever holds its bytes.
   *
   * @example
   * ```ts
   * const share = server.mint(['youtube_videos', id], { bearer: true, expiresAt: Date.now() + 3_600_000 });
   * ```
   */
  mint(scope2, options) {
    return this.#hub.mint(scope2, options);
  }
  /** Revokes every capability one session was sent (Anvil's `reset_session`). Returns how many. */
  revokeSession(sessionId) {
    return this.#hub.revokeSession(sessionId);
  }
  /** True when `cap` is a verified capability that still works now (Anvil's `Capability.is_valid`). */
  isValid(cap2) {
    return this.#hub.isValid(cap2);
  }
  /** Revokes a capability and everything narrowed from it, now, everywhere (server code). Returns its revocation id. */
  revoke(cap2) {
    return this.#hub.revoke(cap2);
  }
  /** Revokes every capability the server ever sent to `userId` (Anvil's `invalidate_client_objects`, per user). */
  revokeUser(userId) {
    return this.#hub.revokeUser(userId);
  }
  /** Starts listening. Resolves with the bound address. */
  listen(port = 0, host = "127.0.0.1") {
    return this.#listener.listen(port, host);
  }
  /** The URL clients connect to (after `listen`). */
  get url() {
    const a = this.#listener.address;
    if (a === void 0) return "";
    return `ws://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${a.port}`;
  }
  /** Drains every connection (1001), stops listening, and closes the store. */
  async close() {
    this.#hub.stopAccepting();
    await this.#listener.close();
    await this.#hub.close();
  }
  /** Number of open sessions. */
  get sessionCount() {
    return this.#hub.sessionCount;
  }
};

// server/store/sqlite.ts
import { createRequire } from "node:module";
import { LRUCache as LRUCache3 } from "lru-cache";

// server/store/sqlite-revocations.ts
var SqliteRevocationSet = class extends MemoryRevocationSet {
  #db;
  constructor(db) {
    super();
    this.#db = db;
    for (const row of db.prepare("SELECT id, expires_at FROM revocations").all()) {
      this.entries.set(row.id, row.expires_at);
    }
    for (const row of db.prepare("SELECT user, generation FROM generations").all()) {
      this.generations.set(row.user, row.generation);
    }
  }
  async bumpGeneration(user) {
    const row = this.#db.prepare("INSERT INTO generations (user, generation) VALUES (?, 1) ON CONFLICT (user) DO UPDATE SET generation = generation + 1 RETURNING generation").get(user);
    this.applyGeneration(user, row.generation);
    return row.generation;
  }
  async add(entries) {
    const insert = this.#db.prepare("INSERT OR IGNORE INTO revocations (id, expires_at) VALUES (?, ?)");
    this.#db.transaction(() => {
      for (const e of entries) insert.run(e.id, e.expiresAt);
    })();
    this.apply(entries);
  }
  async prune(now2) {
    this.#db.prepare("DELETE FROM revocations WHERE expires_at IS NOT NULL AND expires_at < ?").run(now2);
    return super.prune(now2);
  }
};

// server/store/sqlite-schema.ts
import { randomUUID as randomUUID2 } from "node:crypto";
var TABLES = `
CREATE TABLE IF NOT EXISTS objects (
  key TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  type TEXT NOT NULL,
  state BLOB,
  version INTEGER NOT NULL,
  created INTEGER NOT NULL,
  seq INTEGER NOT NULL DEFAULT 0,
  changed_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS objects_type ON objects (type, created);
CREATE TABLE IF NOT EXISTS revocations (id TEXT PRIMARY KEY, expires_at INTEGER);
CREATE TABLE IF NOT EXISTS issued (user TEXT NOT NULL, id TEXT NOT NULL, expires_at INTEGER, PRIMARY KEY (user, id));
-- One row per user ever revoked with revokeUser: capabilities bound to them carry the generation they were bound at.
CREATE TABLE IF NOT EXISTS generations (user TEXT PRIMARY KEY, generation INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS delegations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  from_user TEXT NOT NULL, to_user TEXT NOT NULL, scope TEXT NOT NULL,
  revocation_id TEXT NOT NULL, bound INTEGER NOT NULL, at INTEGER NOT NULL,
  token BLOB NOT NULL DEFAULT x'', expires_at INTEGER
);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
  principal TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL, outcome BLOB, expires_at INTEGER NOT NULL,
  PRIMARY KEY (principal, key)
);
CREATE INDEX IF NOT EXISTS calls_expiry ON calls (expires_at);
-- One row: the latest seq and the horizon. Not MAX(objects.seq): pruning may delete the row that held it,
-- and a seq must never be handed out twice.
CREATE TABLE IF NOT EXISTS sequence (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, horizon INTEGER NOT NULL);
`;
var INDEXES = `
CREATE UNIQUE INDEX IF NOT EXISTS objects_seq ON objects (seq);
CREATE INDEX IF NOT EXISTS objects_tombstones ON objects (changed_at) WHERE state IS NULL;
CREATE INDEX IF NOT EXISTS delegations_to ON delegations (to_user);
CREATE INDEX IF NOT EXISTS issued_expiry ON issued (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS delegations_expiry ON delegations (expires_at) WHERE expires_at IS NOT NULL;
`;
var EPOCH_SETTING = "store.epoch";
function migrate(db, now2) {
  db.transaction(() => {
    db.exec(TABLES);
    if (!hasColumn(db, "objects", "seq")) {
      db.exec("ALTER TABLE objects ADD COLUMN seq INTEGER NOT NULL DEFAULT 0");
      db.exec("ALTER TABLE objects ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0");
      db.prepare(
        `UPDATE objects SET seq = ordered.n, changed_at = @now
         FROM (SELECT key, row_number() OVER (ORDER BY created, key) AS n FROM objects) AS ordered
         WHERE ordered.key = objects.key`
      ).run({ now: now2 });
    }
    if (!hasColumn(db, "delegations", "token")) {
      db.exec("ALTER TABLE delegations ADD COLUMN token BLOB NOT NULL DEFAULT x''");
      db.exec("ALTER TABLE delegations ADD COLUMN expires_at INTEGER");
    }
    db.exec("INSERT OR IGNORE INTO sequence (id, seq, horizon) SELECT 1, COALESCE(MAX(seq), 0), 0 FROM objects");
    db.exec(INDEXES);
    db.prepare("INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)").run(EPOCH_SETTING, randomUUID2());
  })();
}
function hasColumn(db, table, column) {
  return db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table).some((c) => c.name === column);
}

// server/store/sqlite.ts
function loadBetterSqlite3(require2 = createRequire(import.meta.url)) {
  try {
    return require2("better-sqlite3");
  } catch (cause) {
    const error = fail("ERR_STORE_UNAVAILABLE", "SqliteStore needs the optional dependency better-sqlite3 (npm install better-sqlite3)");
    error.cause = cause;
    throw error;
  }
}
var COLUMNS = "address, type, state, version, seq";
var SqliteStore = class {
  revocations;
  #db;
  #clock;
  #epoch;
  #created = 0;
  #get;
  /** Statements compiled once each: better-sqlite3's prepare parses and plans the SQL on every call. */
  #statements = /* @__PURE__ */ new Map();
  #put;
  #update;
  #delete;
  /**
   * Pages of {@link changes} by `since`, `limit` and the head (seq, horizon) they were read at: rows below an
   * unchanged head cannot change, and a herd of clients resuming after a restart asks for the same page
   * thousands of times. Bounded by the bytes of the states it keeps.
   */
  #pages = new LRUCache3({
    maxSize: 16 * 2 ** 20,
    sizeCalculation: (rows) => rows.reduce((n, r) => n + 64 + (r.state?.length ?? 0), 1)
  });
  #readPage;
  constructor(filename = ":memory:", options = {}) {
    const Sqlite = loadBetterSqlite3();
    this.#clock = options.clock ?? Date;
    const db = this.#db = new Sqlite(filename);
    db.pragma("journal_mode = WAL");
    db.pragma(options.durability === "normal" ? "synchronous = NORMAL" : "synchronous = FULL");
    migrate(db, this.#clock.now());
    this.revocations = new SqliteRevocationSet(db);
    this.#epoch = db.prepare("SELECT value FROM settings WHERE name = ?").get(EPOCH_SETTING).value;
    this.#get = db.prepare(`SELECT ${COLUMNS} FROM objects WHERE key = ?`);
    const next = db.prepare("UPDATE sequence SET seq = seq + 1 WHERE id = 1 RETURNING seq");
    const upsert = db.prepare(
      `INSERT INTO objects (key, address, type, state, version, created, seq, changed_at)
       VALUES (@key, @address, @type, @state, 1, @created, @seq, @now)
       ON CONFLICT (key) DO UPDATE SET type = excluded.type, state = excluded.state, version = objects.version + 1,
         seq = excluded.seq, changed_at = excluded.changed_at
       RETURNING version, seq`
    );
    const write = (row) => upsert.get({ ...row, seq: next.get().seq });
    this.#put = db.transaction((row, ifVersion) => {
      if (ifVersion !== void 0) {
        const found = this.#get.get(row.key);
        const current = found === void 0 || found.state === null ? 0 : found.version;
        if (current !== ifVersion) throw new VersionConflictError(current, ifVersion);
      }
      return write(row);
    }).immediate;
    this.#update = db.transaction((address, mutate) => {
      const found = this.#get.get(canonicalKey(address));
      const next2 = mutate(found && found.state !== null ? toObject2(found) : void 0);
      return next2 && write(this.#row(address, next2.type, next2.state));
    }).immediate;
    const tombstone = db.prepare(
      `UPDATE objects SET state = NULL, version = version + 1, seq = (SELECT seq + 1 FROM sequence WHERE id = 1), changed_at = @now
       WHERE key = @key AND state IS NOT NULL RETURNING version, seq`
    );
    const advance = db.prepare("UPDATE sequence SET seq = ? WHERE id = 1");
    this.#delete = db.transaction((key) => {
      const written = tombstone.get({ key, now: this.#clock.now() });
      if (written !== void 0) advance.run(written.seq);
      return written;
    });
    this.#readPage = db.transaction((since, limit) => {
      const { seq, horizon } = this.#sequence();
      const head = `${since}:${limit}:${seq}:${horizon}`;
      if (this.#pages.has(head)) return { head, rows: [] };
      return { head, rows: this.#sql(`SELECT ${COLUMNS} FROM objects WHERE seq > ? ORDER BY seq LIMIT ?`).all(since, limit) };
    });
  }
  async get(address) {
    const row = this.#get.get(canonicalKey(address));
    return row && row.state !== null ? toObject2(row) : void 0;
  }
  async list(type) {
    const rows = this.#sql(`SELECT ${COLUMNS} FROM objects WHERE type = ? AND state IS NOT NULL ORDER BY created, key`).all(type);
    return rows.map(toObject2);
  }
  async put(address, type, state, condition) {
    return this.#put(this.#row(address, type, state), condition?.ifVersion);
  }
  async update(address, mutate) {
    return this.#update(address, mutate);
  }
  #row(address, type, state) {
    return {
      key: canonicalKey(address),
      address: JSON.stringify(address),
      type,
      state: asBuffer(state),
      // Microseconds and a counter: puts within one millisecond still list in the order they came.
      created: Date.now() * 1e3 + this.#created++ % 1e3,
      now: this.#clock.now()
    };
  }
  async delete(address) {
    return this.#delete(canonicalKey(address));
  }
  async epoch() {
    return this.#epoch;
  }
  async seq() {
    return this.#sequence().seq;
  }
  async horizon() {
    return this.#sequence().horizon;
  }
  #sequence() {
    return this.#sql("SELECT seq, horizon FROM sequence WHERE id = 1").get();
  }
  async changes(since, limit) {
    const { head, rows } = this.#readPage(since, limit);
    const cached = this.#pages.get(head);
    if (cached !== void 0) return cached;
    const page = Object.freeze(rows.map((r) => Object.freeze({ address: JSON.parse(r.address), type: r.type, version: r.version, seq: r.seq, state: r.state })));
    this.#pages.set(head, page);
    return page;
  }
  async listUnder(prefix, limit) {
    const keys = prefixKeys2(prefix);
    const rows = this.#sql(
      `SELECT ${COLUMNS} FROM objects WHERE state IS NOT NULL
         AND (@all OR key = @whole OR (key >= @open AND key < @openEnd)) ORDER BY created, key LIMIT @limit`
    ).all({ all: keys === null ? 1 : 0, whole: keys?.whole ?? "", open: keys?.open ?? "", openEnd: keys?.openEnd ?? "", limit });
    return rows.map(toObject2);
  }
  async pruneTombstones(before) {
    return this.#db.transaction(() => {
      const { highest } = this.#sql("SELECT MAX(seq) AS highest FROM objects WHERE state IS NULL AND changed_at < ?").get(before);
      if (highest === null) return 0;
      this.#sql("UPDATE sequence SET horizon = MAX(horizon, ?) WHERE id = 1").run(highest);
      return this.#sql("DELETE FROM objects WHERE state IS NULL AND changed_at < ?").run(before).changes;
    })();
  }
  #sql(text) {
    let statement = this.#statements.get(text);
    if (statement === void 0) this.#statements.set(text, statement = this.#db.prepare(text));
    return statement;
  }
  async claimCall(principal, key, owner, expiresAt) {
    return this.#db.transaction(() => {
      const inserted = this.#sql("INSERT INTO calls (principal, key, owner, outcome, expires_at) VALUES (?, ?, ?, NULL, ?) ON CONFLICT DO NOTHING").run(principal, key, owner, expiresAt);
      if (inserted.changes === 1) return void 0;
      const row = this.#sql("SELECT owner, outcome, expires_at FROM calls WHERE principal = ? AND key = ?").get(principal, key);
      return { owner: row.owner, outcome: row.outcome, expiresAt: row.expires_at };
    })();
  }
  async finishCall(principal, key, outcome) {
    this.#sql("UPDATE calls SET outcome = ? WHERE principal = ? AND key = ?").run(asBuffer(outcome), principal, key);
  }
  async pruneCalls(now2) {
    return this.#sql("DELETE FROM calls WHERE expires_at < ?").run(now2).changes;
  }
  async recordIssued(user, entries) {
    const insert = this.#sql("INSERT OR IGNORE INTO issued (user, id, expires_at) VALUES (?, ?, ?)");
    this.#db.transaction(() => {
      for (const e of entries) insert.run(user, e.id, e.expiresAt);
    })();
  }
  async issuedTo(user, now2) {
    const rows = this.#db.prepare("SELECT id, expires_at FROM issued WHERE user = ? AND (expires_at IS NULL OR expires_at >= ?)").all(user, now2);
    return rows.map((r) => ({ id: r.id, expiresAt: r.expires_at }));
  }
  /** The durability in force, read back from SQLite (`PRAGMA synchronous`): what an operator can check. */
  get durability() {
    const level = this.#db.pragma("synchronous", { simple: true });
    return level === 2 ? "full" : level === 1 ? "normal" : "other";
  }
  async pruneIssued(now2) {
    return this.#sql("DELETE FROM issued WHERE expires_at IS NOT NULL AND expires_at < ?").run(now2).changes;
  }
  async recordDelegation(r) {
    this.#db.prepare("INSERT INTO delegations (from_user, to_user, scope, revocation_id, bound, at, token, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)").run(r.from, r.to, JSON.stringify(r.scope), r.revocationId, r.bound ? 1 : 0, r.at, asBuffer(r.token), r.expiresAt);
  }
  async delegations(filter) {
    const rows = this.#sql(
      `SELECT * FROM delegations WHERE (@from IS NULL OR from_user = @from) AND (@to IS NULL OR to_user = @to)
         AND (@now IS NULL OR expires_at IS NULL OR expires_at >= @now) ORDER BY seq`
    ).all({ from: filter.from ?? null, to: filter.to ?? null, now: filter.now ?? null });
    return rows.map((r) => ({
      from: r.from_user,
      to: r.to_user,
      scope: JSON.parse(r.scope),
      revocationId: r.revocation_id,
      bound: r.bound === 1,
      at: r.at,
      token: r.token,
      expiresAt: r.expires_at
    }));
  }
  async pruneDelegations(now2) {
    return this.#sql("DELETE FROM delegations WHERE expires_at IS NOT NULL AND expires_at < ?").run(now2).changes;
  }
  async getSetting(name) {
    return this.#sql("SELECT value FROM settings WHERE name = ?").get(name)?.value;
  }
  async setSetting(name, value) {
    this.#sql("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value").run(name, value);
  }
  async close() {
    if (this.#db.open) this.#db.close();
  }
};
function asBuffer(bytes) {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
function toObject2(row) {
  return { address: JSON.parse(row.address), type: row.type, state: row.state, version: row.version, seq: row.seq };
}

// bench/peers/clock.ts
function now() {
  return Number(process.hrtime.bigint()) / 1e6;
}

// bench/peers/ipc.ts
var inProcess = process.env["CAPSYNC_BENCH_INPROC"] === "1";
function serveRequests(handlers) {
  if (process.send === void 0) throw new Error("this script is started by the benchmark runner (child_process.fork)");
  process.on("disconnect", () => process.exit(0));
  process.on("message", (message) => {
    if (message.command === "exit") {
      process.send({ id: message.id, ok: true, value: null }, () => process.exit(0));
      return;
    }
    const handler = Object.prototype.hasOwnProperty.call(handlers, message.command) ? handlers[message.command] : void 0;
    void (async () => {
      try {
        if (handler === void 0) throw new Error(`unknown command ${message.command}`);
        const value = await handler(message.args);
        process.send({ id: message.id, ok: true, value });
      } catch (error) {
        process.send({ id: message.id, ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
      }
    })();
  });
}
function announceReady(value) {
  process.send({ event: "ready", value });
}

// bench/resume/item.ts
var Card = class {
  folder;
  id;
  title;
  body;
  rev;
  constructor(fields) {
    this.folder = fields.folder;
    this.id = fields.id;
    this.title = fields.title;
    this.body = fields.body;
    this.rev = fields.rev;
  }
};
registerPortable(Card, { name: "ResumeBenchCard", address: (card) => ["rs", card.folder, card.id] });
var FOLDERS = 100;
var CARDS_PER_FOLDER = 10;
var folderName = (prefix, index) => `${prefix}${String(index).padStart(3, "0")}`;
function seedCard(folder, index) {
  return new Card({ folder, id: `c${index}`, title: `Card ${index} of ${folder}`, body: "x".repeat(240), rev: 0 });
}

// bench/resume/server.ts
var { values } = parseArgs({
  options: {
    mode: { type: "string" },
    data: { type: "string" },
    port: { type: "string", default: "0" },
    groups: { type: "string", default: "100" },
    churn: { type: "string" }
  }
});
var secret = process.env["CAPSYNC_BENCH_SECRET"];
var keyJson = process.env["CAPSYNC_BENCH_CAPABILITY_KEY"];
if (secret === void 0 || keyJson === void 0 || values.data === void 0) throw new Error("started by bench/resume/run.ts");
var capabilityKeys = [JSON.parse(keyJson)];
var HEARTBEAT_MS = 6e5;
var startedAt = now();
var Cards = class {
  constructor(server) {
    this.server = server;
  }
  server;
  byFolder = /* @__PURE__ */ new Map();
  async seed(prefix, folders) {
    for (let f = 0; f < folders; f++) {
      const folder = folderName(prefix, f);
      const cards = Array.from({ length: CARDS_PER_FOLDER }, (_, i) => seedCard(folder, i));
      for (const card of cards) await this.server.live.put(card);
      this.byFolder.set(folder, cards);
    }
  }
  async load() {
    for (const card of await this.server.live.list(Card)) {
      const list = this.byFolder.get(card.folder) ?? [];
      list.push(card);
      this.byFolder.set(card.folder, list);
    }
    for (const list of this.byFolder.values()) list.sort((a, b) => Number(a.id.slice(1)) - Number(b.id.slice(1)));
  }
  /** Puts card `index` of `folder` again with a new rev; returns its address and new version. */
  async change(folder, index) {
    const card = this.byFolder.get(folder)[index];
    card.rev++;
    const version = await this.server.live.put(card);
    return { address: ["rs", folder, card.id], version };
  }
  holdings(folders) {
    return { caps: folders.map((f) => this.server.mint(["rs", f])), cards: folders.flatMap((f) => this.byFolder.get(f) ?? []) };
  }
};
async function makeServer(store) {
  const server = await CapsyncServer.create({ auth: { secret }, store, capabilityKeys, heartbeatMs: HEARTBEAT_MS });
  const cards = new Cards(server);
  const mine = Array.from({ length: FOLDERS }, (_, f) => folderName("f", f));
  server.callable("open_folders", () => cards.holdings(mine));
  server.callable("join_group", (_ctx, group) => cards.holdings([folderName("g", Number(group))]));
  return { server, cards };
}
var timeline = [];
var cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
setInterval(() => timeline.push([now(), cpuNow()]), 100).unref();
if (values.mode === "latency") {
  const a = await makeServer(new SqliteStore(join(values.data, "capsync.sqlite")));
  const b = await makeServer(new MemoryStore());
  for (const { cards } of [a, b]) {
    await cards.seed("f", FOLDERS);
    await cards.seed("n", FOLDERS);
  }
  const floor = new WebSocketServer2({ port: 0, host: "127.0.0.1", perMessageDeflate: false });
  floor.on("connection", (socket) => {
    socket.on("message", (data) => {
      const frame = data;
      const count = frame.readUInt32LE(0);
      for (let i = 0; i < count; i++) socket.send(Buffer.alloc(frame.readUInt32LE(4 + 4 * i), 7));
    });
  });
  await new Promise((resolve2) => floor.once("listening", resolve2));
  let rep = 0;
  serveRequests({
    /** `count` cards of the measured client change, one in each of `count` folders, and `noise` cards of others. */
    change: async ({ count, noise }) => {
      const changed = [];
      for (let k = 0; k < count; k++) changed.push(await a.cards.change(folderName("f", (rep * count + k) % FOLDERS), rep % CARDS_PER_FOLDER));
      for (let k = 0; k < noise; k++) await a.cards.change(folderName("n", (rep * noise + k) % FOLDERS), (rep + k) % CARDS_PER_FOLDER);
      rep++;
      return changed;
    },
    sessions: () => a.server.sessionCount + b.server.sessionCount
  });
  const port = (s) => new URL(s.url).port;
  await Promise.all([a.server.listen(0, "127.0.0.1"), b.server.listen(0, "127.0.0.1")]);
  announceReady({ a: `ws://127.0.0.1:${port(a.server)}`, b: `ws://127.0.0.1:${port(b.server)}`, floor: `ws://127.0.0.1:${floor.address().port}` });
} else if (values.mode === "herd") {
  const { server, cards } = await makeServer(new SqliteStore(join(values.data, "capsync.sqlite")));
  const groups = Number(values.groups);
  await cards.load();
  if (cards.byFolder.size === 0) await cards.seed("g", groups);
  if (values.churn !== void 0) {
    for (let g = 0; g < groups; g++) await cards.change(folderName("g", g), Number(values.churn) % CARDS_PER_FOLDER);
  }
  serveRequests({
    sessions: () => server.sessionCount,
    /** `[folder, [version of card 0, 1, ...]]` of every group: what each client must have once resumed. */
    versions: () => [...cards.byFolder].map(([folder, list]) => [folder, list.map((c) => c.version ?? 0)]),
    timeline: () => timeline
  });
  const { port } = await server.listen(Number(values.port), "127.0.0.1");
  announceReady({ url: `ws://127.0.0.1:${port}`, startedAt, readyAt: now(), startupCpuSeconds: cpuNow() });
} else {
  throw new Error(`unknown --mode ${values.mode}`);
}
