import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JWK } from 'jose';
import type { Limits } from '../protocol/limits.js';
import type { AuthOptions, User } from './auth.js';
import type { ClusterPeers } from './cluster.js';
import type { CollectionOptions } from './collections.js';
import type { Fanout } from './fanout.js';
import { warningLogger } from './logger.js';
import type { PresencePolicy } from './presence.js';
import type { ObjectStore } from './store/types.js';

/** The time source of a server: expiries, deadlines and records read it. Tests pass a manual one. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => Date.now() };

/**
 * What a server logs through: pino's calling convention (an object with an `event` field), so a pino
 * logger fits as it is. The core never imports a logging library; the default (`warningLogger`) writes
 * warnings and errors to stderr, `silentLogger` discards everything.
 */
export interface Logger {
  /** Connection-level detail (frames refused, resumes). */
  debug(entry: object): void;
  /** One line per connection event. */
  info(entry: object): void;
  /** Refused upgrades, closed flooders, configuration worth a look. */
  warn(entry: object): void;
  /** Server functions that failed with a bug (`err.fn` names them). */
  error(entry: object): void;
}

/** A logger that discards everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Bounds on one connection, beside the frame {@link Limits}. */
export interface ConnectionLimits {
  /** Unsent bytes allowed before the connection is closed as a slow consumer (4001). */
  readonly maxBufferedBytes: number;
  /** Refused frames tolerated before the connection is closed (4003). */
  readonly maxBadFrames: number;
  /** Calls in flight; at it, the connection's next frame waits (its socket paused) until one settles (server/fairness.ts). */
  readonly maxInFlight: number;
  /** Capabilities tracked for pushes; past it the oldest is released. */
  readonly maxHoldings: number;
  /**
   * Connections one user may have open at once; one more is refused with `ERR_LIMIT_CONNECTIONS` (close 4005).
   * Anonymous connections are not counted per user (each is its own principal).
   */
  readonly maxConnectionsPerUser: number;
  /**
   * Capabilities one principal may hold over all its connections; past it the connection releases its own
   * oldest, or, holding none, gets `ERR_LIMIT_HOLDINGS` (an error frame with id nil) and no pushes for it.
   */
  readonly maxHoldingsPerUser: number;
  /**
   * Fair service (server/fairness.ts): frames per second one connection may send on average, and at once.
   * Past it the server stops reading from the socket until the budget refills (backpressure).
   */
  readonly callsPerSecond: number;
  /** Frames one connection may send at once before the average applies (the bucket's size). */
  readonly callBurst: number;
  /** A connection kept over its budget this long is closed with `ERR_OVER_BUDGET` (4004). */
  readonly overBudgetCloseMs: number;
  /** Bytes read but not yet admitted by the budget; past it the connection is closed with 4004. */
  readonly maxQueuedBytes: number;
  /**
   * Fair service by cost: milliseconds of the event loop per second one connection may take on average:
   * the synchronous handling of its frames (decode, verification, dispatch) and the asynchronous part of its
   * calls (their share of the loop while in flight); past it the socket is paused like past
   * `callsPerSecond`. Default 250 (a quarter of the loop).
   */
  readonly serviceMsPerSecond: number;
  /** Event-loop milliseconds one connection may take at once before the average applies. Default 500. */
  readonly serviceBurstMs: number;
  /**
   * Event-loop milliseconds one connection's calls in flight may be expected to cost after their first turn,
   * together (each call expected to cost what the connection's recent calls cost; a new connection's first
   * calls an eighth of this each). At it, the next frame waits until one settles, as at `maxInFlight`: calls
   * awaiting alike finish in the same turn, and this bounds how long their continuations hold the loop back
   * to back. Default 16.
   */
  readonly maxInFlightMs: number;
  /**
   * Fair service per user: frames per second all of one user's connections may send together on average,
   * drawn from one bucket beside each connection's own, so that more sockets do not buy a user more of the
   * server. Past it every connection of that user that sends is paused, and one kept paused for
   * `overBudgetCloseMs` is closed with `ERR_OVER_BUDGET` (4004). Default 2,000 (one connection's budget).
   * Anonymous connections: see `anonymousBudget`.
   */
  readonly userCallsPerSecond: number;
  /** Frames one user's connections may send together at once. Default 4,000. */
  readonly userCallBurst: number;
  /** Event-loop milliseconds per second one user's connections may take together (charged as per connection). Default 250. */
  readonly userServiceMsPerSecond: number;
  /** Event-loop milliseconds one user's connections may take together at once. Default 500. */
  readonly userServiceBurstMs: number;
  /**
   * What an anonymous connection shares the user budget with: `'connection'` (default: nothing, its own
   * budget is its user's), or `'address'`: every anonymous connection from the same remote address draws
   * from one budget. Behind a proxy or a NAT every client has the proxy's address, so `'address'` suits
   * only servers that see their clients' own addresses.
   */
  readonly anonymousBudget: 'connection' | 'address';
}

