import type { ObjectStore } from '../../server/store/types.js';

/** A clock the test sets: deletions are stamped with it, so pruning by age needs no waiting. */
export class ManualClock {
  #now = 1_700_000_000_000;

  now(): number {
    return this.#now;
  }

  /** Moves the clock to `ms` (backwards too: a wall clock can step back). */
  set(ms: number): void {
    this.#now = ms;
  }
}

/** Makes a fresh, empty store that stamps its changes with `clock`. */
export type StoreFactory = (clock: ManualClock) => ObjectStore | Promise<ObjectStore>;

/** What a part of the contract sees: getters, since every test gets a store and a clock of its own. */
export interface StoreContext {
  readonly store: () => ObjectStore;
  readonly clock: () => ManualClock;
  readonly factory: StoreFactory;
}
