import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { JWK } from 'jose';
import pino, { type Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import { Capability } from '../protocol/capability/capability.js';
import { Codec } from '../protocol/codec.js';
import { CapsyncError, CloseCode, fail } from '../protocol/errors.js';
import { FrameType } from '../protocol/frames.js';
import type { JsonValue } from '../protocol/json-value.js';
import { Keyring } from '../protocol/keyring.js';
import { resolveLimits, type Limits } from '../protocol/limits.js';
import type { RevocationEntry } from '../protocol/revocation.js';
import { ANY, unwrapCapability } from '../protocol/unwrap.js';
import { CapabilityVerifier } from '../protocol/verifier.js';
import { Authenticator, type AuthOptions, type User } from './auth.js';
import { LocalFanout, type Fanout, type ObjectUpdate } from './fanout.js';
import { HolderIndex } from './holders.js';
import { SUBPROTOCOL, bearerToken, originAllowed, refuseUpgrade, sendJson } from './http.js';
import { LiveObjects } from './live.js';
import { nodeCrypto } from './node-crypto.js';
import { FunctionRegistry, type CallContext, type Callable, type CallableOptions } from './registry.js';
import { ServerSession, type SessionHost } from './session.js';
import { SqliteStore } from './store/sqlite.js';
import type { ObjectStore } from './store/types.js';

/** Who may see whom in the presence list: everyone, no one, or a function of the viewer. */
export type PresencePolicy = 'all' | 'none' | ((viewer: User, online: string[]) => string[]);

/** Options of {@link CapsyncServer.create}. Everything but `auth` has a default. */
export interface ServerOptions {
  readonly auth: AuthOptions;
  /** Default: a SQLite store in memory. */
  readonly store?: ObjectStore;
  /** Capability root keys as symmetric JWKs; the first is current. Default: generated once and kept in the store. */
  readonly capabilityKeys?: readonly JWK[];
  /** Browser origins allowed to connect; others get 403 before the upgrade. Default: any. */
  readonly origins?: readonly string[];
  readonly limits?: Partial<Limits>;
  readonly fanout?: Fanout;
  readonly logger?: Logger;
  /** Ping interval; a peer that misses one ping is dropped. Default 30 s. */
  readonly heartbeatMs?: number;
  /** Unsent bytes allowed per connection before it is closed as a slow consumer (4001). Default 8 MiB. */
  readonly maxBufferedBytes?: number;
  /** Malformed frames tolerated per connection before it is closed (4003). Default 16. */
  readonly maxBadFrames?: number;
  /** Calls in flight per connection; more are refused with `ERR_RATE_LIMITED`. Default 64. */
  readonly maxInFlight?: number;
  /** Capabilities tracked per connection for pushes; past it the oldest is released. Default 10,000. */
  readonly maxHoldings?: number;
  readonly presence?: PresencePolicy;
  /** Allowance for capability expiry checks, ms. Default 0: the server's clock is the only one that decides. */
  readonly clockToleranceMs?: number;
  /** How long before its JWT expires a session is asked for a fresh one (`tokenExpiring` frame). Default 30 s. */
  readonly tokenRefreshWindowMs?: number;
  /** Development login: `GET /dev/login?user=<name>` issues a JWT for one of these users. Off unless given. */
  readonly devUsers?: Readonly<Record<string, User>>;
  /** Extra HTTP routes (the demo page); return true when handled. */
  readonly http?: (request: IncomingMessage, response: ServerResponse) => boolean;
}

const storeKeysSetting = 'capability-keys';

/**
 * The capsync server: HTTP + WebSocket (`ws`), authentication at the upgrade, server functions, live
 * objects pushed to capability holders, delegation and revocation.
 *
 * @example
 * ```ts
 * const server = await CapsyncServer.create({ auth: { secret } });
 * server.callable('get_my_videos', async (ctx) => ...);
 * const { port } = await server.listen(0, '127.0.0.1');
 * ```
 */
export class CapsyncServer implements SessionHost {
  readonly codec: Codec;
  readonly verifier: CapabilityVerifier;
  readonly store: ObjectStore;
  readonly live: LiveObjects;
  readonly auth: Authenticator;
  readonly limits: Limits;
  readonly logger: Logger;
  readonly maxBufferedBytes: number;
  readonly maxBadFrames: number;
  readonly maxInFlight: number;
  readonly maxHoldings: number;
  readonly #options: ServerOptions;
  readonly #functions = new FunctionRegistry();
  readonly #holders = new HolderIndex<ServerSession>();
  readonly #sessions = new Set<ServerSession>();
  readonly #byUser = new Map<string, Set<ServerSession>>();
  readonly #tokenTimers = new Map<ServerSession, ReturnType<typeof setTimeout>[]>();
  readonly #fanout: Fanout;
  readonly #unsubscribe: (() => void)[] = [];
  readonly #http: HttpServer;
  readonly #wss: WebSocketServer;
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #prune: ReturnType<typeof setInterval> | undefined;
  readonly #alive = new WeakSet<WebSocket>();

  private constructor(options: ServerOptions, keyring: Keyring, store: ObjectStore) {
    this.#options = options;
    this.limits = resolveLimits(options.limits);
    this.codec = new Codec(this.limits);
    this.store = store;
    this.verifier = new CapabilityVerifier({ keyring, revocations: store.revocations, limits: this.limits, clockToleranceMs: options.clockToleranceMs ?? 0, crypto: nodeCrypto });
    this.#fanout = options.fanout ?? new LocalFanout();
    this.live = new LiveObjects(store, this.#fanout, this.codec);
    this.auth = new Authenticator(options.auth);
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.maxBufferedBytes = options.maxBufferedBytes ?? 8 * 1024 * 1024;
    this.maxBadFrames = options.maxBadFrames ?? 16;
    this.maxInFlight = options.maxInFlight ?? 64;
    this.maxHoldings = options.maxHoldings ?? 10_000;
    this.#unsubscribe.push(this.#fanout.subscribe((update) => this.#push(update)));
    this.#unsubscribe.push(store.revocations.subscribe((entries) => this.#revoked(entries)));
    this.#http = createHttpServer((req, res) => this.#request(req, res));
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.limits.maxFrameBytes,
      perMessageDeflate: false,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    this.#http.on('upgrade', (req, socket, head) => void this.#upgrade(req, socket, head));
  }

  /** Creates a server; loads (or generates and stores) the capability keys. */
  static async create(options: ServerOptions): Promise<CapsyncServer> {
    const store = options.store ?? new SqliteStore(':memory:');
    let jwks = options.capabilityKeys;
    if (jwks === undefined) {
      const saved = await store.getSetting(storeKeysSetting);
      if (saved !== undefined) jwks = JSON.parse(saved) as JWK[];
      else {
        jwks = [await Keyring.generateJwk()];
        await store.setSetting(storeKeysSetting, JSON.stringify(jwks));
      }
    }
    return new CapsyncServer(options, await Keyring.fromJwks(jwks), store);
  }

  /** Registers a server function callable by name. Names are looked up in a null-prototype map. */
  callable<A extends unknown[]>(name: string, fn: Callable<A>, options?: CallableOptions): this {
    this.#functions.register(name, fn as Callable<unknown[]>, options);
    return this;
  }

  /** A capability minted with the current key (server code). */
  mint(scope: readonly JsonValue[], restrictions?: { expiresAt?: number; audience?: string }): Capability {
    return this.verifier.mint(scope, restrictions);
  }

  /** Starts listening. Resolves with the bound address. */
  async listen(port = 0, host = '127.0.0.1'): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen(port, host, () => resolve());
    });
    const interval = this.#options.heartbeatMs ?? 30_000;
    this.#heartbeat = setInterval(() => this.#beat(), interval);
    this.#heartbeat.unref();
    // Revocation entries are only needed while the capability they revoke could still verify.
    this.#prune = setInterval(() => {
      this.store.revocations.prune(Date.now() - this.verifier.clockToleranceMs).catch((error: unknown) => this.logger.error({ event: 'store_error', err: error }));
    }, 3_600_000);
    this.#prune.unref();
    const address = this.#http.address() as AddressInfo;
    this.logger.info({ event: 'listening', port: address.port, host: address.address });
    return address;
  }

  /** The URL clients connect to. */
  get url(): string {
    const a = this.#http.address() as AddressInfo;
    return `ws://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  }

  /** Closes every connection and the listener, and the store. */
  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    clearInterval(this.#prune);
    for (const session of [...this.#sessions]) session.close(CloseCode.goingAway, 'server closing');
    for (const ws of this.#wss.clients) ws.terminate();
    for (const u of this.#unsubscribe) u();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    if (this.#http.listening) await new Promise<void>((resolve) => this.#http.close(() => resolve()));
    await this.#fanout.close();
    await this.store.close();
  }

  /** Number of open sessions. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** The ids of users with at least one open session. */
  get onlineUsers(): string[] {
    return [...this.#byUser.keys()];
  }

  // ---- revocation (server code) ----

  /** Revokes a capability and everything narrowed from it, now, everywhere (server code). Returns its revocation id. */
  async revoke(cap: Capability): Promise<{ revocationId: string }> {
    return this.#revoke(cap, 'server');
  }

  /** Revokes every capability the server ever sent to `userId` (Anvil's `invalidate_client_objects`, per user). */
  async revokeUser(userId: string): Promise<number> {
    const issued = await this.store.issuedTo(userId, Date.now());
    await this.store.revocations.add(issued);
    this.logger.info({ event: 'revoked_user', user: userId, count: issued.length });
    return issued.length;
  }

  // ---- SessionHost ----

  call(session: ServerSession, name: string, args: unknown[]): unknown {
    const ctx: CallContext = { user: session.user, session, server: this };
    return this.#functions.invoke(name, ctx, args);
  }

  async revokeFor(session: ServerSession, cap: Capability): Promise<unknown> {
    return this.#revoke(cap, session.user?.id ?? null);
  }

  async #revoke(cap: Capability, by: string | null): Promise<{ revocationId: string }> {
    // Only a valid capability can be revoked through: its holder proves it holds it (or could narrow to it).
    unwrapCapability(cap, cap.scope.map(() => ANY));
    const revocationId = cap.revocationId!;
    await this.store.revocations.add([{ id: revocationId, expiresAt: cap.expiresAt }]);
    this.logger.info({ event: 'revoked', revocationId, by });
    return { revocationId };
  }

  async delegate(session: ServerSession, to: string, cap: Capability, options: { bind?: boolean }): Promise<unknown> {
    if (session.user === null) throw fail('ERR_AUTH_REQUIRED');
    unwrapCapability(cap, cap.scope.map(() => ANY));
    const recipients = this.#byUser.get(to);
    if (recipients === undefined || !this.#visible(session.user, to)) throw fail('ERR_RECIPIENT_OFFLINE');
    const granted = options.bind ? cap.narrow([], { audience: to }) : cap;
    // A capability bound to another user would only fail in the recipient's hands: refuse it here.
    if (granted.audiences.some((a) => a !== to)) throw fail('ERR_CAPABILITY_AUDIENCE');
    const revocationId = granted.revocationId!;
    const object = await this.live.grantedBy(granted);
    await this.store.recordDelegation({ from: session.user.id, to, scope: [...granted.scope], revocationId, bound: options.bind === true, at: Date.now() });
    for (const recipient of recipients) recipient.send([FrameType.delegation, { from: session.user.id, cap: granted, object: object ?? null }]);
    this.logger.info({ event: 'delegated', from: session.user.id, to, revocationId, bound: options.bind === true });
    return { revocationId, delivered: recipients.size };
  }

  async refresh(session: ServerSession, jwt: string): Promise<unknown> {
    const { user, expiresAt } = await this.auth.authenticate(jwt);
    if (user === null || session.user === null || user.id !== session.user.id) throw fail('ERR_AUTH_INVALID', 'a refreshed token must name the same user');
    session.user = user;
    session.tokenExpiresAt = expiresAt;
    this.#armTokenExpiry(session);
    return { expiresAt };
  }

  async presence(session: ServerSession): Promise<unknown> {
    if (session.user === null) throw fail('ERR_AUTH_REQUIRED');
    const viewer = session.user;
    return this.onlineUsers.filter((u) => u !== viewer.id && this.#visible(viewer, u));
  }

  hold(session: ServerSession, scope: readonly JsonValue[]): void {
    this.#holders.add(scope, session);
  }

  release(session: ServerSession, scope: readonly JsonValue[]): void {
    this.#holders.remove(scope, session);
  }

  issued(session: ServerSession, entries: { id: string; expiresAt: number | null }[]): void {
    if (session.user === null) return;
    this.store.recordIssued(session.user.id, entries).catch((error: unknown) => this.logger.error({ event: 'store_error', err: error }));
  }

  closed(session: ServerSession): void {
    this.#sessions.delete(session);
    for (const t of this.#tokenTimers.get(session) ?? []) clearTimeout(t);
    this.#tokenTimers.delete(session);
    if (session.user) {
      const set = this.#byUser.get(session.user.id);
      set?.delete(session);
      if (set?.size === 0) this.#byUser.delete(session.user.id);
    }
  }

  logFailure(session: ServerSession, event: string, code: string, detail?: unknown): void {
    this.logger.warn({ event, code, session: session.id, user: session.user?.id ?? null, ...(detail instanceof Error ? { err: detail } : {}) });
  }

  // ---- internals ----

  #visible(viewer: User, other: string): boolean {
    const policy = this.#options.presence ?? 'all';
    if (policy === 'all') return true;
    if (policy === 'none') return false;
    return policy(viewer, [other]).includes(other);
  }

  #push(update: ObjectUpdate): void {
    const holders = this.#holders.lookup(update.address);
    if (holders.size === 0) return;
    const bytes = this.live.encodePush(update);
    for (const session of holders) session.sendBytes(bytes);
  }

  #revoked(entries: readonly RevocationEntry[]): void {
    const ids = new Set(entries.map((e) => e.id));
    for (const session of this.#sessions) session.revoked(ids);
  }

  #request(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/healthz') return sendJson(res, 200, { ok: true, sessions: this.#sessions.size });
    if (url.pathname === '/dev/login' && this.#options.devUsers && req.method === 'GET') {
      const name = url.searchParams.get('user') ?? '';
      const user = Object.prototype.hasOwnProperty.call(this.#options.devUsers, name) ? this.#options.devUsers[name] : undefined;
      if (user === undefined) return sendJson(res, 404, { code: 'ERR_NOT_FOUND', message: 'no such development user' });
      void this.auth.issue(user).then(
        (token) => sendJson(res, 200, { token, user }),
        (error: unknown) => sendJson(res, 500, { code: error instanceof CapsyncError ? error.code : 'ERR_FUNCTION_FAILED', message: 'cannot issue a token' }),
      );
      return;
    }
    if (this.#options.http?.(req, res)) return;
    sendJson(res, 404, { code: 'ERR_NOT_FOUND', message: 'not found' });
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    if (!originAllowed(req, this.#options.origins)) {
      this.logger.warn({ event: 'upgrade_refused', reason: 'origin', origin: req.headers.origin });
      return refuseUpgrade(socket, 403, fail('ERR_FORBIDDEN', 'origin not allowed'));
    }
    let authenticated;
    try {
      authenticated = await this.auth.authenticate(bearerToken(req));
    } catch (error) {
      const err = error instanceof CapsyncError ? error : fail('ERR_AUTH_INVALID');
      this.logger.warn({ event: 'upgrade_refused', reason: err.code });
      return refuseUpgrade(socket, 401, err);
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#connected(ws, req, authenticated.user, authenticated.expiresAt));
  }

  #connected(ws: WebSocket, req: IncomingMessage, user: User | null, expiresAt: number | null): void {
    const session = new ServerSession(this, {
      send: (bytes) => ws.send(bytes),
      close: (code, reason) => ws.close(code, reason),
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
    }, user, expiresAt);
    this.#sessions.add(session);
    if (user) {
      let set = this.#byUser.get(user.id);
      if (set === undefined) this.#byUser.set(user.id, (set = new Set()));
      set.add(session);
    }
    this.#alive.add(ws);
    ws.on('pong', () => this.#alive.add(ws));
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return session.sendError(null, fail('ERR_FRAME_MALFORMED', 'frames must be binary'));
      session.receive(data);
    });
    ws.on('close', (code) => {
      session.dispose();
      this.logger.info({ event: 'disconnected', session: session.id, user: user?.id ?? null, code });
    });
    ws.on('error', () => ws.terminate());
    this.logger.info({ event: 'connected', session: session.id, user: user?.id ?? null, remote: req.socket.remoteAddress });
    session.hello(this.limits.maxFrameBytes);
    this.#armTokenExpiry(session);
  }

  #armTokenExpiry(session: ServerSession): void {
    for (const t of this.#tokenTimers.get(session) ?? []) clearTimeout(t);
    const expiresAt = session.tokenExpiresAt;
    if (expiresAt === null) return;
    const now = Date.now();
    const window = this.#options.tokenRefreshWindowMs ?? 30_000;
    const clamp = (ms: number) => Math.min(Math.max(ms, 0), 2 ** 31 - 1);
    const warn = setTimeout(() => session.send([FrameType.tokenExpiring, expiresAt]), clamp(expiresAt - window - now));
    const end = setTimeout(() => session.close(CloseCode.sessionExpired, 'session token expired'), clamp(expiresAt - now));
    warn.unref();
    end.unref();
    this.#tokenTimers.set(session, [warn, end]);
  }

  #beat(): void {
    for (const ws of this.#wss.clients) {
      if (!this.#alive.has(ws)) {
        ws.terminate();
        continue;
      }
      this.#alive.delete(ws);
      ws.ping();
    }
  }
}
