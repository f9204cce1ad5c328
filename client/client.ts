import { Observable, Subject } from 'rxjs';
import { attach } from '../protocol/attach.js';
import type { Capability } from '../protocol/capability/capability.js';
import { Codec } from '../protocol/codec.js';
import { CapsyncError, CloseCode, fail, isErrorCode } from '../protocol/errors.js';
import { FrameType, type Frame } from '../protocol/frames.js';
import type { JsonValue } from '../protocol/json-value.js';
import { Connection, type CloseInfo, type Hello, type SocketFactory } from './connection.js';
import { LiveRegistry } from './live-registry.js';
import { clientDefaults, type ConnectOptions } from './options.js';
import { RequestManager } from './requests.js';
import { SessionStreams, type Change, type Delegation, type Revocation } from './streams.js';

export type { CloseInfo, SocketFactory, SocketLike } from './connection.js';
export type { ConnectOptions } from './options.js';
export type { Change, Delegation, Revocation } from './streams.js';

/**
 * A capsync client for Node and browsers: calls server functions, receives live objects and their pushes
 * as rxjs Observables, delegates and revokes capabilities.
 *
 * A thin facade over four parts, kept apart so a reconnecting client can replace the first and keep the
 * rest: the {@link Connection} (one socket), the {@link RequestManager} (ids, pending calls, timeouts), the
 * {@link LiveRegistry} (instances by address) and the {@link SessionStreams} (long-lived observables).
 */
export class CapsyncClient {
  /** The authenticated user, as the server sees it. */
  user: { id: string; roles: string[] } | null = null;
  /** Every change pushed to this connection. */
  readonly changes: Observable<Change>;
  /**
   * Capabilities delegated to this user. Delegations that arrive while nobody subscribes (say, right after
   * the hello) are kept for the next subscriber, up to a bound.
   */
  readonly delegations: Observable<Delegation>;
  /** Capabilities this connection held that were revoked or expired; kept while nobody subscribes, like delegations. */
  readonly revocations: Observable<Revocation>;
  /**
   * The server's notice that the session JWT expires soon (ms since epoch): call {@link refresh}. A
   * subscriber that comes after the notice still gets it, until a refresh moves the expiry past it.
   */
  readonly tokenExpiring: Observable<number>;
  readonly #connection: Connection;
  readonly #requests: RequestManager;
  readonly #live = new LiveRegistry();
  readonly #streams = new SessionStreams(clientDefaults.heldEvents);
  readonly #frames = new Subject<Frame>();

