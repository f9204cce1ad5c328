import type { Capability, Restrictions } from '../protocol/capability.js';
import { Codec } from '../protocol/codec.js';
import { fail } from '../protocol/errors.js';
import { FrameType } from '../protocol/frames.js';
import type { JsonValue } from '../protocol/json-value.js';
import type { Keyring } from '../protocol/keyring.js';
import { resolveLimits, type Limits } from '../protocol/limits.js';
import { CapabilityVerifier } from '../protocol/verifier.js';
import { Authenticator, type Authenticated } from './auth.js';
import { Deadlines } from './deadlines.js';
import { delegate, type DelegationDeps } from './delegation.js';
import { SessionDirectory } from './directory.js';
import { LocalFanout, type Fanout, type ObjectUpdate } from './fanout.js';
import { HolderIndex } from './holders.js';
import { loadKeyring } from './keys.js';
import { LiveObjects } from './live.js';
import { defaultConnectionLimits, serverDefaults, silentLogger, systemClock, type Clock, type ConnectionLimits, type HubOptions, type Logger } from './options.js';
import { Presence } from './presence.js';
import { FunctionRegistry, type CallContext, type Callable, type CallableOptions, type ServerApi } from './registry.js';
import { Revocations } from './revocation.js';
import { ServerSession, type RequestFrame, type SessionEnv, type Transport } from './session.js';
import { MemoryStore } from './store/memory.js';
import type { ObjectStore } from './store/types.js';

/**
 * The socket-free core of a capsync server: server functions, sessions, holders, push routing, delegation,
 * revocation and deadlines. Connections reach it through {@link Hub.handleConnection} with any
 * {@link Transport} (the Node adapter wraps `ws`; tests use an in-memory one), already authenticated.
 */
export class Hub implements ServerApi {
  readonly codec: Codec;
  readonly verifier: CapabilityVerifier;
  readonly store: ObjectStore;
  readonly live: LiveObjects;
  readonly auth: Authenticator;
  readonly limits: Limits;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly connection: ConnectionLimits;
  readonly #functions = new FunctionRegistry();
  readonly #holders = new HolderIndex<ServerSession>();
  readonly #directory = new SessionDirectory<ServerSession>();
  readonly #deadlines: Deadlines;
  readonly #presence: Presence;
  readonly #revocations: Revocations;
  readonly #fanout: Fanout;
  readonly #unsubscribeFanout: () => void;
  readonly #env: SessionEnv;
  /** What server functions get as `ctx.server`: the public operations only. */
  readonly #api: ServerApi;
  readonly #delegationDeps: DelegationDeps;
  #nextSessionId = 1;

