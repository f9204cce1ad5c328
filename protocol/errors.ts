/**
 * Every failure capsync reports is a {@link CapsyncError} with a stable `code`.
 * Codes are the contract: tests, clients and other-language peers switch on them, never on messages.
 * Messages are safe to send over the wire: no stack traces, no server internals, no tokens.
 */

/** WebSocket close codes used when an error ends a connection (RFC 6455 section 7.4.1, plus 4xxx app codes). */
export const CloseCode = {
  /** Normal closure: the app closed the client, or the server is done with it. */
  normal: 1000,
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
  /** Try again later: a resume reached a node that cannot check its capabilities yet (its revocation feed is behind). */
  tryAgainLater: 1013,
  /** The peer did not answer pings in time. */
  heartbeatTimeout: 4000,
  /** The peer did not read fast enough; its unsent bytes passed the limit. */
  slowConsumer: 4001,
  /** The session's JWT expired and no fresh token arrived in time. */
  sessionExpired: 4002,
  /** Too many malformed frames from this connection. */
  tooManyBadFrames: 4003,
  /** The connection sent calls over its budget (token bucket) for too long: a flood (server/fairness.ts). */
  overBudget: 4004,
  /** The connection's user has `maxConnectionsPerUser` connections open already. */
  tooManyConnections: 4005,
} as const;

/**
 * What a client does after a close, by close code (centrifuge-js groups its codes the same way):
 * - `retryable`: reconnect, with backoff (the server went away, the network dropped, the client fell behind);
 * - `new-token`: reconnect only with a fresh session token (the JWT expired and no refresh came in time);
 * - `terminal`: stop; reconnecting would fail the same way (a protocol or policy fault, or a close the app asked for).
 */
export type CloseCodeClass = 'retryable' | 'new-token' | 'terminal';

/** The class of every close code capsync uses. protocol/SPEC.md section 6 shows this table; a test compares them. */
export const closeCodeClasses: Readonly<Record<(typeof CloseCode)[keyof typeof CloseCode], CloseCodeClass>> = Object.freeze({
  [CloseCode.normal]: 'terminal', // the app closed the connection on purpose
  [CloseCode.goingAway]: 'retryable',
  [CloseCode.protocolError]: 'terminal',
  [CloseCode.abnormal]: 'retryable',
  [CloseCode.badData]: 'terminal',
  [CloseCode.policy]: 'terminal',
  [CloseCode.tooBig]: 'terminal',
  [CloseCode.internal]: 'terminal',
  [CloseCode.tryAgainLater]: 'retryable', // the client resumes again, perhaps on another node
  [CloseCode.heartbeatTimeout]: 'retryable',
  [CloseCode.slowConsumer]: 'retryable',
  [CloseCode.sessionExpired]: 'new-token',
  [CloseCode.tooManyBadFrames]: 'terminal',
  [CloseCode.overBudget]: 'retryable', // after a backoff the budget is full again
  [CloseCode.tooManyConnections]: 'retryable', // once another of the user's connections closes, it works
});

/**
 * What a client should do after the connection closed with `code`. A code capsync does not use (a proxy's
 * 1012 "service restart", 1005 "no status") is `retryable`: a reconnecting client backs off anyway, and only
 * the codes capsync sends to stop a client are terminal.
 *
 * @example
 * ```ts
 * socket.onclose = (event) => { if (closeCodeClass(event.code) === 'retryable') scheduleReconnect(); };
 * ```
 */
export function closeCodeClass(code: number): CloseCodeClass {
  return (closeCodeClasses as Record<number, CloseCodeClass | undefined>)[code] ?? 'retryable';
}

