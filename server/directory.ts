/** What a {@link SessionDirectory} tells as users come and go. */
export interface DirectoryEvents {
  joined?(userId: string): void;
  left?(userId: string): void;
}

/** What the directory needs of a session. */
export interface DirectoryEntry {
  readonly user: { readonly id: string } | null;
}

/**
 * Who is connected to this node: every open session, and the sessions of each user. Delivery to a user
 * (a delegation) goes through here; with several nodes, a shared implementation takes its place.
 */
export class SessionDirectory<S extends DirectoryEntry> {
  readonly #sessions = new Set<S>();
  readonly #byUser = new Map<string, Set<S>>();
  readonly #events: DirectoryEvents;

  /** `events` hears a user's first session opening and last one closing (a cluster's presence). */
  constructor(events: DirectoryEvents = {}) {
    this.#events = events;
  }

  get size(): number {
    return this.#sessions.size;
  }

  add(session: S): void {
    this.#sessions.add(session);
    const user = session.user;
    if (user === null) return;
    let set = this.#byUser.get(user.id);
    if (set === undefined) {
      this.#byUser.set(user.id, (set = new Set()));
      this.#events.joined?.(user.id);
    }
    set.add(session);
  }

  remove(session: S): void {
    if (!this.#sessions.delete(session)) return;
    const user = session.user;
    if (user === null) return;
    const set = this.#byUser.get(user.id);
    set?.delete(session);
    if (set?.size === 0) {
      this.#byUser.delete(user.id);
      this.#events.left?.(user.id);
    }
  }

  /** The open sessions of a user (empty if none). */
  ofUser(userId: string): ReadonlySet<S> {
    return this.#byUser.get(userId) ?? empty;
  }

  /** Ids of users with at least one open session. */
  users(): string[] {
    return [...this.#byUser.keys()];
  }

  /** Every open session (a snapshot: safe to close sessions while iterating). */
  all(): S[] {
    return [...this.#sessions];
  }

  [Symbol.iterator](): IterableIterator<S> {
    return this.#sessions.values();
  }
}

const empty: ReadonlySet<never> = new Set();
