import type { Capability } from '../protocol/capability/capability.js';
import { Codec } from '../protocol/codec.js';
import { fail, type CapsyncError } from '../protocol/errors.js';
import { FrameType } from '../protocol/frames.js';
import type { JsonValue } from '../protocol/json-value.js';
import type { Keyring } from '../protocol/keyring.js';
import { resolveLimits, type Limits } from '../protocol/limits.js';
import { CapabilityVerifier, type MintOptions } from '../protocol/verifier.js';
import { Activity } from './activity.js';
import { Authenticator, type Authenticated } from './auth.js';
import { Deadlines } from './deadlines.js';
import { CallKeys } from './calls.js';
import type { ClusterPeers } from './cluster.js';
import { Collections } from './collections.js';
import { delegate, deliverMissed, deliverRemote, grantsFor, type DelegationDeps } from './delegation.js';
import { SessionDirectory } from './directory.js';
import { LocalFanout, type Fanout, type ObjectUpdate } from './fanout.js';
import { HolderIndex } from './holders.js';
import { HoldingBudgets } from './holdings.js';
import { AnonymousIdentities, isAnonymousPrincipal } from './identity.js';
import { loadKeyring } from './keys.js';
import { LiveObjects } from './live.js';
import { defaultConnectionLimits, serverDefaults, systemClock, type Clock, type ConnectionLimits, type HubOptions, type Logger } from './options.js';
import { Presence } from './presence.js';
import { defaultPresenceGraceMs, PresenceTracker, type PresenceChange } from './presence-events.js';
import { PushSlicer } from './push-slices.js';
import { FunctionRegistry, type CallContext, type Callable, type CallableOptions, type ServerApi } from './registry.js';
import { Revocations } from './revocation.js';
import { capabilityError } from './resume.js';
import { SessionResumes } from './session-resume.js';
import { ServerSession, type RequestFrame, type SessionEnv, type Transport } from './session.js';
import { nodeCrypto } from './node-crypto.js';
import { MemoryStore } from './store/memory.js';
import type { ObjectStore } from './store/types.js';

/**
 * Whose call keys a session's keys are: a user's span all of that user's connections (a call re-sent on a
 * new connection finds its outcome); an anonymous client's span the connections that re-presented its identity.
 */