/** The definition of every error code: its default message and, when it ends a connection, its close code. */
const definitions = {
  // Values and scopes
  ERR_INVALID_VALUE: ['value is not JSON-compatible'],
  ERR_INVALID_SCOPE: ['scope must be a non-empty list of JSON-compatible values'],
  ERR_INVALID_PATTERN: ['pattern must be a non-empty list of JSON-compatible values or ANY'],
  // Capabilities
  ERR_CAPABILITY_NOT_VERIFIED: ['not a capability verified by this server'],
  ERR_CAPABILITY_FORGED: ['capabilities can only be created in server code'],
  ERR_CAPABILITY_BAD_SIGNATURE: ['capability signature does not verify'],
  ERR_CAPABILITY_MALFORMED: ['capability token is malformed', CloseCode.badData],
  ERR_CAPABILITY_UNKNOWN_KEY: ['capability was signed with an unknown key'],
  ERR_CAPABILITY_REVOKED: ['capability has been revoked'],
  ERR_CAPABILITY_EXPIRED: ['capability has expired'],
  ERR_CAPABILITY_AUDIENCE: ['capability is bound to another user'],
  ERR_CAPABILITY_TOO_NARROW: ['capability scope is narrower than the pattern'],
  ERR_CAPABILITY_MISMATCH: ['capability scope does not match the pattern'],
  ERR_REVOCATION_FEED_STALE: ['this server cannot tell whether the capability was revoked (its revocation feed is behind); try again'],
  // Keys
  ERR_KEY_INVALID: ['capability key is not a usable symmetric JWK'],
  // Codec and limits
  ERR_FRAME_TOO_LARGE: ['frame exceeds the byte limit', CloseCode.tooBig],
  ERR_FRAME_TRUNCATED: ['frame ends before its announced contents', CloseCode.badData],
  ERR_FRAME_TRAILING_BYTES: ['frame has bytes after its value', CloseCode.badData],
  ERR_FRAME_MALFORMED: ['frame is not valid msgpack', CloseCode.badData],
  ERR_FRAME_INVALID: ['frame does not have a valid shape', CloseCode.protocolError],
  ERR_LIMIT_DEPTH: ['frame nesting is too deep', CloseCode.policy],
  ERR_LIMIT_ELEMENTS: ['frame has too many elements', CloseCode.policy],
  ERR_LIMIT_STRING: ['string exceeds the length limit', CloseCode.policy],
  ERR_LIMIT_BINARY: ['binary exceeds the length limit', CloseCode.policy],
  ERR_LIMIT_SCOPE: ['capability scope is too long', CloseCode.policy],
  ERR_LIMIT_STEPS: ['capability has too many narrowing steps', CloseCode.policy],
  ERR_LIMIT_ANCESTORS: ['capability names too many ancestors', CloseCode.policy],
  ERR_LIMIT_HOLDINGS: ['this user holds too many capabilities: this one gets no pushes'],
  ERR_EXTENSION_UNKNOWN: ['msgpack extension type is not accepted', CloseCode.badData],
  ERR_FORBIDDEN_KEY: ['map key is not allowed', CloseCode.policy],
  ERR_NON_STRING_KEY: ['map keys must be strings', CloseCode.badData],
  ERR_PORTABLE_UNKNOWN: ['portable class is not registered'],
  ERR_PORTABLE_INVALID: ['portable object is invalid'],
  ERR_NOT_ENCODABLE: ['value cannot be encoded'],
  // Calls and sessions
  ERR_FUNCTION_UNKNOWN: ['no server function with that name'],
  ERR_BAD_ARGUMENTS: ['arguments do not have the expected shape'],
  ERR_FUNCTION_FAILED: ['server function failed'],
  ERR_CALL_TIMEOUT: ['call timed out'],
  ERR_NOT_CONNECTED: ['not connected'],
  ERR_CONNECTION_CLOSED: ['connection closed'],
  ERR_RATE_LIMITED: ['too many calls in flight'],
  ERR_CALL_OUTCOME_UNKNOWN: ['the call may or may not have run: its outcome is unknown'],
  ERR_AUTH_REQUIRED: ['authentication required'],
  ERR_AUTH_INVALID: ['authentication token is invalid'],
  ERR_AUTH_EXPIRED: ['authentication token has expired'],
  ERR_FORBIDDEN: ['not allowed'],
  ERR_NOT_FOUND: ['object not found'],
  ERR_VERSION_CONFLICT: ['the object changed since the version it was edited from'],
  // Live collections
  ERR_COLLECTION_TOO_LARGE: ['collection has more objects than the server sends'],
  ERR_TOO_MANY_WATCHES: ['too many collections watched on this connection'],
  // Delegation
  ERR_RECIPIENT_OFFLINE: ['recipient is not connected'],
  ERR_NOT_ATTACHED: ['object is not attached to a client session'],
  // Connection ends: each closes the connection with its own close code
  ERR_SERVER_CLOSING: ['server is going away', CloseCode.goingAway],
  ERR_HEARTBEAT_TIMEOUT: ['no answer to pings in time', CloseCode.heartbeatTimeout],
  ERR_SLOW_CONSUMER: ['unsent bytes passed the limit', CloseCode.slowConsumer],
  ERR_SESSION_EXPIRED: ['session token expired', CloseCode.sessionExpired],
  ERR_TOO_MANY_BAD_FRAMES: ['too many refused frames', CloseCode.tooManyBadFrames],
  ERR_OVER_BUDGET: ['calls sent faster than the connection budget for too long', CloseCode.overBudget],
  ERR_LIMIT_CONNECTIONS: ['this user has too many connections open', CloseCode.tooManyConnections],
  // Server setup
  ERR_STORE_UNAVAILABLE: ['store is unavailable: its optional dependency is not installed'],
} as const satisfies Record<string, readonly [string] | readonly [string, number]>;

/** Every stable error code; `switch (err.code)` narrows on it. */
export type CapsyncErrorCode = keyof typeof definitions;

/** The list of every error code (for tools that validate or suggest codes). */
export const errorCodes: readonly CapsyncErrorCode[] = Object.freeze(Object.keys(definitions) as CapsyncErrorCode[]);

/** The one error class capsync throws; `code` is stable, `message` is safe to show and send. */
export class CapsyncError extends Error {
  /** Always `CapsyncError`, whatever the code. */
  override name = 'CapsyncError';
  /** The stable code to switch on (`ERR_...`); the message is for people and may change. */
  readonly code: CapsyncErrorCode;
  /** The WebSocket close code when this error ends a connection, else undefined. */
  readonly closeCode: number | undefined;

  constructor(code: CapsyncErrorCode, message?: string) {
    const def = definitions[code] as readonly [string, number?];
    super(message ?? def[0]);
    this.code = code;
    this.closeCode = def[1];
  }
}

/**
 * `ERR_VERSION_CONFLICT` raised by a conditional write (`put(obj, { ifVersion })`, `update`): `current` is the
 * object's version now (0 when there is no live object at the address). Over the wire only the code and the
 * message travel (the message names the current version).
 */
export class VersionConflictError extends CapsyncError {
  /** The object's version now (0: no live object at the address). */
  readonly current: number;

  constructor(current: number, expected?: number) {
    super('ERR_VERSION_CONFLICT', `object is at version ${current}${expected === undefined ? '' : `, not ${expected}`}`);
    this.current = current;
  }
}

/** True if `code` is one of capsync's codes (used when a peer sends an error frame). */
export function isErrorCode(code: unknown): code is CapsyncErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(definitions, code);
}

/** Shorthand used across the codebase: `throw fail('ERR_LIMIT_DEPTH')`. */
export function fail(code: CapsyncErrorCode, message?: string): CapsyncError {
  return new CapsyncError(code, message);
}
