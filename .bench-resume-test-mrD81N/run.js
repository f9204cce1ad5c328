// bench/resume/run.ts
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join as join3, resolve } from "node:path";

// bench/peers/clock.ts
function now() {
  return Number(process.hrtime.bigint()) / 1e6;
}

// bench/resume/herd.ts
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// bench/peers/ipc.ts
import { fork } from "node:child_process";
var inProcess = process.env["CAPSYNC_BENCH_INPROC"] === "1";
var ChildLink = class _ChildLink {
  name;
  child;
  #pending = /* @__PURE__ */ new Map();
  #exited;
  #nextId = 1;
  #ready;
  #exitCode;
  constructor(name, child) {
    this.name = name;
    this.child = child;
    let readyResolve;
    let readyReject;
    this.#ready = new Promise((resolve2, reject) => (readyResolve = resolve2, readyReject = reject));
    this.#ready.catch(() => {
    });
    child.on("message", (reply) => {
      if ("event" in reply) return readyResolve(reply.value);
      const pending = this.#pending.get(reply.id);
      if (pending === void 0) return;
      this.#pending.delete(reply.id);
      if (reply.ok) pending.resolve(reply.value);
      else pending.reject(new Error(`${this.name}: ${reply.error}`));
    });
    this.#exited = new Promise((resolve2) => {
      child.once("exit", (code, signal) => {
        this.#exitCode = code;
        const error = new Error(`${this.name} exited (${signal ?? code})`);
        readyReject(error);
        for (const pending of this.#pending.values()) pending.reject(error);
        this.#pending.clear();
        resolve2();
      });
    });
  }
  /** Forks `script` (a compiled module) with an IPC channel. */
  static fork(name, script3, options = {}) {
    const child = fork(script3, options.args ?? [], {
      execArgv: options.execArgv ?? [],
      env: options.env ?? process.env,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      serialization: "json"
    });
    return new _ChildLink(name, child);
  }
  /** Resolves with the child's ready value; rejects if it exits first or takes longer than `timeoutMs`. */
  ready(timeoutMs = 3e4) {
    return withTimeout(this.#ready, timeoutMs, `${this.name} did not start within ${timeoutMs} ms`);
  }
  /** Sends a command and resolves with the child's answer. */
  request(command, args = null, timeoutMs = 12e4) {
    if (this.#exitCode !== void 0 || !this.child.connected) return Promise.reject(new Error(`${this.name} is not running`));
    const id = this.#nextId++;
    const answer = new Promise((resolve2, reject) => {
      this.#pending.set(id, { resolve: resolve2, reject });
      this.child.send({ id, command, args });
    });
    return withTimeout(answer, timeoutMs, `${this.name}: ${command} took longer than ${timeoutMs} ms`);
  }
  /**
   * Stops the child: asks it to exit (so `--cpu-prof` can write its profile), then SIGKILL after `graceMs`.
   * Resolves once it has exited.
   */
  async stop(graceMs = 3e3) {
    if (this.#exitCode !== void 0) return;
    if (this.child.connected) this.request("exit", null, graceMs).catch(() => {
    });
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }
};
function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// bench/peers/stats.ts
var Samples = class {
  #values = new Float64Array(1 << 16);
  #length = 0;
  add(value) {
    if (this.#length === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#length++] = value;
  }
  clear() {
    this.#length = 0;
  }
  summary() {
    const sorted = this.#values.slice(0, this.#length).sort();
    let sum2 = 0;
    for (const v of sorted) sum2 += v;
    return {
      count: sorted.length,
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      max: sorted.length > 0 ? sorted[sorted.length - 1] : Number.NaN,
      mean: sorted.length > 0 ? sum2 / sorted.length : Number.NaN
    };
  }
};
function quantile(sorted, q) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank];
}
function median(values) {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 === 1 ? finite[mid] : (finite[mid - 1] + finite[mid]) / 2;
}

// client/backoff.ts
function backoffDelay(attempt, options, random = Math.random) {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

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

// bench/resume/model.ts
function simulateBackoff(clients, dropMs, downtimeMs, simulations = 25) {
  const options = { baseDelayMs: clientDefaults.reconnectBaseDelayMs, maxDelayMs: clientDefaults.reconnectMaxDelayMs };
  const last = [];
  const p50 = [];
  const p99 = [];
  const dials = [];
  for (let s = 0; s < simulations; s++) {
    const back = new Float64Array(clients);
    let total = 0;
    for (let c = 0; c < clients; c++) {
      let t = dropMs;
      let attempt = 0;
      do
        t += backoffDelay(attempt++, options);
      while (t < downtimeMs);
      back[c] = t;
      total += attempt;
    }
    back.sort();
    last.push(back[clients - 1]);
    p50.push(quantile(back, 0.5));
    p99.push(quantile(back, 0.99));
    dials.push(total / clients);
  }
  return { simulations, lastMs: median(last), p50Ms: median(p50), p99Ms: median(p99), meanDials: median(dials) };
}

// bench/resume/herd.ts
var script = (name) => new URL(`./${name}.js`, import.meta.url);
async function startServer(data, options, env, port, churn) {
  const args = ["--mode", "herd", "--data", data, "--groups", String(options.groups), "--port", String(port), ...churn === void 0 ? [] : ["--churn", String(churn)]];
  for (let attempt = 1; ; attempt++) {
    const link2 = ChildLink.fork("herd server", script("server"), { args, env, execArgv: profiling(options) });
    try {
      return { link: link2, ready: await link2.ready() };
    } catch (error) {
      await link2.stop();
      if (attempt >= 5) throw error;
    }
  }
}
function profiling(options) {
  return options.profile === void 0 ? [] : ["--cpu-prof", "--cpu-prof-dir", options.profile];
}
function cpuAt(timeline, t) {
  let i = timeline.findIndex(([at]) => at >= t);
  if (i === -1) return timeline[timeline.length - 1]?.[1] ?? 0;
  if (i === 0) return timeline[0][1];
  const [t0, c0] = timeline[i - 1];
  const [t1, c1] = timeline[i];
  return c0 + (c1 - c0) * (t - t0) / (t1 - t0);
}
function peakPerSecond(sorted) {
  let best = 0;
  for (let i = 0, j = 0; j < sorted.length; j++) {
    while (sorted[j] - sorted[i] > 1e3) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}
async function measureHerd(options, env, log2) {
  const data = mkdtempSync(join(tmpdir(), "capsync-bench-resume-"));
  const loads = [];
  let server;
  try {
    const first = await startServer(data, options, env, 0);
    server = first.link;
    const url = first.ready.url;
    const port = Number(new URL(url).port);
    for (let p = 0; p < options.loadProcesses; p++) loads.push(ChildLink.fork(`herd load ${p + 1}`, script("load"), { env }));
    await Promise.all(loads.map((l) => l.ready()));
    const share = Math.ceil(options.clients / loads.length);
    const started = now();
    const joined = await Promise.all(
      loads.map((l, p) => l.request("herd-connect", {
        url,
        count: Math.max(0, Math.min(share, options.clients - p * share)),
        firstIndex: p * share,
        concurrency: 64,
        groups: options.groups
      }, 6e5))
    );
    const connected = joined.reduce((n, j) => n + j.connected, 0);
    log2(`herd: ${connected} of ${options.clients} clients connected in ${((now() - started) / 1e3).toFixed(1)} s` + (connected < options.clients ? ` (${joined.find((j) => j.firstError)?.firstError})` : ""));
    if (connected < options.clients) throw new Error(`only ${connected} of ${options.clients} herd clients connected: ${joined.find((j) => j.firstError)?.firstError}`);
    const rounds = [];
    for (let round = 1; round <= options.herdRounds; round++) {
      await Promise.all(loads.map((l) => l.request("herd-arm")));
      const exited = new Promise((resolve2) => server.child.once("exit", () => resolve2()));
      const killAt = now();
      server.child.kill("SIGKILL");
      await exited;
      const restarted = await startServer(data, options, env, port, round);
      server = restarted.link;
      const readyAt = restarted.ready.readyAt;
      const results = await Promise.all(loads.map((l) => l.request("herd-await", { timeoutMs: options.herdTimeoutMs }, options.herdTimeoutMs + 3e4)));
      const timeline = await server.request("timeline");
      const versions = await server.request("versions");
      const mismatched = (await Promise.all(loads.map((l) => l.request("herd-verify", { versions })))).reduce((a, b) => a + b, 0);
      rounds.push(summarise(round, killAt, readyAt, restarted.ready.startupCpuSeconds, results, timeline, mismatched));
      const r = rounds[rounds.length - 1];
      log2(
        `herd round ${round}/${options.herdRounds}: ${r.resumed}/${r.clients} resumed, last ${(r.resumeMs.last / 1e3).toFixed(2)} s after the kill (server down ${r.downtimeMs.toFixed(0)} ms; backoff model ${(r.model.lastMs / 1e3).toFixed(2)} s), ${r.resumesPerSecond.peak1s} resumes/s peak, server ${r.serverCpu.cores.toFixed(2)} cores` + (r.gaveUp > 0 ? `, ${r.gaveUp} gave up (${r.firstError})` : "") + `; sockets ended meanwhile: ${JSON.stringify(r.closes)}`
      );
      if (r.resumed + r.gaveUp < r.clients) {
        log2(`herd: ${r.clients - r.resumed - r.gaveUp} clients not back within ${options.herdTimeoutMs / 1e3} s; no further rounds`);
        break;
      }
    }
    return rounds;
  } finally {
    await Promise.all([...loads, ...server ? [server] : []].map((c) => c.stop()));
    rmSync(data, { recursive: true, force: true });
  }
}
function summarise(round, killAt, readyAt, startupCpu, results, timeline, mismatched) {
  const resumedAt = results.flatMap((r) => r.resumedAt).sort((a, b) => a - b);
  const since = Float64Array.from(resumedAt, (t) => t - killAt);
  const clients = results.reduce((n, r) => n + r.clients, 0);
  const states = {};
  const dials = {};
  const closes = {};
  for (const r of results) {
    for (const [k, v] of Object.entries(r.closes)) closes[k] = (closes[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.states)) states[k] = (states[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.dials)) dials[k] = (dials[k] ?? 0) + v;
  }
  const last = resumedAt[resumedAt.length - 1] ?? readyAt;
  const windowSeconds = Math.max(1e-3, (last - readyAt) / 1e3);
  const herdCpu = cpuAt(timeline, last) - cpuAt(timeline, readyAt);
  let peakCores = 0;
  for (let t = readyAt; t + 1e3 <= last + 100; t += 100) peakCores = Math.max(peakCores, cpuAt(timeline, t + 1e3) - cpuAt(timeline, t));
  const dropNoticedMs = median(results.flatMap((r) => r.droppedAt).map((t) => t - killAt));
  const model = simulateBackoff(clients, dropNoticedMs, readyAt - killAt);
  const lastMs = last - killAt;
  return {
    round,
    clients,
    resumed: resumedAt.length,
    gaveUp: results.reduce((n, r) => n + r.gaveUp, 0),
    firstError: results.find((r) => r.firstError)?.firstError ?? null,
    exactStates: states["1"] ?? 0,
    states,
    dials,
    closes,
    mismatched,
    dropNoticedMs,
    downtimeMs: readyAt - killAt,
    resumeMs: { p50: quantile(since, 0.5), p99: quantile(since, 0.99), last: lastMs },
    herdWindowSeconds: windowSeconds,
    resumesPerSecond: { mean: resumedAt.length / Math.max(1e-3, (last - (resumedAt[0] ?? last)) / 1e3), peak1s: peakPerSecond(resumedAt) },
    serverCpu: { startupSeconds: startupCpu, herdSeconds: herdCpu, cores: herdCpu / windowSeconds, peak1sCores: peakCores, msPerResume: herdCpu * 1e3 / Math.max(1, resumedAt.length) },
    loadCpuSeconds: results.reduce((n, r) => n + r.loadCpuSeconds, 0),
    model,
    backoffShare: model.lastMs / lastMs
  };
}

// bench/resume/latency.ts
import { mkdtempSync as mkdtempSync2, rmSync as rmSync2 } from "node:fs";
import { tmpdir as tmpdir2 } from "node:os";
import { join as join2 } from "node:path";

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

// protocol/capability/token.ts
var TOKEN_VERSION = 1;
var NONCE_BYTES = 16;
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
function setStatus(cap, status) {
  statuses.set(cap, status);
}
function statusOf(cap) {
  return statuses.get(cap);
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
  constructor(scope, restrictions = {}) {
    const derived = _Capability.#derived;
    if (derived !== void 0) {
      _Capability.#derived = void 0;
      this.scope = derived.scope;
      this.blocks = derived.blocks;
      this[chainOf] = void 0;
      return;
    }
    assertScope(scope, true, defaultLimits);
    this.blocks = Object.freeze([makeBlock(scope, restrictions)]);
    this.scope = deepFreeze(structuredCopy(scope));
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
    const scope = deepFreeze([...this.scope, ...structuredCopy(suffix)]);
    Object.assign(child, { scope, blocks: Object.freeze([...this.blocks, block]) });
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
  else for (const key in value) deepFreeze(value[key]);
  return value;
}
function structuredCopy(values) {
  return values.map((v) => v !== null && typeof v === "object" ? JSON.parse(JSON.stringify(v)) : v);
}
function assertScope(scope, nonEmpty, limits) {
  if (!Array.isArray(scope) || nonEmpty && scope.length === 0) throw fail("ERR_INVALID_SCOPE");
  if (scope.length > limits.maxScopeLength) throw fail("ERR_LIMIT_SCOPE");
  try {
    for (const element of scope) assertJsonValue(element, limits.maxDepth - 2);
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

// protocol/extensions.ts
import { addExtension } from "msgpackr";
var active = null;
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
  pack(cap, allocate) {
    return encodingBy(this).packCapability(cap, allocate);
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
    pack(object) {
      return encodingBy(this).packPortable(object);
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
  of(object) {
    return this.#byClass.get(object.constructor);
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
    const object = Object.create(proto);
    for (const key of Object.keys(fields)) {
      if (key in proto) throw fail("ERR_PORTABLE_INVALID", `field ${JSON.stringify(key).slice(0, 64)} shadows the class`);
      Object.defineProperty(object, key, { value: fields[key], writable: true, enumerable: true, configurable: true });
    }
    return object;
  }
};
var defaultPortables = new PortableRegistry();
function registerPortable(cls, options) {
  defaultPortables.register(cls, options);
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

// bench/resume/latency.ts
var kinds = ["incremental", "snapshot", "reload", "floorIncremental", "floorSnapshot"];
var script2 = (name) => new URL(`./${name}.js`, import.meta.url);
var sum = (values) => values.reduce((a, b) => a + b, 0);
async function measureLatency(options, env, log2) {
  const data = mkdtempSync2(join2(tmpdir2(), "capsync-bench-resume-"));
  const server = ChildLink.fork("latency server", script2("server"), { args: ["--mode", "latency", "--data", data], env, execArgv: profiling(options) });
  const load = ChildLink.fork("latency load", script2("load"), { env });
  try {
    const urls = await server.ready();
    await load.ready();
    const joined = await load.request("reader-connect", { url: urls.a });
    if (joined.caps !== FOLDERS || joined.cards !== FOLDERS * CARDS_PER_FOLDER || !joined.allCards) throw new Error(`reader got ${joined.caps} capabilities and ${joined.cards} cards`);
    const changed = 10;
    const noise = 90;
    const inc = { min: Infinity, max: 0, exact: 0, applied: 0, count: 0 };
    const snap = { min: Infinity, max: 0, exact: 0, count: 0 };
    let reloadCards = 0;
    const incremental = async (record = false) => {
      await load.request("away");
      const expected2 = await server.request("change", { count: changed, noise });
      const s = await load.request("resume", { expected: expected2, record });
      Object.assign(inc, { min: Math.min(inc.min, s.states), max: Math.max(inc.max, s.states), exact: inc.exact + Number(s.states === changed), applied: inc.applied + Number(s.applied === changed), count: inc.count + 1 });
      return s;
    };
    const snapshot = async (target, record = false) => {
      await load.request("away");
      const s = await load.request("resume", { target, expected: [], record });
      const all = FOLDERS * CARDS_PER_FOLDER;
      Object.assign(snap, { min: Math.min(snap.min, s.states), max: Math.max(snap.max, s.states), exact: snap.exact + Number(s.states === all), count: snap.count + 1 });
      return s;
    };
    const reload = async () => {
      const r = await load.request("reload", { url: urls.a });
      reloadCards = Math.max(reloadCards, r.cards);
      return r;
    };
    const sized = await incremental(true);
    const sizedSnapshot = await snapshot(urls.b, true);
    await snapshot(void 0);
    const floorIncremental = { url: urls.floor, requestBytes: sized.sentBytes[0] ?? 0, sizes: sized.receivedBytes };
    const floorSnapshot = { url: urls.floor, requestBytes: sizedSnapshot.sentBytes[0] ?? 0, sizes: sizedSnapshot.receivedBytes };
    for (let i = 0; i < 3; i++) {
      await incremental();
      await reload();
      await load.request("floor", floorIncremental);
      await load.request("floor", floorSnapshot);
    }
    Object.assign(inc, { min: Infinity, max: 0, exact: 0, applied: 0, count: 0 });
    Object.assign(snap, { min: Infinity, max: 0, exact: 0, count: 0 });
    const rounds = [];
    for (let round = 1; round <= options.rounds; round++) {
      const open = Object.fromEntries(kinds.map((k) => [k, new Samples()]));
      const dial = Object.fromEntries(kinds.map((k) => [k, new Samples()]));
      const add = (kind, t) => {
        open[kind].add(t.fromOpenMs);
        dial[kind].add(t.fromDialMs);
      };
      for (let rep = 0; rep < options.repetitions; rep++) {
        add("incremental", await incremental());
        add("snapshot", await snapshot(urls.b));
        add("snapshot", await snapshot(void 0));
        add("reload", await reload());
        add("floorIncremental", await load.request("floor", floorIncremental));
        add("floorSnapshot", await load.request("floor", floorSnapshot));
      }
      const summary = (s) => Object.fromEntries(kinds.map((k) => [k, s[k].summary()]));
      rounds.push({ round, fromOpen: summary(open), fromDial: summary(dial) });
      const r = rounds[rounds.length - 1].fromOpen;
      log2(`resume round ${round}/${options.rounds}: incremental p50 ${r.incremental.p50.toFixed(2)} p99 ${r.incremental.p99.toFixed(2)} ms, snapshot p50 ${r.snapshot.p50.toFixed(2)} ms, reload p50 ${r.reload.p50.toFixed(2)} ms, floor p50 ${r.floorIncremental.p50.toFixed(2)} ms`);
    }
    await load.request("expect-pushes", { count: changed });
    await server.request("change", { count: changed, noise: 0 });
    await load.request("await-pushes");
    await load.request("away");
    const expected = await server.request("change", { count: changed, noise: 0 });
    const afterLive = await load.request("resume", { expected, record: false });
    return {
      capabilities: joined.caps,
      cards: joined.cards,
      changed,
      noise,
      rounds,
      incrementalStates: inc,
      snapshotStates: snap,
      reloadCards,
      afterLivePushes: { expected: changed, received: afterLive.states },
      frameBytes: {
        incremental: { sent: sized.sentBytes, received: sized.receivedBytes },
        snapshot: { sent: sum(sizedSnapshot.sentBytes), received: sum(sizedSnapshot.receivedBytes), frames: sizedSnapshot.receivedBytes.length }
      }
    };
  } finally {
    await Promise.all([load.stop(), server.stop()]);
    rmSync2(data, { recursive: true, force: true });
  }
}

// bench/resume/options.ts
import { parseArgs } from "node:util";
var usage = `Usage: npm run bench:resume -- [options]

Times capsync's resume on 127.0.0.1, beside baselines measured in the same run.

  --rounds N           rounds of the latency part (a); figures are medians over rounds (default 5)
  --repetitions N      repetitions of each kind per round (default 40)
  --clients N          clients of the herd part (b) (default 10000; 0 skips it)
  --load-processes N   processes the herd clients run in (default 2)
  --herd-rounds N      kill -9 and restarts of the herd server (default 3)
  --groups N           groups of 10 cards the herd clients share (default 100)
  --out DIR            where resume.json is written (default bench/results)
  --profile DIR        run the server children with --cpu-prof, profiles in DIR (a server killed with -9 writes none)
  --quick              2 rounds of 8, a herd of 200 clients in 1 load process, 2 herd rounds
  --help               this text
`;
function parseOptions(argv) {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      rounds: { type: "string" },
      repetitions: { type: "string" },
      clients: { type: "string" },
      "load-processes": { type: "string" },
      "herd-rounds": { type: "string" },
      groups: { type: "string" },
      out: { type: "string" },
      profile: { type: "string" },
      quick: { type: "boolean", default: false },
      help: { type: "boolean", default: false }
    }
  });
  if (values.help) return "help";
  const quick = values.quick;
  return {
    rounds: integer("rounds", values.rounds ?? (quick ? "2" : "5"), 1),
    repetitions: integer("repetitions", values.repetitions ?? (quick ? "8" : "40"), 1),
    clients: integer("clients", values.clients ?? (quick ? "200" : "10000"), 0),
    loadProcesses: integer("load-processes", values["load-processes"] ?? (quick ? "1" : "2"), 1),
    herdRounds: integer("herd-rounds", values["herd-rounds"] ?? (quick ? "2" : "3"), 1),
    groups: integer("groups", values.groups ?? "100", 1),
    herdTimeoutMs: 12e4,
    quick,
    out: values.out ?? "bench/results",
    profile: values.profile
  };
}
function integer(name, text, min) {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(text)}`);
  return value;
}

// bench/peers/report.ts
var MB = 1024 * 1024;
function fmt(value, digits = 0) {
  if (!Number.isFinite(value)) return "-";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

// bench/resume/report.ts
var labels = {
  incremental: "resume, 10 changed",
  snapshot: "resume, other epoch (snapshot)",
  reload: "baseline: connect + hello + call",
  floorIncremental: "floor: ws, incremental sizes",
  floorSnapshot: "floor: ws, snapshot sizes"
};
var floorOf = { incremental: "floorIncremental", snapshot: "floorSnapshot", reload: "floorSnapshot", floorIncremental: "floorIncremental", floorSnapshot: "floorSnapshot" };
function latencyRows(result) {
  const r = result.rounds;
  const m = (f) => median(r.map(f));
  return kinds.map((kind) => ({
    kind,
    label: labels[kind],
    p50Ms: m((x) => x.fromOpen[kind].p50),
    p99Ms: m((x) => x.fromOpen[kind].p99),
    maxMs: Math.max(...r.map((x) => x.fromOpen[kind].max)),
    dialP50Ms: m((x) => x.fromDial[kind].p50),
    dialP99Ms: m((x) => x.fromDial[kind].p99),
    p50xReload: m((x) => x.fromOpen[kind].p50 / x.fromOpen.reload.p50),
    p99xReload: m((x) => x.fromOpen[kind].p99 / x.fromOpen.reload.p99),
    p50xFloor: m((x) => x.fromOpen[kind].p50 / x.fromOpen[floorOf[kind]].p50)
  }));
}
var meanDials = (r) => {
  const entries = Object.entries(r.dials);
  return entries.reduce((n, [k, v]) => n + Number(k) * v, 0) / Math.max(1, entries.reduce((n, [, v]) => n + v, 0));
};
function herdRow(rounds) {
  const m = (f) => median(rounds.map(f));
  return {
    clients: rounds[0]?.clients ?? 0,
    rounds: rounds.length,
    resumedEveryRound: rounds.every((r) => r.resumed === r.clients),
    gaveUp: rounds.reduce((n, r) => n + r.gaveUp, 0),
    mismatched: rounds.reduce((n, r) => n + r.mismatched, 0),
    exactStates: rounds.every((r) => r.exactStates === r.clients),
    downtimeMs: m((r) => r.downtimeMs),
    lastResumeSeconds: m((r) => r.resumeMs.last / 1e3),
    p50ResumeSeconds: m((r) => r.resumeMs.p50 / 1e3),
    p99ResumeSeconds: m((r) => r.resumeMs.p99 / 1e3),
    modelP50Seconds: m((r) => r.model.p50Ms / 1e3),
    modelP99Seconds: m((r) => r.model.p99Ms / 1e3),
    modelLastSeconds: m((r) => r.model.lastMs / 1e3),
    backoffShare: m((r) => r.backoffShare),
    serverCores: m((r) => r.serverCpu.cores),
    serverPeak1sCores: m((r) => r.serverCpu.peak1sCores),
    serverMsPerResume: m((r) => r.serverCpu.msPerResume),
    serverStartupCpuSeconds: m((r) => r.serverCpu.startupSeconds),
    resumesPerSecondPeak1s: m((r) => r.resumesPerSecond.peak1s),
    resumesPerSecondMean: m((r) => r.resumesPerSecond.mean),
    meanDials: m(meanDials),
    modelMeanDials: m((r) => r.model.meanDials)
  };
}
function judge(latency, herd) {
  const checks = [];
  if (latency !== null) {
    const { result, rows } = latency;
    const inc = result.incrementalStates;
    checks.push({ kind: "check", what: `every incremental resume brought exactly ${result.changed} states, all applied`, met: inc.exact === inc.count && inc.applied === inc.count, detail: `${inc.exact}/${inc.count} exact (min ${inc.min}, max ${inc.max}), ${inc.applied} applied` });
    const snap = result.snapshotStates;
    checks.push({ kind: "check", what: `every snapshot resume brought all ${result.cards} cards`, met: snap.exact === snap.count, detail: `${snap.exact}/${snap.count} (min ${snap.min}, max ${snap.max})` });
    const p99 = rows.find((r) => r.kind === "incremental").p99Ms;
    checks.push({ kind: "target", what: "incremental resume p99 under 50 ms (socket open to caught up)", met: p99 < 50, detail: `${fmt(p99, 2)} ms` });
  }
  if (herd !== null) {
    const { row } = herd;
    checks.push({ kind: "check", what: "every herd client resumed in every round, none gave up", met: row.resumedEveryRound && row.gaveUp === 0, detail: herd.rounds.map((r) => `${r.resumed}/${r.clients}`).join(", ") + `, ${row.gaveUp} gave up` });
    checks.push({ kind: "check", what: "every herd client got exactly its one changed card and has the latest versions", met: row.exactStates && row.mismatched === 0, detail: herd.rounds.map((r) => `${r.exactStates} exact`).join(", ") + `, ${row.mismatched} mismatched` });
    const worst = Math.max(...herd.rounds.map((r) => r.resumeMs.last));
    checks.push({ kind: "target", what: `all ${fmt(row.clients)} resumed within 30 s of the kill`, met: worst < 3e4 && row.resumedEveryRound, detail: `worst round ${fmt(worst / 1e3, 2)} s` });
  }
  return checks;
}
function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => cells.map((c, i) => i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])).join("  ");
  return [line(headers), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}
function formatReport(report) {
  const parts = [];
  const o = report.options;
  if (report.latency !== null) {
    const res = report.latency.result;
    parts.push(
      `(a) one client, ${res.capabilities} capabilities (one per folder) over ${res.cards} cards; ${res.changed} of its cards and ${res.noise} of other users' changed while it was away.`,
      `    ms from the socket's open (and from its dial) to caught up; medians over ${o.rounds} rounds of each round's p50/p99 (${o.repetitions} repetitions each, interleaved); ratios paired per round`,
      table(
        ["kind", "p50", "p99", "max", "dial p50", "dial p99", "p50 x reload", "p99 x reload", "p50 x floor"],
        report.latency.rows.map((r) => [r.label, fmt(r.p50Ms, 2), fmt(r.p99Ms, 2), fmt(r.maxMs, 1), fmt(r.dialP50Ms, 2), fmt(r.dialP99Ms, 2), fmt(r.p50xReload, 2), fmt(r.p99xReload, 2), fmt(r.p50xFloor, 2)])
      ),
      `    frames: resume ${res.frameBytes.incremental.sent.join("+")} B sent, ${res.frameBytes.incremental.received.length} frames / ${fmt(res.frameBytes.incremental.received.reduce((a, b) => a + b, 0))} B back; snapshot ${fmt(res.frameBytes.snapshot.received)} B in ${res.frameBytes.snapshot.frames} frames; reload returns ${res.reloadCards} cards`,
      `    after live pushes, then away with ${res.afterLivePushes.expected} changes: the resume brought ${res.afterLivePushes.received} states`,
      ""
    );
  }
  if (report.herd !== null) {
    const h = report.herd.row;
    parts.push(`(b) herd: ${fmt(h.clients)} clients in ${o.loadProcesses} load process${o.loadProcesses === 1 ? "" : "es"}, default backoff (full jitter, 0.5 s base); server kill -9 and restart on the same data folder; medians over ${h.rounds} rounds`);
    parts.push(
      table(
        ["round", "resumed", "down ms", "p50 s", "p99 s", "last s", "backoff-only p50/p99/last s", "backoff share", "server cores", "peak 1s", "server ms/resume", "resumes/s peak", "mean", "dials", "model dials"],
        [
          ...report.herd.rounds.map((r) => [
            String(r.round),
            `${fmt(r.resumed)}/${fmt(r.clients)}`,
            fmt(r.downtimeMs),
            fmt(r.resumeMs.p50 / 1e3, 2),
            fmt(r.resumeMs.p99 / 1e3, 2),
            fmt(r.resumeMs.last / 1e3, 2),
            `${fmt(r.model.p50Ms / 1e3, 2)} / ${fmt(r.model.p99Ms / 1e3, 2)} / ${fmt(r.model.lastMs / 1e3, 2)}`,
            fmt(r.backoffShare, 2),
            fmt(r.serverCpu.cores, 2),
            fmt(r.serverCpu.peak1sCores, 2),
            fmt(r.serverCpu.msPerResume, 3),
            fmt(r.resumesPerSecond.peak1s),
            fmt(r.resumesPerSecond.mean),
            fmt(meanDials(r), 2),
            fmt(r.model.meanDials, 2)
          ]),
          [
            "median",
            h.resumedEveryRound ? "all" : "NOT ALL",
            fmt(h.downtimeMs),
            fmt(h.p50ResumeSeconds, 2),
            fmt(h.p99ResumeSeconds, 2),
            fmt(h.lastResumeSeconds, 2),
            `${fmt(h.modelP50Seconds, 2)} / ${fmt(h.modelP99Seconds, 2)} / ${fmt(h.modelLastSeconds, 2)}`,
            fmt(h.backoffShare, 2),
            fmt(h.serverCores, 2),
            fmt(h.serverPeak1sCores, 2),
            fmt(h.serverMsPerResume, 3),
            fmt(h.resumesPerSecondPeak1s),
            fmt(h.resumesPerSecondMean),
            fmt(h.meanDials, 2),
            fmt(h.modelMeanDials, 2)
          ]
        ]
      ),
      `    server startup CPU ${fmt(h.serverStartupCpuSeconds, 2)} s; at ${fmt(h.serverMsPerResume, 3)} ms of server CPU per resume one core would sustain about ${fmt(1e3 / h.serverMsPerResume)} resumes/s`,
      ""
    );
  }
  parts.push(`Machine: ${report.machine["cpus"]} CPUs, load average ${report.machine["loadAverage1mAtStart"]} at the start and ${report.machine["loadAverage1mAtEnd"]} at the end (1 min).`);
  parts.push("Checks and targets:");
  for (const c of report.checks) parts.push(`  [${c.met ? "ok  " : c.kind === "check" ? "FAIL" : "MISS"}] ${c.what}: ${c.detail}`);
  for (const note of report.notes) parts.push(`Note: ${note}`);
  return parts.join("\n");
}

// bench/resume/run.ts
async function main() {
  let options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error.message}

${usage}`);
    process.exit(2);
  }
  if (options === "help") {
    process.stdout.write(usage);
    return;
  }
  const started = now();
  const loadAtStart = loadavg()[0];
  const key = { kty: "oct", kid: "bench", k: randomBytes(32).toString("base64url") };
  const env = { ...process.env, CAPSYNC_BENCH_SECRET: randomBytes(32).toString("hex"), CAPSYNC_BENCH_CAPABILITY_KEY: JSON.stringify(key) };
  const failures = [];
  const attempt = async (what, measure) => {
    try {
      return await measure();
    } catch (error) {
      failures.push(`${what} failed: ${error.message}`);
      log(`${what} FAILED: ${error.message}`);
      return null;
    }
  };
  const latency = await attempt("latency (a)", () => measureLatency(options, env, log));
  const herd = options.clients > 0 ? await attempt("herd (b)", () => measureHerd(options, env, log)) : null;
  const latencyPart = latency === null ? null : { rows: latencyRows(latency), result: latency };
  const herdPart = herd === null ? null : { row: herdRow(herd), rounds: herd };
  const checks = judge(latencyPart, herdPart);
  const report = {
    benchmark: "resume",
    command: "npm run bench:resume" + (process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""),
    date: (/* @__PURE__ */ new Date()).toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? "unknown",
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.versions.node,
      platform: `${process.platform}-${process.arch}`,
      loadAverage1mAtStart: Number(loadAtStart.toFixed(2)),
      loadAverage1mAtEnd: Number(loadavg()[0].toFixed(2))
    },
    options,
    latency: latencyPart,
    herd: herdPart,
    checks,
    notes: [...failures, ...notes(options, latency)]
  };
  const out = resolve(options.out);
  mkdirSync(out, { recursive: true });
  writeFileSync(join3(out, "resume.json"), JSON.stringify(report, null, 2) + "\n");
  if (failures.length > 0 || checks.some((c) => c.kind === "check" && !c.met)) process.exitCode = 1;
  process.stdout.write(`
${formatReport(report)}

Wrote ${join3(options.out, "resume.json")} in ${((now() - started) / 1e3).toFixed(0)} s.
`);
}
function notes(options, latency) {
  const result = [
    `${cpus().length} CPUs shared by the server, its load processes and whatever else runs on the machine: compare the ratios (paired per round), not the absolute figures.`,
    'In (a) the measured client holds 100 folder capabilities (scope ["rs", folder]), each covering 10 cards; its token function waits while it is away, so its reconnect delay is pinned to 0 there (the herd uses the default backoff). The reload baseline is a fresh connection whose one call returns the 100 capabilities and 1,000 cards.',
    "The snapshot case resumes at a second server in the same process with an in-memory store (another epoch, the same capability keys and cards), then back."
  ];
  if (latency !== null && latency.afterLivePushes.received !== latency.afterLivePushes.expected) {
    result.push(
      `A client that had live pushes before it went away got ${latency.afterLivePushes.received} states on resume for ${latency.afterLivePushes.expected} changes: pushes carry no seq (LiveObjects.encodePush sends 5 elements, SPEC 7.1 says a push carries its change's seq as a sixth), so the client's seq stays at its last hello or resume answer and every live change it already has is sent again.`
    );
  }
  if (options.clients > 0) {
    result.push(
      `The herd's clients run in ${options.loadProcesses} load process${options.loadProcesses === 1 ? "" : "es"} on the same CPUs as the server. "backoff-only" simulates the default backoff alone (no server or client cost) with the measured downtime: "backoff share" is its last resume over the measured one.`
    );
  }
  return result;
}
function log(line) {
  process.stderr.write(line + "\n");
}
await main();
