// bench/resume/load.ts
import WebSocket3 from "ws";

// server/auth.ts
import { createHash } from "node:crypto";
import { SignJWT, createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify } from "jose";
import { LRUCache } from "lru-cache";

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
function closeCodeClass(code) {
  return closeCodeClasses[code] ?? "retryable";
}
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
function isErrorCode(code) {
  return typeof code === "string" && Object.prototype.hasOwnProperty.call(definitions, code);
}
function fail(code, message) {
  return new CapsyncError(code, message);
}

// server/auth-hs256.ts
import { createHmac, timingSafeEqual } from "node:crypto";
var SEGMENT = /^[A-Za-z0-9_-]*={0,2}$/;
function verifyHs256(token2, secret2, checks, now2 = Date.now()) {
  const parts = token2.split(".");
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
    this.#verified = size > 0 ? new LRUCache({ max: size }) : void 0;
  }
  /** Authenticates a bearer token (or its absence). Throws `ERR_AUTH_REQUIRED`, `ERR_AUTH_INVALID` or `ERR_AUTH_EXPIRED`. */
  async authenticate(token2) {
    if (token2 === void 0 || token2 === "") {
      if (this.allowAnonymous) return { user: null, expiresAt: null };
      throw fail("ERR_AUTH_REQUIRED");
    }
    if (this.#verified === void 0) return this.#verify(token2);
    const hash = createHash("sha256").update(token2).digest("base64url");
    const cached = this.#verified.get(hash);
    if (cached !== void 0) {
      if (cached.expiresAt === null || Date.now() < cached.expiresAt + this.#toleranceMs) return cached;
      this.#verified.delete(hash);
      throw fail("ERR_AUTH_EXPIRED");
    }
    const verified = await this.#verify(token2);
    this.#verified.set(hash, verified);
    return verified;
  }
  get #toleranceMs() {
    return (this.#options.clockToleranceSeconds ?? 5) * 1e3;
  }
  async #verify(token2) {
    const verifyOptions = {
      issuer: this.#options.issuer,
      audience: this.#options.audience,
      clockTolerance: this.#options.clockToleranceSeconds ?? 5
    };
    let payload;
    try {
      if (this.#secret) payload = verifyHs256(token2, this.#secret, verifyOptions);
      else if (this.#keys) ({ payload } = await jwtVerify(token2, this.#keys, verifyOptions));
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
      for (const key2 of Object.keys(value)) {
        if (key2 === "__proto__" || LONE_SURROGATE.test(key2) || !isJson(value[key2], depth - 1)) return false;
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
function keyStateInto(key2, into) {
  const k = key2.length > 64 ? sha256(key2) : key2;
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
function hmacKeyState(key2) {
  return keyStateInto(key2, new Int32Array(16));
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
function hmacSha256(key2, message) {
  const tag = hmacWithState(keyStateInto(key2, oneShotState), message);
  oneShotState.fill(0);
  return tag;
}

// protocol/crypto.ts
function constantTimeEqual(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
function precomputedHmac(key2) {
  const state = hmacKeyState(key2);
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
      const values = mapContainer ? containerLen * 2 : containerLen;
      need(pos, values, end);
      if (state.elements + values > limits.maxElements) throw fail("ERR_LIMIT_ELEMENTS");
      if (values > 0) {
        if (baseDepth + stackTop - base > limits.maxDepth) throw fail("ERR_LIMIT_DEPTH");
        remaining[stackTop] = values;
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
  const token2 = new Uint8Array(bytes);
  return parseBlocks(token2, decodeToken(token2, limits), limits);
}
function parseBlocks(token2, parts, limits) {
  const { decoded, scope: scope2 } = decodeBlocks(parts.blocks, limits);
  return { kid: parts.kid, blocks: parts.blocks, tag: parts.tag, token: token2, decoded, scope: scope2 };
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
function link(crypto, previous, blockBytes) {
  return crypto.hmacSha256(previous, blockBytes);
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
function revocationId(tag, crypto = nobleCrypto) {
  return base64url.encode(crypto.sha256(tag).subarray(0, 16));
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
function deepFreeze(value) {
  if (typeof value !== "object" || value === null || Object.isFrozen(value) || ArrayBuffer.isView(value)) return value;
  Object.freeze(value);
  if (Array.isArray(value)) for (let i = 0; i < value.length; i++) deepFreeze(value[i]);
  else for (const key2 in value) deepFreeze(value[key2]);
  return value;
}
function structuredCopy(values) {
  return values.map((v) => v !== null && typeof v === "object" ? JSON.parse(JSON.stringify(v)) : v);
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

// protocol/codec.ts
import { Packr as Packr2, Unpackr as Unpackr2 } from "msgpackr";

// protocol/handles.ts
var MAX_HANDLES = 1024;
var OutboundHandles = class {
  #handles = /* @__PURE__ */ new WeakMap();
  #next = 0;
  /** The handle already bound for `cap`; or a new one to bind now (`bind: true`); or undefined: send it whole. */
  handleFor(cap2) {
    const known = this.#handles.get(cap2);
    if (known !== void 0) return { handle: known, bind: false };
    const chain = cap2[chainOf];
    if (chain === void 0 || chain.tag.length === 0 || this.#next >= MAX_HANDLES) return void 0;
    const handle = this.#next++;
    this.#handles.set(cap2, handle);
    return { handle, bind: true };
  }
  /** Forgets bindings made while encoding a frame that was then not sent (they must be the latest ones). */
  rollback(caps) {
    for (let i = caps.length - 1; i >= 0; i--) {
      const cap2 = caps[i];
      if (this.#handles.get(cap2) === this.#next - 1) this.#handles.delete(cap2), this.#next--;
    }
  }
};
function writeHandle(allocate, handle) {
  const { target, position } = allocate(6);
  target[position] = 214;
  target[position + 1] = ExtensionType.capabilityHandle;
  writeU32(target, position + 2, handle);
  return void 0;
}
function writeBinding(allocate, handle, token2) {
  const length = 4 + token2.length;
  const header = length < 256 ? 3 : length < 65536 ? 4 : 6;
  const { target, position } = allocate(header + length);
  let at = position;
  if (header === 3) target[at++] = 199, target[at++] = length;
  else if (header === 4) target[at++] = 200, target[at++] = length >> 8, target[at++] = length & 255;
  else target[at++] = 201, writeU32(target, at, length), at += 4;
  target[at++] = ExtensionType.capabilityBind;
  writeU32(target, at, handle);
  target.set(token2, at + 4);
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
function withRun(run, body) {
  const previous = active;
  active = run;
  try {
    return body();
  } finally {
    active = previous;
  }
}
function encodingBy(packr2) {
  const run = active;
  if (run === null || run.decoding || run.packr !== packr2) {
    throw fail("ERR_NOT_ENCODABLE", "capsync capabilities and portable objects are only encoded by a capsync Codec");
  }
  return run;
}
function noteExtension(type, payload) {
  const run = active;
  if (run === null || !run.decoding) throw fail("ERR_EXTENSION_UNKNOWN", "capsync extensions are only decoded by a capsync Codec");
  return run.noteExtension(type, payload);
}
addExtension({
  Class: Capability,
  type: ExtensionType.capability,
  pack(cap2, allocate) {
    return encodingBy(this).packCapability(cap2, allocate);
  },
  unpack: (token2) => noteExtension(ExtensionType.capability, token2)
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
    for (const key2 of Object.keys(fields)) {
      if (key2 in proto) throw fail("ERR_PORTABLE_INVALID", `field ${JSON.stringify(key2).slice(0, 64)} shadows the class`);
      Object.defineProperty(object2, key2, { value: fields[key2], writable: true, enumerable: true, configurable: true });
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
function resolve(value, run) {
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Pending) {
    run.pending--;
    switch (value.type) {
      case ExtensionType.capability:
        return resolveCapability(value.bytes, run);
      case ExtensionType.portable:
        return resolvePortable(value.bytes, run);
      default:
        return resolveHandle(value.type, value.bytes, run);
    }
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length && run.pending > 0; i++) {
      const item = value[i];
      if (item !== null && typeof item === "object") value[i] = resolve(item, run);
    }
    return value;
  }
  if (value instanceof Uint8Array) return value;
  const map = value;
  for (const key2 of Object.keys(map)) {
    if (run.pending === 0) break;
    const item = map[key2];
    if (item !== null && typeof item === "object") map[key2] = resolve(item, run);
  }
  return map;
}
function resolveCapability(token2, run) {
  const { verifier, user } = run.context;
  const cap2 = verifier ? verifier.decode(token2, user ?? null) : decodeCapability(token2, run.codec.suite);
  run.capabilities.push(cap2);
  return cap2;
}
function resolveHandle(type, payload, run) {
  const handles = run.context.inboundHandles;
  if (handles === void 0) throw fail("ERR_EXTENSION_UNKNOWN", "capability handles are not accepted here");
  const handle = readHandle(payload);
  if (type === ExtensionType.capabilityHandle) {
    const { verifier, user } = run.context;
    const bound = handles.lookup(handle);
    const cap3 = verifier ? verifier.readmit(bound, user ?? null) : bound;
    run.capabilities.push(cap3);
    return cap3;
  }
  const cap2 = resolveCapability(payload.subarray(4), run);
  handles.bind(handle, cap2);
  return cap2;
}
function resolvePortable(payload, run) {
  const value = run.codec.unpackr.unpack(payload);
  if (!Array.isArray(value) || value.length !== 2) throw fail("ERR_PORTABLE_INVALID");
  const [name, fields] = value;
  if (fields === null || typeof fields !== "object" || Array.isArray(fields) || fields instanceof Pending || fields instanceof Uint8Array) {
    throw fail("ERR_PORTABLE_INVALID");
  }
  const object2 = run.codec.portables.revive(name, resolve(fields, run));
  run.portables.push(object2);
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
    const run = new Run(this, context, false);
    let bytes;
    try {
      bytes = withRun(run, () => this.packr.pack(value));
    } catch (error) {
      context.outboundHandles?.rollback(run.bound);
      throw error instanceof CapsyncError ? error : fail("ERR_NOT_ENCODABLE");
    }
    if (options.check) {
      try {
        scanFrame(bytes, this.limits);
      } catch (error) {
        context.outboundHandles?.rollback(run.bound);
        throw fail("ERR_NOT_ENCODABLE", `value cannot be sent: ${error.code}`);
      }
    }
    if (context.onCapability) for (const cap2 of run.capabilities) context.onCapability(cap2);
    return bytes;
  }
  /** Decodes bytes from a peer: scans limits first, then builds the value. Throws a {@link CapsyncError}. */
  decode(bytes, context = {}) {
    scanFrame(bytes, this.limits);
    const run = new Run(this, context, true);
    let value;
    try {
      value = withRun(run, () => {
        const decoded = this.unpackr.unpack(bytes);
        return run.pending > 0 ? resolve(decoded, run) : decoded;
      });
    } catch (error) {
      throw error instanceof CapsyncError ? error : fail("ERR_FRAME_MALFORMED");
    }
    if (context.onCapability) for (const cap2 of run.capabilities) context.onCapability(cap2);
    if (context.onPortable) for (const object2 of run.portables) context.onPortable(object2);
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
function peekAnswerId(bytes) {
  if ((bytes[0] & 240) !== 144 || bytes[1] !== FrameType.result && bytes[1] !== FrameType.error) return null;
  const t = bytes[2];
  if (t === void 0) return null;
  if (t <= 127) return t;
  if (t === 204 && bytes.length > 3) return bytes[3];
  if (t === 205 && bytes.length > 4) return bytes[3] << 8 | bytes[4];
  if (t === 206 && bytes.length > 6) return (bytes[3] << 24 | bytes[4] << 16 | bytes[5] << 8 | bytes[6]) >>> 0;
  return null;
}

// protocol/attach.ts
var callers = /* @__PURE__ */ new WeakMap();
function attach(object2, caller) {
  callers.set(object2, caller);
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
var folderName = (prefix, index) => `${prefix}${String(index).padStart(3, "0")}`;

// bench/resume/socket.ts
import WebSocket2 from "ws";

// client/index.ts
import WebSocket from "ws";

// client/client.ts
import { Subject as Subject5 } from "rxjs";

// client/collections.ts
import { Observable, Subject } from "rxjs";
var Collection = class {
  key;
  cap;
  type;
  /** Members by address key, in the order they entered: the instances the app gets (held strongly while watched). */
  members = /* @__PURE__ */ new Map();
  /** While a snapshot is coming: the members it lists so far (a re-watch replaces the list with it once answered). */
  incoming;
  watchId;
  answered = false;
  updates = new Subject();
  subscribers = 0;
  constructor(key2, cap2, type) {
    this.key = key2;
    this.cap = cap2;
    this.type = type;
  }
  list() {
    return [...this.members.values()];
  }
  emit() {
    if (this.answered) this.updates.next(this.list());
  }
};
var Collections = class {
  #registry;
  #request;
  #byKey = /* @__PURE__ */ new Map();
  #byWatch = /* @__PURE__ */ new Map();
  #closed;
  constructor(registry, request) {
    this.#registry = registry;
    this.#request = request;
  }
  observe(cap2, options = {}) {
    return new Observable((subscriber) => {
      if (this.#closed !== void 0) {
        if (this.#closed === true) subscriber.complete();
        else subscriber.error(this.#closed);
        return;
      }
      let type;
      if (options.type !== void 0) {
        type = portableOfClass(options.type)?.name;
        if (type === void 0) return subscriber.error(fail("ERR_PORTABLE_UNKNOWN"));
      }
      const key2 = `${canonicalKey(cap2.scope)}\0${type ?? ""}`;
      let collection = this.#byKey.get(key2);
      const fresh = collection === void 0;
      if (collection === void 0) this.#byKey.set(key2, collection = new Collection(key2, cap2, type));
      const shared = collection;
      shared.subscribers++;
      const subscription = shared.updates.subscribe({
        next: (list) => subscriber.next(list),
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete()
      });
      if (fresh) this.#watch(shared);
      else if (shared.answered) subscriber.next(shared.list());
      return () => {
        subscription.unsubscribe();
        if (--shared.subscribers > 0 || this.#byKey.get(key2) !== shared) return;
        this.#forget(shared);
        this.#request(shared.cap, { ...shared.type !== void 0 ? { type: shared.type } : {}, stop: true }, () => void 0).catch(() => void 0);
      };
    });
  }
  /** A `snapshot` frame: one page of a collection's members. */
  snapshot(watchId, entries) {
    const collection = this.#byWatch.get(watchId);
    if (collection === void 0) return;
    const into = collection.incoming ?? collection.members;
    for (const entry of entries) this.#admit(into, entry);
  }
  /** A `collectionChange` frame. */
  change(watchId, kind, payload) {
    const collection = this.#byWatch.get(watchId);
    if (collection === void 0) return;
    if (kind === "end") {
      this.#forget(collection);
      collection.updates.error(new CapsyncError(isErrorCode(payload) ? payload : "ERR_FUNCTION_FAILED"));
      return;
    }
    const into = collection.incoming ?? collection.members;
    if (kind === "add") this.#admit(into, payload);
    else if (Array.isArray(payload)) into.delete(canonicalKey(payload));
    if (collection.incoming === void 0) collection.emit();
  }
  /** A push was applied (or was a deletion): a member's change re-emits its lists. */
  pushed(address, deleted) {
    const key2 = canonicalKey(address);
    for (const collection of this.#byKey.values()) {
      if (!collection.members.has(key2)) continue;
      if (deleted) collection.members.delete(key2);
      collection.emit();
    }
  }
  /** The session came back on a new connection: watch every answered collection again. */
  reconnected() {
    for (const collection of this.#byKey.values()) if (collection.answered) this.#watch(collection);
  }
  /** The client closed (error undefined) or ended otherwise: every collection completes or errors. */
  close(error) {
    this.#closed = error ?? true;
    for (const collection of [...this.#byKey.values()]) {
      this.#forget(collection);
      if (error === void 0) collection.updates.complete();
      else collection.updates.error(error);
    }
  }
  #watch(collection) {
    collection.incoming = /* @__PURE__ */ new Map();
    const options = collection.type !== void 0 ? { type: collection.type } : {};
    let watchId;
    const current = () => this.#byKey.get(collection.key) === collection && collection.watchId === watchId;
    this.#request(collection.cap, options, (id2) => {
      if (collection.watchId !== void 0) this.#byWatch.delete(collection.watchId);
      collection.watchId = watchId = id2;
      this.#byWatch.set(id2, collection);
    }).then(
      () => {
        if (!current() || collection.incoming === void 0) return;
        collection.members = collection.incoming;
        collection.incoming = void 0;
        collection.answered = true;
        collection.emit();
      },
      (error) => {
        if (!current()) return;
        this.#forget(collection);
        collection.updates.error(error instanceof CapsyncError ? error : fail("ERR_FUNCTION_FAILED"));
      }
    );
  }
  /** Takes an entry as a member: the instance already known at its address if there is one, with a capability. */
  #admit(into, entry) {
    if (typeof entry !== "object" || entry === null) return;
    const address = addressOf(entry);
    if (address === void 0) return;
    const known = this.#registry.instanceAt(address) ?? entry;
    const cap2 = entry.cap;
    if (known.cap === void 0 && cap2 !== void 0) Object.assign(known, { cap: cap2 });
    into.set(canonicalKey(address), known);
  }
  #forget(collection) {
    if (this.#byKey.get(collection.key) === collection) this.#byKey.delete(collection.key);
    if (collection.watchId !== void 0 && this.#byWatch.get(collection.watchId) === collection) this.#byWatch.delete(collection.watchId);
  }
};

// client/held-capabilities.ts
var HeldCapabilities = class {
  #refs = /* @__PURE__ */ new Set();
  #members = /* @__PURE__ */ new WeakMap();
  #finalizer = new FinalizationRegistry((ref) => this.#refs.delete(ref));
  /** Capabilities held (for tests and metrics); collected ones may still count until their finalizer runs. */
  get size() {
    return this.#refs.size;
  }
  /** Holds `cap` if it is signed (an unsigned one is the client's own and proves nothing to the server). */
  add(cap2) {
    if (!cap2.signed || this.#members.has(cap2)) return;
    const ref = new WeakRef(cap2);
    this.#members.set(cap2, ref);
    this.#refs.add(ref);
    this.#finalizer.register(cap2, ref, ref);
  }
  /** Stops holding `cap` (it no longer works). */
  delete(cap2) {
    const ref = this.#members.get(cap2);
    if (ref === void 0) return;
    this.#members.delete(cap2);
    this.#refs.delete(ref);
    this.#finalizer.unregister(ref);
  }
  /** The capabilities still alive, oldest first. */
  list() {
    const alive = [];
    for (const ref of this.#refs) {
      const cap2 = ref.deref();
      if (cap2 === void 0) this.#refs.delete(ref);
      else alive.push(cap2);
    }
    return alive;
  }
  /**
   * The capabilities a `revoked` notice ends: the one with that revocation id, or, when the id is an
   * ancestor's (a client cannot compute its chain's inner ids), those with the notice's scope.
   */
  revokedBy(revocationId2, scope2) {
    const held = this.list();
    const exact = held.filter((cap2) => cap2.revocationId === revocationId2);
    if (exact.length > 0) return exact;
    const key2 = canonicalKey(scope2);
    return held.filter((cap2) => canonicalKey(cap2.scope) === key2);
  }
  /** Whether some held capability still covers the object at `address`. */
  covers(address) {
    return this.list().some((cap2) => related(cap2.scope, address));
  }
};
function related(scope2, address) {
  const n = Math.min(scope2.length, address.length);
  for (let i = 0; i < n; i++) if (canonicalKey(scope2[i]) !== canonicalKey(address[i])) return false;
  return true;
}

// client/live-registry.ts
import { Observable as Observable2, Subject as Subject2 } from "rxjs";
var LiveRegistry = class {
  #entries = /* @__PURE__ */ new Map();
  // Drops an address's entry once its last instance is collected, unless someone still observes it.
  #finalizer = new FinalizationRegistry((key2) => this.#prune(key2));
  #closed;
  /** Addresses currently tracked (for tests and metrics). */
  get size() {
    return this.#entries.size;
  }
  /** Tracks `object` if its class declares a live address; a decoded portable object comes through here. */
  adopt(object2) {
    const address = addressOf(object2);
    if (address !== void 0) this.#track(address, object2);
  }
  /**
   * The states of one live object over time: emits `object` itself now and after every change (it is
   * updated in place), completes when the object is deleted or the app closes the session, errors when
   * {@link fail} says the rights to it ended or the session ended otherwise. Errors with
   * `ERR_PORTABLE_INVALID` if the object has no live address. `keep(address)` is called at subscription and
   * its result referenced until unsubscription.
   */
  observe(object2, keep) {
    return new Observable2((subscriber) => {
      const address = addressOf(object2);
      if (address === void 0) {
        subscriber.error(fail("ERR_PORTABLE_INVALID", "object has no live address"));
        return;
      }
      const kept = { value: keep?.(address) };
      subscriber.add(() => kept.value = void 0);
      const entry = this.#track(address, object2);
      subscriber.next(object2);
      if (this.#closed !== void 0) {
        if (this.#closed === true) subscriber.complete();
        else subscriber.error(this.#closed);
        return;
      }
      return entry.updates.subscribe({ next: () => subscriber.next(object2), complete: () => subscriber.complete(), error: (e) => subscriber.error(e) });
    });
  }
  /**
   * Applies a push to every local instance at its address. The state passes the same field checks as
   * decoding a portable object (`revive` in protocol/portable.ts): a field may not shadow anything on the
   * class's prototype chain, so wire data never replaces a method. A refused push changes nothing.
   */
  apply(push) {
    const key2 = canonicalKey(push.address);
    const entry = this.#entries.get(key2);
    if (entry !== void 0 && push.version <= entry.version) return "stale";
    const instances = entry === void 0 ? [] : this.#instances(entry);
    if (push.state !== null && !acceptable(push, instances)) return "invalid";
    if (entry === void 0) return "untracked";
    entry.version = push.version;
    if (push.state === null) {
      this.#entries.delete(key2);
      entry.updates.complete();
      return "applied";
    }
    for (const instance of instances) assignFields(instance, push.state);
    entry.updates.next();
    return "applied";
  }
  /**
   * The session ended for good: completes every live stream (the app closed it) or errors it with `error`
   * (it ended otherwise, so the app can tell a lost session from a deletion); later `observe()` streams do
   * the same at once.
   */
  close(error) {
    this.#closed = error ?? true;
    for (const entry of this.#entries.values()) {
      if (error === void 0) entry.updates.complete();
      else entry.updates.error(error);
    }
  }
  /** The first instance still alive at `address` (the one the client had first), or undefined. */
  instanceAt(address) {
    const entry = this.#entries.get(canonicalKey(address));
    return entry === void 0 ? void 0 : this.#instances(entry)[0];
  }
  /** `[address, version]` of every tracked object: what a resume tells the server this client has seen. */
  seen() {
    return [...this.#entries.values()].map((entry) => [entry.address, entry.version]);
  }
  /**
   * Forgets every version: the store was replaced (its epoch changed), so versions from before are not
   * comparable with the new ones, and a stale check against them would drop fresh state.
   */
  resetVersions() {
    for (const entry of this.#entries.values()) entry.version = 0;
  }
  /** The tracked addresses a capability with this scope gives pushes for (a prefix of it, or extending it). */
  addresses(related2) {
    return [...this.#entries.values()].filter((entry) => related2(entry.address)).map((entry) => entry.address);
  }
  /** The rights to the object at `address` ended: its live streams error with `error`, and it is forgotten. */
  fail(address, error) {
    const key2 = canonicalKey(address);
    const entry = this.#entries.get(key2);
    if (entry === void 0) return;
    this.#entries.delete(key2);
    entry.updates.error(error);
  }
  #track(address, object2) {
    const key2 = canonicalKey(address);
    let entry = this.#entries.get(key2);
    if (entry === void 0) {
      entry = { address, version: 0, refs: /* @__PURE__ */ new Set(), members: /* @__PURE__ */ new WeakSet(), updates: new Subject2() };
      this.#entries.set(key2, entry);
    }
    if (!entry.members.has(object2)) {
      entry.members.add(object2);
      entry.refs.add(new WeakRef(object2));
      this.#finalizer.register(object2, key2);
    }
    const version = object2.version;
    if (typeof version === "number" && version > entry.version) entry.version = version;
    return entry;
  }
  /** The instances still alive, forgetting the collected ones. */
  #instances(entry) {
    const alive = [];
    for (const ref of entry.refs) {
      const instance = ref.deref();
      if (instance === void 0) entry.refs.delete(ref);
      else alive.push(instance);
    }
    return alive;
  }
  #prune(key2) {
    const entry = this.#entries.get(key2);
    if (entry === void 0) return;
    if (this.#instances(entry).length === 0 && !entry.updates.observed) this.#entries.delete(key2);
  }
};
function acceptable(push, instances) {
  const state = push.state;
  const registered = portableByName(push.type);
  const prototypes = /* @__PURE__ */ new Set();
  if (registered !== void 0) prototypes.add(registered.cls.prototype);
  for (const instance of instances) {
    if (portableOf(instance)?.name !== push.type) return false;
    prototypes.add(Object.getPrototypeOf(instance));
  }
  for (const key2 of Object.keys(state)) {
    for (const proto of prototypes) if (key2 in proto) return false;
  }
  for (const instance of instances) {
    if (!Object.keys(state).every((key2) => writable(instance, key2))) return false;
  }
  return true;
}
function writable(object2, key2) {
  const own2 = Object.getOwnPropertyDescriptor(object2, key2);
  if (own2 === void 0) return Object.isExtensible(object2);
  return own2.configurable === true || own2.writable === true;
}
function assignFields(object2, state) {
  for (const key2 of Object.keys(state)) {
    const own2 = Object.getOwnPropertyDescriptor(object2, key2);
    if (own2 !== void 0 && own2.configurable !== true) object2[key2] = state[key2];
    else Object.defineProperty(object2, key2, { value: state[key2], writable: true, enumerable: true, configurable: true });
  }
}

// client/presence.ts
import { Subject as Subject3 } from "rxjs";
var PresenceEvents = class {
  #changes = new Subject3();
  changes = this.#changes.asObservable();
  /** Who this client believes is online, once it has heard anything; bounded by the users it may see. */
  #online;
  /** A `presenceEvent` frame. */
  event(type, user) {
    if (this.#online !== void 0) {
      if (type === "join" ? this.#online.has(user) : !this.#online.has(user)) return;
      if (type === "join") this.#online.add(user);
      else this.#online.delete(user);
    } else if (type === "join") this.#online = /* @__PURE__ */ new Set([user]);
    else this.#online = /* @__PURE__ */ new Set();
    this.#changes.next({ type, user });
  }
  /** A `presence()` answer: the whole list. Emits what differs from what was known (nothing the first time). */
  listed(users) {
    const known = this.#online;
    this.#online = new Set(users);
    if (known === void 0) return;
    for (const user of known) if (!this.#online.has(user)) this.#changes.next({ type: "leave", user });
    for (const user of this.#online) if (!known.has(user)) this.#changes.next({ type: "join", user });
  }
  /** True once there is something a reconnect should reconcile. */
  get tracking() {
    return this.#online !== void 0 && this.#changes.observed;
  }
  close() {
    this.#changes.complete();
  }
};

// client/options.ts
var clientDefaults = Object.freeze({
  /** {@link ConnectOptions.callTimeoutMs}. */
  callTimeoutMs: 3e4,
  /** {@link ConnectOptions.connectTimeoutMs}. */
  connectTimeoutMs: 1e4,
  /** {@link ReconnectOptions.baseDelayMs}: a blip is usually over in well under a second. */
  reconnectBaseDelayMs: 500,
  /**
   * {@link ReconnectOptions.maxDelayMs}: long enough that 10,000 clients of a server that stays down do not
   * hammer it (on average one attempt each per 10 s), short enough that a user waits at most 20 s.
   */
  reconnectMaxDelayMs: 2e4,
  /**
   * How long the server keeps a keyed call's outcome when its hello does not say (protocol: 10 minutes). A
   * call first sent longer ago is not sent again.
   */
  callKeyWindowMs: 10 * 6e4,
  /**
   * Delegations (and revocation notices) that arrive while nobody subscribes are kept for the next
   * subscriber, up to this many each; past it the oldest go first. Bounded because an app that never
   * subscribes must not grow without limit; 64 is far more than arrive between connect and a first subscribe.
   */
  heldEvents: 64
});

// client/close-codes.ts
function closeClassOf(code) {
  return closeCodeClass(code);
}
function refusalClassOf(error) {
  switch (error.code) {
    case "ERR_AUTH_EXPIRED":
      return "new-token";
    case "ERR_AUTH_INVALID":
    case "ERR_AUTH_REQUIRED":
    case "ERR_FORBIDDEN":
      return "terminal";
    default:
      return "retryable";
  }
}
function outcomeUnknown(message) {
  return fail("ERR_CALL_OUTCOME_UNKNOWN", message);
}

// client/requests.ts
var RequestManager = class {
  #timeoutMs;
  #pending = /* @__PURE__ */ new Map();
  #nextId = 1;
  #timer;
  /** `timeoutMs`: how long each request may wait for its answer before failing with `ERR_CALL_TIMEOUT`. */
  constructor(timeoutMs) {
    this.#timeoutMs = timeoutMs;
  }
  /** How many requests are waiting for an answer. */
  get size() {
    return this.#pending.size;
  }
  /** Takes an id for a frame this manager does not track (the resume). */
  reserveId() {
    return this.#nextId++;
  }
  /**
   * Starts a request: takes the next id (1, 2, 3, ...: the CLI's script client counts on it to tell its own
   * answers from answers to raw frames), builds the frame, and sends it through `transmit`, or keeps it for
   * the next connection when `transmit` is null. Rejects with what `transmit` threw, the answer's error,
   * `ERR_CALL_TIMEOUT`, or what {@link disconnected} and {@link resend} decide.
   */
  start(build, transmit, kind = "repeat") {
    const id2 = this.#nextId++;
    return new Promise((resolve2, reject) => {
      const frame = build(id2);
      const pending = { resolve: resolve2, reject, frame, kind, deadline: Date.now() + this.#timeoutMs, firstSentAt: void 0, sent: false };
      this.#pending.set(id2, pending);
      if (transmit !== null && !this.#transmit(id2, pending, transmit)) return;
      this.#armTimeouts();
    });
  }
  /** Resolves request `id` with `value`. False if no such request is waiting (late, or never sent). */
  resolve(id2, value) {
    return this.#settle(id2, (p) => p.resolve(value));
  }
  /** Fails request `id` with `error`. False if no such request is waiting. */
  reject(id2, error) {
    return this.#settle(id2, (p) => p.reject(error));
  }
  /**
   * The connection dropped: nothing waiting is on a socket any more. A `once` request that was sent fails
   * with `ERR_CALL_OUTCOME_UNKNOWN` (it may have run); the rest wait for {@link resend}.
   */
  disconnected() {
    for (const [id2, p] of this.#pending) {
      if (p.kind === "once" && p.sent) {
        this.#pending.delete(id2);
        p.reject(outcomeUnknown("the connection dropped before the answer: it may or may not have happened"));
      } else {
        p.sent = false;
      }
    }
  }
  /**
   * Sends, oldest first, every request the current connection does not have yet. A call first sent longer
   * ago than `keyWindowMs` is not sent again: the server no longer remembers its key, so a repeat could
   * run it twice; it fails with `ERR_CALL_OUTCOME_UNKNOWN`.
   */
  resend(transmit, keyWindowMs) {
    const now2 = Date.now();
    for (const [id2, p] of [...this.#pending]) {
      if (p.sent || this.#pending.get(id2) !== p) continue;
      if (p.kind === "call" && p.firstSentAt !== void 0 && now2 - p.firstSentAt > keyWindowMs) {
        this.#pending.delete(id2);
        p.reject(outcomeUnknown("first sent longer ago than the server keeps call outcomes"));
        continue;
      }
      this.#transmit(id2, p, transmit);
    }
  }
  /** Fails every waiting request with `error` (the client closed for good) and stops the timer. */
  failAll(error) {
    clearTimeout(this.#timer);
    this.#timer = void 0;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(error);
  }
  /** The requests still waiting, oldest first. */
  inFlight() {
    return [...this.#pending].map(([id2, p]) => ({ id: id2, frame: p.frame }));
  }
  /** Hands one request to a socket; false (and the request failed) if it could not be encoded or sent. */
  #transmit(id2, p, transmit) {
    try {
      transmit(p.frame);
    } catch (error) {
      this.#pending.delete(id2);
      p.reject(error instanceof CapsyncError ? error : fail("ERR_NOT_CONNECTED"));
      return false;
    }
    p.sent = true;
    p.firstSentAt ??= Date.now();
    return true;
  }
  #settle(id2, action) {
    const pending = this.#pending.get(id2);
    if (pending === void 0) return false;
    this.#pending.delete(id2);
    action(pending);
    return true;
  }
  /**
   * One timer for every pending request instead of one each: every request gets the same timeout, so
   * deadlines follow the pending map's insertion order and the timer only ever waits for the oldest.
   */
  #armTimeouts() {
    if (this.#timer !== void 0) return;
    const oldest = this.#pending.values().next().value;
    if (oldest === void 0) return;
    this.#timer = setTimeout(() => {
      this.#timer = void 0;
      const now2 = Date.now();
      for (const [id2, pending] of this.#pending) {
        if (pending.deadline > now2) break;
        this.#pending.delete(id2);
        pending.reject(fail("ERR_CALL_TIMEOUT"));
      }
      this.#armTimeouts();
    }, Math.max(oldest.deadline - Date.now(), 0) + 1);
  }
};

// client/resume.ts
var ResumeState = class {
  held = new HeldCapabilities();
  #live;
  /** The store identity the versions belong to, and the highest change sequence number caught up to. */
  #epoch = null;
  #seq = 0;
  /** An anonymous client's identity (its first hello's): its capabilities are bound to it, so every resume re-presents it. */
  #identity;
  /** The capabilities the resume in flight presented: `refused` indexes into them. */
  #presented;
  constructor(live) {
    this.#live = live;
  }
  /** The store cookie, as the next resume would present it. */
  get cookie() {
    return { epoch: this.#epoch, seq: this.#seq };
  }
  /** True between sending a resume and its answer: the server is still catching this client up. */
  get catchingUp() {
    return this.#presented !== void 0;
  }
  /** The resume frame for a new connection, with request id `id`. */
  frame(id2) {
    const caps = this.held.list();
    this.#presented = caps;
    const identity = this.#identity !== void 0 ? { identity: this.#identity } : {};
    return [FrameType.resume, id2, { caps, seen: this.#live.seen(), epoch: this.#epoch, seq: this.#seq, ...identity }];
  }
  /**
   * A hello arrived. A different epoch means another store (restarted in memory, restored from a backup):
   * versions from before are not comparable, so every one is reset before the server's snapshot arrives.
   */
  hello(hello) {
    if (this.#identity === void 0) this.#identity = hello.identity;
    if (hello.epoch === void 0) return;
    if (this.#epoch === null) {
      this.#epoch = hello.epoch;
      this.#seq = hello.seq ?? 0;
    } else if (hello.epoch !== this.#epoch) {
      this.#live.resetVersions();
      this.#epoch = hello.epoch;
      this.#seq = 0;
    }
  }
  /** A push with a change sequence number arrived. */
  pushed(seq) {
    if (seq !== void 0 && !this.catchingUp && seq > this.#seq) this.#seq = seq;
  }
  /** The resume was answered (or refused: `answer` undefined); capabilities the server refused stop working. */
  answered(answer) {
    const presented = this.#presented ?? [];
    this.#presented = void 0;
    const { epoch, seq, refused, identity } = typeof answer === "object" && answer !== null ? answer : {};
    if (typeof identity === "string") this.#identity = identity;
    if (typeof epoch === "string") this.#epoch = epoch;
    if (typeof seq === "number" && Number.isSafeInteger(seq) && seq >= 0) this.#seq = seq;
    if (!Array.isArray(refused)) return;
    for (const entry of refused) {
      if (!Array.isArray(entry) || typeof entry[0] !== "number") continue;
      const cap2 = presented[entry[0]];
      if (cap2 === void 0) continue;
      const code = isErrorCode(entry[1]) ? entry[1] : "ERR_CAPABILITY_REVOKED";
      this.#lose([cap2], cap2.scope, new CapsyncError(code));
    }
  }
  /** The connection dropped before the resume's answer. */
  abandoned() {
    this.#presented = void 0;
  }
  /** A `revoked` notice: the holding with that scope no longer works. */
  revoked(revocationId2, scope2, reason) {
    this.#lose(this.held.revokedBy(revocationId2, scope2), scope2, fail(reason === "expired" ? "ERR_CAPABILITY_EXPIRED" : "ERR_CAPABILITY_REVOKED"));
  }
  /**
   * `caps` stopped working: they are no longer held, and every live object they covered that no other held
   * capability covers errors with `error` (this client's last right to it is gone).
   */
  #lose(caps, scope2, error) {
    for (const cap2 of caps) this.held.delete(cap2);
    const scopes = [scope2, ...caps.map((cap2) => cap2.scope)];
    for (const address of this.#live.addresses((a) => scopes.some((s) => related(s, a)))) {
      if (!this.held.covers(address)) this.#live.fail(address, error);
    }
  }
};

// client/session-link.ts
import { BehaviorSubject as BehaviorSubject2 } from "rxjs";

// client/connection.ts
var Connection = class {
  /** Resolves with the hello; rejects with a typed error if the socket closes or times out before it. */
  ready;
  /** Resolves once the socket has closed, after {@link ConnectionEvents.closed}. */
  closed;
  #socket;
  #codec;
  #inbound;
  #events;
  /**
   * Capability handles are numbered per socket (protocol/SPEC.md 3.7): the server's table dies with the
   * socket, so a new connection must start binding from 0 again. That is why the handles live here.
   */
  #outbound = { outboundHandles: new OutboundHandles() };
  #helloSeen = false;
  #openSeen = false;
  #opened = () => {
  };
  #ended = () => {
  };
  #closeInfo;
  constructor(socket, options) {
    this.#socket = socket;
    this.#codec = options.codec;
    this.#inbound = options.inbound;
    this.#events = options.events;
    let settleClosed;
    this.closed = new Promise((resolve2) => settleClosed = resolve2);
    this.ready = new Promise((resolve2, reject) => {
      const timer = setTimeout(() => {
        reject(fail("ERR_NOT_CONNECTED", "connection timed out"));
        this.abandon(CloseCode.heartbeatTimeout, "no hello in time");
      }, options.connectTimeoutMs);
      this.#opened = (hello) => {
        clearTimeout(timer);
        resolve2(hello);
      };
      socket.onmessage = (event) => this.#receive(event.data);
      socket.onopen = () => this.#open();
      socket.onerror = () => {
      };
      this.#ended = (info) => {
        clearTimeout(timer);
        if (this.#closeInfo !== void 0) return;
        this.#closeInfo = info;
        const refusal = this.#helloSeen ? void 0 : options.failure?.();
        this.#events.closed(info, refusal);
        settleClosed(info);
        if (!this.#helloSeen) reject(refusal ?? fail("ERR_NOT_CONNECTED", `connection closed (${info.code})`));
      };
      socket.onclose = (event) => this.#ended({ code: event.code, reason: event.reason });
    });
    this.ready.catch(() => {
    });
  }
  /** Reports the `open` event now if the socket is open already (an in-memory socket is open from the start). */
  start() {
    if (this.#socket.readyState === 1) this.#open();
  }
  /** True once the socket has closed; nothing sent after that arrives. */
  get isClosed() {
    return this.#closeInfo !== void 0;
  }
  /**
   * Encodes `frame` with this socket's capability handles and sends it. Throws the codec's typed error
   * (`ERR_NOT_ENCODABLE`, ...) before anything is sent.
   */
  send(frame) {
    this.#socket.send(this.#codec.encode(frame, this.#outbound));
  }
  /** Sends bytes as they are (scripted protocol tests). */
  sendRaw(bytes) {
    this.#socket.send(bytes);
  }
  /** Starts the closing handshake, unless the socket is already closing or closed. */
  close(code, reason) {
    if (this.#closeInfo === void 0 && this.#socket.readyState <= 1) this.#socket.close(code, reason);
  }
  /**
   * Gives the socket up without waiting for its closing handshake, and reports it closed with `code` now. For
   * a connection presumed dead (no hello, a silent heartbeat): its close frame may never be answered, and
   * `ws` would wait 30 s for it before ending the socket.
   */
  abandon(code, reason) {
    if (this.#closeInfo !== void 0) return;
    this.#ended({ code, reason });
    try {
      if (this.#socket.readyState <= 1) this.#socket.close(code, reason);
    } catch {
      this.#socket.close();
    }
  }
  #open() {
    if (this.#openSeen || this.#closeInfo !== void 0) return;
    this.#openSeen = true;
    this.#events.open();
  }
  #receive(data) {
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data instanceof Uint8Array ? data : void 0;
    if (bytes === void 0) return;
    let frame;
    try {
      frame = validateFrame(this.#codec.decode(bytes, this.#inbound), serverFrameTypes);
    } catch (error) {
      this.#events.unreadable(peekAnswerId(bytes), error instanceof CapsyncError ? error : fail("ERR_FRAME_MALFORMED"));
      return;
    }
    if (frame[0] === FrameType.ping) this.#socket.send(this.#codec.encode([FrameType.pong, frame[1]]));
    const hello = frame[0] === FrameType.hello && !this.#helloSeen ? frame[1] : void 0;
    if (hello !== void 0) {
      this.#helloSeen = true;
      this.#events.hello(hello);
    }
    this.#events.frame(frame);
    if (hello !== void 0) this.#opened(hello);
  }
};

// client/heartbeat.ts
var Heartbeat = class {
  #intervalMs;
  #actions;
  #lastHeard = Date.now();
  #pinged = false;
  #timer;
  constructor(intervalMs, actions) {
    this.#intervalMs = intervalMs;
    this.#actions = actions;
    this.#arm();
  }
  /** A frame arrived: the server is alive. */
  heard() {
    this.#lastHeard = Date.now();
    this.#pinged = false;
  }
  /** Stops the timer (the connection ended). */
  stop() {
    clearTimeout(this.#timer);
    this.#timer = void 0;
  }
  #arm() {
    const due = this.#lastHeard + (this.#pinged ? 2 : 1) * this.#intervalMs;
    this.#timer = setTimeout(() => this.#check(), Math.max(due - Date.now(), 0));
  }
  #check() {
    const silence = Date.now() - this.#lastHeard;
    if (silence >= 2 * this.#intervalMs) {
      this.#timer = void 0;
      this.#actions.dead();
      return;
    }
    if (silence >= this.#intervalMs && !this.#pinged) {
      this.#pinged = true;
      this.#actions.ping();
    }
    this.#arm();
  }
};

// client/reconnect.ts
import { Observable as Observable4 } from "rxjs";

// client/backoff.ts
function backoffDelay(attempt, options, random = Math.random) {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

// client/reconnect.ts
var StateObservable = class extends Observable4 {
  #subject;
  /** Reads from `subject`: subscribers get the current value, then every change. */
  constructor(subject) {
    super((subscriber) => subject.subscribe(subscriber));
    this.#subject = subject;
  }
  /** The current state. */
  get value() {
    return this.#subject.value;
  }
};
function onlineEvents() {
  const target = globalThis;
  return typeof target.addEventListener === "function" && typeof target.removeEventListener === "function" ? target : void 0;
}
var Reconnector = class {
  #options;
  #random;
  #attempt;
  #events = onlineEvents();
  #online = () => this.#now();
  #failures = 0;
  #timer;
  #stopped = false;
  /** `attempt` opens one connection; it reports back through {@link schedule} or {@link succeeded}. */
  constructor(options, random, attempt) {
    this.#options = options;
    this.#random = random;
    this.#attempt = attempt;
    this.#events?.addEventListener("online", this.#online);
  }
  /** True while a retry is waiting for its delay. */
  get waiting() {
    return this.#timer !== void 0;
  }
  /** The connection dropped or an attempt failed: tries again after the next backoff delay. */
  schedule() {
    if (this.#stopped || this.#timer !== void 0) return;
    const delay = backoffDelay(this.#failures++, this.#options, this.#random);
    this.#timer = setTimeout(() => {
      this.#timer = void 0;
      this.#attempt();
    }, delay);
  }
  /** A connection is back: the next drop starts from the first delay again. */
  succeeded() {
    this.#failures = 0;
  }
  /** No more attempts (the client closed). */
  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = void 0;
    this.#events?.removeEventListener("online", this.#online);
  }
  #now() {
    if (this.#timer === void 0) return;
    clearTimeout(this.#timer);
    this.#timer = void 0;
    this.#attempt();
  }
};

// client/session-link.ts
var SessionLink = class {
  /** `connecting`, `connected`, `reconnecting`, `closed`. */
  state;
  /** Resolves when the client has closed for good, with the last connection's close code and reason. */
  closed;
  #url;
  #options;
  #open;
  #hooks;
  #codec;
  #connectTimeoutMs;
  #state = new BehaviorSubject2("connecting");
  #reconnector;
  #settleClosed;
  #connection;
  /** True once the current connection may take requests: after the hello first, after the resume frame later. */
  #sendable = false;
  #resumeId;
  #resumeTimer;
  #heartbeat;
  #nonce = 0;
  #keyWindowMs = clientDefaults.callKeyWindowMs;
  #connectedOnce = false;
  #lastClose = null;
  #closing;
  #reserveId;
  /** `reserveId` takes a request id for the resume. */
  constructor(url, options, open, hooks, reserveId) {
    this.#url = url;
    this.#options = options;
    this.#open = open;
    this.#hooks = hooks;
    this.#reserveId = reserveId;
    this.#codec = new Codec(options.limits);
    this.#connectTimeoutMs = options.connectTimeoutMs ?? clientDefaults.connectTimeoutMs;
    this.state = new StateObservable(this.#state);
    this.closed = new Promise((resolve2) => this.#settleClosed = resolve2);
    const reconnect = options.reconnect;
    if (reconnect !== false) {
      const backoff = { baseDelayMs: reconnect?.baseDelayMs ?? clientDefaults.reconnectBaseDelayMs, maxDelayMs: reconnect?.maxDelayMs ?? clientDefaults.reconnectMaxDelayMs };
      this.#reconnector = new Reconnector(backoff, reconnect?.random ?? Math.random, () => this.#reconnect());
    }
  }
  /** The close code and reason of the last connection that ended, or null while none has. */
  get lastClose() {
    return this.#lastClose;
  }
  /** True once the app closed the client or it closed for good: requests are refused. */
  get ended() {
    return this.#closing !== void 0 || this.#state.value === "closed";
  }
  /** How a request reaches the current socket now, or null while none can take it (it waits for the next). */
  transmit() {
    const connection = this.#connection;
    return this.#sendable && connection !== void 0 ? (frame) => connection.send(frame) : null;
  }
  /** The first connection: resolves at its hello; rejects with the typed reason and ends the client if it fails. */
  async first() {
    try {
      await (await this.#attempt()).ready;
    } catch (error) {
      this.#finish({ code: CloseCode.normal, reason: "connect failed" }, error instanceof CapsyncError ? error : void 0);
      throw error;
    }
  }
  /** Closes for good: no more attempts; the current socket gets `code`. */
  close(code, reason) {
    if (this.ended) return;
    this.#closing = { code, reason };
    this.#reconnector?.stop();
    const connection = this.#connection;
    if (connection !== void 0 && !connection.isClosed) connection.close(code, reason);
    else this.#finish(this.#closing);
  }
  /** Sends raw bytes on the current connection (scripted protocol tests). */
  sendRaw(bytes) {
    if (this.#connection === void 0) throw fail("ERR_NOT_CONNECTED");
    this.#connection.sendRaw(bytes);
  }
  /** Opens one connection: asks for the token (a string token or a sync function opens it in this turn). */
  async #attempt() {
    const source = this.#options.token;
    const pending = typeof source === "function" ? source() : source;
    const token2 = typeof pending === "object" ? await pending : pending;
    if (this.#closing !== void 0) throw fail("ERR_CONNECTION_CLOSED");
    const opened = this.#open(this.#url, token2);
    const connection = new Connection(opened.socket, {
      codec: this.#codec,
      inbound: this.#hooks.inbound,
      connectTimeoutMs: this.#connectTimeoutMs,
      ...opened.failure ? { failure: opened.failure } : {},
      events: {
        open: () => this.#opened(connection),
        hello: (hello) => this.#hello(connection, hello),
        frame: (frame) => this.#frame(frame),
        unreadable: (id2, reason) => {
          this.#heartbeat?.heard();
          this.#hooks.unreadable(id2, reason);
        },
        closed: (info, refusal) => this.#dropped(connection, info, refusal)
      }
    });
    this.#connection = connection;
    connection.start();
    return connection;
  }
  #reconnect() {
    this.#attempt().catch((error) => {
      if (this.ended) return;
      if (error instanceof CapsyncError && refusalClassOf(error) === "terminal") this.#finish(this.#lastClose ?? { code: CloseCode.normal, reason: "" }, error);
      else this.#reconnector?.schedule();
    });
  }
  /** The socket opened: a reconnect pipelines the resume, then every request the new socket lacks. */
  #opened(connection) {
    if (connection !== this.#connection || !this.#connectedOnce) return;
    this.#resumeId = this.#reserveId();
    try {
      connection.send(this.#hooks.resumeFrame(this.#resumeId));
    } catch {
      connection.abandon(CloseCode.internal, "resume could not be encoded");
      return;
    }
    this.#armResumeTimer(connection);
    this.#sendable = true;
    this.#hooks.resend((frame) => connection.send(frame), this.#keyWindowMs);
  }
  /**
   * The resume's answer is given up on after `connectTimeoutMs` of silence from the server, not of waiting:
   * a server that sends anything (hello, a push, a pong) is alive and working through a herd of resumes,
   * and abandoning its socket would only queue this client's resume again behind everyone else's.
   */
  #armResumeTimer(connection) {
    clearTimeout(this.#resumeTimer);
    this.#resumeTimer = setTimeout(() => connection.abandon(CloseCode.heartbeatTimeout, "no resume answer in time"), this.#connectTimeoutMs);
  }
  #hello(connection, hello) {
    if (this.#resumeId !== void 0 && connection === this.#connection) this.#armResumeTimer(connection);
    this.#hooks.hello(hello);
    if (hello.callKeyWindowMs !== void 0) this.#keyWindowMs = hello.callKeyWindowMs;
    if (hello.pingIntervalMs !== void 0) {
      this.#heartbeat = new Heartbeat(hello.pingIntervalMs, {
        ping: () => connection.send([FrameType.ping, this.#nonce++ % Number.MAX_SAFE_INTEGER]),
        dead: () => connection.abandon(CloseCode.heartbeatTimeout, "server silent for two ping intervals")
      });
    }
    if (this.#connectedOnce) return;
    this.#connectedOnce = true;
    this.#sendable = true;
    this.#state.next("connected");
  }
  #frame(frame) {
    this.#heartbeat?.heard();
    const answersResume = (frame[0] === FrameType.result || frame[0] === FrameType.error) && frame[1] !== null && frame[1] === this.#resumeId;
    if (!answersResume) {
      if (this.#resumeId !== void 0 && this.#connection !== void 0) this.#armResumeTimer(this.#connection);
      return this.#hooks.frame(frame);
    }
    clearTimeout(this.#resumeTimer);
    this.#resumeId = void 0;
    this.#hooks.resumed(frame[0] === FrameType.result ? frame[2] : void 0);
    this.#reconnector?.succeeded();
    this.#state.next("connected");
  }
  #dropped(connection, info, refusal) {
    if (connection !== this.#connection) return;
    this.#connection = void 0;
    this.#sendable = false;
    this.#heartbeat?.stop();
    this.#heartbeat = void 0;
    clearTimeout(this.#resumeTimer);
    this.#resumeId = void 0;
    this.#lastClose = info;
    if (this.#closing !== void 0) return this.#finish(info);
    if (!this.#connectedOnce) return;
    const kind = refusal !== void 0 ? refusalClassOf(refusal) : closeClassOf(info.code);
    const renewable = typeof this.#options.token === "function";
    if (this.#reconnector === void 0 || kind === "terminal" || kind === "new-token" && !renewable) {
      return this.#finish(info, refusal ?? fail("ERR_CONNECTION_CLOSED", `connection closed (${info.code})`));
    }
    this.#hooks.disconnected();
    if (this.#state.value !== "reconnecting") this.#state.next("reconnecting");
    this.#reconnector.schedule();
  }
  #finish(info, error) {
    if (this.#state.value === "closed") return;
    this.#reconnector?.stop();
    this.#hooks.finished(this.#closing !== void 0 ? void 0 : error);
    this.#state.next("closed");
    this.#state.complete();
    this.#settleClosed(info);
  }
};

// client/streams.ts
import { BehaviorSubject as BehaviorSubject3, Observable as Observable5, Subject as Subject4, filter } from "rxjs";
var HeldStream = class {
  /** The events, as an Observable. */
  observable;
  #subject = new Subject4();
  #held = [];
  #limit;
  /** `limit`: how many events to keep while unobserved. */
  constructor(limit) {
    this.#limit = limit;
    this.observable = new Observable5((subscriber) => {
      while (this.#held.length > 0 && !subscriber.closed) subscriber.next(this.#held.shift());
      if (subscriber.closed) return;
      return this.#subject.subscribe(subscriber);
    });
  }
  /** Delivers `value` to the subscribers, or keeps it for the next one. */
  next(value) {
    if (this.#subject.observed) {
      this.#subject.next(value);
      return;
    }
    this.#held.push(value);
    if (this.#held.length > this.#limit) this.#held.shift();
  }
  /** Ends the stream; events still held are delivered to the next subscriber, then it completes. */
  complete() {
    this.#subject.complete();
  }
};
var SessionStreams = class {
  /** Every change pushed to this connection and accepted. */
  changes;
  /** Capabilities delegated to this user. */
  delegations;
  /** Capabilities this connection held that were revoked or expired. */
  revocations;
  /** The server's notices that the session JWT expires soon (ms since epoch); replays a pending one. */
  tokenExpiring;
  #changes = new Subject4();
  #delegations;
  #revocations;
  /** The expiry of the latest notice not yet answered by a refresh past it, or null. */
  #notice = new BehaviorSubject3(null);
  #tokenExpiresAt = null;
  /** `heldEvents`: see {@link HeldStream}. */
  constructor(heldEvents) {
    this.#delegations = new HeldStream(heldEvents);
    this.#revocations = new HeldStream(heldEvents);
    this.changes = this.#changes.asObservable();
    this.delegations = this.#delegations.observable;
    this.revocations = this.#revocations.observable;
    this.tokenExpiring = this.#notice.pipe(filter((at) => at !== null));
  }
  /** When the session's JWT expires (ms since epoch), or null if it does not (anonymous, or no `exp`). */
  get tokenExpiresAt() {
    return this.#tokenExpiresAt;
  }
  /** The hello said when the session's token expires. */
  opened(tokenExpiresAt) {
    this.#tokenExpiresAt = tokenExpiresAt;
  }
  /** A push was accepted. */
  change(change) {
    this.#changes.next(change);
  }
  /** A `delegation` frame arrived. */
  delegation(delegation) {
    this.#delegations.next(delegation);
  }
  /** A `revoked` frame arrived. */
  revoked(revocation) {
    this.#revocations.next(revocation);
  }
  /** A `tokenExpiring` frame arrived: the session ends at `expiresAt` unless refreshed. */
  tokenExpiringAt(expiresAt) {
    this.#tokenExpiresAt = expiresAt;
    this.#notice.next(expiresAt);
  }
  /** A `refresh` succeeded: the session now ends at `expiresAt` (null: never). */
  refreshed(expiresAt) {
    this.#tokenExpiresAt = expiresAt;
    const notice = this.#notice.value;
    if (notice !== null && (expiresAt === null || expiresAt > notice)) this.#notice.next(null);
  }
  /** The session closed: every stream completes. */
  close() {
    this.#changes.complete();
    this.#delegations.complete();
    this.#revocations.complete();
    this.#notice.complete();
  }
};

// client/client.ts
var CapsyncClient = class _CapsyncClient {
  /** The authenticated user, as the server sees it (from the latest hello). */
  user = null;
  /** Every change pushed to this client and accepted, across reconnects. */
  changes;
  /** Capabilities delegated to this user; kept while nobody subscribes, up to a bound. */
  delegations;
  /** Capabilities this client held that were revoked or expired; kept while nobody subscribes, like delegations. */
  revocations;
  /**
   * The server's notice that the session JWT expires soon (ms since epoch). With a token function the
   * client refreshes by itself; with a string token, call {@link refresh}. A late subscriber still gets it.
   */
  tokenExpiring;
  /** `connecting`, `connected`, `reconnecting`, `closed`; the current one is `connectionState.value`. */
  connectionState;
  /**
   * Users coming online (`join`) and going offline (`leave`), among those the server's presence policy lets
   * this user see; never this user itself. A user is online while any of its connections is open, and for a
   * short grace after the last one closed (a reconnect is no leave and join). Start from {@link presence}
   * for who is online now; after a reconnect of this client the events it missed are emitted from a fresh
   * `presence()` answer. Completes when the client closes.
   */
  presenceChanges;
  /** Resolves when the client has closed for good, with the last connection's close code and reason. */
  closed;
  #options;
  #requests;
  #live = new LiveRegistry();
  #keys = new CallKeys();
  #resume = new ResumeState(this.#live);
  #streams = new SessionStreams(clientDefaults.heldEvents);
  #frames = new Subject5();
  #presence = new PresenceEvents();
  #collections = new Collections(
    this.#live,
    (cap2, options, onId) => this.#request((id2) => {
      onId(id2);
      return [FrameType.watch, id2, cap2, options];
    })
  );
  #link;
  constructor(url, options, open) {
    this.#options = options;
    this.#requests = new RequestManager(options.callTimeoutMs ?? clientDefaults.callTimeoutMs);
    this.changes = this.#streams.changes;
    this.delegations = this.#streams.delegations;
    this.revocations = this.#streams.revocations;
    this.tokenExpiring = this.#streams.tokenExpiring;
    this.presenceChanges = this.#presence.changes;
    this.#link = new SessionLink(url, options, open, {
      inbound: { onPortable: (object2) => this.#adopt(object2), onCapability: (cap2) => this.#resume.held.add(cap2) },
      hello: (hello) => this.#hello(hello),
      frame: (frame) => this.#dispatch(frame),
      unreadable: (id2, reason) => {
        if (id2 !== null) this.#requests.reject(id2, reason);
      },
      resumeFrame: (id2) => this.#resume.frame(id2),
      resumed: (answer) => {
        this.#resume.answered(answer);
        this.#reconnected();
        this.#collections.reconnected();
      },
      resend: (transmit, keyWindowMs) => this.#requests.resend(transmit, keyWindowMs),
      disconnected: () => {
        this.#resume.abandoned();
        this.#requests.disconnected();
      },
      finished: (error) => this.#teardown(error)
    }, () => this.#requests.reserveId());
    this.connectionState = this.#link.state;
    this.closed = this.#link.closed;
  }
  /**
   * Connects and waits for the server's hello. Rejects with a typed error (`ERR_AUTH_INVALID`, ...) if the
   * first attempt is refused or fails; once connected, the client reconnects by itself.
   */
  static async connect(url, options, open) {
    const client = new _CapsyncClient(url, options, open);
    await client.#link.first();
    return client;
  }
  /** When the session's JWT expires (ms since epoch), or null if it never does. Readable at any time. */
  get tokenExpiresAt() {
    return this.#streams.tokenExpiresAt;
  }
  /** The close code and reason of the last connection that ended, or null while none has. */
  get lastClose() {
    return this.#link.lastClose;
  }
  /**
   * Calls a server function. The call carries a fresh key, so if the connection drops before its answer it
   * is sent again after the reconnect and still runs once. Rejects with the server's typed error,
   * `ERR_CALL_TIMEOUT`, or `ERR_CALL_OUTCOME_UNKNOWN` when its outcome can no longer be learnt.
   */
  call(name, ...args) {
    const key2 = this.#keys.next();
    return this.#request((id2) => [FrameType.call, id2, name, args, key2], "call");
  }
  /**
   * This client, typed against the server's functions: `client.typed<typeof functions>().call(...)` checks
   * names, arguments and results at compile time. The same object at runtime; `call` here stays untyped.
   */
  typed() {
    return this;
  }
  /**
   * Delegates `cap` (usually narrowed first) to a connected user. The server re-mints it for that user,
   * bound to them (it works on no one else's connection) and revoked with `cap` or anything `cap` came from.
   * `bearer: true` asks for an unbound one instead: whoever holds its bytes can use it. `bind` is accepted
   * and changes nothing (bound is the default). A delegation in flight when the connection drops fails with
   * `ERR_CALL_OUTCOME_UNKNOWN`: it may have happened.
   */
  delegate(cap2, options) {
    return this.#request((id2) => [FrameType.delegate, id2, options.to, cap2, options.bearer ? { bearer: true } : {}], "once");
  }
  /** Revokes `cap` and everything narrowed from it, everywhere. The capability it was narrowed from keeps working. */
  revoke(cap2) {
    return this.#request((id2) => [FrameType.revoke, id2, cap2]);
  }
  /** The users online that this user may delegate to (as the server's presence policy allows). */
  async presence() {
    const users = await this.#request((id2) => [FrameType.presence, id2]);
    if (Array.isArray(users) && users.every((u) => typeof u === "string")) this.#presence.listed(users);
    return users;
  }
  /** Every still-valid capability delegated to this user: what a reload or a second device gets back. */
  grants() {
    return this.#request((id2) => [FrameType.grants, id2]);
  }
  /** Replaces the session's JWT (same user) before it expires; {@link tokenExpiresAt} follows. */
  async refresh(token2) {
    const result = await this.#request((id2) => [FrameType.refresh, id2, token2]);
    const expiresAt = result?.expiresAt;
    if (typeof expiresAt === "number" || expiresAt === null) this.#streams.refreshed(expiresAt);
    return result;
  }
  /**
   * The states of one live object over time: emits the instance now and after every change (the instance is
   * updated in place, across reconnects), completes when the object is deleted, errors with
   * `ERR_CAPABILITY_REVOKED` or `ERR_CAPABILITY_EXPIRED` (or the code the server refused it with on a
   * resume) when this client's last capability covering it stops working. While subscribed, the signed
   * capabilities covering the object when it was subscribed are kept alive (the client otherwise holds
   * capabilities weakly), so the stream keeps its rights across reconnects even if the app dropped them.
   */
  live(object2) {
    return this.#live.observe(object2, (address) => this.#resume.held.list().filter((cap2) => related(cap2.scope, address)));
  }
  /**
   * The live list of objects under `cap`'s scope (a prefix capability, such as an admin's
   * `["youtube_videos"]`): emits the whole list once the server's snapshot arrived, and again whenever an
   * object is created or deleted there or a member changes. Members are the client's own instances (the
   * same ones `live()` and pushes update), each with the capability it is granted under (by default `cap`
   * narrowed to it; the server may attach a narrower one or leave objects out) unless the instance already
   * had one. `type` keeps one portable class. Subscribers of the same scope and type share one watch; it
   * stops when the last unsubscribes. Survives reconnects (re-watched: what changed while away arrives).
   * Errors with the server's code: a capability that does not work (`ERR_CAPABILITY_*`), a collection over
   * the server's bound (`ERR_COLLECTION_TOO_LARGE`), too many watches (`ERR_TOO_MANY_WATCHES`).
   */
  collection(cap2, options) {
    return this.#collections.observe(cap2, options);
  }
  /** Closes the client for good; everything pending fails with `ERR_CONNECTION_CLOSED` at once. */
  close(code = CloseCode.normal, reason = "") {
    if (!this.#link.ended) {
      this.#requests.failAll(fail("ERR_CONNECTION_CLOSED"));
      this.#link.close(code, reason);
    }
    return this.closed;
  }
  /** Sends raw bytes on the current connection (scripted protocol tests). */
  sendRaw(bytes) {
    this.#link.sendRaw(bytes);
  }
  /** Every decoded frame, across connections (scripted protocol tests). */
  get frames() {
    return this.#frames.asObservable();
  }
  #request(build, kind = "repeat") {
    if (this.#link.ended) return Promise.reject(fail("ERR_CONNECTION_CLOSED"));
    return this.#requests.start(build, this.#link.transmit(), kind);
  }
  #hello(hello) {
    this.user = hello.user && { id: hello.user.id, roles: hello.user.roles };
    this.#streams.opened(hello.tokenExpiresAt);
    this.#resume.hello(hello);
  }
  /** The client is done: the app closed it (live streams complete) or it ended otherwise (they error with `error`). */
  #teardown(error) {
    this.#requests.failAll(fail("ERR_CONNECTION_CLOSED"));
    this.#live.close(error);
    this.#collections.close(error);
    this.#frames.complete();
    this.#streams.close();
    this.#presence.close();
  }
  #adopt(object2) {
    attach(object2, this);
    this.#live.adopt(object2);
  }
  #dispatch(frame) {
    switch (frame[0]) {
      case FrameType.result:
        this.#requests.resolve(frame[1], frame[2]);
        break;
      case FrameType.error:
        if (frame[1] !== null) this.#requests.reject(frame[1], errorOf(frame[2], frame[3]));
        break;
      case FrameType.push: {
        const [, address, type, version, state, seq] = frame;
        const push = { address, type, version, state };
        this.#resume.pushed(seq);
        const outcome = this.#live.apply(push);
        if (outcome === "applied" || outcome === "untracked") this.#streams.change({ ...push, deleted: state === null });
        if (outcome === "applied") this.#collections.pushed(address, state === null);
        break;
      }
      case FrameType.delegation:
        this.#streams.delegation({ from: frame[1].from, cap: frame[1].cap, object: frame[1].object ?? null });
        break;
      case FrameType.revoked:
        this.#resume.revoked(frame[1], frame[2], frame[3]);
        this.#streams.revoked({ revocationId: frame[1], scope: frame[2], reason: frame[3] });
        break;
      case FrameType.snapshot:
        this.#collections.snapshot(frame[1], frame[2]);
        break;
      case FrameType.collectionChange:
        this.#collections.change(frame[1], frame[2], frame[3]);
        break;
      case FrameType.presenceEvent:
        this.#presence.event(frame[1], frame[2]);
        break;
      case FrameType.tokenExpiring:
        this.#streams.tokenExpiringAt(frame[1]);
        void this.#renew();
        break;
    }
    this.#frames.next(frame);
  }
  /** A new connection took over the session: what was missed while away is caught up. */
  #reconnected() {
    if (this.#presence.tracking && this.user !== null) this.presence().catch(() => void 0);
  }
  /** With a token function, answers `tokenExpiring` by itself; a failure leaves the notice for the app (or the 4002 reconnect). */
  async #renew() {
    const source = this.#options.token;
    if (typeof source !== "function") return;
    try {
      await this.refresh(await source());
    } catch {
    }
  }
};
function errorOf(code, message) {
  return new CapsyncError(isErrorCode(code) ? code : "ERR_FUNCTION_FAILED", message);
}
var CallKeys = class {
  #prefix;
  #next = 0;
  constructor() {
    const bytes = globalThis.crypto.getRandomValues(new Uint8Array(12));
    let prefix = "";
    for (const byte of bytes) prefix += byte.toString(16).padStart(2, "0");
    this.#prefix = prefix;
  }
  next() {
    return `${this.#prefix}.${(this.#next++).toString(36)}`;
  }
};

// bench/resume/socket.ts
var Tap = class {
  /** Where the next dial goes instead of the client's URL (the same server under another store epoch). */
  target;
  recording = false;
  dials = 0;
  dialedAt = 0;
  openedAt = 0;
  current;
  sent = [];
  received = [];
  /** Runs first on every socket's open, before the client pipelines its resume. */
  onOpen = () => {
  };
  /** Every socket's end: whether it had opened, its close code and reason (a refused dial never opens). */
  onClose = () => {
  };
  factory = (url, token2) => {
    let refusal;
    this.dials++;
    this.dialedAt = now();
    const ws = new WebSocket2(this.target ?? url, ["capsync.v1"], { headers: token2 ? { authorization: `Bearer ${token2}` } : {}, perMessageDeflate: false });
    this.current = ws;
    ws.binaryType = "nodebuffer";
    ws.on("unexpected-response", (_req, res) => {
      const code = res.headers["x-capsync-error"];
      refusal = isErrorCode(code) ? new CapsyncError(code) : fail("ERR_NOT_CONNECTED", `upgrade refused with HTTP ${res.statusCode}`);
      res.resume();
      ws.terminate();
    });
    let opened = false;
    ws.on("open", () => {
      opened = true;
      this.openedAt = now();
      this.onOpen();
    });
    ws.on("close", (code, reason) => this.onClose(opened, code, reason.toString()));
    ws.on("message", (data) => {
      if (this.recording) this.received.push(data.length);
    });
    const send = ws.send.bind(ws);
    ws.send = ((data, ...rest) => {
      if (this.recording) this.sent.push(data.length);
      return send(data, ...rest);
    });
    return { socket: ws, failure: () => refusal };
  };
  /** Connects a client through this tap. */
  connect(url, options) {
    return CapsyncClient.connect(url, options, this.factory);
  }
};
function nextState(client, state) {
  return new Promise((resolve2, reject) => {
    let first = true;
    const subscription = client.connectionState.subscribe((value) => {
      if (first) return;
      if (value === state) resolve2();
      else if (value === "closed") reject(new Error(`client closed (${client.lastClose?.code ?? "?"}) waiting for ${state}`));
      else return;
      queueMicrotask(() => subscription.unsubscribe());
    });
    first = false;
  });
}
var Gate = class {
  #open = Promise.resolve();
  #release = () => {
  };
  close() {
    this.#open = new Promise((resolve2) => this.#release = resolve2);
  }
  open() {
    this.#release();
  }
  /** Resolves once the gate is open. */
  wait() {
    return this.#open;
  }
};

// bench/resume/herd-load.ts
var tally = (values) => {
  const counts = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
};
function herdHandlers(auth2) {
  const members = [];
  let resumed = 0;
  let gaveUp = 0;
  let firstError = null;
  let armed = false;
  let cpuAtArm = process.cpuUsage();
  let settle;
  let closes = {};
  const check = () => {
    if (armed && resumed + gaveUp >= members.length) settle?.();
  };
  const join = async (url, index, groups) => {
    const tap = new Tap();
    const client = await tap.connect(url, { token: await auth2.issue({ id: `herd-${index}`, roles: [] }), callTimeoutMs: 6e4 });
    const holdings = await client.call("join_group", index % groups);
    const member = {
      client,
      tap,
      folder: folderName("g", index % groups),
      holdings,
      pushes: 0,
      down: false,
      droppedAt: 0,
      resumedAt: 0,
      statesAtResume: 0,
      dialsAtArm: 0,
      dialsAtResume: 0
    };
    tap.onOpen = () => member.pushes = 0;
    tap.onClose = (opened, code) => {
      if (!armed) return;
      const what = opened ? `opened ${code}` : "never opened";
      closes[what] = (closes[what] ?? 0) + 1;
    };
    client.frames.subscribe((frame) => {
      if (frame[0] === 4) member.pushes++;
    });
    client.connectionState.subscribe((state) => {
      if (!armed) return;
      if (state === "reconnecting" && !member.down) {
        member.down = true;
        member.droppedAt = now();
      } else if (state === "connected" && member.down) {
        member.down = false;
        member.resumedAt = now();
        member.statesAtResume = member.pushes;
        member.dialsAtResume = tap.dials - member.dialsAtArm;
        resumed++;
        check();
      } else if (state === "closed") {
        gaveUp++;
        firstError ??= `closed ${client.lastClose?.code ?? "?"} ${client.lastClose?.reason ?? ""}`;
        check();
      }
    });
    members.push(member);
  };
  return {
    "herd-connect": async ({ url, count, firstIndex, concurrency, groups }) => {
      let next = 0;
      let failed = 0;
      const worker = async () => {
        while (next < count) {
          const index = firstIndex + next++;
          try {
            await join(url, index, groups);
          } catch (error) {
            failed++;
            firstError ??= error.message;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
      return { connected: members.length, failed, firstError };
    },
    "herd-arm": () => {
      resumed = 0;
      gaveUp = members.filter((m) => m.client.connectionState.value === "closed").length;
      for (const m of members) Object.assign(m, { down: false, droppedAt: 0, resumedAt: 0, statesAtResume: 0, dialsAtArm: m.tap.dials });
      cpuAtArm = process.cpuUsage();
      closes = {};
      armed = true;
      return null;
    },
    /** Resolves once every client has resumed or given up (`timeoutMs` bounds a herd that never ends). */
    "herd-await": async ({ timeoutMs }) => {
      const done = new Promise((resolve2) => settle = resolve2);
      check();
      let timer;
      await Promise.race([done, new Promise((resolve2) => timer = setTimeout(resolve2, timeoutMs))]);
      clearTimeout(timer);
      armed = false;
      const back = members.filter((m) => m.resumedAt > 0);
      const cpu = process.cpuUsage(cpuAtArm);
      return {
        clients: members.length,
        resumed: back.length,
        gaveUp,
        firstError,
        droppedAt: members.filter((m) => m.droppedAt > 0).map((m) => m.droppedAt),
        resumedAt: back.map((m) => m.resumedAt),
        states: tally(back.map((m) => m.statesAtResume)),
        dials: tally(back.map((m) => m.dialsAtResume)),
        closes,
        loadCpuSeconds: (cpu.user + cpu.system) / 1e6
      };
    },
    /** Clients whose cards do not all have the server's latest versions. */
    "herd-verify": ({ versions }) => {
      const latest = new Map(versions);
      return members.filter((m) => m.holdings.cards.some((card, i) => !(card instanceof Card) || card.version !== latest.get(m.folder)?.[i])).length;
    }
  };
}

// bench/resume/load.ts
var secret = process.env["CAPSYNC_BENCH_SECRET"];
if (secret === void 0) throw new Error("started by bench/resume/run.ts");
var auth = new Authenticator({ secret });
var reader;
var pushes = 0;
var waitFor;
var key = (address) => address.join("/");
var token = (user) => auth.issue({ id: user, roles: [] });
serveRequests({
  ...herdHandlers(auth),
  /** Connects the measured client and loads its 100 capabilities and 1,000 cards. */
  "reader-connect": async ({ url }) => {
    const jwt = await token("reader");
    const tap = new Tap();
    const gate = new Gate();
    const client = await tap.connect(url, { token: async () => (await gate.wait(), jwt), reconnect: { random: () => 0 }, callTimeoutMs: 6e4 });
    tap.onOpen = () => pushes = 0;
    client.frames.subscribe((frame) => {
      if (frame[0] !== 4) return;
      pushes++;
      if (waitFor !== void 0 && pushes >= waitFor.count) waitFor.resolve();
    });
    const holdings = await client.call("open_folders");
    const cards = new Map(holdings.cards.map((c) => [key(["rs", c.folder, c.id]), c]));
    reader = { client, tap, gate, holdings, cards };
    return { caps: holdings.caps.length, cards: cards.size, allCards: holdings.cards.every((c) => c instanceof Card) };
  },
  /** Arms a wait for `count` live pushes on the current socket (before the runner makes the changes). */
  "expect-pushes": ({ count }) => {
    pushes = 0;
    waitFor = { count, resolve: () => {
    } };
    return null;
  },
  "await-pushes": async () => {
    const w = waitFor;
    if (pushes < w.count) await new Promise((resolve2) => w.resolve = resolve2);
    waitFor = void 0;
    return pushes;
  },
  /** Drops the measured client's socket (as a network blip would) and holds it away at the gate. */
  away: async () => {
    const r = reader;
    r.gate.close();
    const dropped = nextState(r.client, "reconnecting");
    r.tap.current.terminate();
    await dropped;
    return null;
  },
  /** Lets the client back (to `target`, or its own URL) and times its resume until the answer. */
  resume: async ({ target, expected, record: record2 }) => {
    const r = reader;
    r.tap.target = target;
    r.tap.recording = record2;
    r.tap.sent.length = 0;
    r.tap.received.length = 0;
    const caught = nextState(r.client, "connected");
    r.gate.open();
    await caught;
    const at = now();
    r.tap.recording = false;
    const applied = expected.filter((e) => r.cards.get(key(e.address))?.version === e.version).length;
    return { fromOpenMs: at - r.tap.openedAt, fromDialMs: at - r.tap.dialedAt, states: pushes, applied, sentBytes: [...r.tap.sent], receivedBytes: [...r.tap.received] };
  },
  /** The baseline an app without resume pays: a fresh connection, its hello, and one call for everything. */
  reload: async ({ url }) => {
    const tap = new Tap();
    const client = await tap.connect(url, { token: await token("reader"), reconnect: false, callTimeoutMs: 6e4 });
    const holdings = await client.call("open_folders");
    const at = now();
    await client.close();
    return { fromOpenMs: at - tap.openedAt, fromDialMs: at - tap.dialedAt, caps: holdings.caps.length, cards: holdings.cards.length };
  },
  /** The floor: a plain ws socket that sends one frame of `requestBytes` and gets frames of `sizes` back. */
  floor: ({ url, requestBytes, sizes }) => new Promise((resolve2, reject) => {
    const dialedAt = now();
    let openedAt = 0;
    let left = sizes.length;
    const ws = new WebSocket3(url, { perMessageDeflate: false });
    ws.on("error", reject);
    ws.on("open", () => {
      openedAt = now();
      const frame = Buffer.alloc(Math.max(requestBytes, 4 + 4 * sizes.length));
      frame.writeUInt32LE(sizes.length, 0);
      sizes.forEach((size, i) => frame.writeUInt32LE(size, 4 + 4 * i));
      ws.send(frame);
    });
    ws.on("message", () => {
      if (--left > 0) return;
      const at = now();
      ws.close();
      ws.once("close", () => resolve2({ fromOpenMs: at - openedAt, fromDialMs: at - dialedAt }));
    });
  })
});
announceReady(null);
