import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import { LRUCache } from 'lru-cache';
import { fail, VersionConflictError } from '../../protocol/errors.js';
import { canonicalKey, type JsonValue } from '../../protocol/json-value.js';
import type { RevocationSet } from '../../protocol/revocation.js';
import { prefixKeys } from './prefix.js';
import { SqliteRevocationSet } from './sqlite-revocations.js';
import { EPOCH_SETTING, migrate } from './sqlite-schema.js';
import type {
  CallCommit, CallRecord, DelegationFilter, DelegationRecord, IssuedRecord, ObjectStore, StoreOptions, StoredChange, StoredObject, StoredUpdate, WriteCondition,
  WriteResult,
} from './types.js';

type Database = BetterSqlite3.Database;

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

const COLUMNS = 'address, type, state, version, seq';

/** Options of a {@link SqliteStore}. */
export interface SqliteStoreOptions extends StoreOptions {
  /**
   * `'full'` (default): every commit is fsynced before the write resolves (`synchronous = FULL`).
   * `'normal'`: WAL's `synchronous = NORMAL`, several times faster per write; survives a process crash, but a
   * power cut or OS crash may lose the latest acknowledged writes. `npm run bench:durability` measures both.
   */
  readonly durability?: 'full' | 'normal';
}

/**
 * The embedded store: one SQLite file (or `:memory:`) through better-sqlite3, loaded when the first store is
 * constructed (throws `ERR_STORE_UNAVAILABLE` if it is not installed). Writes are synchronous and durable
 * before the promise resolves: WAL mode with `synchronous = FULL`, so every commit is fsynced and a push
 * never announces a version the store lost, even to a power cut. `durability: 'normal'` trades that for
 * speed (`synchronous = NORMAL`: a process crash loses nothing, a power cut may lose the last commits).
 * A file made by an earlier capsync is migrated in place when opened (see `sqlite-schema.ts`).
 *
 * @example
 * ```ts
 * const server = await CapsyncServer.create({ auth: { secret }, store: new SqliteStore('./data/capsync.sqlite') });
 * ```
 */
