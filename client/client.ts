import { Observable, Subject, filter, share } from 'rxjs';
import { attach } from '../protocol/attach.js';
import type { Capability } from '../protocol/capability/capability.js';
import { Codec } from '../protocol/codec.js';
import { OutboundHandles } from '../protocol/handles.js';
import { CapsyncError, CloseCode, fail, isErrorCode } from '../protocol/errors.js';
import { FrameType, peekAnswerId, serverFrameTypes, validateFrame, type Frame, type FrameOf } from '../protocol/frames.js';
import { canonicalKey, type JsonValue } from '../protocol/json-value.js';
import type { Limits } from '../protocol/limits.js';
import { addressOf } from '../protocol/portable.js';

/** The minimal WebSocket surface the client uses: the browser's WebSocket and `ws` both provide it. */
export interface SocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

/** Opens a socket to `url` presenting `token`; `failure` reports a typed refusal of the upgrade when the platform can see it. */
export type SocketFactory = (url: string, token: string | undefined) => { socket: SocketLike; failure?: () => CapsyncError | undefined };

/** Options of {@link CapsyncClient.connect}. */
export interface ConnectOptions {
  /** A JWT for the server's authentication. Omit for anonymous connections (if the server allows them). */
  readonly token?: string;
  /** How long a call may take before it fails with `ERR_CALL_TIMEOUT`. Default 30 s. */
  readonly callTimeoutMs?: number;
  /** How long to wait for the connection and the server's hello. Default 10 s. */
  readonly connectTimeoutMs?: number;
  readonly limits?: Partial<Limits>;
}

/** A live object's change as the client sees it. `object` is the local instance updated in place, if there is one. */
export interface Change {
  readonly address: JsonValue[];
  readonly type: string;
  readonly version: number;
  readonly deleted: boolean;
  readonly state: Record<string, unknown> | null;
}

/** A capability another user delegated to this one. */
export interface Delegation<T = unknown> {
  readonly from: string;
  readonly cap: Capability;
  /** The live object the capability grants (e.g. a `Video`), or null. */
  readonly object: T | null;
}

/** A capability this connection held that stopped working. */
export interface Revocation {
  readonly revocationId: string;
  readonly scope: JsonValue[];
  readonly reason: 'revoked' | 'expired';
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: CapsyncError): void;
  /** When the call times out (ms since epoch). */
  deadline: number;
}

interface LiveEntry {
  version: number;
  readonly instances: Set<object>;
  readonly updates: Subject<object>;
}

/**
 * A capsync client for Node and browsers: calls server functions, receives live objects and their pushes
 * as rxjs Observables, delegates and revokes capabilities.
 */
export class CapsyncClient {
  /** The authenticated user, as the server sees it. */
  user: { id: string; roles: string[] } | null = null;
  readonly #socket: SocketLike;
  readonly #codec: Codec;
  readonly #pending = new Map<number, Pending>();
  readonly #live = new Map<string, LiveEntry>();
  readonly #frames = new Subject<Frame>();
  readonly #changes = new Subject<Change>();
  readonly #callTimeoutMs: number;
  readonly #inbound = { onPortable: (object: object) => this.#adopt(object) };
  /** Capabilities this connection sent are bound to 4-byte handles: each token crosses the wire once. */
  readonly #outbound = { outboundHandles: new OutboundHandles() };
  #nextId = 1;
  #timeoutTimer: ReturnType<typeof setTimeout> | undefined;
  #closed: { code: number; reason: string } | undefined;
  readonly #closedWaiters: ((c: { code: number; reason: string }) => void)[] = [];

  /** Every change pushed to this connection. */
  readonly changes: Observable<Change> = this.#changes.asObservable();
  /** Capabilities delegated to this user. */
  readonly delegations: Observable<Delegation>;
  /** Capabilities this connection held that were revoked or expired. */
  readonly revocations: Observable<Revocation>;
  /** The server's notice that the session JWT expires soon (ms since epoch): call {@link refresh}. */
  readonly tokenExpiring: Observable<number>;

