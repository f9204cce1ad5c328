/** The forwarding core behind `TcpProxy`: one connection's two directions, with stall, delay and reset. */
import type { Socket } from 'node:net';

/**
 * A proxy keeps reading a stalled or delayed direction into its queue up to this many bytes, then pauses the
 * socket: the queue makes held bytes observable (`TcpProxy.held`), the cap keeps a flood bounded (past
 * it, TCP back-pressure holds the rest in the kernel, as a frozen network would).
 */
const HIGH_WATER_BYTES = 1 << 20;

/** Bytes per direction: `up` is client to server, `down` server to client. */
export interface ByDirection {
  up: number;
  down: number;
}

/** The switches every link of one proxy reads, its byte counters, and its change notification. */
export interface ProxyState {
  /** Whether each direction is held. */
  readonly stalled: { up: boolean; down: boolean };
  delayMs: number;
  readonly changed: () => void;
  readonly counts: { received: ByDirection; forwarded: ByDirection };
}

/** One direction of one connection: chunks from `src` wait in order for their due time, then go to `dst`. */
export class Link {
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

  /** Bytes waiting in this link. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Forwards every chunk that is due, unless stalled; arms one timer for the next chunk's due time. */
  pump(): void {
    if (this.state.stalled[this.direction] || this.#blocked || this.dst.destroyed) return this.#flow();
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
export class Pair {
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

  /** Resets both sockets, dropping what is queued; resolves once both closed. */
  cut(): Promise<void> {
    this.up.drop();
    this.down.drop();
    abort(this.client);
    abort(this.upstream);
    return this.closed;
  }
}

/**
 * Destroys a socket with a reset (RST), not a FIN: the abrupt end a dropped network shows. One whose writing
 * side was ended (a FIN forwarded) is destroyed plainly: libuv refuses to reset a socket that was shut down,
 * and `resetAndDestroy` then only emits an error, so the socket never closed (and a `cut()` never resolved).
 */
export function abort(socket: Socket): void {
  if (socket.destroyed) return;
  if (socket.writableEnded) socket.destroy();
  else socket.resetAndDestroy();
}

function closedOf(socket: Socket): Promise<void> {
  return socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once('close', () => resolve()));
}
