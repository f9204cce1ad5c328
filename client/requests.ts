import { CapsyncError, fail } from '../protocol/errors.js';
import { FrameType, MAX_CALL_ACKS } from '../protocol/frames.js';
import { outcomeUnknown } from './close-codes.js';

/** Sends one request frame; throws (a typed encode error) if it cannot be sent. */
export type Transmit = (frame: unknown[]) => void;

/**
 * What a request does when its connection drops before the answer:
 * - `call`: keyed, so it is sent again and the server answers a repeat from the stored outcome (within the
 *   server's window; past it, the call fails with `ERR_CALL_OUTCOME_UNKNOWN`);
 * - `once`: not idempotent and not keyed (delegate): it fails with `ERR_CALL_OUTCOME_UNKNOWN`;
 * - `repeat`: harmless to run twice (revoke, presence, grants, refresh): sent again.
 */
export type RequestKind = 'call' | 'once' | 'repeat';

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: CapsyncError) => void;
  /** The frame as built, before encoding: a new connection re-encodes it with its own capability handles. */
  readonly frame: unknown[];
  readonly kind: RequestKind;
  /** When the call times out (ms since epoch); it keeps counting across reconnects. */
  readonly deadline: number;
  /** When it was first handed to a socket (ms since epoch), or undefined while it waits for one. */
  firstSentAt: number | undefined;
  /** Whether the current connection has it. */
  sent: boolean;
  /** Sent on an earlier connection too: an attempt before this one may have run. */
  resent: boolean;
}

/** A request still waiting for its answer, as {@link RequestManager.inFlight} lists it. */
export interface InFlight {
  readonly id: number;
  readonly frame: unknown[];
}

/**
 * The client's requests (call, delegate, revoke, refresh, presence, grants): their ids, the table of those
 * still waiting, the one timeout timer, and settling answers by id. It holds no socket: a request is handed
 * a {@link Transmit} when a connection can take it, or waits for {@link RequestManager.resend} on the next one.
 */
export class RequestManager {
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  /** Keys of calls whose answer arrived: the next call frame tells the server, which then forgets them. */
  #acks: string[] = [];
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

  /** Takes an id for a frame this manager does not track (the resume). */
  reserveId(): number {
    return this.#nextId++;
  }

