import { fail, type CapsyncError } from '../protocol/errors.js';

/** The budget of one connection: a token bucket over the frames it sends. */
export interface FairnessOptions {
  /** Frames per second a connection may send on average (every frame counts: calls, pings, anything). */
  readonly callsPerSecond: number;
  /** Frames it may send at once after being quiet (the bucket's size). */
  readonly callBurst: number;
  /** A connection kept over its budget this long (its bucket never refilled) is closed with 4004. */
  readonly overBudgetCloseMs: number;
  /** Bytes of frames read but not yet admitted; past it the connection is closed with 4004 at once. */
  readonly maxQueuedBytes: number;
}

/** What an inbox does to its socket. */
export interface InboxIo {
  /** Hands an admitted frame to the session. */
  deliver(data: Buffer, isBinary: boolean): void;
  /** Stops reading from the socket (TCP backpressure reaches the sender) and resumes it. */
  pause(): void;
  resume(): void;
  /** Ends the connection (a persistent abuser). */
  close(error: CapsyncError): void;
}

/**
 * Fair service for one connection: frames are admitted at the connection's budget, never faster. A frame
 * over budget is queued and the socket paused, so the sender's own TCP window fills and it waits; the
 * queue drains on a timer as the bucket refills. Whatever one connection sends, the server does at most its
 * budget of work for it per second, so it cannot starve the others. A connection whose bucket never refills
 * (it keeps sending as fast as it is read) for `overBudgetCloseMs`, or whose queue passes `maxQueuedBytes`
 * (frames already read when the pause took effect), is closed with `ERR_OVER_BUDGET` (4004).
 */
export class FairInbox {
  readonly #options: FairnessOptions;
  readonly #now: () => number;
  readonly #io: InboxIo;
  #tokens: number;
  #refilledAt: number;
  readonly #queue: { data: Buffer; isBinary: boolean }[] = [];
  #queuedBytes = 0;
  /** Since when the bucket has not been full (set when a frame first had to wait). */
  #overSince: number | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #paused = false;
  #closed = false;

  constructor(options: FairnessOptions, io: InboxIo, now: () => number = () => performance.now()) {
    this.#options = options;
    this.#io = io;
    this.#now = now;
    this.#tokens = options.callBurst;
    this.#refilledAt = now();
  }

  /** Frames waiting for budget (for tests and metrics). */
  get queued(): number {
    return this.#queue.length;
  }

  /** A frame read from the socket. */
  push(data: Buffer, isBinary: boolean): void {
    if (this.#closed) return;
    const now = this.#now();
    this.#refill(now);
    if (this.#queue.length === 0 && this.#tokens >= 1) {
      this.#tokens--;
      this.#io.deliver(data, isBinary);
      return;
    }
    this.#queue.push({ data, isBinary });
    this.#queuedBytes += data.length;
    this.#overSince ??= now;
    if (this.#queuedBytes > this.#options.maxQueuedBytes || now - this.#overSince > this.#options.overBudgetCloseMs) return this.#close();
    if (!this.#paused) {
      this.#paused = true;
      this.#io.pause();
    }
    this.#schedule();
  }

  /** The connection closed: drops the queue and the timer. */
  dispose(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
  }

  #refill(now: number): void {
    const { callsPerSecond, callBurst } = this.#options;
    this.#tokens = Math.min(callBurst, this.#tokens + ((now - this.#refilledAt) * callsPerSecond) / 1000);
    this.#refilledAt = now;
    // Full again: the connection stayed within its budget long enough to be forgiven its last burst.
    if (this.#tokens >= callBurst) this.#overSince = undefined;
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    // Until the next token; the drain then admits every frame the bucket has tokens for.
    const ms = Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.#options.callsPerSecond));
    this.#timer = setTimeout(() => this.#drain(), ms);
    this.#timer.unref?.();
  }

  #drain(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    const now = this.#now();
    this.#refill(now);
    while (this.#queue.length > 0 && this.#tokens >= 1 && !this.#closed) {
      const frame = this.#queue.shift()!;
      this.#queuedBytes -= frame.data.length;
      this.#tokens--;
      this.#io.deliver(frame.data, frame.isBinary);
    }
    if (this.#closed) return;
    if (this.#queue.length > 0) return this.#schedule();
    if (this.#overSince !== undefined && now - this.#overSince > this.#options.overBudgetCloseMs) return this.#close();
    this.#paused = false;
    this.#io.resume();
  }

  #close(): void {
    if (this.#closed) return;
    this.dispose();
    // Reading again, so the close handshake can complete; later frames find the inbox closed.
    if (this.#paused) this.#io.resume();
    this.#io.close(fail('ERR_OVER_BUDGET'));
  }
}
