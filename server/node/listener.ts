import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { CapsyncError, fail } from '../../protocol/errors.js';
import type { Hub } from '../hub.js';
import { serverDefaults, type ServerOptions } from '../options.js';
import type { ServerSession, Transport } from '../session.js';
import { SUBPROTOCOL, bearerToken, isLoopbackAddress, originAllowed, refuseUpgrade } from './http.js';
import { handleRequest } from './routes.js';
import { FairInbox, type InboxIo } from '../fairness.js';
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
  readonly #sessions = new Map<WebSocket, ServerSession>();
  readonly #alive = new WeakSet<WebSocket>();
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #prune: ReturnType<typeof setInterval> | undefined;

  constructor(hub: Hub, options: ServerOptions) {
    this.#hub = hub;
    this.#options = options;
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
    clearInterval(this.#prune);
    const closing = this.#http.listening ? new Promise<void>((resolve) => this.#http.close(() => resolve())) : Promise.resolve();
    const pending = [...this.#wss.clients].map((ws) => new Promise<void>((resolve) => (ws.readyState === ws.CLOSED ? resolve() : ws.once('close', () => resolve()))));
    await spreadCloses(this.#hub.sessions(), this.#options.closeSpreadMs ?? serverDefaults.closeSpreadMs);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const drained = await Promise.race([
      Promise.all(pending).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), this.#options.drainMs ?? serverDefaults.drainMs))),
    ]);
    clearTimeout(timer);
    if (!drained) for (const ws of this.#wss.clients) ws.terminate();
    this.#http.closeAllConnections();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    await closing;
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    socket.on('error', () => socket.destroy());
    const flush = new TurnFlush(socket);
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
    // Read now: a closure below naming `req` would keep every connection's IncomingMessage (and its headers)
    // alive for as long as the connection lives.
    const remote = req.socket.remoteAddress;
    // The 101 response and the hello leave in one write.
    flush.hold();
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const session = this.#hub.handleConnection(new SocketTransport(ws, flush, socket), authenticated);
      this.#sessions.set(ws, session);
      this.#alive.add(ws);
      const user = authenticated.user?.id ?? null;
      ws.on('pong', () => this.#alive.add(ws));
      // Frames reach the session at the connection's budget; over it, or at maxInFlight calls, the socket is paused (server/fairness.ts).
      const inbox = new FairInbox(this.#hub.connection, new SocketInboxIo(ws, session, logger, user));
      session.meter = inbox;
      ws.on('message', (data: Buffer, isBinary: boolean) => inbox.push(data, isBinary));
      ws.on('close', (code) => {
        inbox.dispose();
        this.#sessions.delete(ws);
        session.dispose();
        logger.info({ event: 'disconnected', session: session.id, user, code });
      });
      ws.on('error', () => ws.terminate());
      logger.info({ event: 'connected', session: session.id, user, remote });
    });
  }

  /**
   * A peer that answered no ping since the last beat is closed with 4000 (a close frame it may still read),
   * and terminated if its close handshake does not follow within one more interval. A socket the server is
   * not reading (paused by fair service: calls held at maxInFlight) counts as alive: its pongs wait unread.
   */
  #beat(): void {
    for (const ws of this.#wss.clients) {
      if (this.#alive.has(ws) || (ws.isPaused && ws.readyState === ws.OPEN)) {
        this.#alive.delete(ws);
        ws.ping();
        continue;
      }
      if (ws.readyState === ws.CLOSING) {
        ws.terminate();
        continue;
      }
      const session = this.#sessions.get(ws);
      if (session) session.end(fail('ERR_HEARTBEAT_TIMEOUT'));
      else ws.terminate();
    }
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
 * Coalesces a connection's writes of one task into one: the first write corks the socket, and once the task
 * and its microtasks are done (one `process.nextTick` for every connection held meanwhile) each is uncorked.
 * A resume's pushes and answer, sent from one task and its microtasks, then cost one `writev` instead of one
 * per frame (ws corks each frame's header and payload only); on a loaded machine each write is a costly
 * syscall (about 0.2-0.4 ms each in the herd). Answers that a group commit releases together (keyed calls)
 * leave at the end of that commit's task, not a whole event-loop turn later.
 */
class TurnFlush {
  readonly #socket: Duplex;
  #held = false;

  constructor(socket: Duplex) {
    this.#socket = socket;
  }

  /** Holds this task's writes until it ends. */
  hold(): void {
    if (this.#held) return;
    this.#held = true;
    this.#socket.cork();
    if (heldFlushes.push(this) === 1) process.nextTick(releaseHeld);
  }

  release(): void {
    this.#held = false;
    this.#socket.uncork();
  }
}

/** The connections holding writes until the current task ends. */
let heldFlushes: TurnFlush[] = [];

function releaseHeld(): void {
  const held = heldFlushes;
  heldFlushes = [];
  for (const flush of held) flush.release();
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
 * A socket as the session sees it. A class with prototype methods, not an object literal of closures: an idle
 * connection then keeps one small object here.
 */
class SocketTransport implements Transport {
  readonly #ws: WebSocket;
  readonly #flush: TurnFlush;
  readonly #socket: Duplex;

  constructor(ws: WebSocket, flush: TurnFlush, socket: Duplex) {
    this.#ws = ws;
    this.#flush = flush;
    this.#socket = socket;
  }

  send(bytes: Uint8Array, alone?: boolean): void {
    // A lone push while nothing is held this turn goes out at once; otherwise it joins the held writes.
    if (alone !== true) this.#flush.hold();
    this.#ws.send(bytes);
  }

  // Written straight to the socket: with permessage-deflate off (the listener's setting) and no Blob ever
  // sent, ws's Sender queues nothing, so this write keeps its place among ws.send's writes. Only while OPEN:
  // after the close frame nothing may follow.
  sendShared(shared: SharedPush): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    shared.framed ??= framePush(shared.bytes);
    this.#socket.write(shared.framed);
  }

  close(code: number, reason: string): void {
    this.#ws.close(code, reason);
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }
}

/** What a connection's {@link FairInbox} does to its socket and session (prototype methods, not closures). */
class SocketInboxIo implements InboxIo {
  readonly #ws: WebSocket;
  readonly #session: ServerSession;
  readonly #logger: Hub['logger'];
  readonly #user: string | null;

  constructor(ws: WebSocket, session: ServerSession, logger: Hub['logger'], user: string | null) {
    this.#ws = ws;
    this.#session = session;
    this.#logger = logger;
    this.#user = user;
  }

  deliver(data: Buffer, isBinary: boolean): void {
    if (isBinary) this.#session.receive(data);
    else this.#session.receiveText();
  }

  pause(): void {
    this.#ws.pause();
  }

  resume(): void {
    this.#ws.resume();
  }

  close(error: CapsyncError): void {
    this.#logger.warn({ event: 'over_budget', session: this.#session.id, user: this.#user });
    this.#session.end(error);
  }
}
