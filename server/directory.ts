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
  /** A user's one session itself (most users have one), or a set of two or more. */
  readonly #byUser = new Map<string, S | Set<S>>();
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
    const entry = this.#byUser.get(user.id);
    if (entry === undefined) {
      this.#byUser.set(user.id, session);
      this.#events.joined?.(user.id);
    } else if (entry instanceof Set) entry.add(session);
    else if (entry !== session) this.#byUser.set(user.id, new Set([entry, session]));
  }

  /** Forgets a session; returns false if it was not here. */
  remove(session: S): boolean {
    if (!this.#sessions.delete(session)) return false;
    const user = session.user;
    if (user === null) return true;
    const entry = this.#byUser.get(user.id);
    if (entry instanceof Set) {
      entry.delete(session);
      if (entry.size === 1) this.#byUser.set(user.id, entry.values().next().value as S);
    } else if (entry === session) {
      this.#byUser.delete(user.id);
      this.#events.left?.(user.id);
    }
    return true;
  }

  /** The open sessions of a user (empty if none). */
  ofUser(userId: string): ReadonlySet<S> {
    const entry = this.#byUser.get(userId);
    return entry === undefined ? empty : entry instanceof Set ? entry : new Set([entry]);
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