  private constructor(options: HubOptions, keyring: Keyring, store: ObjectStore) {
    this.limits = resolveLimits(options.limits);
    this.clock = options.clock ?? systemClock;
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
    });
    this.#fanout = options.fanout ?? new LocalFanout();
    this.live = new LiveObjects(store, this.#fanout, this.codec);
    this.auth = new Authenticator(options.auth);
    this.#deadlines = new Deadlines(clock);
    this.#presence = new Presence(options.presence);
    this.#revocations = new Revocations(store, this.#directory, this.logger, clock);
    this.#unsubscribeFanout = this.#fanout.subscribe((update) => this.#push(update));
    this.#delegationDeps = { directory: this.#directory, presence: this.#presence, live: this.live, store, logger: this.logger, clock };
    this.#api = Object.freeze({
      live: this.live,
      mint: (scope: readonly JsonValue[], restrictions?: Restrictions) => this.mint(scope, restrictions),
      revoke: (cap: Capability) => this.revoke(cap),
      revokeUser: (userId: string) => this.revokeUser(userId),
    });
    this.#env = {
      codec: this.codec,
      verifier: this.verifier,
      connection: this.connection,
      deadlines: this.#deadlines,
      tokenRefreshWindowMs: options.tokenRefreshWindowMs ?? serverDefaults.tokenRefreshWindowMs,
      request: (session, frame) => this.#request(session, frame),
      hold: (session, scope) => this.#holders.add(scope, session),
      release: (session, scope) => this.#holders.remove(scope, session),
      issued: (session, entries) => {
        if (session.user === null) return;
        store.recordIssued(session.user.id, entries).catch((error: unknown) => this.logger.error({ event: 'store_error', err: error }));
      },
      closed: (session) => this.#directory.remove(session),
      logFailure: (session, event, code, detail) =>
        this.logger.warn({ event, code, session: session.id, user: session.user?.id ?? null, ...(detail instanceof Error ? { err: detail } : {}) }),
    };
  }

  /** Creates a core; loads (or generates and stores) the capability keys. */
  static async create(options: HubOptions): Promise<Hub> {
    const store = options.store ?? new MemoryStore();
    return new Hub(options, await loadKeyring(store, options.capabilityKeys), store);
  }

  /** Registers a server function callable by name. Names are looked up in a null-prototype map. */
  callable<A extends unknown[]>(name: string, fn: Callable<A>, options?: CallableOptions): void {
    this.#functions.register(name, fn as Callable<unknown[]>, options);
  }

  /** A capability minted with the current key (server code). */
  mint(scope: readonly JsonValue[], restrictions?: Restrictions): Capability {
    return this.verifier.mint(scope, restrictions);
  }

  /** Revokes a capability and everything narrowed from it, now, everywhere (server code). */
  revoke(cap: Capability): Promise<{ revocationId: string }> {
    return this.#revocations.revoke(cap, 'server');
  }

  /** Revokes every capability the server ever sent to `userId` (Anvil's `invalidate_client_objects`, per user). */
  revokeUser(userId: string): Promise<number> {
    return this.#revocations.revokeUser(userId);
  }

  /** Drops revocation entries whose capability has expired anyway. */
  pruneRevocations(): Promise<number> {
    return this.#revocations.prune(this.verifier.clockToleranceMs);
  }

  /**
   * Starts a session on an authenticated transport: sends hello, arms the token's deadlines. The caller
   * feeds the session the peer's frames (`receive`, `receiveText`) and calls `dispose()` when the transport
   * has closed.
   */
  handleConnection(transport: Transport, authenticated: Authenticated): ServerSession {
    const session = new ServerSession(this.#env, transport, String(this.#nextSessionId++), authenticated.user, authenticated.expiresAt);
    this.#directory.add(session);
    session.start();
    return session;
  }

  /** Number of open sessions. */
  get sessionCount(): number {
    return this.#directory.size;
  }

  /** The ids of users with at least one open session. */
  get onlineUsers(): string[] {
    return this.#directory.users();
  }

  /** Every open session (for the adapter's drain on close). */
  sessions(): ServerSession[] {
    return this.#directory.all();
  }

  /** Stops deadlines, fan-out and the store. Sessions must have been closed by the adapter first. */
  async close(): Promise<void> {
    for (const session of this.#directory.all()) session.end(fail('ERR_SERVER_CLOSING'));
    this.#deadlines.close();
    this.#unsubscribeFanout();
    this.#revocations.close();
    await this.#fanout.close();
    await this.store.close();
  }

  #request(session: ServerSession, frame: RequestFrame): unknown {
    switch (frame[0]) {
      case FrameType.call: {
        const ctx: CallContext = { user: session.user, session, server: this.#api };
        return this.#functions.invoke(frame[2], ctx, frame[3]);
      }
      case FrameType.delegate:
        return delegate(this.#delegationDeps, session, frame[2], frame[3], frame[4]);
      case FrameType.revoke:
        return this.#revocations.revoke(frame[2], session.user?.id ?? null);
      case FrameType.refresh:
        return this.#refresh(session, frame[2]);
      case FrameType.presence: {
        if (session.user === null) throw fail('ERR_AUTH_REQUIRED');
        return this.#presence.list(session.user, this.#directory.users());
      }
    }
  }

  async #refresh(session: ServerSession, jwt: string): Promise<{ expiresAt: number | null }> {
    const { user, expiresAt } = await this.auth.authenticate(jwt);
    if (user === null || session.user === null || user.id !== session.user.id) throw fail('ERR_AUTH_INVALID', 'a refreshed token must name the same user');
    session.renew(user, expiresAt);
    return { expiresAt };
  }

  #push(update: ObjectUpdate): void {
    const holders = this.#holders.lookup(update.address);
    if (holders.size === 0) return;
    const bytes = this.live.encodePush(update);
    for (const session of holders) session.sendBytes(bytes);
  }
}
