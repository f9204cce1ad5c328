import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { fail } from '../../protocol/errors.js';
import { canonicalKey, type JsonValue } from '../../protocol/json-value.js';
import { MemoryRevocationSet, type RevocationEntry, type RevocationSet } from '../../protocol/revocation.js';
import type { DelegationRecord, IssuedRecord, ObjectStore, StoredObject } from './types.js';

type Database = BetterSqlite3.Database;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS objects (
  key TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  type TEXT NOT NULL,
  state BLOB,
  version INTEGER NOT NULL,
  created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS objects_type ON objects (type, created);
CREATE TABLE IF NOT EXISTS revocations (id TEXT PRIMARY KEY, expires_at INTEGER);
CREATE TABLE IF NOT EXISTS issued (user TEXT NOT NULL, id TEXT NOT NULL, expires_at INTEGER, PRIMARY KEY (user, id));
CREATE TABLE IF NOT EXISTS delegations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  from_user TEXT NOT NULL, to_user TEXT NOT NULL, scope TEXT NOT NULL,
  revocation_id TEXT NOT NULL, bound INTEGER NOT NULL, at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/**
 * @internal Loads better-sqlite3 on first use. It is a native module and an optional dependency: a server
 * that keeps its objects in memory must start without it, so nothing imports it at module load. `require`
 * is a parameter so a test can play a missing module.
 */
export function loadBetterSqlite3(require: (id: string) => unknown = createRequire(import.meta.url)): unknown {
  try {
    return require('better-sqlite3');
  } catch (cause) {
    // Not installed, or installed without its native binding (a failed build): either way there is no SQLite.
    const error = fail('ERR_STORE_UNAVAILABLE', 'SqliteStore needs the optional dependency better-sqlite3 (npm install better-sqlite3)');
    error.cause = cause;
    throw error;
  }
}

/** The revocation set persisted in the store's `revocations` table, with an in-memory mirror for synchronous checks. */
class SqliteRevocationSet extends MemoryRevocationSet {
  readonly #db: Database;

  constructor(db: Database) {
    super();
    this.#db = db;
    for (const row of db.prepare('SELECT id, expires_at FROM revocations').all() as { id: string; expires_at: number | null }[]) {
      this.entries.set(row.id, row.expires_at);
    }
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

/**
 * The embedded store: one SQLite file (or `:memory:`) through better-sqlite3, loaded when the first store is
 * constructed (throws `ERR_STORE_UNAVAILABLE` if it is not installed). Writes are synchronous and durable
 * before the promise resolves (WAL mode), so a push never announces a version the store lost.
 *
 * @example
 * ```ts
 * const server = await CapsyncServer.create({ auth: { secret }, store: new SqliteStore('./data/capsync.sqlite') });
 * ```
 */
export class SqliteStore implements ObjectStore {
  readonly revocations: RevocationSet;
  readonly #db: Database;
  #clock = 0;
  readonly #get: BetterSqlite3.Statement;
  readonly #put: BetterSqlite3.Statement;

  constructor(filename = ':memory:') {
    // Typed here, not in the loader's signature: better-sqlite3's types stay out of the published declarations.
    const Sqlite = loadBetterSqlite3() as typeof BetterSqlite3;
    this.#db = new Sqlite(filename);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.exec(SCHEMA);
    this.revocations = new SqliteRevocationSet(this.#db);
    this.#get = this.#db.prepare('SELECT address, type, state, version FROM objects WHERE key = ?');
    this.#put = this.#db.prepare(
      `INSERT INTO objects (key, address, type, state, version, created) VALUES (@key, @address, @type, @state, 1, @created)
       ON CONFLICT (key) DO UPDATE SET type = excluded.type, state = excluded.state, version = objects.version + 1
       RETURNING version`,
    );
  }

  async get(address: readonly JsonValue[]): Promise<StoredObject | undefined> {
    const row = this.#get.get(canonicalKey(address as JsonValue[])) as Row | undefined;
    return row && row.state !== null ? toObject(row) : undefined;
  }

  async list(type: string): Promise<StoredObject[]> {
    const rows = this.#db.prepare('SELECT address, type, state, version FROM objects WHERE type = ? AND state IS NOT NULL ORDER BY created, key').all(type) as Row[];
    return rows.map(toObject);
  }

  async put(address: readonly JsonValue[], type: string, state: Uint8Array): Promise<number> {
    const row = this.#put.get({
      key: canonicalKey(address as JsonValue[]),
      address: JSON.stringify(address),
      type,
      // better-sqlite3 binds only Buffers as BLOBs; this view shares the caller's bytes, which SQLite copies.
      state: Buffer.from(state.buffer, state.byteOffset, state.byteLength),
      created: Date.now() * 1000 + (this.#clock++ % 1000),
    }) as { version: number };
    return row.version;
  }

  async delete(address: readonly JsonValue[]): Promise<number | undefined> {
    // The row stays as a tombstone so a re-created object continues the version sequence.
    const row = this.#db
      .prepare('UPDATE objects SET state = NULL, version = version + 1 WHERE key = ? AND state IS NOT NULL RETURNING version')
      .get(canonicalKey(address as JsonValue[])) as { version: number } | undefined;
    return row?.version;
  }

  async recordIssued(user: string, entries: readonly IssuedRecord[]): Promise<void> {
    const insert = this.#db.prepare('INSERT OR IGNORE INTO issued (user, id, expires_at) VALUES (?, ?, ?)');
    this.#db.transaction(() => {
      for (const e of entries) insert.run(user, e.id, e.expiresAt);
    })();
  }

  async issuedTo(user: string, now: number): Promise<IssuedRecord[]> {
    const rows = this.#db
      .prepare('SELECT id, expires_at FROM issued WHERE user = ? AND (expires_at IS NULL OR expires_at >= ?)')
      .all(user, now) as { id: string; expires_at: number | null }[];
    return rows.map((r) => ({ id: r.id, expiresAt: r.expires_at }));
  }

  async recordDelegation(r: DelegationRecord): Promise<void> {
    this.#db
      .prepare('INSERT INTO delegations (from_user, to_user, scope, revocation_id, bound, at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(r.from, r.to, JSON.stringify(r.scope), r.revocationId, r.bound ? 1 : 0, r.at);
  }

  async delegations(filter: { from?: string; to?: string }): Promise<DelegationRecord[]> {
    const rows = this.#db
      .prepare('SELECT * FROM delegations WHERE (@from IS NULL OR from_user = @from) AND (@to IS NULL OR to_user = @to) ORDER BY seq')
      .all({ from: filter.from ?? null, to: filter.to ?? null }) as DelegationRow[];
    return rows.map((r) => ({
      from: r.from_user, to: r.to_user, scope: JSON.parse(r.scope) as JsonValue[], revocationId: r.revocation_id, bound: r.bound === 1, at: r.at,
    }));
  }

  async getSetting(name: string): Promise<string | undefined> {
    return (this.#db.prepare('SELECT value FROM settings WHERE name = ?').get(name) as { value: string } | undefined)?.value;
  }

  async setSetting(name: string, value: string): Promise<void> {
    this.#db.prepare('INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value').run(name, value);
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}

interface Row {
  address: string;
  type: string;
  state: Buffer | null;
  version: number;
}

interface DelegationRow {
  from_user: string;
  to_user: string;
  scope: string;
  revocation_id: string;
  bound: number;
  at: number;
}

function toObject(row: Row): StoredObject {
  // Rows written before the store held codec bytes hold plain msgpack, which the codec reads as well.
  return { address: JSON.parse(row.address) as JsonValue[], type: row.type, state: row.state!, version: row.version };
}