/** The defaults of {@link ConnectionLimits}. */
export const defaultConnectionLimits: ConnectionLimits = Object.freeze({
  maxBufferedBytes: 8 * 1024 * 1024,
  maxBadFrames: 16,
  maxInFlight: 64,
  maxHoldings: 10_000,
  maxConnectionsPerUser: 32,
  maxHoldingsPerUser: 50_000,
  callsPerSecond: 2_000,
  callBurst: 4_000,
  overBudgetCloseMs: 10_000,
  maxQueuedBytes: 8 * 1024 * 1024,
  serviceMsPerSecond: 250,
  serviceBurstMs: 500,
  maxInFlightMs: 16,
  userCallsPerSecond: 2_000,
  userCallBurst: 4_000,
  userServiceMsPerSecond: 250,
  userServiceBurstMs: 500,
  anonymousBudget: 'connection',
});

/** Options of the socket-free core: everything but how connections arrive. Everything but `auth` has a default. */
export interface HubOptions {
  /** How connections authenticate (the only required option). */
  readonly auth: AuthOptions;
  /** Default: an in-memory store. */
  readonly store?: ObjectStore;
  /** Capability root keys as symmetric JWKs; the first is current. Default: generated once and kept in the store. */
  readonly capabilityKeys?: readonly JWK[];
  /** Frame and capability bounds; default `defaultLimits`. */
  readonly limits?: Partial<Limits>;
  /** Per-connection bounds; default `serverDefaults.connection`. */
  readonly connection?: Partial<ConnectionLimits>;
  /** Carries object updates to every node; default `LocalFanout` (one process). */
  readonly fanout?: Fanout;
  /** The other nodes sharing the store (presence and delegation across nodes), e.g. `connectRedis(...).cluster`. Default: none. */
  readonly cluster?: ClusterPeers;
  /** Default: warnings and errors as JSON lines on stderr (`warningLogger`); `silentLogger` or a pino logger to change it. */
  readonly logger?: Logger;
  /** Who `client.presence()` shows to whom: `'all'` (default), `'none'` or a function. */
  readonly presence?: PresencePolicy;
  /**
   * How long a user whose last connection closed still counts as online (presence events): a reconnect within
   * it is neither a leave nor a join. Default 5 s; 0 leaves at once.
   */
  readonly presenceGraceMs?: number;
  /** Live collections (`client.collection(cap)`): their bounds, and the hook deciding what a watcher sees. */
  readonly collections?: CollectionOptions;
  /** Allowance for capability expiry checks, ms. Default 0: the server's clock is the only one that decides. */
  readonly clockToleranceMs?: number;
  /**
   * Holders a push is written to at most before the server yields to other work (`setImmediate`); the rest
   * follow in further slices. Default 256: with `pushSliceMs`, a slice ends at whichever comes first. On a
   * quiet machine 256 holders take less than the 4 ms, and the writes' own completions (which Node runs after
   * the slice) stay small enough to keep the longest stall under 10 ms; under load the time bound ends a slice.
   */
  readonly pushSliceSize?: number;
  /**
   * Milliseconds a push's fan-out writes before the server yields to other work; the rest follow in further
   * slices. Default 4: a push to 10,000 holders holds the event loop for about that long at a time.
   */
  readonly pushSliceMs?: number;
  /** How long before its JWT expires a session is asked for a fresh one (`tokenExpiring` frame). Default 30 s. */
  readonly tokenRefreshWindowMs?: number;
  /** Default: the wall clock. */
  readonly clock?: Clock;
  /** The server's ping interval; a peer that misses one ping is dropped (4000). Default 30 s. */
  readonly heartbeatMs?: number;
  /**
   * How often a client should hear from the server, announced in hello: a client that has heard nothing for
   * one interval pings, and after about two treats the connection as dead and reconnects, so a paused or
   * partitioned server is noticed in seconds. Default 5 s, or `heartbeatMs` if that is shorter.
   */
  readonly clientPingIntervalMs?: number;
  /** How long the outcome of a keyed call is kept, so a call re-sent after a reconnect runs once. Default 10 min. */
  readonly callKeyWindowMs?: number;
  /**
   * How long a deletion is remembered for resuming clients. Default 7 days. A client away longer gets a full
   * snapshot of what its capabilities cover instead of the changes (still no missed update).
   */
  readonly tombstoneHorizonMs?: number;
}

