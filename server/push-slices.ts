/** What a push is written to: a session's pre-encoded send. */
export interface PushTarget {
  sendBytes(bytes: Uint8Array): void;
}

/**
 * Writes pushes to their holders in slices, so that a push to a large audience does not hold the event loop:
 * at most `sliceSize` sends, then the rest after `setImmediate` (other connections' frames are read and
 * answered in between). Pushes leave in the order they were given, to every holder: a push that arrives
 * while an earlier one is still being sliced waits behind it. A push to an audience within one slice, with
 * nothing queued, is written at once, as before.
 */
export class PushSlicer {
  readonly #sliceSize: number;
  readonly #queue: { targets: PushTarget[]; bytes: Uint8Array; next: number }[] = [];
  #scheduled = false;

  constructor(sliceSize: number) {
    this.#sliceSize = Math.max(1, sliceSize);
  }

  /** Pushes queued or being sliced (for tests and metrics). */
  get pending(): number {
    return this.#queue.length;
  }

  send(targets: Iterable<PushTarget>, bytes: Uint8Array): void {
    const list = Array.isArray(targets) ? (targets as PushTarget[]) : [...targets];
    if (this.#queue.length === 0 && list.length <= this.#sliceSize) {
      for (const target of list) target.sendBytes(bytes);
      return;
    }
    this.#queue.push({ targets: list, bytes, next: 0 });
    if (this.#queue.length === 1) this.#slice();
  }

  #slice(): void {
    this.#scheduled = false;
    let budget = this.#sliceSize;
    while (budget > 0 && this.#queue.length > 0) {
      const job = this.#queue[0]!;
      const end = Math.min(job.targets.length, job.next + budget);
      for (let i = job.next; i < end; i++) job.targets[i]!.sendBytes(job.bytes);
      budget -= end - job.next;
      job.next = end;
      if (job.next >= job.targets.length) this.#queue.shift();
    }
    if (this.#queue.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#slice());
    }
  }
}
