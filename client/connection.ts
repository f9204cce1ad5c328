import type { Codec, CodecContext } from '../protocol/codec.js';
import { CapsyncError, CloseCode, fail } from '../protocol/errors.js';
import { FrameType, peekAnswerId, serverFrameTypes, validateFrame, type Frame, type FrameOf } from '../protocol/frames.js';
import type { JsonValue } from '../protocol/json-value.js';
import { unreadablePushAddress } from './unreadable.js';
import { OutboundHandles } from '../protocol/handles.js';
import { sendLimits, type Limits } from '../protocol/limits.js';

/** The minimal WebSocket surface the client uses: the browser's WebSocket and `ws` both provide it. */
export interface SocketLike {
  /** Set to `'arraybuffer'` (browsers) or `'nodebuffer'` (ws) by the factory. */
  binaryType: string;
  /** The WebSocket ready state (1 is open). */
  readonly readyState: number;
  /** Sends one binary frame. */
  send(data: Uint8Array): void;
  /** Starts the closing handshake. */
  close(code?: number, reason?: string): void;
  /** Called once the socket is open. */
  onopen: ((event: unknown) => void) | null;
  /** Called with each received frame. */
  onmessage: ((event: { data: unknown }) => void) | null;
  /** Called once, when the socket has closed. */
  onclose: ((event: { code: number; reason: string }) => void) | null;
  /** Called on a socket error (a close follows). */
  onerror: ((event: unknown) => void) | null;
}

/** Opens a socket to `url` presenting `token`; `failure` reports a typed refusal of the upgrade when the platform can see it. */
export type SocketFactory = (url: string, token: string | undefined) => { socket: SocketLike; failure?: () => CapsyncError | undefined };

/** How a connection ended: the WebSocket close code and reason. */
export interface CloseInfo {
  /** The WebSocket close code (1000, 1001, 1006, 4002, ...). */
  readonly code: number;
  /** The close reason, often an error code. */
  readonly reason: string;
}

/** The server's hello: who this connection is, and when its session token expires. */
export type Hello = FrameOf<0>[1];

/** What a {@link Connection} reports to the session above it. Called synchronously, in arrival order. */
export interface ConnectionEvents {
  /**
   * The socket is open and can take frames (before the hello: a resume is pipelined right after it). Called
   * from the socket's `open` event, or at once by {@link Connection.start} when the socket was open already.
   */
  open(): void;
  /** The server's first hello, before {@link ConnectionEvents.frame} hears it. */
  hello(hello: Hello): void;
  /** Every frame that decoded and validated, hello included (a ping has already been answered). */
  frame(frame: Frame): void;
  /**
   * A frame that could not be decoded; `answerId` is the call it answered when its first bytes say so, and
   * `pushAddress` the object a push was about when its plain parts say so.
   */
  unreadable(answerId: number | null, reason: CapsyncError, pushAddress?: JsonValue[]): void;
  /**
   * The socket closed, or was given up by {@link Connection.abandon}. Called once, before
   * {@link Connection.closed} resolves; `refusal` is the typed reason the upgrade was refused, if it was.
   */
  closed(info: CloseInfo, refusal: CapsyncError | undefined): void;
}

/** What a {@link Connection} needs besides its socket. */
export interface ConnectionOptions {
  readonly codec: Codec;
  /** The decoding context: the client hears every portable object through it. */
  readonly inbound: CodecContext;
  readonly events: ConnectionEvents;
  /** How long to wait for the hello before giving up with `ERR_NOT_CONNECTED`. */
  readonly connectTimeoutMs: number;
  /** The platform's typed refusal of the upgrade, if it can see one (see {@link SocketFactory}). */
  readonly failure?: () => CapsyncError | undefined;
}

/**
 * One socket's lifecycle: waiting for the hello, decoding and validating frames, answering pings, encoding
 * what the session sends, and closing. It knows nothing of calls or live objects; a reconnecting client makes
 * a new Connection per socket and keeps its requests and live objects.
 */
export class Connection {
  /** Resolves with the hello; rejects with a typed error if the socket closes or times out before it. */
  readonly ready: Promise<Hello>;
  /** Resolves once the socket has closed, after {@link ConnectionEvents.closed}. */
  readonly closed: Promise<CloseInfo>;
  readonly #socket: SocketLike;
  readonly #codec: Codec;
  readonly #inbound: CodecContext;
  readonly #events: ConnectionEvents;
  /**
   * Capability handles are numbered per socket (protocol/SPEC.md 3.7): the server's table dies with the
   * socket, so a new connection must start binding from 0 again. That is why the handles live here.
   */
  readonly #outbound = { outboundHandles: new OutboundHandles() };
  /**
   * The encode options of every frame sent, with the limits they are held to: the codec's until the hello, then
   * the server's announced ones (made again only then).
   */
  #sendOptions: { readonly check: 'limits'; readonly limits: Limits };
  /** {@link send}, bound once: what a request is handed to reach this socket. */
  readonly transmit = (frame: unknown[]): void => this.send(frame);
  #helloSeen = false;
  #openSeen = false;
  #opened: (hello: Hello) => void = () => {};
  #ended: (info: CloseInfo) => void = () => {};
  #closeInfo: CloseInfo | undefined;
  #timedOut = false;

