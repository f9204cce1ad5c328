import { BehaviorSubject, Observable, Subject } from 'rxjs';
import { attach } from '../protocol/attach.js';
import type { Capability } from '../protocol/capability.js';
import { Codec } from '../protocol/codec.js';
import { CapsyncError, CloseCode, fail, isErrorCode } from '../protocol/errors.js';
import { FrameType, type Frame } from '../protocol/frames.js';
import type { JsonValue } from '../protocol/json-value.js';
import { closeClassOf, OUTCOME_UNKNOWN, outcomeUnknown, refusalClassOf } from './close-codes.js';
import { Connection, type CloseInfo, type Hello, type SocketFactory } from './connection.js';
import { Heartbeat } from './heartbeat.js';
import { LiveRegistry } from './live-registry.js';
import { clientDefaults, type ConnectOptions } from './options.js';
import { Reconnector, StateObservable, type ConnectionState } from './reconnect.js';
import { RequestManager, type RequestKind } from './requests.js';
import { ResumeState } from './resume.js';
import { SessionStreams, type Change, type Delegation, type Revocation } from './streams.js';

export type { CloseInfo, SocketFactory, SocketLike } from './connection.js';
export type { ConnectOptions, ReconnectOptions, TokenProvider } from './options.js';
export type { ConnectionState, StateObservable } from './reconnect.js';
export type { Change, Delegation, Revocation } from './streams.js';

/** A capability delegated to this user that still works, as {@link CapsyncClient.grants} lists it. */
export interface Grant {
  readonly from: string;
  readonly cap: Capability;
  /** The live object the capability grants, or null. */
  readonly object: unknown;
  /** When it was delegated (ms since epoch). */
  readonly at: number;
}

/**
 * A capsync client for Node and browsers: calls server functions, receives live objects and their pushes
 * as rxjs Observables, delegates and revokes capabilities, and keeps its session across dropped connections.
 *
 * A facade over parts kept apart so a reconnect replaces only the first: the {@link Connection} (one
 * socket, a new one per attempt), the {@link RequestManager} (ids, pending calls, keys, timeouts), the
 * {@link LiveRegistry} (instances by address), the {@link ResumeState} (rights and versions to bring back)
 * and the {@link SessionStreams} (long-lived observables).
 */
export class CapsyncClient {
  /** The authenticated user, as the server sees it (from the latest hello). */
  user: { id: string; roles: string[] } | null = null;
  /** Every change pushed to this client and accepted, across reconnects. */
  readonly changes: Observable<Change>;
  /** Capabilities delegated to this user; kept while nobody subscribes, up to a bound. */
  readonly delegations: Observable<Delegation>;
  /** Capabilities this client held that were revoked or expired; kept while nobody subscribes, like delegations. */
  readonly revocations: Observable<Revocation>;
  /**
   * The server's notice that the session JWT expires soon (ms since epoch). With a token function the
   * client refreshes by itself; with a string token, call {@link refresh}. A late subscriber still gets it.
   */
  readonly tokenExpiring: Observable<number>;
  /** `connecting`, `connected`, `reconnecting`, `closed`; the current one is `connectionState.value`. */
  readonly connectionState: StateObservable<ConnectionState>;
  /** Resolves when the client has closed for good, with the last connection's close code and reason. */
  readonly closed: Promise<CloseInfo>;
  readonly #url: string;
  readonly #options: ConnectOptions;
  readonly #open: SocketFactory;
  readonly #codec: Codec;
  readonly #requests: RequestManager;
  readonly #live = new LiveRegistry();
  readonly #resume = new ResumeState(this.#live);
  readonly #streams = new SessionStreams(clientDefaults.heldEvents);
  readonly #frames = new Subject<Frame>();
  readonly #state = new BehaviorSubject<ConnectionState>('connecting');
  readonly #reconnector: Reconnector | undefined;
  #settleClosed!: (info: CloseInfo) => void;
  #connection: Connection | undefined;
  /** True once the current connection may take requests: after the hello first, after the resume frame later. */
  #sendable = false;
  #resumeId: number | undefined;
  #resumeTimer: ReturnType<typeof setTimeout> | undefined;
  #heartbeat: Heartbeat | undefined;
  #nonce = 0;
  #keyWindowMs: number = clientDefaults.callKeyWindowMs;
  #connectedOnce = false;
  #lastClose: CloseInfo | null = null;
  /** Set by {@link close}: the close the app asked for. */
  #closing: CloseInfo | undefined;

