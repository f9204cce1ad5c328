import { WebSocket } from 'ws';
import { Codec } from '../../protocol/codec.js';

/**
 * A hostile peer on a real socket: sends any bytes and hears every frame the server answers with, decoded by
 * a client codec (undecodable answers are kept as `undefined`, which no test expects). Waiting is event
 * driven: `next` resolves on the frame that matches, or rejects when the socket closes first.
 */
export class RawPeer {
  readonly frames: unknown[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly #codec = new Codec();
  readonly #waiters = new Set<{ test: (frame: unknown) => boolean; resolve: (frame: unknown) => void; reject: (error: Error) => void }>();
  #closeCode: number | undefined;

  private constructor(readonly socket: WebSocket) {
    socket.binaryType = 'nodebuffer';
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      let frame: unknown;
      try {
        frame = isBinary ? this.#codec.decode(new Uint8Array(data.buffer, data.byteOffset, data.length)) : undefined;
      } catch {
        frame = undefined;
      }
      this.frames.push(frame);
      for (const w of this.#waiters) {
        if (w.test(frame)) {
          this.#waiters.delete(w);
          w.resolve(frame);
        }
      }
    });
    this.closed = new Promise((resolve) => {
      socket.once('close', (code, reason) => {
        this.#closeCode = code;
        for (const w of this.#waiters) w.reject(new Error(`socket closed with ${code} before the frame came`));
        this.#waiters.clear();
        resolve({ code, reason: reason.toString() });
      });
    });
    socket.on('error', () => {});
  }

  /** Opens a socket to `url` (with a bearer JWT, or anonymous) and waits for the server's hello. */
  static async open(url: string, jwt?: string): Promise<RawPeer> {
    const socket = new WebSocket(url, ['capsync.v1'], jwt === undefined ? {} : { headers: { authorization: `Bearer ${jwt}` } });
    const peer = new RawPeer(socket);
    const hello = peer.next((f) => Array.isArray(f) && f[0] === 0);
    hello.catch(() => {}); // a refused upgrade rejects below, with its reason
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    await hello;
    return peer;
  }

  /** The close code once the socket has closed, else undefined. */
  get closeCode(): number | undefined {
    return this.#closeCode;
  }

  /** The next frame (from now on) for which `test` holds. */
  next(test: (frame: unknown) => boolean): Promise<unknown> {
    if (this.#closeCode !== undefined) return Promise.reject(new Error(`socket closed with ${this.#closeCode}`));
    return new Promise((resolve, reject) => this.#waiters.add({ test, resolve, reject }));
  }

  /** Sends `bytes` and waits for the error frame that answers it (id `id`, or nil when `id` is null). */
  async errorFor(bytes: Uint8Array, id: number | null): Promise<[number, number | null, string, string]> {
    const answer = this.next((f) => Array.isArray(f) && f[0] === 3 && f[1] === id);
    this.socket.send(bytes);
    return (await answer) as [number, number | null, string, string];
  }

  send(bytes: Uint8Array | string): void {
    this.socket.send(bytes);
  }

  close(): Promise<{ code: number; reason: string }> {
    if (this.#closeCode === undefined) this.socket.close();
    return this.closed;
  }
}
