/**
 * Runs tasks one at a time per key, in the order they were queued; tasks of different keys run freely.
 * What `LiveObjects.update` uses on a store without an atomic `update`: writers in this process take turns
 * on one object instead of all reading the same version and retrying, so only writers elsewhere (another
 * server on the same store) can still cause a conflict. Keys with nothing queued take no memory.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<R>(key: string, task: () => Promise<R>): Promise<R> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** Keys with a task queued or running (for tests). */
  get size(): number {
    return this.#tails.size;
  }
}