  private constructor(url: string, options: ConnectOptions, open: SocketFactory) {
    this.#url = url;
    this.#options = options;
    this.#open = open;
    this.#codec = new Codec(options.limits);
    this.#requests = new RequestManager(options.callTimeoutMs ?? clientDefaults.callTimeoutMs);
    this.changes = this.#streams.changes;
    this.delegations = this.#streams.delegations;
    this.revocations = this.#streams.revocations;
    this.tokenExpiring = this.#streams.tokenExpiring;
    this.connectionState = new StateObservable(this.#state);
    this.closed = new Promise((resolve) => (this.#settleClosed = resolve));
    const reconnect = options.reconnect;
    if (reconnect !== false) {
      const backoff = { baseDelayMs: reconnect?.baseDelayMs ?? clientDefaults.reconnectBaseDelayMs, maxDelayMs: reconnect?.maxDelayMs ?? clientDefaults.reconnectMaxDelayMs };
      this.#reconnector = new Reconnector(backoff, reconnect?.random ?? Math.random, () => this.#reconnect());
    }
  }

  /**
   * Connects and waits for the server's hello. Rejects with a typed error (`ERR_AUTH_INVALID`, ...) if the
   * first attempt is refused or fails; once connected, the client reconnects by itself.
   */
  static async connect(url: string, options: ConnectOptions, open: SocketFactory): Promise<CapsyncClient> {
    const client = new CapsyncClient(url, options, open);
    try {
      await (await client.#attempt()).ready;
    } catch (error) {
      client.#finish({ code: CloseCode.normal, reason: 'connect failed' }, error instanceof CapsyncError ? error : undefined);
      throw error;
    }
    return client;
  }

  /** When the session's JWT expires (ms since epoch), or null if it never does. Readable at any time. */
  get tokenExpiresAt(): number | null {
    return this.#streams.tokenExpiresAt;
  }

  /** The close code and reason of the last connection that ended, or null while none has. */
  get lastClose(): CloseInfo | null {
    return this.#lastClose;
  }

  /**
   * Calls a server function. The call carries a fresh key, so if the connection drops before its answer it
   * is sent again after the reconnect and still runs once. Rejects with the server's typed error,
   * `ERR_CALL_TIMEOUT`, or `ERR_CALL_OUTCOME_UNKNOWN` when its outcome can no longer be learnt.
   */
  call<T = unknown>(name: string, ...args: unknown[]): Promise<T> {
    const key = callKey();
    return this.#request((id) => [FrameType.call, id, name, args, key], 'call') as Promise<T>;
  }

  /**
   * Delegates `cap` (usually narrowed first) to a connected user. With `bind`, the server narrows it to that
   * user's audience so it works on no one else's connection; without, it is a bearer token. A delegation
   * in flight when the connection drops fails with `ERR_CALL_OUTCOME_UNKNOWN`: it may have happened.
   */
  delegate(cap: Capability, options: { to: string; bind?: boolean }): Promise<{ revocationId: string; delivered: number }> {
    return this.#request((id) => [FrameType.delegate, id, options.to, cap, options.bind ? { bind: true } : {}], 'once') as Promise<{ revocationId: string; delivered: number }>;
  }

  /** Revokes `cap` and everything narrowed from it, everywhere. The capability it was narrowed from keeps working. */
  revoke(cap: Capability): Promise<{ revocationId: string }> {
    return this.#request((id) => [FrameType.revoke, id, cap]) as Promise<{ revocationId: string }>;
  }

  /** The users online that this user may delegate to (as the server's presence policy allows). */
  presence(): Promise<string[]> {
    return this.#request((id) => [FrameType.presence, id]) as Promise<string[]>;
  }

  /** Every still-valid capability delegated to this user: what a reload or a second device gets back. */
  grants(): Promise<Grant[]> {
    return this.#request((id) => [FrameType.grants, id]) as Promise<Grant[]>;
  }

  /** Replaces the session's JWT (same user) before it expires; {@link tokenExpiresAt} follows. */
  async refresh(token: string): Promise<{ expiresAt: number | null }> {
    const result = (await this.#request((id) => [FrameType.refresh, id, token])) as { expiresAt: number | null };
    const expiresAt = (result as { expiresAt?: unknown } | null)?.expiresAt;
    if (typeof expiresAt === 'number' || expiresAt === null) this.#streams.refreshed(expiresAt);
    return result;
  }

  /**
   * The states of one live object over time: emits the instance now and after every change (the instance is
   * updated in place, across reconnects), completes when the object is deleted, errors with
   * `ERR_CAPABILITY_REVOKED` or `ERR_CAPABILITY_EXPIRED` (or the code the server refused it with on a
   * resume) when this client's last capability covering it stops working.
   */
  live<T extends object>(object: T): Observable<T> {
    return this.#live.observe(object);
  }

  /** Closes the client for good; everything pending fails with `ERR_CONNECTION_CLOSED` at once. */
  close(code: number = CloseCode.normal, reason = ''): Promise<CloseInfo> {
    if (this.#closing !== undefined || this.#state.value === 'closed') return this.closed;
    this.#closing = { code, reason };
    this.#reconnector?.stop();
    this.#requests.failAll(fail('ERR_CONNECTION_CLOSED'));
    const connection = this.#connection;
    if (connection !== undefined && !connection.isClosed) connection.close(code, reason);
    else this.#finish(this.#closing);
    return this.closed;
  }

  /** Sends raw bytes on the current connection (scripted protocol tests). */
  sendRaw(bytes: Uint8Array): void {
    if (this.#connection === undefined) throw fail('ERR_NOT_CONNECTED');
    this.#connection.sendRaw(bytes);
  }

  /** Every decoded frame, across connections (scripted protocol tests). */
  get frames(): Observable<Frame> {
    return this.#frames.asObservable();
  }

  #request(build: (id: number) => unknown[], kind: RequestKind = 'repeat'): Promise<unknown> {
    if (this.#closing !== undefined || this.#state.value === 'closed') return Promise.reject(fail('ERR_CONNECTION_CLOSED'));
    const connection = this.#connection;
    const transmit = this.#sendable && connection !== undefined ? (frame: unknown[]) => connection.send(frame) : null;
    return this.#requests.start(build, transmit, kind);
  }

  /** Opens one connection: asks for the token (a string token or a sync function opens it in this turn). */
  async #attempt(): Promise<Connection> {
    const source = this.#options.token;
    const pending = typeof source === 'function' ? source() : source;
    const token = typeof pending === 'object' ? await pending : pending;
    if (this.#closing !== undefined) throw fail('ERR_CONNECTION_CLOSED');
    const opened = this.#open(this.#url, token);
    const connection: Connection = new Connection(opened.socket, {
      codec: this.#codec,
      inbound: { onPortable: (object) => this.#adopt(object), onCapability: (cap) => this.#resume.held.add(cap) },
      connectTimeoutMs: this.#options.connectTimeoutMs ?? clientDefaults.connectTimeoutMs,
      ...(opened.failure ? { failure: opened.failure } : {}),
      events: {
        open: () => this.#opened(connection),
        hello: (hello) => this.#hello(connection, hello),
        frame: (frame) => {
          this.#heartbeat?.heard();
          this.#dispatch(frame);
        },
        unreadable: (id, reason) => {
          this.#heartbeat?.heard();
          if (id !== null) this.#requests.reject(id, reason);
        },
        closed: (info, refusal) => this.#dropped(connection, info, refusal),
      },
    });
    this.#connection = connection;
    connection.start();
    return connection;
  }

  #reconnect(): void {
    this.#attempt().catch((error: unknown) => {
      // No socket was made (the token function or the socket factory threw): this attempt failed as a whole.
      if (this.#closing !== undefined || this.#state.value === 'closed') return;
      if (error instanceof CapsyncError && refusalClassOf(error) === 'terminal') this.#finish(this.#lastClose ?? { code: CloseCode.normal, reason: '' }, error);
      else this.#reconnector?.schedule();
    });
  }

  /** The socket opened: a reconnect pipelines the resume, then every request the new socket lacks. */
  #opened(connection: Connection): void {
    if (connection !== this.#connection || !this.#connectedOnce) return;
    this.#resumeId = this.#requests.reserveId();
    try {
      connection.send(this.#resume.frame(this.#resumeId));
    } catch {
      connection.abandon(CloseCode.internal, 'resume could not be encoded');
      return;
    }
    this.#resumeTimer = setTimeout(() => connection.abandon(CloseCode.heartbeatTimeout, 'no resume answer in time'), this.#options.connectTimeoutMs ?? clientDefaults.connectTimeoutMs);
    this.#sendable = true;
    this.#requests.resend((frame) => connection.send(frame), this.#keyWindowMs);
  }

  #hello(connection: Connection, hello: Hello): void {
    this.user = hello.user && { id: hello.user.id, roles: hello.user.roles };
    this.#streams.opened(hello.tokenExpiresAt);
    this.#resume.hello(hello);
    if (hello.callKeyWindowMs !== undefined) this.#keyWindowMs = hello.callKeyWindowMs;
    if (hello.pingIntervalMs !== undefined) {
      this.#heartbeat = new Heartbeat(hello.pingIntervalMs, {
        ping: () => connection.send([FrameType.ping, this.#nonce++ % Number.MAX_SAFE_INTEGER]),
        dead: () => connection.abandon(CloseCode.heartbeatTimeout, 'server silent for two ping intervals'),
      });
    }
    if (this.#connectedOnce) return;
    this.#connectedOnce = true;
    this.#sendable = true;
    this.#state.next('connected');
  }

  #resumed(answer: unknown): void {
    clearTimeout(this.#resumeTimer);
    this.#resumeId = undefined;
    this.#resume.answered(answer);
    this.#reconnector?.succeeded();
    this.#state.next('connected');
  }

  #dropped(connection: Connection, info: CloseInfo, refusal: CapsyncError | undefined): void {
    if (connection !== this.#connection) return;
    this.#connection = undefined;
    this.#sendable = false;
    this.#heartbeat?.stop();
    this.#heartbeat = undefined;
    clearTimeout(this.#resumeTimer);
    this.#resumeId = undefined;
    this.#resume.abandoned();
    this.#lastClose = info;
    // The first connect() rejects on its own (through `ready`) and finishes the client.
    if (this.#closing !== undefined) return this.#finish(info);
    if (!this.#connectedOnce) return;
    const kind = refusal !== undefined ? refusalClassOf(refusal) : closeClassOf(info.code);
    // With a fixed token, a needs-a-new-token close would only be refused again.
    const renewable = kind === 'newToken' && typeof this.#options.token === 'function';
    if (this.#reconnector === undefined || kind === 'terminal' || (kind === 'newToken' && !renewable)) {
      return this.#finish(info, refusal ?? fail('ERR_CONNECTION_CLOSED', `connection closed (${info.code})`));
    }
    this.#requests.disconnected();
    if (this.#state.value !== 'reconnecting') this.#state.next('reconnecting');
    this.#reconnector.schedule();
  }

  /** The client is done: the app closed it (live streams complete) or it ended otherwise (they error with `error`). */
  #finish(info: CloseInfo, error?: CapsyncError): void {
    if (this.#state.value === 'closed') return;
    this.#reconnector?.stop();
    this.#requests.failAll(fail('ERR_CONNECTION_CLOSED'));
    this.#live.close(this.#closing !== undefined ? undefined : error);
    this.#frames.complete();
    this.#streams.close();
    this.#state.next('closed');
    this.#state.complete();
    this.#settleClosed(info);
  }

  #adopt(object: object): void {
    // Methods of a decoded object call the server through this client, whichever connection it arrived on.
    attach(object, this);
    this.#live.adopt(object);
  }

  #dispatch(frame: Frame): void {
    switch (frame[0]) {
      case FrameType.result:
        if (frame[1] === this.#resumeId) this.#resumed(frame[2]);
        else this.#requests.resolve(frame[1], frame[2]);
        break;
      case FrameType.error: {
        // An older server that cannot resume still serves: the client goes on without the catch-up.
        if (frame[1] !== null && frame[1] === this.#resumeId) this.#resumed(undefined);
        else if (frame[1] !== null) this.#requests.reject(frame[1], errorOf(frame[2], frame[3]));
        break;
      }
      case FrameType.push: {
        const [, address, type, version, state, seq] = frame as [number, JsonValue[], string, number, Record<string, unknown> | null, number?];
        const push = { address, type, version, state };
        this.#resume.pushed(seq);
        // A stale or refused push is dropped whole: it neither touches an instance nor reaches `changes`.
        const outcome = this.#live.apply(push);
        if (outcome === 'applied' || outcome === 'untracked') this.#streams.change({ ...push, deleted: state === null });
        break;
      }
      case FrameType.delegation:
        this.#streams.delegation({ from: frame[1].from, cap: frame[1].cap, object: frame[1].object ?? null });
        break;
      case FrameType.revoked:
        this.#resume.revoked(frame[1], frame[2] as JsonValue[], frame[3]);
        this.#streams.revoked({ revocationId: frame[1], scope: frame[2] as JsonValue[], reason: frame[3] });
        break;
      case FrameType.tokenExpiring:
        this.#streams.tokenExpiringAt(frame[1]);
        void this.#renew();
        break;
    }
    this.#frames.next(frame);
  }

  /** With a token function, answers `tokenExpiring` by itself; a failure leaves the notice for the app (or the 4002 reconnect). */
  async #renew(): Promise<void> {
    const source = this.#options.token;
    if (typeof source !== 'function') return;
    try {
      await this.refresh(await source());
    } catch {
      // The server closes with 4002 at expiry; the reconnect asks the token function again.
    }
  }
}

/** A typed error from an error frame's code; an unknown code becomes `ERR_FUNCTION_FAILED`. */
function errorOf(code: string, message: string): CapsyncError {
  if (code === OUTCOME_UNKNOWN) return outcomeUnknown(message);
  return new CapsyncError(isErrorCode(code) ? code : 'ERR_FUNCTION_FAILED', message);
}

/** A fresh call key: 128 random bits in hex. `crypto.randomUUID` is missing on plain-http pages; this is not. */
function callKey(): string {
  const bytes = (globalThis as unknown as { crypto: { getRandomValues(a: Uint8Array): Uint8Array } }).crypto.getRandomValues(new Uint8Array(16));
  let key = '';
  for (const byte of bytes) key += byte.toString(16).padStart(2, '0');
  return key;
}
