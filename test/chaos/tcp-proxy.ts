import { EventEmitter } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { Pair, abort, type ByDirection, type ProxyState } from './tcp-link.js';

export type { ByDirection } from './tcp-link.js';

/** How {@link TcpProxy.refuse} treats new connections: reset at once, or accepted and never answered. */
export type RefuseMode = 'reset' | 'blackhole';

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
      stalled: { up: false, down: false },
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

  /**
   * Stops forwarding in both directions (or only `up`, client to server, or `down`); sockets stay open and
   * bytes wait in the proxy (then in the kernel). `stall('down')` lets a call reach the server and holds its answer.
   */
  stall(direction: keyof ByDirection | 'both' = 'both'): void {
    if (direction !== 'down') this.#state.stalled.up = true;
    if (direction !== 'up') this.#state.stalled.down = true;
  }

  /** Forwards again what a {@link stall} held, in order, in both directions, and everything after it. */
  resume(): void {
    this.#state.stalled.up = false;
    this.#state.stalled.down = false;
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
