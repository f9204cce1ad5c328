import type BetterSqlite3 from 'better-sqlite3';
import { MemoryRevocationSet, type RevocationEntry } from '../../protocol/revocation.js';

/** @internal The revocation set persisted in the store's `revocations` table, with an in-memory mirror for synchronous checks. */
export class SqliteRevocationSet extends MemoryRevocationSet {
  readonly #db: BetterSqlite3.Database;

  constructor(db: BetterSqlite3.Database) {
    super();
    this.#db = db;
    for (const row of db.prepare('SELECT id, expires_at FROM revocations').all() as { id: string; expires_at: number | null }[]) {
      this.entries.set(row.id, row.expires_at);
    }
    for (const row of db.prepare('SELECT user, generation FROM generations').all() as { user: string; generation: number }[]) {
      this.generations.set(row.user, row.generation);
    }
  }

  override async bumpGeneration(user: string): Promise<number> {
    const row = this.#db
      .prepare('INSERT INTO generations (user, generation) VALUES (?, 1) ON CONFLICT (user) DO UPDATE SET generation = generation + 1 RETURNING generation')
      .get(user) as { generation: number };
    this.applyGeneration(user, row.generation);
    return row.generation;
  }

  override async add(entries: readonly RevocationEntry[]): Promise<void> {
    const insert = this.#db.prepare('INSERT OR IGNORE INTO revocations (id, expires_at) VALUES (?, ?)');
    this.#db.transaction(() => {
      for (const e of entries) insert.run(e.id, e.expiresAt);
    })();
    this.apply(entries);
  }

  override async prune(now: number): Promise<number> {
    // The table first: if it fails, the mirror still holds every entry the file does.
    this.#db.prepare('DELETE FROM revocations WHERE expires_at IS NOT NULL AND expires_at < ?').run(now);
    return super.prune(now);
  }
}
