import type { Limits } from '../protocol/limits.js';

/** Options of {@link CapsyncClient.connect} (and of `connect()`). */
export interface ConnectOptions {
  /** A JWT for the server's authentication. Omit for anonymous connections (if the server allows them). */
  readonly token?: string;
  /** How long a call may take before it fails with `ERR_CALL_TIMEOUT`. Default 30 s. */
  readonly callTimeoutMs?: number;
  /** How long to wait for the connection and the server's hello. Default 10 s. */
  readonly connectTimeoutMs?: number;
  /** Bounds on the frames this client decodes (and on capabilities it narrows); unset fields keep `defaultLimits`. */
  readonly limits?: Partial<Limits>;
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
  /**
   * Delegations (and revocation notices) that arrive while nobody subscribes are kept for the next
   * subscriber, up to this many each; past it the oldest go first. Bounded because an app that never
   * subscribes must not grow without limit; 64 is far more than arrive between connect and a first subscribe.
   */
  heldEvents: 64,
});
