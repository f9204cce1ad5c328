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
  /**
   * Milliseconds of the server's CPU per second that handling one connection's frames may take on average
   * (measured around each frame's synchronous handling: decode, verification, the call's dispatch). Default
   * unbounded. Frames are not alike: a call that mints capabilities costs a hundred pings.
   */
  readonly serviceMsPerSecond?: number;
  /** CPU milliseconds one connection may take at once before the average applies. Default twice the rate. */
  readonly serviceBurstMs?: number;
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

// One function for every inbox (a default `() => performance.now()` was a closure per connection).
const performanceNow = (): number => performance.now();

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
  readonly #cpu: () => number;
  readonly #serviceRate: number;
  readonly #serviceBurst: number;
  #tokens: number;
  /** CPU milliseconds left in the service bucket; a frame may leave it negative (a debt the refill repays). */
  #service: number;
  #refilledAt: number;
  // Made at the first frame: an idle connection keeps no array here.
  #queueMade: { data: Buffer; isBinary: boolean }[] | undefined;
  #queuedBytes = 0;
  /** Since when the bucket has not been full (set when a frame first had to wait). */
  #overSince: number | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #paused = false;
  #closed = false;

  constructor(options: FairnessOptions, io: InboxIo, now: () => number = performanceNow, cpu: () => number = cpuMs) {
    this.#options = options;
    this.#io = io;
    this.#now = now;
    this.#cpu = cpu;
    this.#serviceRate = options.serviceMsPerSecond ?? Infinity;
    this.#serviceBurst = options.serviceBurstMs ?? 2 * this.#serviceRate;
    this.#service = this.#serviceBurst;
    this.#tokens = options.callBurst;
    this.#refilledAt = now();
  }

  get #queue(): { data: Buffer; isBinary: boolean }[] {
    return (this.#queueMade ??= []);
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
    if (this.#queue.length === 0 && this.#admits()) {
      this.#deliver(data, isBinary);
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

  #admits(): boolean {
    return this.#tokens >= 1 && this.#service > 0;
  }

  /** Hands a frame on and charges it: one frame, and the CPU time its synchronous handling took. */
  #deliver(data: Buffer, isBinary: boolean): void {
    this.#tokens--;
    if (this.#serviceRate === Infinity) return this.#io.deliver(data, isBinary);
    const before = this.#cpu();
    try {
      this.#io.deliver(data, isBinary);
    } finally {
      this.#service -= this.#cpu() - before;
    }
  }

  #refill(now: number): void {
    const { callsPerSecond, callBurst } = this.#options;
    const elapsed = now - this.#refilledAt;
    this.#tokens = Math.min(callBurst, this.#tokens + (elapsed * callsPerSecond) / 1000);
    if (this.#serviceRate !== Infinity) this.#service = Math.min(this.#serviceBurst, this.#service + (elapsed * this.#serviceRate) / 1000);
    this.#refilledAt = now;
    // Full again: the connection stayed within its budget long enough to be forgiven its last burst.
    if (this.#tokens >= callBurst && this.#service >= this.#serviceBurst) this.#overSince = undefined;
  }

  #schedule(): void {
    if (this.#timer !== undefined) return;
    // Until the next frame token and a positive service balance; the drain then admits what both allow.
    const frameMs = ((1 - this.#tokens) * 1000) / this.#options.callsPerSecond;
    const serviceMs = this.#service > 0 ? 0 : ((-this.#service + 0.01) * 1000) / this.#serviceRate;
    const ms = Math.max(1, Math.ceil(Math.max(frameMs, serviceMs)));
    this.#timer = setTimeout(() => this.#drain(), ms);
    this.#timer.unref?.();
  }

  #drain(): void {
    this.#timer = undefined;
    if (this.#closed) return;
    const now = this.#now();
    this.#refill(now);
    while (this.#queue.length > 0 && this.#admits() && !this.#closed) {
      const frame = this.#queue.shift()!;
      this.#queuedBytes -= frame.data.length;
      this.#deliver(frame.data, frame.isBinary);
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

/** The process's CPU time (user and system), in ms: what a frame's handling cost, even when the machine is loaded. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}
