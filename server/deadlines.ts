import type { Clock } from './options.js';

/** A scheduled deadline; pass it to {@link Deadlines.cancel}. */
export interface Deadline {
  /** When it fires (ms since epoch, on the deadlines' clock). */
  readonly at: number;
  /** Position in the heap; -1 once fired or cancelled. */
  index: number;
  readonly run: () => void;
}

/** The longest a platform timer can wait (2^31 - 1 ms); later deadlines re-arm when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Every deadline of a server in one binary min-heap with a single platform timer: JWT warnings and ends,
 * capability expiries. A Node timer per deadline leaves `TimersList` entries behind until it would have
 * fired, so a closed session kept heap for as long as its JWT lived; here cancelling removes the entry at
 * once (O(log n)), and a closed session leaves nothing.
 */
export class Deadlines {
  readonly #clock: Clock;
  readonly #heap: Deadline[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #armedFor = Infinity;
  #closed = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Number of pending deadlines (for tests and metrics). */
  get size(): number {
    return this.#heap.length;
  }

  /** Runs `run` at `at` (ms since epoch). A deadline already due runs on the next timer turn, never synchronously. */
  schedule(at: number, run: () => void): Deadline {
    return this.add({ at, run, index: -1 });
  }

  /**
   * Schedules a deadline object of the caller's own (a class with a prototype `run`, so that a deadline per
   * session or per holding needs no closure). It must not be pending already.
   */
  add<D extends Deadline>(deadline: D): D {
    deadline.index = this.#heap.length;
    this.#heap.push(deadline);
    this.#up(deadline.index);
    this.#arm();
    return deadline;
  }

  /** Removes a deadline that has not fired; harmless for one that has or for undefined. */
  cancel(deadline: Deadline | undefined): void {
    if (deadline === undefined || deadline.index < 0) return;
    const i = deadline.index;
    const last = this.#heap.pop()!;
    deadline.index = -1;
    if (last !== deadline) {
      this.#heap[i] = last;
      last.index = i;
      this.#down(i);
      this.#up(last.index);
    }
    if (this.#heap.length === 0) this.#disarm();
  }

  /** Runs every deadline that is due now (the timer calls this; tests with a manual clock may too). */
  runDue(): void {
    const now = this.#clock.now();
    while (this.#heap.length > 0 && this.#heap[0]!.at <= now) {
      const first = this.#heap[0]!;
      this.cancel(first);
      try {
        first.run();
      } catch {
        // A deadline's work reports its own failures; one that throws must not stop the others.
      }
    }
    this.#arm();
  }

  /** Cancels everything and stops the timer. */
  close(): void {
    this.#closed = true;
    for (const d of this.#heap) d.index = -1;
    this.#heap.length = 0;
    this.#disarm();
  }

  #arm(): void {
    if (this.#closed) return;
    const first = this.#heap[0];
    if (first === undefined) return this.#disarm();
    if (this.#timer !== undefined && this.#armedFor <= first.at) return;
    this.#disarm();
    this.#armedFor = first.at;
    const wait = Math.min(Math.max(first.at - this.#clock.now(), 0), MAX_TIMER_MS);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#armedFor = Infinity;
      this.runDue();
    }, wait);
    this.#timer.unref?.();
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
  }

  #up(i: number): void {
    const heap = this.#heap;
    const item = heap[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= item.at) break;
      heap[i] = heap[parent]!;
      heap[i]!.index = i;
      i = parent;
    }
    heap[i] = item;
    item.index = i;
  }

  #down(i: number): void {
    const heap = this.#heap;
    const n = heap.length;
    const item = heap[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && heap[right]!.at < heap[left]!.at ? right : left;
      if (heap[child]!.at >= item.at) break;
      heap[i] = heap[child]!;
      heap[i]!.index = i;
      i = child;
    }
    heap[i] = item;
    item.index = i;
  }
}