/** Options of {@link CapsyncServer.create}: the core's, and the Node listener's. */
export interface ServerOptions extends HubOptions {
  /**
   * Browser origins allowed to connect (exact, e.g. `https://app.example`); others get 403 before the upgrade.
   * `'*'` (or `['*']`) allows any. Default: the server's own origin only (the Origin's host must equal the
   * Host header). Requests without an Origin header (non-browser clients) are always allowed.
   */
  readonly origins?: readonly string[] | '*';
  /**
   * Development login: `GET /dev/login?user=<name>` issues a JWT for one of these users. Off unless given.
   * It answers only requests whose Host is `localhost`, `127.0.0.1` or `[::1]` with the server's port, and
   * only while the server listens on loopback.
   */
  readonly devUsers?: Readonly<Record<string, User>>;
  /** Serve the development login although the server listens beyond loopback (logs a loud warning). Default false. */
  readonly devLoginBeyondLoopback?: boolean;
  /** On `close()`, how long to wait for clients to answer the 1001 close frame before terminating them. Default 2 s. */
  readonly drainMs?: number;
  /**
   * On `close()`, spread the 1001 closes evenly over this many ms, in a random order, serving the connections
   * not yet closed meanwhile: after a deploy the fleet reconnects over the window (plus each client's jittered
   * backoff) instead of in one millisecond. Default 0: all at once.
   */
  readonly closeSpreadMs?: number;
  /**
   * The listen socket's accept backlog: connections the kernel queues until the server accepts them. After a
   * restart every client dials within seconds; a short queue refuses the rest. Default 4096 (the kernel caps
   * it at `net.core.somaxconn`).
   */
  readonly listenBacklog?: number;
  /** Extra HTTP routes (the demo page); return true when handled. */
  readonly http?: (request: IncomingMessage, response: ServerResponse) => boolean;
}

/** The defaults of the remaining options, in one place. */
export const serverDefaults = Object.freeze({
  clockToleranceMs: 0,
  tokenRefreshWindowMs: 30_000,
  heartbeatMs: 30_000,
  pushSliceSize: 256,
  pushSliceMs: 4,
  clientPingIntervalMs: 5_000,
  drainMs: 2_000,
  listenBacklog: 4096,
  closeSpreadMs: 0,
  callKeyWindowMs: 600_000,
  tombstoneHorizonMs: 7 * 24 * 3_600_000,
  /** Warnings and errors to stderr: a failing server function must show up somewhere. */
  logger: warningLogger,
  /** Revocation entries are pruned once the capability they revoke has expired anyway. */
  revocationPruneMs: 3_600_000,
});
