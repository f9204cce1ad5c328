import { BehaviorSubject } from 'rxjs';
import type { CodecContext } from '../protocol/codec.js';
import { Codec } from '../protocol/codec.js';
import { CapsyncError, CloseCode, fail } from '../protocol/errors.js';
import { FrameType, type Frame } from '../protocol/frames.js';
import type { JsonValue } from '../protocol/json-value.js';
import { closeClassOf, refusalClassOf } from './close-codes.js';
import { Connection, type CloseInfo, type Hello, type SocketFactory } from './connection.js';
import { Heartbeat } from './heartbeat.js';
import { clientDefaults, type ConnectOptions } from './options.js';
import { Reconnector, StateObservable, type ConnectionState } from './reconnect.js';
import type { Transmit } from './requests.js';

/** At most 2^3 = 8 times `connectTimeoutMs` (80 s by default) for an attempt after timeouts in a row. */
const MAX_PATIENCE = 3;

/** What the session above a {@link SessionLink} does at each moment of its connections' lives. */
export interface LinkHooks {
  /** The decoding context every connection hears portable objects and capabilities through. */
  readonly inbound: CodecContext;
  /** A hello arrived (first connection or reconnect). */
  hello(hello: Hello): void;
  /** Every frame but the resume's answer, in arrival order. */
  frame(frame: Frame): void;
  /** A frame that could not be decoded; `answerId` (a request) or `pushAddress` (a push) say what it was about, when they can be read. */
  unreadable(answerId: number | null, reason: CapsyncError, pushAddress?: JsonValue[]): void;
  /** The resume frame for a new connection, with request id `id`. */
  resumeFrame(id: number): unknown[];
  /** The resume was answered (`answer` undefined: refused by a server that cannot resume). */
  resumed(answer: unknown): void;
  /** A new socket can take requests: send every one it lacks. `keyWindowMs` from the latest hello. */
  resend(transmit: Transmit, keyWindowMs: number): void;
  /** The connection dropped and the client will try again. */
  disconnected(): void;
  /** The client is done: `error` undefined when the app closed it. */
  finished(error: CapsyncError | undefined): void;
}

/**
 * The client's connections over time (tRPC's `wsConnection` beside its `requestManager`): opens one
 * {@link Connection} per attempt with a token from the provider, pipelines the resume when a reconnect's
 * socket opens, watches the heartbeat, classifies every close (retry, retry with a new token, stop) and
 * schedules the next attempt. It publishes the {@link ConnectionState}; calls and live objects live above it.
 */
export class SessionLink {
  /** `connecting`, `connected`, `reconnecting`, `closed`. */
  readonly state: StateObservable<ConnectionState>;
  /** Resolves when the client has closed for good, with the last connection's close code and reason. */
  readonly closed: Promise<CloseInfo>;
  readonly #url: string;
  readonly #options: ConnectOptions;
  readonly #open: SocketFactory;
  readonly #hooks: LinkHooks;
  readonly #codec: Codec;
  readonly #connectTimeoutMs: number;
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
  /**
   * Attempts in a row given up for want of an answer (no hello, or no resume answer, in time): each doubles
   * the next attempt's patience, up to {@link MAX_PATIENCE} doublings; the first answered resume resets it.
   */
  #patience = 0;
  #resumeTimedOut = false;
  #lastClose: CloseInfo | null = null;
  #closing: CloseInfo | undefined;
  readonly #reserveId: () => number;

