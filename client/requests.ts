import { CapsyncError, fail } from '../protocol/errors.js';

/** Sends one request frame; throws (a typed encode error) if it cannot be sent. */
export type Transmit = (frame: unknown[]) => void;

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: CapsyncError) => void;
  /** The frame as built, before encoding: a new connection re-encodes it with its own capability handles. */
  readonly frame: unknown[];
  /** When the call times out (ms since epoch). */
  readonly deadline: number;
}

/** A request still waiting for its answer, as {@link RequestManager.inFlight} lists it. */
export interface InFlight {
  readonly id: number;
  readonly frame: unknown[];
}

/**
 * The client's requests (call, delegate, revoke, refresh, presence): their ids, the table of those still
 * waiting, the one timeout timer, and settling answers by id. It holds no socket: every request is handed a
 * {@link Transmit}, so a reconnecting client can keep this table across sockets and send
 * {@link RequestManager.inFlight} again on the new one.
 */
export class RequestManager {
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** `timeoutMs`: how long each request may wait for its answer before failing with `ERR_CALL_TIMEOUT`. */
  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
  }

  /** How many requests are waiting for an answer. */
  get size(): number {
    return this.#pending.size;
  }

  /**
   * Starts a request: takes the next id (1, 2, 3, ...: the CLI's script client counts on it to tell its own
   * answers from answers to raw frames), builds the frame, and sends it through `transmit`. Rejects with
   * what `transmit` threw, the answer's error, or `ERR_CALL_TIMEOUT`.
   */
  start(build: (id: number) => unknown[], transmit: Transmit): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const frame = build(id);
      // Registered before sending: an in-memory transport may answer inside transmit().
      this.#pending.set(id, { resolve, reject, frame, deadline: Date.now() + this.#timeoutMs });
      try {
        transmit(frame);
      } catch (error) {
        this.#pending.delete(id);
        // The codec throws typed errors; anything else came from the socket itself.
        reject(error instanceof CapsyncError ? error : fail('ERR_NOT_CONNECTED'));
        return;
      }
      this.#armTimeouts();
    });
  }

  /** Resolves request `id` with `value`. False if no such request is waiting (late, or never sent). */
  resolve(id: number, value: unknown): boolean {
    return this.#settle(id, (p) => p.resolve(value));
  }

  /** Fails request `id` with `error`. False if no such request is waiting. */
  reject(id: number, error: CapsyncError): boolean {
    return this.#settle(id, (p) => p.reject(error));
  }

  /** Fails every waiting request with `error` (the connection closed for good) and stops the timer. */
  failAll(error: CapsyncError): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(error);
  }

  /** The requests still waiting, oldest first: what a new connection would send again. */
  inFlight(): InFlight[] {
    return [...this.#pending].map(([id, p]) => ({ id, frame: p.frame }));
  }

  #settle(id: number, action: (p: Pending) => void): boolean {
    const pending = this.#pending.get(id);
    if (pending === undefined) return false;
    this.#pending.delete(id);
    action(pending);
    return true;
  }

  /**
   * One timer for every pending request instead of one each: every request gets the same timeout, so
   * deadlines follow the pending map's insertion order and the timer only ever waits for the oldest.
   */
  #armTimeouts(): void {
    if (this.#timer !== undefined) return;
    const oldest = this.#pending.values().next().value as Pending | undefined;
    if (oldest === undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const now = Date.now();
      for (const [id, pending] of this.#pending) {
        if (pending.deadline > now) break;
        this.#pending.delete(id);
        pending.reject(fail('ERR_CALL_TIMEOUT'));
      }
      this.#armTimeouts();
    }, Math.max(oldest.deadline - Date.now(), 0) + 1);
  }
}