export class SqliteStore implements ObjectStore {
  readonly revocations: RevocationSet;
  readonly #db: Database;
  readonly #clock: { now(): number };
  readonly #epoch: string;
  #created = 0;
  readonly #get: BetterSqlite3.Statement;
  /** Statements compiled once each: better-sqlite3's prepare parses and plans the SQL on every call. */
  readonly #statements = new Map<string, BetterSqlite3.Statement>();
  readonly #put: (row: Record<string, unknown>, ifVersion: number | undefined) => WriteResult;
  readonly #update: (address: readonly JsonValue[], mutate: (current: StoredObject | undefined) => StoredUpdate | undefined) => WriteResult | undefined;
  readonly #delete: (key: string) => WriteResult | undefined;
  /**
   * Pages of {@link changes} by `since`, `limit` and the head (seq, horizon) they were read at: rows below an
   * unchanged head cannot change, and a herd of clients resuming after a restart asks for the same page
   * thousands of times. Bounded by the bytes of the states it keeps.
   */
  readonly #pages = new LRUCache<string, readonly StoredChange[]>({
    maxSize: 16 * 2 ** 20,
    sizeCalculation: (rows) => rows.reduce((n, r) => n + 64 + (r.state?.length ?? 0), 1),
  });
  readonly #readPage: (since: number, limit: number) => { head: string; rows: Row[] } | undefined;

  constructor(filename = ':memory:', options: SqliteStoreOptions = {}) {
    // Typed here, not in the loader's signature: better-sqlite3's types stay out of the published declarations.
    const Sqlite = loadBetterSqlite3() as typeof BetterSqlite3;
    this.#clock = options.clock ?? Date;
    const db = (this.#db = new Sqlite(filename));
    db.pragma('journal_mode = WAL');
    db.pragma(options.durability === 'normal' ? 'synchronous = NORMAL' : 'synchronous = FULL');
    migrate(db, this.#clock.now());
    this.revocations = new SqliteRevocationSet(db);
    // Read once: nothing but a replaced file changes it, and a replaced file is a new store.
    this.#epoch = (db.prepare('SELECT value FROM settings WHERE name = ?').get(EPOCH_SETTING) as { value: string }).value;
    this.#get = db.prepare(`SELECT ${COLUMNS} FROM objects WHERE key = ?`);

    // The counter and the row change in one transaction: a crash keeps both or neither, so a seq is never
    // handed out twice and never names a change the file lost.
    const next = db.prepare('UPDATE sequence SET seq = seq + 1 WHERE id = 1 RETURNING seq');
    const upsert = db.prepare(
      `INSERT INTO objects (key, address, type, state, version, created, seq, changed_at)
       VALUES (@key, @address, @type, @state, 1, @created, @seq, @now)
       ON CONFLICT (key) DO UPDATE SET type = excluded.type, state = excluded.state, version = objects.version + 1,
         seq = excluded.seq, changed_at = excluded.changed_at
       RETURNING version, seq`,
    );
    const write = (row: Record<string, unknown>): WriteResult => upsert.get({ ...row, seq: (next.get() as { seq: number }).seq }) as WriteResult;
    // The check and the write in one transaction: a writer on another connection to the file waits for it.
    // BEGIN IMMEDIATE: the read takes the write lock at once, so another process cannot write between it and the write.
    this.#put = db.transaction((row: Record<string, unknown>, ifVersion: number | undefined) => {
      if (ifVersion !== undefined) {
        const found = this.#get.get(row.key) as Row | undefined;
        const current = found === undefined || found.state === null ? 0 : found.version;
        if (current !== ifVersion) throw new VersionConflictError(current, ifVersion);
      }
      return write(row);
    }).immediate;
    this.#update = db.transaction((address: readonly JsonValue[], mutate: (current: StoredObject | undefined) => StoredUpdate | undefined) => {
      const found = this.#get.get(canonicalKey(address as JsonValue[])) as Row | undefined;
      const next = mutate(found && found.state !== null ? toObject(found) : undefined);
      return next && write(this.#row(address, next.type, next.state));
    }).immediate;
    // The row stays as a tombstone so a re-created object continues the version sequence, and `changes` reports it.
    const tombstone = db.prepare(
      `UPDATE objects SET state = NULL, version = version + 1, seq = (SELECT seq + 1 FROM sequence WHERE id = 1), changed_at = @now
       WHERE key = @key AND state IS NOT NULL RETURNING version, seq`,
    );
    const advance = db.prepare('UPDATE sequence SET seq = ? WHERE id = 1');
    this.#delete = db.transaction((key: string) => {
      const written = tombstone.get({ key, now: this.#clock.now() }) as WriteResult | undefined;
      if (written !== undefined) advance.run(written.seq);
      return written;
    });
    // The head and the rows in one read transaction: a writer in another process cannot slip between them.
    this.#readPage = db.transaction((since: number, limit: number) => {
      const { seq, horizon } = this.#sequence();
      const head = `${since}:${limit}:${seq}:${horizon}`;
      if (this.#pages.has(head)) return { head, rows: [] };
      return { head, rows: this.#sql(`SELECT ${COLUMNS} FROM objects WHERE seq > ? ORDER BY seq LIMIT ?`).all(since, limit) as Row[] };
    });
  }

  async get(address: readonly JsonValue[]): Promise<StoredObject | undefined> {
    const row = this.#get.get(canonicalKey(address as JsonValue[])) as Row | undefined;
    return row && row.state !== null ? toObject(row) : undefined;
  }

  async list(type: string): Promise<StoredObject[]> {
    const rows = this.#sql(`SELECT ${COLUMNS} FROM objects WHERE type = ? AND state IS NOT NULL ORDER BY created, key`).all(type) as Row[];
    return rows.map(toObject);
  }

  async put(address: readonly JsonValue[], type: string, state: Uint8Array, condition?: WriteCondition): Promise<WriteResult> {
    return this.#put(this.#row(address, type, state), condition?.ifVersion);
  }

  async update(address: readonly JsonValue[], mutate: (current: StoredObject | undefined) => StoredUpdate | undefined): Promise<WriteResult | undefined> {
    return this.#update(address, mutate);
  }

  #row(address: readonly JsonValue[], type: string, state: Uint8Array): Record<string, unknown> {
    return {
      key: canonicalKey(address as JsonValue[]),
      address: JSON.stringify(address),
      type,
      state: asBuffer(state),
      // Microseconds and a counter: puts within one millisecond still list in the order they came.
      created: Date.now() * 1000 + (this.#created++ % 1000),
      now: this.#clock.now(),
    };
  }

  async delete(address: readonly JsonValue[]): Promise<WriteResult | undefined> {
    return this.#delete(canonicalKey(address as JsonValue[]));
  }

  async epoch(): Promise<string> {
    return this.#epoch;
  }

  async seq(): Promise<number> {
    return this.#sequence().seq;
  }

  async horizon(): Promise<number> {
    return this.#sequence().horizon;
  }

  #sequence(): { seq: number; horizon: number } {
    return this.#sql('SELECT seq, horizon FROM sequence WHERE id = 1').get() as { seq: number; horizon: number };
  }

  async changes(since: number, limit: number): Promise<readonly StoredChange[]> {
    // One row per address, holding its latest change: "each object at most once" is the table's shape.
    const { head, rows } = this.#readPage(since, limit)!;
    const cached = this.#pages.get(head);
    if (cached !== undefined) return cached;
    const page = Object.freeze(rows.map((r) => Object.freeze({ address: JSON.parse(r.address) as JsonValue[], type: r.type, version: r.version, seq: r.seq, state: r.state })));
    this.#pages.set(head, page);
    return page;
  }

  async listUnder(prefix: readonly JsonValue[], limit: number): Promise<StoredObject[]> {
    const keys = prefixKeys(prefix);
    const rows = this.#sql(
      `SELECT ${COLUMNS} FROM objects WHERE state IS NOT NULL
         AND (@all OR key = @whole OR (key >= @open AND key < @openEnd)) ORDER BY created, key LIMIT @limit`,
    ).all({ all: keys === null ? 1 : 0, whole: keys?.whole ?? '', open: keys?.open ?? '', openEnd: keys?.openEnd ?? '', limit }) as Row[];
    return rows.map(toObject);
  }

  async pruneTombstones(before: number): Promise<number> {
    return this.#db.transaction(() => {
      const { highest } = this.#sql('SELECT MAX(seq) AS highest FROM objects WHERE state IS NULL AND changed_at < ?').get(before) as { highest: number | null };
      if (highest === null) return 0;
      this.#sql('UPDATE sequence SET horizon = MAX(horizon, ?) WHERE id = 1').run(highest);
      return this.#sql('DELETE FROM objects WHERE state IS NULL AND changed_at < ?').run(before).changes;
    })();
  }

  #sql(text: string): BetterSqlite3.Statement {
    let statement = this.#statements.get(text);
    if (statement === undefined) this.#statements.set(text, (statement = this.#db.prepare(text)));
    return statement;
  }

  async claimCall(principal: string, key: string, owner: string, expiresAt: number): Promise<CallRecord | undefined> {
    // Insert-or-nothing then read, in one transaction: two servers on one file cannot both win.
    return this.#db.transaction(() => this.#claim(principal, key, owner, expiresAt))();
  }

  async finishCall(principal: string, key: string, outcome: Uint8Array): Promise<void> {
    this.#sql('UPDATE calls SET outcome = ? WHERE principal = ? AND key = ?').run(asBuffer(outcome), principal, key);
  }

  async pruneCalls(now: number): Promise<number> {
    return this.#sql('DELETE FROM calls WHERE expires_at < ?').run(now).changes;
  }

  async commitCalls(commit: CallCommit): Promise<(CallRecord | undefined)[]> {
    // One transaction, so one commit (one fsync under synchronous = FULL) for a whole turn's calls.
    // IMMEDIATE: the claims' reads and inserts hold the write lock throughout, as claimCall's do.
    return this.#db.transaction(() => {
      const finish = this.#sql('UPDATE calls SET outcome = ? WHERE principal = ? AND key = ?');
      for (const o of commit.outcomes) finish.run(asBuffer(o.outcome), o.principal, o.key);
      const forget = this.#sql('DELETE FROM calls WHERE principal = ? AND key = ?');
      for (const f of commit.forget) forget.run(f.principal, f.key);
      if (commit.pruneBefore !== undefined) this.#sql('DELETE FROM calls WHERE expires_at < ?').run(commit.pruneBefore);
      return commit.claims.map((c) => this.#claim(c.principal, c.key, c.owner, c.expiresAt));
    }).immediate();
  }

  /** One claim, inside the caller's transaction. */
  #claim(principal: string, key: string, owner: string, expiresAt: number): CallRecord | undefined {
    const inserted = this.#sql('INSERT INTO calls (principal, key, owner, outcome, expires_at) VALUES (?, ?, ?, NULL, ?) ON CONFLICT DO NOTHING')
      .run(principal, key, owner, expiresAt);
    if (inserted.changes === 1) return undefined;
    const row = this.#sql('SELECT owner, outcome, expires_at FROM calls WHERE principal = ? AND key = ?').get(principal, key) as CallRow;
    return { owner: row.owner, outcome: row.outcome, expiresAt: row.expires_at };
  }

  async recordIssued(user: string, entries: readonly IssuedRecord[]): Promise<void> {
    const insert = this.#sql('INSERT OR IGNORE INTO issued (user, id, expires_at) VALUES (?, ?, ?)');
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

  /** The durability in force, read back from SQLite (`PRAGMA synchronous`): what an operator can check. */
  get durability(): 'full' | 'normal' | 'other' {
    const level = this.#db.pragma('synchronous', { simple: true }) as number;
    return level === 2 ? 'full' : level === 1 ? 'normal' : 'other';
  }

  async pruneIssued(now: number): Promise<number> {
    return this.#sql('DELETE FROM issued WHERE expires_at IS NOT NULL AND expires_at < ?').run(now).changes;
  }

  async recordDelegation(r: DelegationRecord): Promise<void> {
    this.#db
      .prepare('INSERT INTO delegations (from_user, to_user, scope, revocation_id, bound, at, token, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(r.from, r.to, JSON.stringify(r.scope), r.revocationId, r.bound ? 1 : 0, r.at, asBuffer(r.token), r.expiresAt);
  }

  async delegations(filter: DelegationFilter): Promise<DelegationRecord[]> {
    const rows = this.#sql(
      `SELECT * FROM delegations WHERE (@from IS NULL OR from_user = @from) AND (@to IS NULL OR to_user = @to)
         AND (@now IS NULL OR expires_at IS NULL OR expires_at >= @now) ORDER BY seq`,
    ).all({ from: filter.from ?? null, to: filter.to ?? null, now: filter.now ?? null }) as DelegationRow[];
    return rows.map((r) => ({
      from: r.from_user, to: r.to_user, scope: JSON.parse(r.scope) as JsonValue[], revocationId: r.revocation_id, bound: r.bound === 1, at: r.at,
      token: r.token, expiresAt: r.expires_at,
    }));
  }

  async pruneDelegations(now: number): Promise<number> {
    return this.#sql('DELETE FROM delegations WHERE expires_at IS NOT NULL AND expires_at < ?').run(now).changes;
  }

  async getSetting(name: string): Promise<string | undefined> {
    return (this.#sql('SELECT value FROM settings WHERE name = ?').get(name) as { value: string } | undefined)?.value;
  }

  async setSetting(name: string, value: string): Promise<void> {
    this.#sql('INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value').run(name, value);
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
  seq: number;
}

interface DelegationRow {
  from_user: string;
  to_user: string;
  scope: string;
  revocation_id: string;
  bound: number;
  at: number;
  token: Buffer;
  expires_at: number | null;
}

interface CallRow {
  owner: string;
  outcome: Buffer | null;
  expires_at: number;
}

/** better-sqlite3 binds only Buffers as BLOBs; a view of the same bytes, which SQLite copies. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function toObject(row: Row): StoredObject {
  // Rows written before the store held codec bytes hold plain msgpack, which the codec reads as well.
  return { address: JSON.parse(row.address) as JsonValue[], type: row.type, state: row.state!, version: row.version, seq: row.seq };
}