  /** `reserveId` takes a request id for the resume. */
  constructor(url: string, options: ConnectOptions, open: SocketFactory, hooks: LinkHooks, reserveId: () => number) {
    this.#url = url;
    this.#options = options;
    this.#open = open;
    this.#hooks = hooks;
    this.#reserveId = reserveId;
    this.#codec = new Codec(options.limits);
    this.#connectTimeoutMs = options.connectTimeoutMs ?? clientDefaults.connectTimeoutMs;
    this.state = new StateObservable(this.#state);
    this.closed = new Promise((resolve) => (this.#settleClosed = resolve));
    const reconnect = options.reconnect;
    if (reconnect !== false) {
      const backoff = { baseDelayMs: reconnect?.baseDelayMs ?? clientDefaults.reconnectBaseDelayMs, maxDelayMs: reconnect?.maxDelayMs ?? clientDefaults.reconnectMaxDelayMs };
      this.#reconnector = new Reconnector(backoff, reconnect?.random ?? Math.random, () => this.#reconnect());
    }
  }

  /** The close code and reason of the last connection that ended, or null while none has. */
  get lastClose(): CloseInfo | null {
    return this.#lastClose;
  }

  /** True once the app closed the client or it closed for good: requests are refused. */
  get ended(): boolean {
    return this.#closing !== undefined || this.#state.value === 'closed';
  }

  /** How a request reaches the current socket now, or null while none can take it (it waits for the next). */
  transmit(): Transmit | null {
    const connection = this.#connection;
    return this.#sendable && connection !== undefined ? connection.transmit : null;
  }

  /** The first connection: resolves at its hello; rejects with the typed reason and ends the client if it fails. */
  async first(): Promise<void> {
    try {
      await (await this.#attempt()).ready;
    } catch (error) {
      this.#finish({ code: CloseCode.normal, reason: 'connect failed' }, error instanceof CapsyncError ? error : undefined);
      throw error;
    }
  }

  /** Closes for good: no more attempts; the current socket gets `code`. */
  close(code: number, reason: string): void {
    if (this.ended) return;
    this.#closing = { code, reason };
    this.#reconnector?.stop();
    const connection = this.#connection;
    if (connection !== undefined && !connection.isClosed) connection.close(code, reason);
    else this.#finish(this.#closing);
  }

  /** Sends raw bytes on the current connection (scripted protocol tests). */
  sendRaw(bytes: Uint8Array): void {
    if (this.#connection === undefined) throw fail('ERR_NOT_CONNECTED');
    this.#connection.sendRaw(bytes);
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
      inbound: this.#hooks.inbound,
      connectTimeoutMs: this.#timeoutMs(),
      ...(opened.failure ? { failure: opened.failure } : {}),
      events: {
        open: () => this.#opened(connection),
        hello: (hello) => this.#hello(connection, hello),
        frame: (frame) => this.#frame(frame),
        unreadable: (id, reason, pushAddress) => {
          this.#heartbeat?.heard();
          this.#hooks.unreadable(id, reason, pushAddress);
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
      if (this.ended) return;
      if (error instanceof CapsyncError && refusalClassOf(error) === 'terminal') this.#finish(this.#lastClose ?? { code: CloseCode.normal, reason: '' }, error);
      else this.#reconnector?.schedule();
    });
  }

  /** The socket opened: a reconnect pipelines the resume, then every request the new socket lacks. */
  #opened(connection: Connection): void {
    if (connection !== this.#connection || !this.#connectedOnce) return;
    this.#resumeId = this.#reserveId();
    try {
      connection.send(this.#hooks.resumeFrame(this.#resumeId));
    } catch {
      connection.abandon(CloseCode.internal, 'resume could not be encoded');
      return;
    }
    this.#armResumeTimer(connection);
    this.#sendable = true;
    this.#hooks.resend((frame) => connection.send(frame), this.#keyWindowMs);
  }

  /**
   * The resume's answer is given up on after `connectTimeoutMs` of silence from the server, not of waiting:
   * a server that sends anything (hello, a push, a pong) is alive and working through a herd of resumes,
   * and abandoning its socket would only queue this client's resume again behind everyone else's.
   */
  #armResumeTimer(connection: Connection): void {
    clearTimeout(this.#resumeTimer);
    this.#resumeTimer = setTimeout(() => {
      this.#resumeTimedOut = true;
      connection.abandon(CloseCode.heartbeatTimeout, 'no resume answer in time');
    }, this.#timeoutMs());
  }

  /**
   * How long this attempt waits for an answer: `connectTimeoutMs`, doubled for every attempt in a row that
   * timed out. A server that does not answer in time after a restart is most often busy with everyone
   * else's reconnect (its accept queue holds the socket), not gone (a gone one refuses at once): giving up
   * on a queued socket only queues the client again at the back, and the server still pays for the one it
   * left. Without this a 5,000-client herd at load 20 collapsed: 0 resumed in 120 s, 37,126 dials failed.
   */
  #timeoutMs(): number {
    return this.#connectTimeoutMs * 2 ** this.#patience;
  }

  #hello(connection: Connection, hello: Hello): void {
    if (this.#resumeId !== undefined && connection === this.#connection) this.#armResumeTimer(connection);
    this.#hooks.hello(hello);
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

  #frame(frame: Frame): void {
    this.#heartbeat?.heard();
    const answersResume = (frame[0] === FrameType.result || frame[0] === FrameType.error) && frame[1] !== null && frame[1] === this.#resumeId;
    if (!answersResume) {
      if (this.#resumeId !== undefined && this.#connection !== undefined) this.#armResumeTimer(this.#connection);
      return this.#hooks.frame(frame);
    }
    clearTimeout(this.#resumeTimer);
    this.#resumeId = undefined;
    // An error answer: a server that cannot resume still serves; the client goes on without the catch-up.
    this.#hooks.resumed(frame[0] === FrameType.result ? frame[2] : undefined);
    this.#reconnector?.succeeded();
    this.#patience = 0;
    this.#state.next('connected');
  }

  #dropped(connection: Connection, info: CloseInfo, refusal: CapsyncError | undefined): void {
    if (connection !== this.#connection) return;
    if (connection.timedOut || this.#resumeTimedOut) this.#patience = Math.min(this.#patience + 1, MAX_PATIENCE);
    this.#resumeTimedOut = false;
    this.#connection = undefined;
    this.#sendable = false;
    this.#heartbeat?.stop();
    this.#heartbeat = undefined;
    clearTimeout(this.#resumeTimer);
    this.#resumeId = undefined;
    this.#lastClose = info;
    if (this.#closing !== undefined) return this.#finish(info);
    // The first connect() rejects on its own (through `ready`), and first() ends the client.
    if (!this.#connectedOnce) return;
    const kind = refusal !== undefined ? refusalClassOf(refusal) : closeClassOf(info.code);
    // With a fixed token, a needs-a-new-token close would only be refused again.
    const renewable = typeof this.#options.token === 'function';
    if (this.#reconnector === undefined || kind === 'terminal' || (kind === 'new-token' && !renewable)) {
      return this.#finish(info, refusal ?? fail('ERR_CONNECTION_CLOSED', `connection closed (${info.code})`));
    }
    this.#hooks.disconnected();
    if (this.#state.value !== 'reconnecting') this.#state.next('reconnecting');
    this.#reconnector.schedule();
  }

  #finish(info: CloseInfo, error?: CapsyncError): void {
    if (this.#state.value === 'closed') return;
    this.#reconnector?.stop();
    this.#hooks.finished(this.#closing !== undefined ? undefined : error);
    this.#state.next('closed');
    this.#state.complete();
    this.#settleClosed(info);
  }
}
