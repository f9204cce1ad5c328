import { Observable, Subject } from 'rxjs';
import { attach } from '../protocol/attach.js';
import type { Capability } from '../protocol/capability/capability.js';
import { CapsyncError, CloseCode, fail, isErrorCode } from '../protocol/errors.js';
import { FrameType, type Frame } from '../protocol/frames.js';
import type { JsonValue } from '../protocol/json-value.js';
import type { CloseInfo, Hello, SocketFactory } from './connection.js';
import { Collections, type CollectionOptions } from './collections.js';
import { related } from './held-capabilities.js';
import { LiveRegistry } from './live-registry.js';
import { PresenceEvents, type PresenceChange } from './presence.js';
import { clientDefaults, type ConnectOptions } from './options.js';
import type { ConnectionState, StateObservable } from './reconnect.js';
import { RequestManager, type RequestKind } from './requests.js';
import { ResumeState } from './resume.js';
import { SessionLink } from './session-link.js';
import { SessionStreams, type Change, type Delegation, type Revocation } from './streams.js';
import type { TypedClient } from './typed.js';

export type { CloseInfo, SocketFactory, SocketLike } from './connection.js';
export type { ConnectOptions, ReconnectOptions, TokenProvider } from './options.js';
export type { ConnectionState, StateObservable } from './reconnect.js';
export type { Change, Delegation, Revocation } from './streams.js';
export type { FunctionArgs, FunctionName, FunctionResult, TypedClient } from './typed.js';
export type { PresenceChange } from './presence.js';
export type { CollectionOptions } from './collections.js';

