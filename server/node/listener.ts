import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { CapsyncError, fail } from '../../protocol/errors.js';
import { FrameType } from '../../protocol/frames.js';
import type { Hub } from '../hub.js';
import { serverDefaults, type ServerOptions } from '../options.js';
import type { ServerSession, Transport } from '../session.js';
import type { Authenticated } from '../auth.js';
import { SUBPROTOCOL, bearerToken, isLoopbackAddress, originAllowed, refuseUpgrade } from './http.js';
import { handleRequest } from './routes.js';
import { FairInbox, SharedBudgets, type InboxIo, type SharedBudget } from '../fairness.js';
import type { SharedPush } from '../push-slices.js';

/**
 * The only part of capsync that knows `node:http` and `ws`: HTTP routes, the upgrade (origin, then the
 * JWT), one {@link Transport} per socket handed to the {@link Hub}, the heartbeat, and a drain on close.
 */
export class NodeListener {
  readonly #hub: Hub;
  readonly #options: ServerOptions;
  readonly #http: HttpServer;
  readonly #wss: WebSocketServer;
  /** Every upgraded socket until its close event (ws's own `clients` set is off: this is the one record). */
  readonly #connections = new Set<SocketConnection>();
  /** The budgets each user's connections share (fair service per user). */
  readonly #budgets: SharedBudgets | undefined;
  /** The connections whose socket fair service paused (their frames, the client's pings among them, wait unread). */
  readonly #paused = new Set<SocketConnection>();
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #keepalive: ReturnType<typeof setInterval> | undefined;
  #prune: ReturnType<typeof setInterval> | undefined;

