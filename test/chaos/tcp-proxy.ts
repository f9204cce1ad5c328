import { EventEmitter } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A proxy keeps reading a stalled or delayed direction into its queue up to this many bytes, then pauses the
 * socket: the queue makes held bytes observable ({@link TcpProxy.held}), the cap keeps a flood bounded (past
 * it, TCP back-pressure holds the rest in the kernel, as a frozen network would).
 */
const HIGH_WATER_BYTES = 1 << 20;

/** How {@link TcpProxy.refuse} treats new connections: reset at once, or accepted and never answered. */
export type RefuseMode = 'reset' | 'blackhole';

/** Bytes per direction: `up` is client to server, `down` server to client. */
export interface ByDirection {
  up: number;
  down: number;
}

/** Where the proxy forwards, and the shared switches every link reads. */
interface ProxyState {
  stalled: boolean;
  delayMs: number;
  readonly changed: () => void;
  readonly counts: { received: ByDirection; forwarded: ByDirection };
}

/** One direction of one connection: chunks from `src` wait in order for their due time, then go to `dst`. */
class Link {
  readonly #queue: { chunk: Buffer; due: number }[] = [];
  #queuedBytes = 0;
  #lastDue = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #blocked = false;
  #srcEnded = false;

  constructor(
    readonly src: Socket,
    readonly dst: Socket,
    readonly direction: keyof ByDirection,
    readonly state: ProxyState,
  ) {
    src.on('data', (chunk: Buffer) => this.#push(chunk));
    src.on('end', () => {
      this.#srcEnded = true;
      this.pump();
    });
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Forwards every chunk that is due, unless stalled; arms one timer for the next chunk's due time. */
  pump(): void {
    if (this.state.stalled || this.#blocked || this.dst.destroyed) return this.#flow();
    while (this.#queue.length > 0) {
      const head = this.#queue[0]!;
      const wait = head.due - Date.now();
      if (wait > 0) {
        this.#timer ??= setTimeout(() => {
          this.#timer = undefined;
          this.pump();
        }, wait);
        return this.#flow();
      }
      this.#queue.shift();
      this.#queuedBytes -= head.chunk.length;
      this.state.counts.forwarded[this.direction] += head.chunk.length;
      if (!this.dst.write(head.chunk)) {
        this.#blocked = true;
        this.dst.once('drain', () => {
          this.#blocked = false;
          this.pump();
        });
        break;
      }
    }
    if (this.#queue.length === 0 && this.#srcEnded && !this.dst.destroyed) this.dst.end();
    this.#flow();
    this.state.changed();
  }

  /** Drops what is queued (an abrupt cut loses bytes in flight). */
  drop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
  }

  #push(chunk: Buffer): void {
    this.state.counts.received[this.direction] += chunk.length;
    // Due times never decrease, so lowering the delay cannot reorder chunks.
    this.#lastDue = Math.max(Date.now() + this.state.delayMs, this.#lastDue);
    this.#queue.push({ chunk, due: this.#lastDue });
    this.#queuedBytes += chunk.length;
    this.pump();
    this.state.changed();
  }

  #flow(): void {
    if (this.src.destroyed) return;
    if (this.#queuedBytes >= HIGH_WATER_BYTES || this.#blocked) this.src.pause();
    else this.src.resume();
  }
}

/** A client socket and its upstream socket, forwarded both ways. */
class Pair {
  readonly up: Link;
  readonly down: Link;
  readonly closed: Promise<void>;

  constructor(
    readonly client: Socket,
    readonly upstream: Socket,
    state: ProxyState,
  ) {
    this.up = new Link(client, upstream, 'up', state);
    this.down = new Link(upstream, client, 'down', state);
    // An error on one side (a reset, a refused upstream) resets the other: the peer sees what a real network shows.
    client.on('error', () => abort(upstream));
    upstream.on('error', () => abort(client));
    client.on('close', () => this.down.drop());
    upstream.on('close', () => this.up.drop());
    this.closed = Promise.all([closedOf(client), closedOf(upstream)]).then(() => undefined);
  }

  cut(): Promise<void> {
    this.up.drop();
    this.down.drop();
    abort(this.client);
    abort(this.upstream);
    return this.closed;
  }
}

function abort(socket: Socket): void {
  if (!socket.destroyed) socket.resetAndDestroy();
}

function closedOf(socket: Socket): Promise<void> {
  return socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));
}

/**
 * An in-process TCP proxy on 127.0.0.1 (port 0) in front of a target port, for chaos tests: it can cut every
 * connection (the client sees 1006), stall both directions, add latency, refuse new connections and follow a
 * server that restarted elsewhere. Nothing in it waits on a clock except the configured delay.
 *
 * @example
 * ```ts
 * const proxy = await TcpProxy.start(server.port);
 * const client = await connect(proxy.url, { token });
 * await proxy.cut(); // client.closed resolves with code 1006
 * ```
 */