/** A capability delegated to this user that still works, as {@link CapsyncClient.grants} lists it. */
export interface Grant {
  /** Who delegated it. */
  readonly from: string;
  /** The delegated capability, still valid. */
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
 * A facade over parts kept apart so a reconnect replaces only the first: the `Connection` (one
 * socket, a new one per attempt), the `RequestManager` (ids, pending calls, keys, timeouts), the
 * `LiveRegistry` (instances by address), the `ResumeState` (rights and versions to bring back)
 * and the `SessionStreams` (long-lived observables).
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
  /**
   * Users coming online (`join`) and going offline (`leave`), among those the server's presence policy lets
   * this user see; never this user itself. A user is online while any of its connections is open, and for a
   * short grace after the last one closed (a reconnect is no leave and join). Start from {@link presence}
   * for who is online now; after a reconnect of this client the events it missed are emitted from a fresh
   * `presence()` answer. Completes when the client closes.
   *
   * The server sends these events only to connections that asked for them: subscribing asks (a `presence`
   * request with `watch`), and the last unsubscribe stops them, so clients that never listen cost the
   * server nothing when others come and go.
   */
  readonly presenceChanges: Observable<PresenceChange>;
  /** Resolves when the client has closed for good, with the last connection's close code and reason. */
  readonly closed: Promise<CloseInfo>;
  readonly #options: ConnectOptions;
  readonly #requests: RequestManager;
  readonly #live = new LiveRegistry();
  readonly #keys = new CallKeys();
  readonly #resume = new ResumeState(this.#live);
  readonly #streams = new SessionStreams(clientDefaults.heldEvents);
  readonly #frames = new Subject<Frame>();
  readonly #presence = new PresenceEvents();
  /** Subscribers of {@link presenceChanges}: while there are any, this connection watches presence. */
  #presenceWatchers = 0;
  readonly #collections = new Collections(this.#live, (cap, options, onId) =>
    this.#request((id) => {
      onId(id);
      return [FrameType.watch, id, cap, options];
    }),
  );
  readonly #link: SessionLink;

  private constructor(url: string, options: ConnectOptions, open: SocketFactory) {
    this.#options = options;
    this.#requests = new RequestManager(options.callTimeoutMs ?? clientDefaults.callTimeoutMs);
    this.changes = this.#streams.changes;
    this.delegations = this.#streams.delegations;
    this.revocations = this.#streams.revocations;
    this.tokenExpiring = this.#streams.tokenExpiring;
    this.presenceChanges = new Observable<PresenceChange>((subscriber) => {
      const subscription = this.#presence.changes.subscribe(subscriber);
      if (this.#presenceWatchers++ === 0) this.#watchPresence(true);
      return () => {
        subscription.unsubscribe();
        if (--this.#presenceWatchers === 0) this.#watchPresence(false);
      };
    });
    this.#link = new SessionLink(url, options, open, {
      inbound: { onPortable: (object) => this.#adopt(object), onCapability: (cap) => this.#resume.held.add(cap) },
      hello: (hello) => this.#hello(hello),
      frame: (frame) => this.#dispatch(frame),
      unreadable: (id, reason, pushAddress) => {
        if (id !== null) this.#requests.reject(id, reason);
        // An object whose push cannot be read cannot be kept up to date: its live streams say why.
        if (pushAddress !== undefined) this.#live.fail(pushAddress, reason);
      },
      resumeFrame: (id) => this.#resume.frame(id),
      resumed: (answer) => {
        this.#resume.answered(answer);
        this.#reconnected();
        this.#collections.reconnected();
      },
      resend: (transmit, keyWindowMs) => this.#requests.resend(transmit, keyWindowMs),
      disconnected: () => {
        this.#resume.abandoned();
        this.#requests.disconnected();
      },
      finished: (error) => this.#teardown(error),
    }, () => this.#requests.reserveId());
    this.connectionState = this.#link.state;
    this.closed = this.#link.closed;
  }

  /**
   * Connects and waits for the server's hello. Rejects with a typed error (`ERR_AUTH_INVALID`, ...) if the
   * first attempt is refused or fails; once connected, the client reconnects by itself.
   */
  static async connect(url: string, options: ConnectOptions, open: SocketFactory): Promise<CapsyncClient> {
    const client = new CapsyncClient(url, options, open);
    await client.#link.first();
    return client;
  }

  /** When the session's JWT expires (ms since epoch), or null if it never does. Readable at any time. */
  get tokenExpiresAt(): number | null {
    return this.#streams.tokenExpiresAt;
  }

  /** The close code and reason of the last connection that ended, or null while none has. */
  get lastClose(): CloseInfo | null {
    return this.#link.lastClose;
  }

  /**
   * Calls a server function. The call carries a fresh key, so if the connection drops before its answer it
   * is sent again after the reconnect and still runs once (unless {@link ConnectOptions.keyedCalls} is false). Rejects with the server's typed error,
   * `ERR_CALL_TIMEOUT`, or `ERR_CALL_OUTCOME_UNKNOWN` when its outcome can no longer be learnt.
   */
  call<T = unknown>(name: string, ...args: unknown[]): Promise<T> {
    if (this.#options.keyedCalls === false) return this.#request((id) => [FrameType.call, id, name, args], 'once') as Promise<T>;
    const key = this.#keys.next();
    return this.#request((id) => [FrameType.call, id, name, args, key], 'call') as Promise<T>;
  }

  /**
   * This client, typed against the server's functions: `client.typed<typeof functions>().call(...)` checks
   * names, arguments and results at compile time. The same object at runtime; `call` here stays untyped.
   */
  typed<Api>(): TypedClient<Api> {
    return this as unknown as TypedClient<Api>;
  }

  /**
   * Delegates `cap` (usually narrowed first) to a connected user. The server re-mints it for that user,
   * bound to them (it works on no one else's connection) and revoked with `cap` or anything `cap` came from.
   * `bearer: true` asks for an unbound one instead: whoever holds its bytes can use it. `bind` is accepted
   * and changes nothing (bound is the default). A delegation in flight when the connection drops fails with
   * `ERR_CALL_OUTCOME_UNKNOWN`: it may have happened.
   */
  delegate(cap: Capability, options: { to: string; bind?: boolean; bearer?: boolean }): Promise<{ revocationId: string; delivered: number }> {
    this.#resume.held.handedOn(cap);
    return this.#request((id) => [FrameType.delegate, id, options.to, cap, options.bearer ? { bearer: true } : {}], 'once') as Promise<{ revocationId: string; delivered: number }>;
  }

  /** Revokes `cap` and everything narrowed from it, everywhere. The capability it was narrowed from keeps working. */
  revoke(cap: Capability): Promise<{ revocationId: string }> {
    this.#resume.held.handedOn(cap);
    return this.#request((id) => [FrameType.revoke, id, cap]) as Promise<{ revocationId: string }>;
  }

  /** The users online that this user may delegate to (as the server's presence policy allows). */
  async presence(): Promise<string[]> {
    return this.#presenceRequest(undefined);
  }

  /** A `presence` request; `watch` set also starts (true) or stops (false) this connection's presence events. */
  async #presenceRequest(watch: boolean | undefined): Promise<string[]> {
    const mark = this.#presence.asked();
    let users: string[];
    try {
      users = (await this.#request((id) => (watch === undefined ? [FrameType.presence, id] : [FrameType.presence, id, { watch }]))) as string[];
    } catch (error) {
      this.#presence.unanswered();
      throw error;
    }
    if (Array.isArray(users) && users.every((u) => typeof u === 'string')) this.#presence.listed(users, mark);
    else this.#presence.unanswered();
    return users;
  }

  /** Starts or stops presence events; a failure is left to the next reconnect, which asks again while anyone listens. */
  #watchPresence(watch: boolean): void {
    if (this.user === null || this.connectionState.value === 'closed') return;
    this.#presenceRequest(watch).catch(() => undefined);
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
   * resume) when this client's last capability covering it stops working. While subscribed, the signed
   * capabilities covering the object when it was subscribed are kept alive (the client otherwise holds
   * capabilities weakly), so the stream keeps its rights across reconnects even if the app dropped them.
   */
  live<T extends object>(object: T): Observable<T> {
    // The capabilities covering it are kept while the stream is subscribed: they are held weakly, and one
    // the app dropped would not be presented on the next resume, so the stream would silently go quiet.
    return this.#live.observe(object, (address) => this.#resume.held.list().filter((cap) => related(cap.scope, address)));
  }

  /**
   * The live list of objects under `cap`'s scope (a prefix capability, such as an admin's
   * `["youtube_videos"]`): emits the whole list once the server's snapshot arrived, and again whenever an
   * object is created or deleted there or a member changes. Members are the client's own instances (the
   * same ones `live()` and pushes update), each with the capability it is granted under (by default `cap`
   * narrowed to it; the server may attach a narrower one or leave objects out) unless the instance already
   * had one. `type` keeps one portable class. Subscribers of the same scope and type share one watch; it
   * stops when the last unsubscribes. Survives reconnects (re-watched: what changed while away arrives).
   * Errors with the server's code: a capability that does not work (`ERR_CAPABILITY_*`), a collection over
   * the server's bound (`ERR_COLLECTION_TOO_LARGE`), too many watches (`ERR_TOO_MANY_WATCHES`).
   */
  collection<T extends object = object>(cap: Capability, options?: CollectionOptions<T>): Observable<T[]> {
    return this.#collections.observe(cap, options);
  }

  /** Closes the client for good; everything pending fails with `ERR_CONNECTION_CLOSED` at once. */
  close(code: number = CloseCode.normal, reason = ''): Promise<CloseInfo> {
    if (!this.#link.ended) {
      this.#requests.failAll(fail('ERR_CONNECTION_CLOSED'));
      this.#link.close(code, reason);
    }
    return this.closed;
  }

  /** Sends raw bytes on the current connection (scripted protocol tests). */
  sendRaw(bytes: Uint8Array): void {
    this.#link.sendRaw(bytes);
  }

  /** Every decoded frame, across connections (scripted protocol tests). */
  get frames(): Observable<Frame> {
    return this.#frames.asObservable();
  }

  #request(build: (id: number) => unknown[], kind: RequestKind = 'repeat'): Promise<unknown> {
    if (this.#link.ended) return Promise.reject(fail('ERR_CONNECTION_CLOSED'));
    return this.#requests.start(build, this.#link.transmit(), kind);
  }

  #hello(hello: Hello): void {
    this.user = hello.user && { id: hello.user.id, roles: hello.user.roles };
    this.#streams.opened(hello.tokenExpiresAt);
    this.#resume.hello(hello);
  }

  /** The client is done: the app closed it (live streams complete) or it ended otherwise (they error with `error`). */
  #teardown(error: CapsyncError | undefined): void {
    this.#requests.failAll(fail('ERR_CONNECTION_CLOSED'));
    this.#live.close(error);
    this.#collections.close(error);
    this.#frames.complete();
    this.#streams.close();
    this.#presence.close();
  }

  #adopt(object: object): void {
    // Methods of a decoded object call the server through this client, whichever connection it arrived on.
    attach(object, this);
    this.#live.adopt(object);
  }

  #dispatch(frame: Frame): void {
    switch (frame[0]) {
      case FrameType.result:
        this.#requests.resolve(frame[1], frame[2]);
        break;
      case FrameType.error:
        if (frame[1] !== null) this.#requests.reject(frame[1], errorOf(frame[2], frame[3]));
        break;
      case FrameType.push: {
        const [, address, type, version, state, seq] = frame as [number, JsonValue[], string, number, Record<string, unknown> | null, number?];
        const push = { address, type, version, state };
        this.#resume.pushed(seq);
        // A stale or refused push is dropped whole: it neither touches an instance nor reaches `changes`.
        const outcome = this.#live.apply(push);
        if (outcome === 'applied' || outcome === 'untracked') this.#streams.change({ ...push, deleted: state === null });
        if (outcome === 'applied') this.#collections.pushed(address, state === null);
        break;
      }
      case FrameType.delegation:
        this.#streams.delegation({ from: frame[1].from, cap: frame[1].cap, object: frame[1].object ?? null });
        break;
      case FrameType.revoked:
        this.#resume.revoked(frame[1], frame[2] as JsonValue[], frame[3]);
        this.#streams.revoked({ revocationId: frame[1], scope: frame[2] as JsonValue[], reason: frame[3], ...(frame[4] !== undefined ? { cause: frame[4] } : {}) });
        break;
      case FrameType.snapshot:
        this.#collections.snapshot(frame[1], frame[2]);
        break;
      case FrameType.collectionChange:
        this.#collections.change(frame[1], frame[2], frame[3]);
        break;
      case FrameType.presenceEvent:
        this.#presence.event(frame[1], frame[2]);
        break;
      case FrameType.tokenExpiring:
        this.#streams.tokenExpiringAt(frame[1]);
        void this.#renew();
        break;
    }
    this.#frames.next(frame);
  }

  /** A new connection took over the session: what was missed while away is caught up. */
  #reconnected(): void {
    // Only presence for now if the app listens: the new connection watches again, and the answer's list
    // gives the events missed while away. A failure leaves them as they were (the next reconnect retries).
    if (this.#presenceWatchers > 0 && this.user !== null) this.#presenceRequest(true).catch(() => undefined);
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
  return new CapsyncError(isErrorCode(code) ? code : 'ERR_FUNCTION_FAILED', message);
}

/**
 * Call keys of one client: 96 random bits in hex, drawn once, then a counter. Unique for as long as anyone
 * keeps an outcome (keys are scoped to one user, so they need not be secret), and cheaper per call than a
 * CSPRNG draw each time. `crypto.randomUUID` is missing on plain-http pages; `getRandomValues` is not.
 */
class CallKeys {
  readonly #prefix: string;
  #next = 0;

  constructor() {
    const bytes = (globalThis as unknown as { crypto: { getRandomValues(a: Uint8Array): Uint8Array } }).crypto.getRandomValues(new Uint8Array(12));
    let prefix = '';
    for (const byte of bytes) prefix += byte.toString(16).padStart(2, '0');
    this.#prefix = prefix;
  }

  next(): string {
    return `${this.#prefix}.${(this.#next++).toString(36)}`;
  }
}