  constructor(hub: Hub, options: ServerOptions) {
    this.#hub = hub;
    this.#options = options;
    const limits = hub.connection;
    this.#budgets =
      limits.userCallsPerSecond === Infinity && limits.userServiceMsPerSecond === Infinity
        ? undefined
        : new SharedBudgets({ callsPerSecond: limits.userCallsPerSecond, callBurst: limits.userCallBurst, serviceMsPerSecond: limits.userServiceMsPerSecond, serviceBurstMs: limits.userServiceBurstMs });
    const routes = {
      auth: hub.auth,
      devUsers: options.devUsers,
      devLoginBeyondLoopback: options.devLoginBeyondLoopback,
      http: options.http,
      sessionCount: () => hub.sessionCount,
      address: () => this.address,
    };
    this.#http = createServer((req, res) => handleRequest(routes, req, res));
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      WebSocket: CapsyncSocket,
      maxPayload: hub.limits.maxFrameBytes,
      perMessageDeflate: false,
      handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
    });
    this.#http.on('upgrade', (req, socket, head) => void this.#upgrade(req, socket, head));
  }

  /** Starts listening; resolves with the bound address. */
  async listen(port: number, host: string): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.#http.once('error', reject);
      this.#http.listen({ port, host, backlog: this.#options.listenBacklog ?? serverDefaults.listenBacklog }, () => {
        this.#http.off('error', reject);
        resolve();
      });
    });
    this.#heartbeat = setInterval(() => this.#beat(), this.#options.heartbeatMs ?? serverDefaults.heartbeatMs);
    this.#heartbeat.unref();
    this.#keepalive = setInterval(() => this.#keepPausedAlive(), Math.max(1, Math.floor(this.#hub.clientPingIntervalMs / 2)));
    this.#keepalive.unref();
    this.#prune = setInterval(() => {
      this.#hub.prune().catch((error: unknown) => this.#hub.logger.error({ event: 'store_error', err: error }));
    }, serverDefaults.revocationPruneMs);
    this.#prune.unref();
    const address = this.address!;
    this.#hub.logger.info({ event: 'listening', port: address.port, host: address.address });
    if (this.#options.devUsers && !isLoopbackAddress(address.address)) this.#warnDevLogin(address);
    return address;
  }

  #warnDevLogin(address: AddressInfo): void {
    if (this.#options.devLoginBeyondLoopback) {
      this.#hub.logger.warn({
        event: 'dev_login_exposed',
        host: address.address,
        warning: 'DEVELOPMENT LOGIN IS ON BEYOND LOOPBACK: it hands out tokens for every development user, admin included, without a password. Never run this in production.',
      });
    } else {
      this.#hub.logger.warn({ event: 'dev_login_refused', host: address.address, warning: 'development login is off: the server listens beyond loopback (force it with devLoginBeyondLoopback)' });
    }
  }

  /** The bound address, or undefined before `listen`. */
  get address(): AddressInfo | undefined {
    const a = this.#http.address();
    return a !== null && typeof a === 'object' ? a : undefined;
  }

  /**
   * Drains: every connection gets a 1001 close frame (all at once, or spread over `closeSpreadMs` in a random
   * order, serving the others meanwhile), and the listener waits (at most `drainMs` after the last) for the
   * close handshakes, so clients see "going away" rather than a dropped socket; then terminates the rest.
   */
  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    clearInterval(this.#keepalive);
    clearInterval(this.#prune);
    const closing = this.#http.listening ? new Promise<void>((resolve) => this.#http.close(() => resolve())) : Promise.resolve();
    const pending = [...this.#connections].map(({ ws }) => new Promise<void>((resolve) => (ws.readyState === ws.CLOSED ? resolve() : ws.once('close', () => resolve()))));
    await spreadCloses(this.#hub.sessions(), this.#options.closeSpreadMs ?? serverDefaults.closeSpreadMs);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const drained = await Promise.race([
      Promise.all(pending).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.#options.drainMs ?? serverDefaults.drainMs))),
    ]);
    clearTimeout(timer);
    if (!drained) for (const { ws } of this.#connections) ws.terminate();
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await closing;
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', destroySocket);
    const logger = this.#hub.logger;
    if (!originAllowed(req, this.#options.origins)) {
      logger.warn({ event: 'upgrade_refused', reason: 'origin', origin: req.headers.origin });
      return refuseUpgrade(socket, 403, fail('ERR_FORBIDDEN', 'origin not allowed'));
    }
    let authenticated;
    try {
      authenticated = await this.#hub.auth.authenticate(bearerToken(req));
    } catch (error) {
      const err = error instanceof CapsyncError ? error : fail('ERR_AUTH_INVALID');
      logger.warn({ event: 'upgrade_refused', reason: err.code });
      return refuseUpgrade(socket, 401, err);
    }
    // The 101 response and the hello leave in one write.
    const connection = new SocketConnection(socket, this);
    connection.hold();
    // Nothing below is a closure per connection: an idle connection keeps its SocketConnection and the
    // socket's own objects. (A closure naming `req` would also keep its IncomingMessage and headers alive.)
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#accepted(ws, connection, authenticated));
  }

  /** @internal Each connection's budget (server/fairness.ts). */
  get fairness(): Hub['connection'] {
    return this.#hub.connection;
  }

  /**
   * @internal The budget a connection shares with its user's other connections: by user id, or for an
   * anonymous connection by remote address (`anonymousBudget: 'address'`) or none (its own budget is its user's).
   */
  budgetOf(connection: SocketConnection): SharedBudget | undefined {
    const budgets = this.#budgets;
    if (budgets === undefined) return undefined;
    const user = connection.session.user;
    let key: string;
    if (user !== null) key = `u:${user.id}`;
    else if (this.#hub.connection.anonymousBudget === 'address') key = `a:${(connection.socket as Socket).remoteAddress ?? ''}`;
    else return undefined;
    return budgets.acquire(key);
  }

  /** @internal The shared budgets (for tests and metrics). */
  get budgets(): SharedBudgets | undefined {
    return this.#budgets;
  }

  /** @internal The hub's logger (for a connection's log lines). */
  get logger(): Hub['logger'] {
    return this.#hub.logger;
  }

  /** @internal Fair service paused (`true`) or resumed reading a connection's socket. */
  paused(connection: SocketConnection, paused: boolean): void {
    if (paused) this.#paused.add(connection);
    else this.#paused.delete(connection);
  }

  /**
   * Every half client ping interval, each connection whose socket is paused is sent a `pong` (nonce 0): its
   * client's own pings wait unread behind the frames fair service holds (calls held at `maxInFlight` or
   * `maxInFlightMs` until one settles, or frames over budget), and a client that heard nothing for two
   * intervals would drop a connection whose server is alive and working through its calls. A pong asks for
   * no answer, so nothing more queues behind the hold.
   */
  #keepPausedAlive(): void {
    for (const connection of this.#paused) {
      const ws = connection.ws;
      if (ws.readyState === ws.OPEN && ws.isPaused) connection.send(KEEPALIVE, true);
    }
  }

  /** @internal A connection's socket closed. */
  closed(connection: SocketConnection, code: number): void {
    if (!this.#connections.delete(connection)) return;
    this.#paused.delete(connection);
    connection.inbox?.dispose();
    const shared = connection.shared;
    if (shared !== undefined) {
      connection.shared = undefined;
      this.#budgets!.release(shared);
    }
    connection.session.dispose();
    this.#hub.logger.info({ event: 'disconnected', session: connection.session.id, user: connection.session.user?.id ?? null, code });
  }

  #accepted(ws: WebSocket, connection: SocketConnection, authenticated: Authenticated): void {
    // ws listens for the socket's errors from now on (and destroys it).
    connection.socket.off('error', destroySocket);
    connection.ws = ws;
    this.#connections.add(connection);
    connection.session = this.#hub.handleConnection(connection, authenticated);
    // The socket's events reach the connection through CapsyncSocket.emit, without listeners.
    (ws as CapsyncSocket).connection = connection;
    const socket = connection.socket;
    // A getter, read only by a logger that writes the entry: reading the address caches it on the socket.
    this.#hub.logger.info({ event: 'connected', session: connection.session.id, user: authenticated.user?.id ?? null, get remote() { return (socket as Socket).remoteAddress; } });
  }

  /**
   * A peer that answered no ping since the last beat is closed with 4000 (a close frame it may still read),
   * and terminated if its close handshake does not follow within one more interval. A socket the server is
   * not reading (paused by fair service: calls held at maxInFlight) counts as alive: its pongs wait unread.
   */
  #beat(): void {
    let silent: SocketConnection[] | undefined;
    for (const connection of this.#connections) {
      const ws = connection.ws;
      if (connection.alive || (ws.isPaused && ws.readyState === ws.OPEN)) {
        connection.alive = false;
        ws.ping();
        continue;
      }
      (silent ??= []).push(connection);
    }
    // Ended only once what already arrived has been read: after the event loop was stalled, this timer fires
    // before the sockets' waiting frames are read (their pongs among them), and would end live connections.
    if (silent !== undefined) setImmediate(() => this.#endSilent(silent));
  }

  #endSilent(silent: readonly SocketConnection[]): void {
    for (const connection of silent) {
      const ws = connection.ws;
      if (connection.alive || !this.#connections.has(connection)) continue;
      if (ws.readyState === ws.CLOSING) {
        ws.terminate();
        continue;
      }
      connection.session.end(fail('ERR_HEARTBEAT_TIMEOUT'));
    }
  }
}

function destroySocket(this: Duplex): void {
  this.destroy();
}

/**
 * The listener's sockets: their events (message, pong, close, and an error nobody listens for) go straight to
 * their {@link SocketConnection} instead of through four listeners per socket, whose `_events` table (a
 * dictionary past three event names) cost more than the rest of the connection's own objects. Listeners
 * added to it still hear every event.
 */
class CapsyncSocket extends WebSocket {
  connection: SocketConnection | undefined = undefined;

  override emit(event: string | symbol, ...args: unknown[]): boolean {
    const connection = this.connection;
    if (connection !== undefined) {
      switch (event) {
        case 'message':
          connection.received(args[0] as Buffer, args[1] as boolean);
          break;
        case 'pong':
          connection.alive = true;
          break;
        case 'close':
          this.connection = undefined;
          connection.closed(args[0] as number);
          break;
      }
    }
    // A frame ws refused (too big, badly masked, ...): ws closes the socket; nothing else needs to hear it.
    if (event === 'error' && this.listenerCount('error') === 0) {
      this.terminate();
      return true;
    }
    return super.emit(event, ...args);
  }
}

/**
 * Ends every session with 1001, spread evenly over `spreadMs` in a random order, so that a deploy does not
 * send the whole fleet back in one millisecond (each client adds its own jittered backoff on top). Sessions
 * that connected meanwhile cannot exist: the hub refuses new connections once closing.
 */
async function spreadCloses(sessions: readonly ServerSession[], spreadMs: number): Promise<void> {
  const order = [...sessions];
  if (spreadMs <= 0 || order.length < 2) {
    for (const session of order) session.end(fail('ERR_SERVER_CLOSING'));
    return;
  }
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const started = performance.now();
  const step = spreadMs / (order.length - 1);
  for (let next = 0; next < order.length; ) {
    const due = Math.min(order.length, Math.floor((performance.now() - started) / step) + 1);
    for (; next < due; next++) order[next]!.end(fail('ERR_SERVER_CLOSING'));
    if (next < order.length) await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(step, 50))));
  }
}