  /**
   * Starts a request: takes the next id (1, 2, 3, ...: the CLI's script client counts on it to tell its own
   * answers from answers to raw frames), builds the frame, and sends it through `transmit`, or keeps it for
   * the next connection when `transmit` is null. Rejects with what `transmit` threw, the answer's error,
   * `ERR_CALL_TIMEOUT`, or what {@link disconnected} and {@link resend} decide.
   */
  start(build: (id: number) => unknown[], transmit: Transmit | null, kind: RequestKind = 'repeat'): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const frame = build(id);
      const now = Date.now();
      const pending: Pending = { resolve, reject, frame, kind, deadline: now + this.#timeoutMs, firstSentAt: undefined, sent: false, resent: false };
      // Registered before sending: an in-memory transport may answer inside transmit().
      this.#pending.set(id, pending);
      if (transmit !== null && !this.#transmit(id, pending, transmit, now)) return;
      this.#armTimeouts();
    });
  }

  /** Resolves request `id` with the server's answer `value`. False if no such request is waiting (late, or never sent). */
  resolve(id: number, value: unknown): boolean {
    const p = this.#take(id);
    if (p === undefined) return false;
    this.#answered(p);
    p.resolve(value);
    return true;
  }

  /** Fails request `id` with the server's answer `error`. False if no such request is waiting. */
  reject(id: number, error: CapsyncError): boolean {
    const p = this.#take(id);
    if (p === undefined) return false;
    this.#answered(p);
    // A node whose revocation feed is behind refuses a call without looking up its key (it fails closed, at
    // once, and its store is usually out of reach too): for a call sent again, that says nothing of the
    // attempt before, which may have run.
    if (p.resent && p.kind === 'call' && error.code === 'ERR_REVOCATION_FEED_STALE') {
      p.reject(outcomeUnknown('sent again after a reconnect and refused by a node whose revocation feed is behind: the earlier attempt may have run'));
      return true;
    }
    p.reject(error);
    return true;
  }

  /** Keyed calls whose answers arrived are acknowledged; a call that failed here (timeout, close) is not. */
  #answered(p: Pending): void {
    // Bounded: past it, an outcome is simply kept for the server's window.
    if (p.kind === 'call' && p.frame[0] === FrameType.call && typeof p.frame[4] === 'string' && this.#acks.length < 4 * MAX_CALL_ACKS) this.#acks.push(p.frame[4]);
  }

  /**
   * The connection dropped: nothing waiting is on a socket any more. A `once` request that was sent fails
   * with `ERR_CALL_OUTCOME_UNKNOWN` (it may have run); the rest wait for {@link resend}.
   */
  disconnected(): void {
    for (const [id, p] of this.#pending) {
      if (p.kind === 'once' && p.sent) {
        this.#pending.delete(id);
        p.reject(outcomeUnknown('the connection dropped before the answer: it may or may not have happened'));
      } else {
        p.sent = false;
      }
    }
  }

  /**
   * Sends, oldest first, every request the current connection does not have yet. A call first sent longer
   * ago than `keyWindowMs` is not sent again: the server no longer remembers its key, so a repeat could
   * run it twice; it fails with `ERR_CALL_OUTCOME_UNKNOWN`.
   */
  resend(transmit: Transmit, keyWindowMs: number): void {
    const now = Date.now();
    for (const [id, p] of [...this.#pending]) {
      if (p.sent || this.#pending.get(id) !== p) continue;
      if (p.kind === 'call' && p.firstSentAt !== undefined && now - p.firstSentAt > keyWindowMs) {
        this.#pending.delete(id);
        p.reject(outcomeUnknown('first sent longer ago than the server keeps call outcomes'));
        continue;
      }
      this.#transmit(id, p, transmit);
    }
  }

  /** Fails every waiting request with `error` (the client closed for good) and stops the timer. */
  failAll(error: CapsyncError): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(error);
  }

  /** The requests still waiting, oldest first. */
  inFlight(): InFlight[] {
    return [...this.#pending].map(([id, p]) => ({ id, frame: p.frame }));
  }

  /** Hands one request to a socket; false (and the request failed) if it could not be encoded or sent. */
  #transmit(id: number, p: Pending, transmit: Transmit, now?: number): boolean {
    try {
      // Acknowledgements ride on the next keyed call (a sixth element); lost with its socket, they only
      // leave the server keeping those outcomes for its window.
      // The frame kept for a resend has none: they go on the frame for this send only.
      const f = p.frame;
      if (this.#acks.length > 0 && p.kind === 'call' && f.length === 5) {
        const acks = this.#acks.length <= MAX_CALL_ACKS ? this.#takeAcks() : this.#acks.splice(0, MAX_CALL_ACKS);
        f.push(acks);
        try {
          transmit(f);
        } finally {
          f.length = 5;
        }
      } else {
        transmit(f);
      }
    } catch (error) {
      this.#pending.delete(id);
      // The codec throws typed errors; anything else came from the socket itself.
      p.reject(error instanceof CapsyncError ? error : fail('ERR_NOT_CONNECTED'));
      return false;
    }
    p.sent = true;
    if (p.firstSentAt === undefined) p.firstSentAt = now ?? Date.now();
    else p.resent = true;
    return true;
  }

  #takeAcks(): string[] {
    const acks = this.#acks;
    this.#acks = [];
    return acks;
  }

  /** Removes and returns request `id` if it is waiting. */
  #take(id: number): Pending | undefined {
    const pending = this.#pending.get(id);
    if (pending !== undefined) this.#pending.delete(id);
    return pending;
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