function principalOf(session: ServerSession): string {
  return session.user !== null ? `user:${session.user.id}` : `anon:${session.principal ?? session.id}`;
}

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
  /** Recent delegations and revocations, calls per second: what the inspector (server/inspect.ts) reads. */
  readonly activity: Activity;
  readonly #functions = new FunctionRegistry();
  readonly #holders = new HolderIndex<ServerSession>();
  readonly #directory: SessionDirectory<ServerSession>;
  readonly #cluster: ClusterPeers | undefined;
  readonly #unsubscribeCluster: () => void;
  readonly #deadlines: Deadlines;
  readonly #presence: Presence;
  /** Sessions that asked for presence events (a `presence` request with `watch: true`), until they stop or close. */
  readonly #presenceWatchers = new Set<ServerSession>();
  readonly #online: PresenceTracker;
  readonly #collections: Collections;
  readonly #revocations: Revocations;
  readonly #fanout: Fanout;
  readonly #unsubscribeFanout: () => void;
  readonly #env: SessionEnv;
  /** What server functions get as `ctx.server`: the public operations only. */
  readonly #api: ServerApi;
  readonly #delegationDeps: DelegationDeps;
  readonly #calls: CallKeys;
  readonly #slicer: PushSlicer;
  readonly #epoch: string;
  /** The highest change sequence number this node has seen (announced in hello; a lower bound is safe). */
  #seq: number;
  readonly #hello: { pingIntervalMs: number; callKeyWindowMs: number };
  readonly #tombstoneHorizonMs: number;
  readonly #identities: AnonymousIdentities;
  readonly #resumes: SessionResumes;
  #nextSessionId = 1;
  #closing = false;

  private constructor(options: HubOptions, keyring: Keyring, store: ObjectStore, epoch: string, seq: number) {
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
      crypto: nodeCrypto,
    });
    this.#identities = new AnonymousIdentities(keyring, nodeCrypto);
    this.#cluster = options.cluster;
    this.#directory = new SessionDirectory<ServerSession>(this.#cluster ?? {});
    this.#fanout = options.fanout ?? new LocalFanout();
    this.live = new LiveObjects(store, this.#fanout, this.codec);
    this.auth = new Authenticator(options.auth);
    this.#deadlines = new Deadlines(clock);
    this.#presence = new Presence(options.presence);
    const feed = store.revocations;
    this.#collections = new Collections(this.live, this.logger, options.collections, feed.current === undefined ? undefined : (limitMs) => feed.current!(limitMs));
    // On several nodes the peers merge every node's joins and leaves into the deployment's (server/cluster.ts).
    const announce = options.cluster?.presence !== undefined && options.cluster.onPresence !== undefined ? (change: PresenceChange) => options.cluster!.presence!(change) : (change: PresenceChange) => this.#announce(change);
    this.#online = new PresenceTracker(this.#deadlines, clock, options.presenceGraceMs ?? defaultPresenceGraceMs, announce);
    this.#revocations = new Revocations(store, this.#directory, this.logger, clock);
    this.#slicer = new PushSlicer({
      maxPerSlice: options.pushSliceSize ?? serverDefaults.pushSliceSize,
      sliceMs: options.pushSliceMs ?? serverDefaults.pushSliceMs,
    });
    this.#unsubscribeFanout = this.#fanout.subscribe((update) => this.#push(update));
    this.#delegationDeps = {
      directory: this.#directory, presence: this.#presence, live: this.live, store, logger: this.logger, clock, verifier: this.verifier, cluster: this.#cluster,
    };
    this.#resumes = new SessionResumes({ live: this.live, revocations: store.revocations, verifier: this.verifier, identities: this.#identities, delegation: this.#delegationDeps });
    const stopDelivery =
      this.#cluster?.onDelivery((to, d) => {
        deliverRemote(this.#delegationDeps, to, d.from, d.token).catch((error: unknown) => this.logger.warn({ event: 'remote_delegation_failed', err: error }));
      }) ?? (() => {});
    const stopPresence = this.#cluster?.presence !== undefined ? (this.#cluster.onPresence?.((change) => this.#announce(change)) ?? (() => {})) : () => {};
    const stopListening =
      this.#cluster?.onListening?.((users) => {
        for (const user of users) deliverMissed(this.#delegationDeps, user).catch((error: unknown) => this.logger.warn({ event: 'missed_delegations_failed', err: error }));
      }) ?? (() => {});
    this.#unsubscribeCluster = () => (stopDelivery(), stopPresence(), stopListening());
    const callKeyWindowMs = options.callKeyWindowMs ?? serverDefaults.callKeyWindowMs;
    this.#calls = new CallKeys({ store, codec: this.codec, verifier: this.verifier, clock, logger: this.logger, windowMs: callKeyWindowMs });
    this.#tombstoneHorizonMs = options.tombstoneHorizonMs ?? serverDefaults.tombstoneHorizonMs;
    this.#hello = { pingIntervalMs: Math.min(options.clientPingIntervalMs ?? serverDefaults.clientPingIntervalMs, options.heartbeatMs ?? Infinity), callKeyWindowMs };
    this.#api = Object.freeze({
      live: this.live,
      mint: (scope: readonly JsonValue[], options?: MintOptions) => this.mint(scope, options),
      revoke: (cap: Capability) => this.revoke(cap),
      revokeUser: (userId: string) => this.revokeUser(userId),
      revokeSession: (sessionId: string) => this.revokeSession(sessionId),
      isValid: (cap: unknown) => this.isValid(cap),
    });
    this.#env = {
      codec: this.codec,
      verifier: this.verifier,
      connection: this.connection,
      deadlines: this.#deadlines,
      holdingBudgets: new HoldingBudgets(this.connection.maxHoldingsPerUser),
      tokenRefreshWindowMs: options.tokenRefreshWindowMs ?? serverDefaults.tokenRefreshWindowMs,
      request: (session, frame, refusal) => this.#request(session, frame, refusal),
      hold: (session, scope) => {
        this.#holders.add(scope, session);
        this.#fanout.hold?.(scope);
      },
      release: (session, scope) => {
        this.#holders.remove(scope, session);
        this.#fanout.release?.(scope);
        this.#collections.released(session, scope);
      },
      issued: (session, entries) => {
        if (session.user === null) return;
        store.recordIssued(session.user.id, entries).catch((error: unknown) => this.logger.error({ event: 'store_error', err: error }));
      },
      closed: (session) => {
        // Counted by #online when it entered the directory (a session refused while closing never did).
        const counted = this.#directory.remove(session);
        this.#presenceWatchers.delete(session);
        this.#collections.closed(session);
        if (session.user !== null && counted) this.#online.closed(session.user.id);
      },
      logFailure: (session, event, code, detail, fn) => {
        const entry = { event, code, session: session.id, user: session.user?.id ?? null, ...(fn !== undefined ? { fn } : {}) };
        // A refusal with its code is the protocol working (info); anything else is a bug in server code (warn).
        if (detail === undefined) this.logger.info(entry);
        else this.logger.warn({ ...entry, err: detail });
      },
    };
  }

  /** Creates a core; loads (or generates and stores) the capability keys. */
  static async create(options: HubOptions): Promise<Hub> {
    const store = options.store ?? new MemoryStore();
    const [keyring, epoch, seq] = await Promise.all([loadKeyring(store, options.capabilityKeys), store.epoch(), store.seq()]);
    return new Hub(options, keyring, store, epoch, seq);
  }

  /** Registers a server function callable by name. Names are looked up in a null-prototype map. */
  callable<A extends unknown[]>(name: string, fn: Callable<A>, options?: CallableOptions): void {
    this.#functions.register(name, fn as Callable<unknown[]>, options);
  }

  /**
   * A capability minted with the current key (server code). It is bound to each session it is sent to,
   * unless `bearer: true` (then whoever holds its bytes can use it).
   */
  mint(scope: readonly JsonValue[], options?: MintOptions): Capability {
    return this.verifier.mint(scope, options);
  }

  /**
   * Revokes every capability one session was sent (Anvil's `reset_session`), wherever it is used: a capability
   * is bound to the session's principal, so the same user's other connections lose it too. Returns how many.
   */
  async revokeSession(sessionId: string): Promise<number> {
    const session = this.#directory.all().find((s) => s.id === sessionId);
    if (session === undefined) return 0;
    const entries = session.sentEntries();
    await this.store.revocations.add(entries);
    this.activity.revoked({ by: 'server', what: `session:${sessionId}`, revocationId: null, count: entries.length });
    this.logger.info({ event: 'revoked_session', session: sessionId, count: entries.length });
    return entries.length;
  }

  /** True when `cap` is a capability this server verified (or server code built) that still works now (Anvil's `is_valid`). */
  isValid(cap: unknown): boolean {
    return capabilityError(cap) === undefined;
  }

  /** Revokes a capability and everything narrowed from it, now, everywhere (server code). */
  revoke(cap: Capability): Promise<{ revocationId: string }> {
    return this.#revoked(this.#revocations.revoke(cap, 'server'), cap, 'server');
  }

  /** Revokes every capability the server ever sent to `userId` (Anvil's `invalidate_client_objects`, per user). */
  async revokeUser(userId: string): Promise<number> {
    const count = await this.#revocations.revokeUser(userId);
    this.activity.revoked({ by: 'server', what: `user:${userId}`, revocationId: null, count });
    return count;
  }

  /**
   * Periodic upkeep: drops revocation entries and delegation records whose capability has expired anyway,
   * call outcomes past their window, and tombstones past the horizon.
   */
  async prune(): Promise<void> {
    const now = this.clock.now();
    await this.#revocations.prune(this.verifier.clockToleranceMs);
    await this.#calls.prune();
    await this.store.pruneDelegations(now - this.verifier.clockToleranceMs);
    await this.store.pruneTombstones(now - this.#tombstoneHorizonMs);
  }

  /**
   * Starts a session on an authenticated transport: sends hello, arms the token's deadlines. The caller
   * feeds the session the peer's frames (`receive`, `receiveText`) and calls `dispose()` when the transport
   * has closed.
   */
  handleConnection(transport: Transport, authenticated: Authenticated): ServerSession {
    const user = authenticated.user;
    // The authenticator refuses such ids; an adapter that skipped it must not let a user be an anonymous client.
    if (user !== null && isAnonymousPrincipal(user.id)) throw fail('ERR_AUTH_INVALID', 'a user id cannot name an anonymous client');
    const anonymous = user === null ? this.#identities.issue() : undefined;
    const session = new ServerSession(this.#env, transport, this.#nextSessionId++, user, authenticated.expiresAt, anonymous);
    // A core that is closing takes no one new: the client hears "going away" and tries again elsewhere or later.
    if (this.#closing) {
      session.end(fail('ERR_SERVER_CLOSING'));
      return session;
    }
    if (user !== null && this.#directory.ofUser(user.id).size >= this.connection.maxConnectionsPerUser) {
      // Told with a typed error frame, then the close code: the client backs off (4005 is retryable).
      const refused = fail('ERR_LIMIT_CONNECTIONS');
      this.logger.info({ event: 'connection_refused', code: refused.code, user: user.id });
      session.sendError(null, refused);
      session.end(refused);
      return session;
    }
    this.#directory.add(session);
    session.start({ ...this.#hello, epoch: this.#epoch, seq: this.#seq });
    if (user !== null) this.#online.opened(user.id);
    return session;
  }

  /** Number of open sessions. */
  /** How often a client should hear from this server, ms (announced in hello as `pingIntervalMs`). */
  get clientPingIntervalMs(): number {
    return this.#hello.pingIntervalMs;
  }

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
  /** From now on new connections are refused with 1001 (the first step of closing: nothing new while draining). */
  stopAccepting(): void {
    this.#closing = true;
  }

  async close(): Promise<void> {
    this.#closing = true;
    for (const session of this.#directory.all()) session.end(fail('ERR_SERVER_CLOSING'));
    this.#deadlines.close();
    this.#unsubscribeFanout();
    this.#unsubscribeCluster();
    this.#revocations.close();
    await this.#fanout.close();
    // The outcomes of calls that finished go to the store before it closes (their repeats after a restart get them).
    await this.#calls.drain();
    await this.store.close();
  }

  #request(session: ServerSession, frame: RequestFrame, refusal?: CapsyncError): unknown {
    switch (frame[0]) {
      case FrameType.call: {
        this.activity.call();
        const ctx: CallContext = { user: session.user, session, server: this.#api };
        const key = frame[4] as string | undefined;
        if (key === undefined) {
          if (refusal !== undefined) throw refusal;
          return this.#functions.invoke(frame[2], ctx, frame[3]);
        }
        const principal = principalOf(session);
        if (frame.length === 6) this.#calls.acknowledge(principal, frame[5] as string[]);
        // A refused capability: the key's outcome if the call ran, else the refusal, kept as its outcome.
        const run = refusal === undefined ? () => this.#functions.invoke(frame[2], ctx, frame[3]) : () => { throw refusal; };
        return this.#calls.run(principal, session.principal, key, run);
      }
      case FrameType.resume:
        return this.#resumes.resume(session, frame[2]);
      case FrameType.grants:
        return grantsFor(this.#delegationDeps, session);
      case FrameType.watch:
        return this.#collections.watch(session, frame[1], frame[2], frame[3]);
      case FrameType.delegate:
        return delegate(this.#delegationDeps, session, frame[2], frame[3], frame[4]).then((result) => {
          const cap = frame[3];
          this.activity.delegated({
            from: session.user?.id ?? '', to: frame[2], scope: [...cap.scope], revocationId: result.revocationId, bearer: frame[4]?.bearer === true, expiresAt: cap.expiresAt,
          });
          return result;
        });
      case FrameType.revoke:
        return this.#revoked(this.#revocations.revoke(frame[2], session.user?.id ?? null), frame[2], session.user?.id ?? 'anonymous');
      case FrameType.refresh:
        return this.#refresh(session, frame[2]);
      case FrameType.presence: {
        if (session.user === null) throw fail('ERR_AUTH_REQUIRED');
        const watch = frame[2]?.watch;
        if (watch === true) this.#presenceWatchers.add(session);
        else if (watch === false) this.#presenceWatchers.delete(session);
        if (this.#cluster === undefined) return this.#presence.list(session.user, this.#online.online());
        // With several nodes: this node's users (with their grace) and every other node's.
        const viewer = session.user;
        return this.#cluster.onlineUsers().then((others) => this.#presence.list(viewer, [...new Set([...this.#online.online(), ...others])]));
      }
    }
  }

  async #revoked(revocation: Promise<{ revocationId: string }>, cap: Capability, by: string): Promise<{ revocationId: string }> {
    const result = await revocation;
    this.activity.revoked({ by, what: [...cap.scope], revocationId: result.revocationId, count: 1 });
    return result;
  }

  async #refresh(session: ServerSession, jwt: string): Promise<{ expiresAt: number | null }> {
    const { user, expiresAt } = await this.auth.authenticate(jwt);
    if (user === null || session.user === null || user.id !== session.user.id) throw fail('ERR_AUTH_INVALID', 'a refreshed token must name the same user');
    session.renew(user, expiresAt);
    return { expiresAt };
  }

  /** Tells every user who may see `change.user` (by the presence policy) that it joined or left; never the user itself. */
  #announce(change: PresenceChange): void {
    // With 'none' there is no one to tell: skip the walk over every session (n² over a herd of joins).
    if (this.#closing || this.#presence.hidesAll) return;
    // Only connections that asked (a presence request with watch): the others never pay for a herd's joins.
    for (const session of this.#presenceWatchers) {
      const viewer = session.user;
      if (viewer === null || viewer.id === change.user || !this.#presence.visible(viewer, change.user)) continue;
      session.send([FrameType.presenceEvent, change.type, change.user]);
    }
  }

  #push(update: ObjectUpdate): void {
    if (update.seq > this.#seq) this.#seq = update.seq;
    this.#collections.changed(update);
    const holders = this.#holders.lookup(update.address);
    if (holders.size === 0) return;
    // Encoded once; written in slices, so a large audience does not hold the event loop (server/push-slices.ts).
    this.#slicer.send(holders, this.live.encodePush(update));
  }
}