  private constructor(socket: SocketLike, options: ConnectOptions) {
    this.#socket = socket;
    this.#codec = new Codec(options.limits);
    this.#callTimeoutMs = options.callTimeoutMs ?? 30_000;
    const frames = this.#frames.pipe(share());
    this.delegations = new Observable<Delegation>((subscriber) =>
      frames.pipe(filter((f): f is FrameOf<6> => f[0] === FrameType.delegation)).subscribe((f) =>
        subscriber.next({ from: f[1].from, cap: f[1].cap, object: f[1].object ?? null }),
      ),
    );
    this.revocations = new Observable<Revocation>((subscriber) =>
      frames.pipe(filter((f): f is FrameOf<8> => f[0] === FrameType.revoked)).subscribe((f) =>
        subscriber.next({ revocationId: f[1], scope: f[2] as JsonValue[], reason: f[3] }),
      ),
    );
    this.tokenExpiring = new Observable<number>((subscriber) =>
      frames.pipe(filter((f): f is FrameOf<12> => f[0] === FrameType.tokenExpiring)).subscribe((f) => subscriber.next(f[1])),
    );
  }

  /** Connects and waits for the server's hello. Rejects with a typed error (`ERR_AUTH_INVALID`, ...) if refused. */
  static connect(url: string, options: ConnectOptions, open: SocketFactory): Promise<CapsyncClient> {
    const { socket, failure } = open(url, options.token);
    const client = new CapsyncClient(socket, options);
    return new Promise<CapsyncClient>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(fail('ERR_NOT_CONNECTED', 'connection timed out'));
        socket.close();
      }, options.connectTimeoutMs ?? 10_000);
      let helloSeen = false;
      socket.onmessage = (event) => {
        const frame = client.#receive(event.data);
        if (!helloSeen && frame?.[0] === FrameType.hello) {
          helloSeen = true;
          clearTimeout(timer);
          client.user = frame[1].user && { id: frame[1].user.id, roles: frame[1].user.roles };
          resolve(client);
        }
      };
      socket.onerror = () => {};
      socket.onclose = (event) => {
        clearTimeout(timer);
        client.#onClose(event.code, event.reason);
        if (!helloSeen) reject(failure?.() ?? fail('ERR_NOT_CONNECTED', `connection closed (${event.code})`));
      };
    });
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

  /** Replaces the session's JWT (same user) before it expires. */
  refresh(token: string): Promise<{ expiresAt: number | null }> {
    return this.#request((id) => [FrameType.refresh, id, token]) as Promise<{ expiresAt: number | null }>;
  }

  /**
   * The states of one live object over time: emits the instance now and after every change (the instance is
   * updated in place), completes when the object is deleted.
   */
  live<T extends object>(object: T): Observable<T> {
    return new Observable<T>((subscriber) => {
      const address = addressOf(object);
      if (address === undefined) {
        subscriber.error(fail('ERR_PORTABLE_INVALID', 'object has no live address'));
        return;
      }
      const entry = this.#entry(canonicalKey(address), object);
      subscriber.next(object);
      return entry.updates.subscribe({ next: () => subscriber.next(object), complete: () => subscriber.complete() });
    });
  }

  /** Closes the connection; pending calls fail with `ERR_CONNECTION_CLOSED`. */
  close(code: number = CloseCode.normal, reason = ''): Promise<{ code: number; reason: string }> {
    if (this.#closed === undefined && this.#socket.readyState <= 1) this.#socket.close(code, reason);
    return this.closed;
  }

  /** Resolves when the connection has closed, with the close code and reason. */
  get closed(): Promise<{ code: number; reason: string }> {
    if (this.#closed) return Promise.resolve(this.#closed);
    return new Promise((resolve) => this.#closedWaiters.push(resolve));
  }

  /** Sends raw bytes (scripted protocol tests). */
  sendRaw(bytes: Uint8Array): void {
    this.#socket.send(bytes);
  }

  /** Every decoded frame (scripted protocol tests). */
  get frames(): Observable<Frame> {
    return this.#frames.asObservable();
  }

  #request(build: (id: number) => unknown[]): Promise<unknown> {
    if (this.#closed) return Promise.reject(fail('ERR_CONNECTION_CLOSED'));
    const id = this.#nextId++;
    let bytes: Uint8Array;
    try {
      bytes = this.#codec.encode(build(id), this.#outbound);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, deadline: Date.now() + this.#callTimeoutMs });
      this.#armTimeouts();
      this.#socket.send(bytes);
    });
  }

  /**
   * One timer for every pending call instead of one each: every call gets the same timeout, so deadlines
   * follow the pending map's insertion order and the timer only ever waits for the oldest call.
   */
  #armTimeouts(): void {
    if (this.#timeoutTimer !== undefined) return;
    const oldest = this.#pending.values().next().value as Pending | undefined;
    if (oldest === undefined) return;
    this.#timeoutTimer = setTimeout(() => {
      this.#timeoutTimer = undefined;
      const now = Date.now();
      for (const [id, pending] of this.#pending) {
        if (pending.deadline > now) break;
        this.#pending.delete(id);
        pending.reject(fail('ERR_CALL_TIMEOUT'));
      }
      this.#armTimeouts();
    }, Math.max(oldest.deadline - Date.now(), 0) + 1);
  }

  #receive(data: unknown): Frame | undefined {
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data instanceof Uint8Array ? data : undefined;
    if (bytes === undefined) return undefined;
    let frame: Frame;
    try {
      frame = validateFrame(this.#codec.decode(bytes, this.#inbound), serverFrameTypes);
    } catch (error) {
      // Nothing from an unreadable frame is used; if it answers a call, that call fails now with the reason.
      const id = peekAnswerId(bytes);
      const reason = error instanceof CapsyncError ? error : fail('ERR_FRAME_MALFORMED');
      if (id !== null) this.#settle(id, (p) => p.reject(reason));
      return undefined;
    }
    switch (frame[0]) {
      case FrameType.result:
        this.#settle(frame[1], (p) => p.resolve(frame[2]));
        break;
      case FrameType.error: {
        const error = new CapsyncError(isErrorCode(frame[2]) ? frame[2] : 'ERR_FUNCTION_FAILED', frame[3]);
        if (frame[1] !== null) this.#settle(frame[1], (p) => p.reject(error));
        break;
      }
      case FrameType.push:
        this.#applyPush(frame);
        break;
      case FrameType.ping:
        this.#socket.send(this.#codec.encode([FrameType.pong, frame[1]]));
        break;
    }
    this.#frames.next(frame);
    return frame;
  }

  #settle(id: number, action: (p: Pending) => void): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.#pending.delete(id);
    action(pending);
  }

  #adopt(object: object): void {
    attach(object, this);
    const address = addressOf(object);
    if (address !== undefined) this.#entry(canonicalKey(address), object);
  }

  #entry(key: string, object: object): LiveEntry {
    let entry = this.#live.get(key);
    if (entry === undefined) this.#live.set(key, (entry = { version: 0, instances: new Set(), updates: new Subject() }));
    entry.instances.add(object);
    const version = (object as { version?: unknown }).version;
    if (typeof version === 'number' && version > entry.version) entry.version = version;
    return entry;
  }

  #applyPush(frame: FrameOf<4>): void {
    const [, address, type, version, state] = frame;
    const key = canonicalKey(address as JsonValue[]);
    const entry = this.#live.get(key);
    if (entry !== undefined) {
      if (version <= entry.version) return; // stale: a newer state already arrived
      entry.version = version;
      if (state !== null) {
        for (const instance of entry.instances) Object.assign(instance, state);
        entry.updates.next(entry);
      } else {
        entry.updates.complete();
        this.#live.delete(key);
      }
    }
    this.#changes.next({ address: address as JsonValue[], type, version, deleted: state === null, state });
  }

  #onClose(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = { code, reason };
    clearTimeout(this.#timeoutTimer);
    for (const [id, pending] of this.#pending) {
      pending.reject(fail('ERR_CONNECTION_CLOSED'));
      this.#pending.delete(id);
    }
    for (const entry of this.#live.values()) entry.updates.complete();
    this.#frames.complete();
    this.#changes.complete();
    for (const w of this.#closedWaiters.splice(0)) w(this.#closed);
  }
}
