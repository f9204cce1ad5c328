import type { Subscription } from 'rxjs';
import { connect, type CapsyncClient } from '../../client/index.js';
import { Codec } from '../../protocol/codec.js';
import { CapsyncError, fail } from '../../protocol/errors.js';
import { FrameType, type Frame } from '../../protocol/frames.js';
import { toJsonForm, type JsonForm } from '../json-form.js';
import type { EventKind } from './schema.js';

/** Something a client received without asking for it (or in answer to a raw frame). */
export interface ReceivedEvent {
  readonly kind: EventKind;
  /** The decoded value: capabilities and portable objects as such, so a script can save and reuse them. */
  readonly value: Record<string, unknown>;
  /** Its JSON form, which patterns are matched against and reports show. */
  readonly form: JsonForm;
}

// Ping ids the command line uses for round trips, far above the call ids a script would pick.
const PING_BASE = 2 ** 40;

/**
 * One connection of a named script client. Every frame the server sends is classified as it arrives and kept
 * in an inbox until a step consumes it, so a push that arrives before the `wait` step that expects it is not lost.
 */
export class ScriptClient {
  readonly inbox: ReceivedEvent[] = [];
  readonly #client: CapsyncClient;
  readonly #codec = new Codec();
  readonly #rawIds = new Set<number>();
  readonly #pongs = new Set<number>();
  readonly #listeners = new Set<() => void>();
  readonly #subscription: Subscription;
  #ownRequests = 0;
  #nextPing = PING_BASE;
  #closed: { code: number; reason: string } | undefined;

  private constructor(client: CapsyncClient) {
    this.#client = client;
    this.#subscription = client.frames.subscribe((frame) => this.#receive(frame));
    void client.closed.then((closed) => {
      this.#closed = closed;
      this.#add('close', { code: closed.code, reason: closed.reason });
    });
  }

  /** Connects; rejects with the typed refusal (`ERR_AUTH_INVALID`, `ERR_NOT_CONNECTED`, ...). */
  static async connect(url: string, token: string | undefined, timeoutMs: number): Promise<ScriptClient> {
    // Calls time out per step (the runner's timer), not per connection.
    const client = await connect(url, { ...(token ? { token } : {}), connectTimeoutMs: timeoutMs, callTimeoutMs: 3_600_000 });
    return new ScriptClient(client);
  }

  /** The user the server authenticated. */
  get user(): { id: string; roles: string[] } | null {
    return this.#client.user;
  }

  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /**
   * Runs a request of the client's own (call, delegate, revoke, presence). The client numbers its requests
   * 1, 2, 3...; counting them tells its answers apart from answers to raw frames a script sent.
   */
  request<T>(run: (client: CapsyncClient) => Promise<T>, timeoutMs: number): Promise<T> {
    if (this.#closed) return Promise.reject(fail('ERR_CONNECTION_CLOSED', `the connection closed (${this.#closed.code})`));
    this.#ownRequests++;
    return withTimeout(run(this.#client), timeoutMs);
  }

  /** Encodes a value as a frame (capabilities as their tokens, portable objects by class). */
  encode(value: unknown): Uint8Array {
    return this.#codec.encode(value);
  }

  /** Decodes bytes as the server would, or undefined when they do not decode. */
  tryDecode(bytes: Uint8Array): unknown {
    try {
      return this.#codec.decode(bytes);
    } catch {
      return undefined;
    }
  }

  /** Sends a raw message; `replyId` is the id the server will answer with, when the frame has one. */
  sendRaw(data: Uint8Array | string, replyId: number | null): void {
    if (this.#closed) throw fail('ERR_CONNECTION_CLOSED', `the connection closed (${this.#closed.code})`);
    if (replyId !== null) this.#rawIds.add(replyId);
    // The socket sends a string as a text message: the server must refuse it as not binary.
    this.#client.sendRaw(data as Uint8Array);
  }

  /**
   * Takes the oldest event of one of `kinds` that satisfies `accept`, waiting up to `timeoutMs` for it.
   * Undefined on timeout, or as soon as the connection closes if no such event can arrive any more.
   */
  async take(kinds: readonly EventKind[], accept: (e: ReceivedEvent) => boolean, timeoutMs: number): Promise<ReceivedEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((e) => kinds.includes(e.kind) && accept(e));
      if (i >= 0) return this.inbox.splice(i, 1)[0];
      const remaining = deadline - Date.now();
      if (remaining <= 0 || (this.#closed && this.inbox.some((e) => e.kind === 'close'))) return undefined;
      await this.#nextEvent(remaining);
    }
  }

  /**
   * A round trip: a ping, answered by the server after everything it sent this connection before. Once it
   * returns, every push the server sent before it has arrived and is in the inbox.
   */
  async roundTrip(timeoutMs: number): Promise<void> {
    const nonce = this.#nextPing++;
    this.sendRaw(this.encode([FrameType.ping, nonce]), null);
    const deadline = Date.now() + timeoutMs;
    while (!this.#pongs.delete(nonce)) {
      if (this.#closed) throw fail('ERR_CONNECTION_CLOSED', `the connection closed (${this.#closed.code}) before the round trip`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw fail('ERR_CALL_TIMEOUT', `no pong within ${timeoutMs} ms`);
      await this.#nextEvent(remaining);
    }
  }

  /** Resolves after the next frame or close, or after `ms`. */
  #nextEvent(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#listeners.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#listeners.add(done);
    });
  }

  /** Closes the connection (normal closure) and waits until it is closed. */
  async close(): Promise<void> {
    await this.#client.close();
    this.#subscription.unsubscribe();
  }

  #receive(frame: Frame): void {
    switch (frame[0]) {
      case FrameType.push: {
        const [, address, type, version, state] = frame;
        this.#add('push', { address, type, version, deleted: state === null, state });
        return;
      }
      case FrameType.delegation:
        this.#add('delegation', { from: frame[1].from, cap: frame[1].cap, object: frame[1].object ?? null });
        return;
      case FrameType.revoked:
        this.#add('revocation', { revocationId: frame[1], scope: frame[2], reason: frame[3] });
        return;
      case FrameType.tokenExpiring:
        this.#add('token-expiring', { expiresAt: frame[1] });
        return;
      case FrameType.error:
        if (frame[1] === null) this.#add('error', { code: frame[2], message: frame[3] });
        else if (this.#isRaw(frame[1])) this.#add('reply', { id: frame[1], error: { code: frame[2], message: frame[3] } });
        return;
      case FrameType.result:
        if (this.#isRaw(frame[1])) this.#add('reply', { id: frame[1], result: frame[2] });
        return;
      case FrameType.pong:
        this.#pongs.add(frame[1]);
        this.#notify();
        return;
      default:
    }
  }

  // An answer belongs to a raw frame if a script sent that id, or if the client never used it.
  #isRaw(id: number): boolean {
    return this.#rawIds.has(id) || id > this.#ownRequests;
  }

  #add(kind: EventKind, value: Record<string, unknown>): void {
    this.inbox.push({ kind, value, form: toJsonForm(value) });
    this.#notify();
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }
}

/** Rejects with `ERR_CALL_TIMEOUT` when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new CapsyncError('ERR_CALL_TIMEOUT', `no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
