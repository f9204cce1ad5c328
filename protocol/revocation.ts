/** One revoked chain step: its revocation id, and when the capability it revokes expires anyway (if it does). */
export interface RevocationEntry {
  /** The revoked revocation id (`base64url(SHA-256(tag)[0..16])`). */
  readonly id: string;
  /** After this time (ms since epoch) the entry can be dropped: the capability no longer verifies anyway. */
  readonly expiresAt: number | null;
}

/**
 * The set of revoked revocation ids. `has` is synchronous because it runs on every capability use;
 * shared implementations (Redis, SQLite) keep a local mirror current and notify subscribers of additions,
 * wherever they come from.
 */
export interface RevocationSet {
  /** Whether `id` is revoked, from the local mirror: synchronous, on every verification. */
  has(id: string): boolean;
  /** Number of entries in the local mirror (0 lets verification skip computing ids). */
  readonly size: number;
  /** Records revocations (durably, for stores that persist) and tells every subscriber. */
  add(entries: readonly RevocationEntry[]): Promise<void>;
  /**
   * Called with every batch of newly revoked ids, local or remote; ids already in the set are left out, and
   * a batch with none is not announced. Returns an unsubscribe function.
   */
  subscribe(listener: (entries: readonly RevocationEntry[]) => void): () => void;
  /** Drops entries whose capability has expired (`expiresAt < now`); returns how many were dropped. */
  prune(now: number): Promise<number>;
  /**
   * A user's revocation generation (SPEC section 3.9), 0 for a user never revoked; synchronous (the local
   * mirror). A capability bound to the user at a lower generation is revoked: `revokeUser` is one bump, not a
   * row per capability ever sent.
   */
  generation(user: string): number;
  /**
   * Raises the user's generation by one, durably, and tells generation subscribers (here and on other
   * nodes); returns the new generation. Generations never go down and are kept for as long as the set is.
   */
  bumpGeneration(user: string): Promise<number>;
  /**
   * Called with every raise of a user's generation, local or remote (a raise to a generation the mirror
   * already has is not announced). Returns an unsubscribe function.
   */
  subscribeGenerations(listener: (user: string, generation: number) => void): () => void;
  /**
   * For a set that can fall behind (a feed shared by several nodes): resolves true once it is current again,
   * false after `limitMs`. Absent: the set is always current.
   */
  current?(limitMs: number): Promise<boolean>;
}

/** An in-memory revocation set: for tests, browsers and single-process servers without persistence. */
export class MemoryRevocationSet implements RevocationSet {
  protected readonly entries = new Map<string, number | null>();
  protected readonly generations = new Map<string, number>();
  private readonly listeners = new Set<(entries: readonly RevocationEntry[]) => void>();
  private readonly generationListeners = new Set<(user: string, generation: number) => void>();

  has(id: string): boolean {
    return this.entries.has(id);
  }

  get size(): number {
    return this.entries.size;
  }

  async add(entries: readonly RevocationEntry[]): Promise<void> {
    this.apply(entries);
  }

  /** Adds entries to the mirror and tells subscribers about the new ones. */
  protected apply(entries: readonly RevocationEntry[]): void {
    // Checked one by one, so an id repeated within a batch is fresh only once.
    const fresh: RevocationEntry[] = [];
    for (const e of entries) {
      if (this.entries.has(e.id)) continue;
      this.entries.set(e.id, e.expiresAt);
      fresh.push(e);
    }
    if (fresh.length > 0) for (const listener of this.listeners) listener(fresh);
  }

  subscribe(listener: (entries: readonly RevocationEntry[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  generation(user: string): number {
    return this.generations.size === 0 ? 0 : (this.generations.get(user) ?? 0);
  }

  async bumpGeneration(user: string): Promise<number> {
    const generation = this.generation(user) + 1;
    this.applyGeneration(user, generation);
    return generation;
  }

  /** Raises the mirror's generation of `user` (never lowers it) and tells subscribers if it rose. */
  protected applyGeneration(user: string, generation: number): void {
    if (generation <= this.generation(user)) return;
    this.generations.set(user, generation);
    for (const listener of this.generationListeners) listener(user, generation);
  }

  subscribeGenerations(listener: (user: string, generation: number) => void): () => void {
    this.generationListeners.add(listener);
    return () => this.generationListeners.delete(listener);
  }

  async prune(now: number): Promise<number> {
    let dropped = 0;
    for (const [id, expiresAt] of this.entries) {
      if (expiresAt !== null && expiresAt < now) (this.entries.delete(id), dropped++);
    }
    return dropped;
  }
}