/**
 * A push framed once as a whole unmasked binary WebSocket frame (RFC 6455 5.2: FIN, opcode 2, no RSV1 as
 * permessage-deflate is off; header and payload in one Buffer, as `ws`'s `Sender.frame` builds it, which
 * @types/ws does not declare): each holder then costs one `socket.write` of the same Buffer, where `ws.send`
 * frames again per socket and writes header and payload corked in two.
 */
export function framePush(bytes: Uint8Array): Buffer {
  const n = bytes.byteLength;
  const header = n < 126 ? 2 : n < 65_536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + n);
  frame[0] = 0x82;
  if (n < 126) frame[1] = n;
  else if (n < 65_536) {
    frame[1] = 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(n / 2 ** 32), 2);
    frame.writeUInt32BE(n >>> 0, 6);
  }
  frame.set(bytes, header);
  return frame;
}

/**
 * One upgraded socket: what the session sees of it ({@link Transport}), what its {@link FairInbox} does to it
 * ({@link InboxIo}), and the listener's record of it (its session, inbox, heartbeat). One object with prototype
 * methods, not closures and wrappers: an idle connection keeps this beside the socket's own objects.
 *
 * It also coalesces a connection's writes of one task into one: the first write corks the socket, and once the
 * task and its microtasks are done (one `process.nextTick` for every connection held meanwhile) each is
 * uncorked. A resume's pushes and answer, sent from one task and its microtasks, then cost one `writev`
 * instead of one per frame (ws corks each frame's header and payload only); on a loaded machine each write is
 * a costly syscall (about 0.2-0.4 ms each in the herd). Answers that a group commit releases together (keyed
 * calls) leave at the end of that commit's task, not a whole event-loop turn later.
 */
