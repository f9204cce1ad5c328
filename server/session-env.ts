import type { CapsyncError } from '../protocol/errors.js';
import type { Codec } from '../protocol/codec.js';
import type { FrameType, FrameOf } from '../protocol/frames.js';
import type { JsonValue } from '../protocol/json-value.js';
import type { CapabilityVerifier } from '../protocol/verifier.js';
import type { Deadlines } from './deadlines.js';
import type { HoldingBudgets } from './holdings.js';
import type { ConnectionLimits } from './options.js';
import type { ServerSession } from './session.js';
import type { SharedPush } from './push-slices.js';

/**
 * What the core needs from one connection's socket: send bytes, close, and how many bytes are still
 * unsent. The Node adapter wraps a `ws` socket in it; tests use a scripted one.
 */
export interface Transport {
  /**
   * Sends one frame. `alone` (a fan-out's push): write it now rather than holding it to coalesce with the
   * connection's other frames of this turn, so a sliced fan-out's time budget counts real writes.
   */
  send(bytes: Uint8Array, alone?: boolean): void;
  /**
   * Optional: sends a fan-out's push (written at once) from the frame its holders share: the first holder
   * frames it and leaves the frame in `shared.framed`, the others write that same buffer.
   */
  sendShared?(shared: SharedPush): void;
  close(code: number, reason: string): void;
  readonly bufferedAmount: number;
}

/** A frame a session hands to the core: everything but pings, which the session answers itself. */
export type RequestFrame = FrameOf<
  typeof FrameType.call | typeof FrameType.delegate | typeof FrameType.revoke | typeof FrameType.refresh | typeof FrameType.presence |
  typeof FrameType.resume | typeof FrameType.grants | typeof FrameType.watch
>;

/** What a session needs from the core that owns it. Internal: not reachable from the package entry points. */
export interface SessionEnv {
  readonly codec: Codec;
  readonly verifier: CapabilityVerifier;
  readonly connection: ConnectionLimits;
  readonly deadlines: Deadlines;
  /** The per-principal bound on held capabilities, shared by every session. */
  readonly holdingBudgets: HoldingBudgets;
  /** How long before the JWT expires the client is warned. */
  readonly tokenRefreshWindowMs: number;
  /**
   * Runs a request frame (call, delegate, revoke, refresh, presence): its answer, or a promise of it. `refusal`:
   * a keyed call whose capability the decode refused, which still goes through its key (its outcome, if it ran).
   */
  request(session: ServerSession, frame: RequestFrame, refusal?: CapsyncError): unknown;
  /** The connection now holds (or no longer holds) a capability of this scope: pushes for it reach it. */
  hold(session: ServerSession, scope: readonly JsonValue[]): void;
  release(session: ServerSession, scope: readonly JsonValue[]): void;
  /** Capabilities sent to the session's user, by revocation id (so `revokeUser` can find them). */
  issued(session: ServerSession, entries: { id: string; expiresAt: number | null }[]): void;
  closed(session: ServerSession): void;
  /**
   * A request or frame was refused (`detail` undefined: an expected refusal, with its code) or failed on a
   * bug (`detail` the error). `fn` names the server function of a failed call.
   */
  logFailure(session: ServerSession, event: string, code: string, detail?: unknown, fn?: string): void;
}

