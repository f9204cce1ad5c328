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
}

/** An in-memory revocation set: for tests, browsers and single-process servers without persistence. */
export class MemoryRevocationSet implements RevocationSet {
  protected readonly entries = new Map<string, number | null>();
  private readonly listeners = new Set<(entries: readonly RevocationEntry[]) => void>();

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

  async prune(now: number): Promise<number> {
    let dropped = 0;
    for (const [id, expiresAt] of this.entries) {
      if (expiresAt !== null && expiresAt < now) (this.entries.delete(id), dropped++);
    }
    return dropped;
  }
}