export class TcpProxy {
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  readonly #blackholed = new Set<Socket>();
  readonly #events = new EventEmitter();
  readonly #state: ProxyState;
  #targetPort: number;
  #refusing: RefuseMode | false = false;
  #accepted = 0;
  #refused = 0;

  private constructor(targetPort: number) {
    this.#targetPort = targetPort;
    this.#events.setMaxListeners(0);
    this.#state = {
      stalled: false,
      delayMs: 0,
      changed: () => this.#events.emit('change'),
      counts: { received: { up: 0, down: 0 }, forwarded: { up: 0, down: 0 } },
    };
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => this.#accept(socket));
  }

  /** Starts a proxy to `127.0.0.1:targetPort`; resolves once it listens. */
  static async start(targetPort: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once('error', reject);
      proxy.#server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  /** The port the proxy listens on. */
  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** The WebSocket URL of the proxy, for `connect()`. */
  get url(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** The port new connections are forwarded to. */
  get targetPort(): number {
    return this.#targetPort;
  }

  /** Connections open now (a client socket and its upstream socket count as one). */
  get connections(): number {
    return this.#pairs.size;
  }

  /** Connections forwarded since the start. */
  get accepted(): number {
    return this.#accepted;
  }

  /** Connections refused since the start (reset or blackholed). */
  get refused(): number {
    return this.#refused;
  }

  /** Bytes queued in the proxy now, per direction (held by a stall or a delay). */
  get held(): ByDirection {
    const held = { up: 0, down: 0 };
    for (const pair of this.#pairs) {
      held.up += pair.up.queuedBytes;
      held.down += pair.down.queuedBytes;
    }
    return held;
  }

  /** Bytes received from each side and bytes forwarded to the other, since the start. */
  get bytes(): { readonly received: Readonly<ByDirection>; readonly forwarded: Readonly<ByDirection> } {
    return this.#state.counts;
  }

  /** Destroys every current connection both ways with a reset; resolves with how many, once all sockets closed. */
  async cut(): Promise<number> {
    const pairs = [...this.#pairs];
    await Promise.all(pairs.map((pair) => pair.cut()));
    return pairs.length;
  }

  /** Stops forwarding in both directions; sockets stay open and bytes wait in the proxy (then in the kernel). */
  stall(): void {
    this.#state.stalled = true;
  }

  /** Forwards again what a {@link stall} held, in order, and everything after it. */
  resume(): void {
    this.#state.stalled = false;
    for (const pair of this.#pairs) {
      pair.up.pump();
      pair.down.pump();
    }
  }

  /** Adds `ms` of latency to every chunk from now on, in both directions, keeping order. `delay(0)` removes it. */
  delay(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`delay must be a non-negative number of ms, got ${ms}`);
    this.#state.delayMs = ms;
  }

  /**
   * Refuses new connections: `true` or `'reset'` accepts and resets each at once (the client's connect fails
   * fast), `'blackhole'` accepts and never answers (the client's connect hangs until its own timeout);
   * `false` forwards again, and destroys blackholed sockets. Open connections are not touched.
   */
  refuse(on: boolean | RefuseMode): void {
    this.#refusing = on === true ? 'reset' : on;
    if (on !== false) return;
    for (const socket of this.#blackholed) abort(socket);
    this.#blackholed.clear();
  }

  /** Forwards new connections to `port` (a server restarted elsewhere); open ones keep their target. */
  retarget(port: number): void {
    this.#targetPort = port;
  }

  /**
   * Resolves once `condition()` holds, re-checked whenever a connection opens or closes or bytes move; rejects
   * after `limitMs` (a failure guard, not a synchronisation).
   */
  until(condition: () => boolean, limitMs = 5000, what = 'proxy condition'): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!condition()) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${what} not reached within ${limitMs} ms (connections ${this.connections}, held ${JSON.stringify(this.held)})`));
      }, limitMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#events.off('change', check);
      };
      this.#events.on('change', check);
    });
  }

  /** Cuts every connection and stops listening. */
  async close(): Promise<void> {
    this.refuse(false);
    const closing = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await this.cut();
    await closing;
  }

  #accept(client: Socket): void {
    client.on('error', () => {});
    if (this.#refusing === 'reset') {
      this.#refused++;
      abort(client);
      return this.#state.changed();
    }
    if (this.#refusing === 'blackhole') {
      this.#refused++;
      this.#blackholed.add(client);
      client.once('close', () => this.#blackholed.delete(client));
      return this.#state.changed();
    }
    const upstream = connect({ port: this.#targetPort, host: '127.0.0.1', allowHalfOpen: true });
    upstream.on('error', () => {});
    const pair = new Pair(client, upstream, this.#state);
    this.#pairs.add(pair);
    this.#accepted++;
    void pair.closed.then(() => {
      this.#pairs.delete(pair);
      this.#state.changed();
    });
    client.resume();
    this.#state.changed();
  }
}