class SocketConnection implements Transport, InboxIo {
  readonly socket: Duplex;
  readonly #listener: NodeListener;
  // Set once the upgrade completed (the hello is sent from handleConnection, which needs the transport first).
  ws!: WebSocket;
  session!: ServerSession;
  /**
   * Frames reach the session at the connection's budget; over it the socket is paused (server/fairness.ts).
   * Made at the first frame (its bucket starts full, as it would be after any quiet time): an idle connection has none.
   */
  inbox: FairInbox | undefined;
  /** The budget its inbox shares with its user's other connections (made with the inbox). */
  shared: SharedBudget | undefined;
  /** Answered a ping since the last heartbeat (or has not been pinged yet). */
  alive = true;
  #held = false;

  constructor(socket: Duplex, listener: NodeListener) {
    this.socket = socket;
    this.#listener = listener;
  }

  /** Holds this task's writes until it ends. */
  hold(): void {
    if (this.#held) return;
    this.#held = true;
    this.socket.cork();
    if (heldConnections.push(this) === 1) process.nextTick(releaseHeld);
  }

  /** @internal The task ended: its held writes leave. */
  release(): void {
    this.#held = false;
    this.socket.uncork();
  }

  send(bytes: Uint8Array, alone?: boolean): void {
    // A lone push while nothing is held this turn goes out at once; otherwise it joins the held writes.
    if (alone !== true) this.hold();
    // A small frame (every answer to a call, as a rule) is framed whole and written as one Buffer, cut from
    // Node's pool: ws.send writes header and payload as two, which the corked socket then flushes through
    // the costlier writev path. Larger ones keep ws's two writes (no copy). Only while OPEN, as sendShared.
    if (bytes.byteLength <= SMALL_FRAME_BYTES && this.ws.readyState === this.ws.OPEN) this.socket.write(framePush(bytes));
    else this.ws.send(bytes);
  }

  // Written straight to the socket: with permessage-deflate off (the listener's setting) and no Blob ever
  // sent, ws's Sender queues nothing, so this write keeps its place among ws.send's writes. Only while OPEN:
  // after the close frame nothing may follow.
  sendShared(shared: SharedPush): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    shared.framed ??= framePush(shared.bytes);
    this.socket.write(shared.framed);
  }