  private constructor(opened: ReturnType<SocketFactory>, options: ConnectOptions) {
    this.#requests = new RequestManager(options.callTimeoutMs ?? clientDefaults.callTimeoutMs);
    this.changes = this.#streams.changes;
    this.delegations = this.#streams.delegations;
    this.revocations = this.#streams.revocations;
    this.tokenExpiring = this.#streams.tokenExpiring;
    this.#connection = new Connection(opened.socket, {
      codec: new Codec(options.limits),
      inbound: { onPortable: (object) => this.#adopt(object) },
      connectTimeoutMs: options.connectTimeoutMs ?? clientDefaults.connectTimeoutMs,
      ...(opened.failure ? { failure: opened.failure } : {}),
      events: {
        hello: (hello) => this.#opened(hello),
        frame: (frame) => this.#dispatch(frame),
        unreadable: (id, reason) => {
          if (id !== null) this.#requests.reject(id, reason);
        },
        closed: () => this.#teardown(),
      },
    });
  }

  /** Connects and waits for the server's hello. Rejects with a typed error (`ERR_AUTH_INVALID`, ...) if refused. */
  static async connect(url: string, options: ConnectOptions, open: SocketFactory): Promise<CapsyncClient> {
    const client = new CapsyncClient(open(url, options.token), options);
    await client.#connection.ready;
    return client;
  }

  /**
   * When the session's JWT expires (ms since epoch), or null if it never does: from the hello, then from
   * every `tokenExpiring` notice and successful {@link refresh}. Readable at any time, so no notice can be missed.
   */
  get tokenExpiresAt(): number | null {
    return this.#streams.tokenExpiresAt;
  }

  /** Calls a server function. Rejects with the server's typed error, or `ERR_CALL_TIMEOUT`. */
  call<T = unknown>(name: string, ...args: unknown[]): Promise<T> {
    return this.#request((id) => [FrameType.call, id, name, args]) as Promise<T>;
  }

  /**
   * Delegates `cap` (usually narrowed first) to a connected user. With `bind`, the server narrows it to that
   * user's audience so it works on no one else's connection; without, it is a bearer token.
   */
  delegate(cap: Capability, options: { to: string; bind?: boolean }): Promise<{ revocationId: string; delivered: number }> {
    return this.#request((id) => [FrameType.delegate, id, options.to, cap, options.bind ? { bind: true } : {}]) as Promise<{ revocationId: string; delivered: number }>;
  }

  /** Revokes `cap` and everything narrowed from it, everywhere. The capability it was narrowed from keeps working. */
  revoke(cap: Capability): Promise<{ revocationId: string }> {
    return this.#request((id) => [FrameType.revoke, id, cap]) as Promise<{ revocationId: string }>;
  }

  /** The users online that this user may delegate to (as the server's presence policy allows). */
  presence(): Promise<string[]> {
    return this.#request((id) => [FrameType.presence, id]) as Promise<string[]>;
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
   * updated in place), completes when the object is deleted.
   */
  live<T extends object>(object: T): Observable<T> {
    return this.#live.observe(object);
  }

  /** Closes the connection; pending calls fail with `ERR_CONNECTION_CLOSED`. */
  close(code: number = CloseCode.normal, reason = ''): Promise<CloseInfo> {
    this.#connection.close(code, reason);
    return this.closed;
  }

  /** Resolves when the connection has closed, with the close code and reason. */
  get closed(): Promise<CloseInfo> {
    return this.#connection.closed;
  }

  /** Sends raw bytes (scripted protocol tests). */
  sendRaw(bytes: Uint8Array): void {
    this.#connection.sendRaw(bytes);
  }

  /** Every decoded frame (scripted protocol tests). */
  get frames(): Observable<Frame> {
    return this.#frames.asObservable();
  }

  #request(build: (id: number) => unknown[]): Promise<unknown> {
    if (this.#connection.isClosed) return Promise.reject(fail('ERR_CONNECTION_CLOSED'));
    return this.#requests.start(build, (frame) => this.#connection.send(frame));
  }

  #adopt(object: object): void {
    // Methods of a decoded object call the server through the session it arrived on.
    attach(object, this);
    this.#live.adopt(object);
  }

  #opened(hello: Hello): void {
    this.user = hello.user && { id: hello.user.id, roles: hello.user.roles };
    this.#streams.opened(hello.tokenExpiresAt);
  }

  #dispatch(frame: Frame): void {
    switch (frame[0]) {
      case FrameType.result:
        this.#requests.resolve(frame[1], frame[2]);
        break;
      case FrameType.error:
        if (frame[1] !== null) this.#requests.reject(frame[1], new CapsyncError(isErrorCode(frame[2]) ? frame[2] : 'ERR_FUNCTION_FAILED', frame[3]));
        break;
      case FrameType.push: {
        const [, address, type, version, state] = frame;
        const push = { address: address as JsonValue[], type, version, state };
        // A stale or refused push is dropped whole: it neither touches an instance nor reaches `changes`.
        const outcome = this.#live.apply(push);
        if (outcome === 'applied' || outcome === 'untracked') this.#streams.change({ ...push, deleted: state === null });
        break;
      }
      case FrameType.delegation:
        this.#streams.delegation({ from: frame[1].from, cap: frame[1].cap, object: frame[1].object ?? null });
        break;
      case FrameType.revoked:
        this.#streams.revoked({ revocationId: frame[1], scope: frame[2] as JsonValue[], reason: frame[3] });
        break;
      case FrameType.tokenExpiring:
        this.#streams.tokenExpiringAt(frame[1]);
        break;
    }
    this.#frames.next(frame);
  }

  #teardown(): void {
    this.#requests.failAll(fail('ERR_CONNECTION_CLOSED'));
    this.#live.close();
    this.#frames.complete();
    this.#streams.close();
  }
}
