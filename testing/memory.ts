import type { SocketLike } from '../client/client.js';
import type { ServerSession, Transport } from '../server/session.js';

/** WebSocket ready states, as the client reads them. */
const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/**
 * One in-memory connection between a client socket and a server `Transport`: what a WebSocket over
 * loopback gives, without one. Frames are copied and delivered in order, each in its own microtask (never
 * inside the sender's call, as with a real socket); either side may close; `drop()` cuts the connection
 * the way a network failure does (both ends see 1006, no close frame).
 */
export class MemoryLink {
  /** The client's end, for `CapsyncClient.connect`'s socket factory. */
  readonly client: SocketLike;
  /** The server's end, for `Hub.handleConnection`. */
  readonly server: Transport;
  #session: ServerSession | undefined;
  #open = true;
  /** Bytes the server has sent that the client has not yet received. */
  #inFlightToClient = 0;
  /** While true, frames to the client wait (a stalled network); `resume()` lets them through. */
  #stalled = false;
  readonly #held: Uint8Array[] = [];

  constructor() {
    const link = this;
    const socket: SocketLike = {
      binaryType: 'arraybuffer',
      get readyState() {
        return !link.#open ? CLOSED : link.#session === undefined ? CONNECTING : OPEN;
      },
      send: (data) => {
        // As a WebSocket does: sending before the socket opened is the sender's bug.
        if (link.#open && link.#session === undefined) throw new Error('WebSocket is not open: readyState 0 (CONNECTING)');
        if (!link.#open) return;
        const copy = data.slice();
        queueMicrotask(() => link.#open && link.#session?.receive(copy));
      },
      close: (code = 1000, reason = '') => link.#close(code, reason),
      onopen: null,
      onmessage: null,
      onclose: null,
      onerror: null,
    };
    this.client = socket;
    this.server = {
      send: (bytes) => {
        if (!link.#open) return;
        const copy = bytes.slice();
        if (link.#stalled) {
          link.#held.push(copy);
          link.#inFlightToClient += copy.length;
          return;
        }
        link.#deliver(copy);
      },
      close: (code, reason) => link.#close(code, reason),
      get bufferedAmount() {
        return link.#inFlightToClient;
      },
    };
  }

  /**
   * Accepts the connection, as a server does once the upgrade passed: the client's socket opens, then
   * `start` makes the session (which sends hello) that reads the client's frames from now on.
   */
  accept(start: (transport: Transport) => ServerSession): void {
    if (!this.#open) return;
    queueMicrotask(() => this.#open && this.client.onopen?.({}));
    this.#session = start(this.server);
  }

  /** Refuses the connection before it opens, as a refused upgrade does (the client sees 1006). */
  refuse(): void {
    this.#close(1006, '');
  }

  /** True until either side closed or the link was dropped. */
  get open(): boolean {
    return this.#open;
  }

  /** Cuts the connection as a network failure would: no close frame, both sides see 1006. */
  drop(): void {
    this.#close(1006, '');
  }

  /** Holds every frame to the client until {@link resume} (a stalled peer: the server's unsent bytes grow). */
  stall(): void {
    this.#stalled = true;
  }

  /** Ends a {@link stall}: the held frames go to the client, in order, and later ones pass at once. */
  resume(): void {
    this.#stalled = false;
    for (const bytes of this.#held.splice(0)) {
      this.#inFlightToClient -= bytes.length;
      this.#deliver(bytes);
    }
  }

  #deliver(bytes: Uint8Array): void {
    this.#inFlightToClient += bytes.length;
    queueMicrotask(() => {
      this.#inFlightToClient -= bytes.length;
      if (this.#open) this.client.onmessage?.({ data: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) });
    });
  }

  #close(code: number, reason: string): void {
    if (!this.#open) return;
    this.#open = false;
    this.#session?.dispose();
    queueMicrotask(() => this.client.onclose?.({ code, reason }));
  }
}
