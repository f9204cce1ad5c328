import { randomUUID } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';

/**
 * @internal The tables as a new file gets them. A file made by an earlier capsync has the same tables
 * with fewer columns (`CREATE TABLE IF NOT EXISTS` leaves it alone): {@link migrate} adds them.
 */
const TABLES = `
CREATE TABLE IF NOT EXISTS objects (
  key TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  type TEXT NOT NULL,
  state BLOB,
  version INTEGER NOT NULL,
  created INTEGER NOT NULL,
  seq INTEGER NOT NULL DEFAULT 0,
  changed_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS objects_type ON objects (type, created);
CREATE TABLE IF NOT EXISTS revocations (id TEXT PRIMARY KEY, expires_at INTEGER);
CREATE TABLE IF NOT EXISTS issued (user TEXT NOT NULL, id TEXT NOT NULL, expires_at INTEGER, PRIMARY KEY (user, id));
-- One row per user ever revoked with revokeUser: capabilities bound to them carry the generation they were bound at.
CREATE TABLE IF NOT EXISTS generations (user TEXT PRIMARY KEY, generation INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS delegations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  from_user TEXT NOT NULL, to_user TEXT NOT NULL, scope TEXT NOT NULL,
  revocation_id TEXT NOT NULL, bound INTEGER NOT NULL, at INTEGER NOT NULL,
  token BLOB NOT NULL DEFAULT x'', expires_at INTEGER
);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
  principal TEXT NOT NULL, key TEXT NOT NULL, owner TEXT NOT NULL, outcome BLOB, expires_at INTEGER NOT NULL,
  PRIMARY KEY (principal, key)
);
CREATE INDEX IF NOT EXISTS calls_expiry ON calls (expires_at);
-- One row: the latest seq and the horizon. Not MAX(objects.seq): pruning may delete the row that held it,
-- and a seq must never be handed out twice.
CREATE TABLE IF NOT EXISTS sequence (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, horizon INTEGER NOT NULL);
`;

/** @internal Indexes on columns a migrated file only has once {@link migrate} added them. */
const INDEXES = `
CREATE UNIQUE INDEX IF NOT EXISTS objects_seq ON objects (seq);
CREATE INDEX IF NOT EXISTS objects_tombstones ON objects (changed_at) WHERE state IS NULL;
CREATE INDEX IF NOT EXISTS delegations_to ON delegations (to_user);
CREATE INDEX IF NOT EXISTS issued_expiry ON issued (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS delegations_expiry ON delegations (expires_at) WHERE expires_at IS NOT NULL;
`;

/** @internal The settings name of the store's epoch (see `ObjectStore.epoch`). */
export const EPOCH_SETTING = 'store.epoch';

/**
 * @internal Brings a file to the current schema, in one transaction (a crash halfway leaves the old file):
 * creates what is missing, adds the columns earlier versions lacked, gives the epoch to a file that has none.
 *
 * Objects written before there was a change sequence get seqs 1, 2, ... in the order they were first put
 * (tombstones included: a deletion is a change), and the counter continues after them. Their `changed_at`
 * is the migration's time, not the unknown time of the change: a tombstone is then pruned no earlier than
 * the retention after the upgrade, never before clients had the chance to see it.
 */
export function migrate(db: BetterSqlite3.Database, now: number): void {
  db.transaction(() => {
    db.exec(TABLES);
    if (!hasColumn(db, 'objects', 'seq')) {
      db.exec('ALTER TABLE objects ADD COLUMN seq INTEGER NOT NULL DEFAULT 0');
      db.exec('ALTER TABLE objects ADD COLUMN changed_at INTEGER NOT NULL DEFAULT 0');
      db.prepare(
        `UPDATE objects SET seq = ordered.n, changed_at = @now
         FROM (SELECT key, row_number() OVER (ORDER BY created, key) AS n FROM objects) AS ordered
         WHERE ordered.key = objects.key`,
      ).run({ now });
    }
    if (!hasColumn(db, 'delegations', 'token')) {
      // Old records keep an empty token: who gave what to whom is still known, the bytes delivered are not.
      db.exec("ALTER TABLE delegations ADD COLUMN token BLOB NOT NULL DEFAULT x''");
      db.exec('ALTER TABLE delegations ADD COLUMN expires_at INTEGER');
    }
    // Only the first open inserts; from then on the counter is what writes left it at.
    db.exec('INSERT OR IGNORE INTO sequence (id, seq, horizon) SELECT 1, COALESCE(MAX(seq), 0), 0 FROM objects');
    db.exec(INDEXES);
    db.prepare('INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)').run(EPOCH_SETTING, randomUUID());
  })();
}

function hasColumn(db: BetterSqlite3.Database, table: string, column: string): boolean {
  return (db.prepare(`SELECT name FROM pragma_table_info(?)`).all(table) as { name: string }[]).some((c) => c.name === column);
}
