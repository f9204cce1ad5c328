import type { Limits } from '../protocol/limits.js';

/**
 * Where the session's JWT comes from: called at every (re)connect and when the server says the token
 * expires soon, so a session renews without app code. May be async (fetch a fresh token from the app's backend).
 */
export type TokenProvider = () => string | Promise<string>;

/** How the client reconnects after a connection drops (defaults: `clientDefaults` in `client/options.ts`). */
export interface ReconnectOptions {
  /** The cap of the first retry's delay; each attempt doubles it (full jitter). Default 0.5 s. */
  readonly baseDelayMs?: number;
  /** No retry waits longer. Default 20 s. */
  readonly maxDelayMs?: number;
  /** A number in [0, 1) for the jitter; `Math.random` by default (tests inject their own). */
  readonly random?: () => number;
}

/** Options of {@link CapsyncClient.connect} (and of `connect()`). */
export interface ConnectOptions {
  /**
   * A JWT for the server's authentication, or a function that returns one (called at every connect and on
   * `tokenExpiring`). Omit for anonymous connections (if the server allows them).
   */
  readonly token?: string | TokenProvider;
  /** How long a call may take before it fails with `ERR_CALL_TIMEOUT`, reconnects included. Default 30 s. */
  readonly callTimeoutMs?: number;
  /**
   * `true` (default): every call carries a key, so a call in flight when the connection drops is sent again
   * and still runs once (the server stores each outcome until this client acknowledges it). `false`: calls
   * carry no key and cost the server no store write; one in flight when the connection drops fails with
   * `ERR_CALL_OUTCOME_UNKNOWN` (it may or may not have run) instead of being sent again.
   */
  readonly keyedCalls?: boolean;
  /**
   * How long to wait for the connection and the server's hello (and, on a reconnect, for the resume's answer,
   * counted from the server's last frame). Default 10 s. A reconnect attempt after attempts that timed out
   * waits twice as long per timeout in a row, up to 8 times this (the server is most likely busy with a
   * herd of reconnects, not gone); an answered resume resets it.
   */
  readonly connectTimeoutMs?: number;
  /**
   * Bounds on the frames this client decodes (and on capabilities it narrows); unset fields keep
   * `defaultLimits`. What it sends is checked against the limits the server announced in its hello; these
   * apply to sending only before the hello and for a limit an older server does not announce.
   */
  readonly limits?: Partial<Limits>;
  /**
   * How to reconnect once connected; `false` never reconnects (a dropped connection closes the client, as a
   * one-shot script wants). The first connect never retries: it rejects with the reason.
   */
  readonly reconnect?: ReconnectOptions | false;
}

/**
 * Every default of the client in one place (centrifuge-js's `defaults`, hocuspocus's
 * `defaultConfiguration`), so no constructor carries its own literals.
 */
export const clientDefaults = Object.freeze({
  /** {@link ConnectOptions.callTimeoutMs}. */
  callTimeoutMs: 30_000,
  /** {@link ConnectOptions.connectTimeoutMs}. */
  connectTimeoutMs: 10_000,
  /** {@link ReconnectOptions.baseDelayMs}: a blip is usually over in well under a second. */
  reconnectBaseDelayMs: 500,
  /**
   * {@link ReconnectOptions.maxDelayMs}: long enough that 10,000 clients of a server that stays down do not
   * hammer it (on average one attempt each per 10 s), short enough that a user waits at most 20 s.
   */
  reconnectMaxDelayMs: 20_000,
  /**
   * How long the server keeps a keyed call's outcome when its hello does not say (protocol: 10 minutes). A
   * call first sent longer ago is not sent again.
   */
  callKeyWindowMs: 10 * 60_000,
  /**
   * Delegations (and revocation notices) that arrive while nobody subscribes are kept for the next
   * subscriber, up to this many each; past it the oldest go first. Bounded because an app that never
   * subscribes must not grow without limit; 64 is far more than arrive between connect and a first subscribe.
   */
  heldEvents: 64,
});