  /** The session closes the socket (`code`, `reason`), or the inbox ends a persistent abuser (`error`). */
  close(code: number, reason: string): void;
  close(error: CapsyncError): void;
  close(codeOrError: number | CapsyncError, reason = ''): void {
    if (typeof codeOrError === 'number') {
      this.ws.close(codeOrError, reason);
      return;
    }
    this.#listener.logger.warn({ event: 'over_budget', session: this.session.id, user: this.session.user?.id ?? null, reason: codeOrError.message });
    this.session.end(codeOrError);
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** A frame arrived. */
  received(data: Buffer, isBinary: boolean): void {
    let inbox = this.inbox;
    if (inbox === undefined) {
      // It also meters the session's calls that go asynchronous (their cost after the first turn is charged).
      const shared = (this.shared = this.#listener.budgetOf(this));
      this.inbox = inbox = new FairInbox(this.#listener.fairness, this, undefined, undefined, shared);
      this.session.meter = inbox;
    }
    inbox.push(data, isBinary);
  }

  /** The socket closed (from either side): the listener forgets it and the session releases what it held. */
  closed(code: number): void {
    this.#listener.closed(this, code);
  }

  deliver(data: Buffer, isBinary: boolean): void {
    if (isBinary) this.session.receive(data);
    else this.session.receiveText();
  }

  pause(): void {
    this.ws.pause();
    this.#listener.paused(this, true);
  }

  resume(): void {
    this.ws.resume();
    this.#listener.paused(this, false);
  }
}

/** `[pong, 0]` in msgpack: what {@link NodeListener} sends a paused connection so that its client keeps hearing the server. */
const KEEPALIVE = new Uint8Array([0x92, FrameType.pong, 0x00]);

/** Frames up to this size (bytes) are framed whole by {@link SocketConnection.send}: Node pools Buffers under 4 KB. */
const SMALL_FRAME_BYTES = 2048;

/** The connections holding writes until the current task ends. */
let heldConnections: SocketConnection[] = [];

function releaseHeld(): void {
  const held = heldConnections;
  heldConnections = [];
  for (const connection of held) connection.release();
}