  constructor(socket: SocketLike, options: ConnectionOptions) {
    this.#socket = socket;
    this.#codec = options.codec;
    this.#inbound = options.inbound;
    this.#events = options.events;
    this.#sendOptions = { check: 'limits', limits: options.codec.limits };
    let settleClosed!: (info: CloseInfo) => void;
    this.closed = new Promise((resolve) => (settleClosed = resolve));
    this.ready = new Promise<Hello>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#timedOut = true;
        reject(fail('ERR_NOT_CONNECTED', 'connection timed out'));
        this.abandon(CloseCode.heartbeatTimeout, 'no hello in time');
      }, options.connectTimeoutMs);
      this.#opened = (hello) => {
        clearTimeout(timer);
        resolve(hello);
      };
      socket.onmessage = (event) => this.#receive(event.data);
      socket.onopen = () => this.#open();
      // Errors are always followed by close, which carries the code: nothing to do here.
      socket.onerror = () => {};
      this.#ended = (info) => {
        clearTimeout(timer);
        if (this.#closeInfo !== undefined) return;
        this.#closeInfo = info;
        const refusal = this.#helloSeen ? undefined : options.failure?.();
        this.#events.closed(info, refusal);
        settleClosed(info);
        if (!this.#helloSeen) reject(refusal ?? fail('ERR_NOT_CONNECTED', `connection closed (${info.code})`));
      };
      socket.onclose = (event) => this.#ended({ code: event.code, reason: event.reason });
    });
    // Whoever awaits `ready` sees the rejection; a reconnect attempt that nobody awaits must not leak it.
    this.ready.catch(() => {});
  }

  /** Reports the `open` event now if the socket is open already (an in-memory socket is open from the start). */
  start(): void {
    // readyState 1 = OPEN (the same number in browsers and ws).
    if (this.#socket.readyState === 1) this.#open();
  }

  /** True once the socket has closed; nothing sent after that arrives. */
  get isClosed(): boolean {
    return this.#closeInfo !== undefined;
  }

  /**
   * Encodes `frame` with this socket's capability handles and sends it. Throws the codec's typed error
   * (`ERR_NOT_ENCODABLE`, a limit's code against the server's announced limits, ...) before anything is sent.
   */
  send(frame: unknown[]): void {
    // Scanned as the server will scan it, with the limits its hello announced: an argument over a limit
    // fails here with the limit's code, and nothing is sent.
    this.#socket.send(this.#codec.encode(frame, this.#outbound, this.#sendOptions));
  }

  /** Sends bytes as they are (scripted protocol tests). */
  sendRaw(bytes: Uint8Array): void {
    this.#socket.send(bytes);
  }

  /** Starts the closing handshake, unless the socket is already closing or closed. */
  close(code: number, reason: string): void {
    // readyState 0 = CONNECTING, 1 = OPEN (the same numbers in browsers and ws).
    if (this.#closeInfo === undefined && this.#socket.readyState <= 1) this.#socket.close(code, reason);
  }

  /**
   * Gives the socket up without waiting for its closing handshake, and reports it closed with `code` now. For
   * a connection presumed dead (no hello, a silent heartbeat): its close frame may never be answered, and
   * `ws` would wait 30 s for it before ending the socket.
   */
  /** True if this connection was given up because no hello came within `connectTimeoutMs`. */
  get timedOut(): boolean {
    return this.#timedOut;
  }

  abandon(code: number, reason: string): void {
    if (this.#closeInfo !== undefined) return;
    this.#ended({ code, reason });
    // Browsers accept only 1000 and 3000-4999 from an application; a close that throws changes nothing here.
    try {
      if (this.#socket.readyState <= 1) this.#socket.close(code, reason);
    } catch {
      this.#socket.close();
    }
  }

  #open(): void {
    if (this.#openSeen || this.#closeInfo !== undefined) return;
    this.#openSeen = true;
    this.#events.open();
  }

  #receive(data: unknown): void {
    // Text messages and anything else a platform might hand over are not capsync frames.
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : data instanceof Uint8Array ? data : undefined;
    if (bytes === undefined) return;
    let frame: Frame;
    try {
      frame = validateFrame(this.#codec.decode(bytes, this.#inbound), serverFrameTypes);
    } catch (error) {
      // Nothing from an unreadable frame is used; if it answers a call, that call fails now with the reason
      // rather than at its timeout.
      const reason = error instanceof CapsyncError ? error : fail('ERR_FRAME_MALFORMED');
      this.#events.unreadable(peekAnswerId(bytes), reason, unreadablePushAddress(this.#codec, bytes));
      return;
    }
    if (frame[0] === FrameType.ping) this.#socket.send(this.#codec.encode([FrameType.pong, frame[1]]));
    // Only the first hello opens the session; a second one is a peer's mistake, seen only as a frame.
    const hello = frame[0] === FrameType.hello && !this.#helloSeen ? frame[1] : undefined;
    if (hello !== undefined) {
      this.#helloSeen = true;
      this.#sendOptions = { check: 'limits', limits: sendLimits(this.#codec.limits, hello) };
      this.#events.hello(hello);
    }
    this.#events.frame(frame);
    if (hello !== undefined) this.#opened(hello);
  }
}
