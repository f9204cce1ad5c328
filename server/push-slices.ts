/**
 * One push as its holders share it: the encoded bytes, and a slot where the first transport that can write a
 * pre-framed WebSocket frame leaves the frame it built, so the other holders write that same Buffer instead of
 * framing the bytes again each (server/node/listener.ts).
 */
export interface SharedPush {
  readonly bytes: Uint8Array;
  framed: Uint8Array | undefined;
}

/** What a push is written to: a session's pre-encoded send. */
export interface PushTarget {
  /**
   * `alone`: written now, not held to coalesce with the connection's other frames of the turn. `shared`: the
   * push as every holder of this fan-out shares it (see {@link SharedPush}).
   */
  sendBytes(bytes: Uint8Array, alone?: boolean, shared?: SharedPush): void;
}

/** How {@link PushSlicer} bounds one slice of a fan-out. */
export interface PushSliceOptions {
  /** Milliseconds of writing after which a slice yields to the event loop (checked after every holder). */
  readonly sliceMs: number;
  /** Holders written at most per slice, whatever the time. */
  readonly maxPerSlice: number;
  /**
   * Holders written at least per slice, whatever the time (default 64, about 0.5 ms of writes on an idle
   * machine): on a loaded one a slice may lose its whole budget to being descheduled, and must still advance.
   */
  readonly minPerSlice?: number;
  /** The clock slices are timed by, for tests. Default `performance.now`. */
  readonly now?: () => number;
}

interface Job extends SharedPush {
  readonly targets: readonly PushTarget[];
  next: number;
}

/**
 * Writes pushes to their holders in slices, so that a push to a large audience does not hold the event loop:
 * a slice writes until it has run `sliceMs` (or written `maxPerSlice` holders), then the rest follow after
 * `setImmediate`, so other connections' frames are read and answered in between. A slice is bounded by time,
 * not by count: one holder's write costs a `writev` syscall, 5 us on an idle machine and 50 us or more on a
 * loaded one, so a fixed count gave stalls from 3 to 130 ms at 10,000 holders. Pushes leave in the order they
 * were given, to every holder: a push that arrives while an earlier one is still being sliced waits behind
 * it. A push that fits in one slice, with nothing queued, is written at once.
 */
export class PushSlicer {
  readonly #sliceMs: number;
  readonly #maxPerSlice: number;
  readonly #minPerSlice: number;
  readonly #now: () => number;
  readonly #queue: Job[] = [];
  #head = 0;
  #scheduled = false;

  constructor(options: PushSliceOptions) {
    this.#sliceMs = Math.max(0, options.sliceMs);
    this.#maxPerSlice = Math.max(1, options.maxPerSlice);
    this.#minPerSlice = Math.min(this.#maxPerSlice, Math.max(1, options.minPerSlice ?? 64));
    this.#now = options.now ?? (() => performance.now());
  }

  /** Pushes queued or being sliced (for tests and metrics). */
  get pending(): number {
    return this.#queue.length - this.#head;
  }

  send(targets: Iterable<PushTarget>, bytes: Uint8Array): void {
    const list = Array.isArray(targets) ? (targets as PushTarget[]) : [...targets];
    if (list.length === 0) return;
    this.#queue.push({ targets: list, bytes, framed: undefined, next: 0 });
    // Written now as far as one slice goes, unless earlier pushes are still waiting for their turn.
    if (this.pending === 1 && !this.#scheduled) this.#slice();
  }

  #slice(): void {
    this.#scheduled = false;
    const started = this.#now();
    let budget = this.#maxPerSlice;
    let written = 0;
    while (budget > 0 && this.#head < this.#queue.length) {
      const job = this.#queue[this.#head]!;
      const { targets, bytes } = job;
      let i = job.next;
      while (i < targets.length && budget > 0) {
        // Written now: held for the turn's end, every holder's write would land in one later burst, outside
        // the slice's time budget (the stall the slices exist to bound).
        targets[i++]!.sendBytes(bytes, true, job);
        budget--;
        if (++written >= this.#minPerSlice && this.#now() - started >= this.#sliceMs) budget = 0;
      }
      job.next = i;
      if (i >= targets.length) this.#shift();
    }
    if (this.pending > 0 && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#slice());
    }
  }

  // The queue is consumed from a head index (shift() on a long queue copies it); compacted when empty.
  #shift(): void {
    this.#queue[this.#head++] = undefined as unknown as Job;
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    }
  }
}
