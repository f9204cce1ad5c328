import type { ActivityEvent } from './activity.js';
import type { HeldCapability } from './holdings.js';
import { hubOf, type CapsyncServer } from './server.js';

/** One open connection as the inspector shows it: who, since when, and what it holds. */
export interface ConnectionView {
  /** The session id, as in the logs (`ctx.session.id`). */
  readonly session: string;
  /** The user's id, or null for an anonymous client. */
  readonly user: string | null;
  readonly roles: readonly string[];
  readonly tokenExpiresAt: number | null;
  /** Every capability the connection holds as cover: scopes and revocation ids, never tokens. */
  readonly holds: readonly HeldCapability[];
}

/** What {@link inspectServer} reports about one node, at one moment. */
export interface Inspection {
  readonly at: number;
  readonly connections: readonly ConnectionView[];
  /** The last delegations and revocations on this node, newest first. */
  readonly recent: readonly ActivityEvent[];
  /** Mean server function calls per second over the last 10 s, and since the node started. */
  readonly callsPerSecond: number;
  readonly callsTotal: number;
}

/**
 * A read-only look inside a running server for an admin page (Socket.IO's admin UI, Centrifugo's web UI):
 * who is connected, what each connection holds, recent delegations and revocations, call rate. It reveals
 * who holds what, so expose it only behind a capability of its own (the demo's `["capsync_admin",
 * "inspect"]`), never a hidden URL. Holds nothing that would let a reader act: no tokens, no keys.
 *
 * @example
 * ```ts
 * server.callable('inspect', (_ctx, cap: Capability) => {
 *   unwrapCapability(cap, ['capsync_admin', 'inspect']);
 *   return inspectServer(server);
 * });
 * ```
 */
export function inspectServer(server: CapsyncServer): Inspection {
  const hub = hubOf(server);
  const connections = hub.sessions().map((session) => ({
    session: session.id,
    user: session.user?.id ?? null,
    roles: [...(session.user?.roles ?? [])],
    tokenExpiresAt: session.tokenExpiresAt,
    holds: session.heldCapabilities(),
  }));
  return {
    at: hub.clock.now(),
    connections,
    recent: hub.activity.recent(),
    callsPerSecond: hub.activity.callsPerSecond(10),
    callsTotal: hub.activity.callsTotal,
  };
}
