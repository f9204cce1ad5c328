import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { Codec } from '../../protocol/codec.js';
import type { CapsyncError } from '../../protocol/errors.js';
import { canonicalKey } from '../../protocol/json-value.js';
import { registerPortable } from '../../protocol/portable.js';
import { LocalFanout } from '../../server/fanout.js';
import { LiveObjects } from '../../server/live.js';
import { loadBetterSqlite3, SqliteStore } from '../../server/store/sqlite.js';

// What every store does is in test/contracts/object-store.contract.ts; this file covers what only a file does.

const dirs: string[] = [];
const open: SqliteStore[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'capsync-sqlite-'));
  dirs.push(dir);
  return join(dir, 'capsync.sqlite');
}

function openStore(file: string, now = () => Date.now()): SqliteStore {
  const store = new SqliteStore(file, { clock: { now } });
  open.push(store);
  return store;
}

/** The schema of capsync 0.1 (`git show HEAD~20:server/store/sqlite.ts`), before seqs, epochs and call records. */
const OLD_SCHEMA = `
CREATE TABLE objects (key TEXT PRIMARY KEY, address TEXT NOT NULL, type TEXT NOT NULL, state BLOB, version INTEGER NOT NULL, created INTEGER NOT NULL);
CREATE INDEX objects_type ON objects (type, created);
CREATE TABLE revocations (id TEXT PRIMARY KEY, expires_at INTEGER);
CREATE TABLE issued (user TEXT NOT NULL, id TEXT NOT NULL, expires_at INTEGER, PRIMARY KEY (user, id));
CREATE TABLE delegations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  from_user TEXT NOT NULL, to_user TEXT NOT NULL, scope TEXT NOT NULL,
  revocation_id TEXT NOT NULL, bound INTEGER NOT NULL, at INTEGER NOT NULL
);
CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

const rawDatabase = () => createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');

class Note {
  constructor(
    public id: string,
    public text: string,
  ) {}
}
registerPortable(Note, { name: 'StoreTest.Note', address: (n) => ['notes', n.id] });

describe('the SQLite store in a file', () => {
  it('keeps objects, versions, tombstones, issued records, delegations and settings across reopening', async () => {
    const file = tempFile();
    const first = openStore(file);
    await first.put(['notes', 'a'], 'Note', Uint8Array.of(1));
    await first.put(['notes', 'b'], 'Note', Uint8Array.of(2));
    await first.put(['notes', 'a'], 'Note', Uint8Array.of(3));
    await first.put(['notes', 'gone'], 'Note', Uint8Array.of(4));
    await first.delete(['notes', 'gone']);
    await first.recordIssued('editor', [{ id: 'i1', expiresAt: null }]);
    await first.recordDelegation({ from: 'editor', to: 'guest', scope: ['notes', 'a'], revocationId: 'r1', bound: true, at: 5, token: Uint8Array.of(1, 2), expiresAt: 99 });
    await first.setSetting('capability-keys', '[]');
    await first.close();

    const second = openStore(file);
    expect((await second.list('Note')).map((o) => [o.address, o.version, Array.from(o.state)])).toEqual([
      [['notes', 'a'], 2, [3]],
      [['notes', 'b'], 1, [2]],
    ]);
    expect(await second.get(['notes', 'gone'])).toBeUndefined();
    expect((await second.put(['notes', 'gone'], 'Note', Uint8Array.of(5))).version).toBe(3); // the tombstone survived
    expect((await second.put(['notes', 'a'], 'Note', Uint8Array.of(6))).version).toBe(3);
    expect(await second.issuedTo('editor', 0)).toEqual([{ id: 'i1', expiresAt: null }]);
    const [delegation] = await second.delegations({ to: 'guest' });
    expect({ ...delegation, token: Array.from(delegation!.token) }).toEqual({
      from: 'editor', to: 'guest', scope: ['notes', 'a'], revocationId: 'r1', bound: true, at: 5, token: [1, 2], expiresAt: 99,
    });
    expect(await second.getSetting('capability-keys')).toBe('[]');
  });

  it('keeps revocations across reopening and prunes those whose capability has expired, in the file too', async () => {
    const file = tempFile();
    const first = openStore(file);
    await first.revocations.add([{ id: 'forever', expiresAt: null }, { id: 'short', expiresAt: 1000 }]);
    await first.close();
    const second = openStore(file);
    expect(second.revocations.has('forever')).toBe(true);
    expect(second.revocations.has('short')).toBe(true);
    expect(second.revocations.size).toBe(2);
    expect(await second.revocations.prune(2000)).toBe(1);
    await second.close();
    const third = openStore(file);
    expect(third.revocations.size).toBe(1);
    expect(third.revocations.has('short')).toBe(false);
  });

  it('reads back state written as plain msgpack by earlier versions', async () => {
    const file = tempFile();
    await openStore(file).close();
    // The row as the store wrote it before it held codec bytes, with the Packr it had of its own.
    const oldPackr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, moreTypes: false });
    const Database = rawDatabase();
    const db = new Database(file);
    db.prepare('INSERT INTO objects (key, address, type, state, version, created) VALUES (?, ?, ?, ?, ?, ?)')
      .run(canonicalKey(['notes', 'old']), JSON.stringify(['notes', 'old']), 'StoreTest.Note', oldPackr.pack({ id: 'old', text: 'from 0.1' }), 7, 1);
    db.close();
    const store = openStore(file);
    const live = new LiveObjects(store, new LocalFanout(), new Codec());
    const note = await live.get(Note, ['notes', 'old']);
    expect(note).toBeInstanceOf(Note);
    expect({ ...note }).toEqual({ id: 'old', text: 'from 0.1', version: 7 });
  });
});

describe('the change sequence in a file', () => {
  it('keeps the epoch, seq and horizon across reopening, even with the rows of the highest seqs pruned', async () => {
    const file = tempFile();
    let now = 1000;
    const first = openStore(file, () => now);
    await first.put(['a'], 'T', Uint8Array.of(1));
    await first.put(['b'], 'T', Uint8Array.of(2));
    await first.delete(['b']);
    now = 2000;
    expect(await first.pruneTombstones(1500)).toBe(1);
    const epoch = await first.epoch();
    await first.close();

    const second = openStore(file, () => now);
    expect(await second.epoch()).toBe(epoch);
    expect(await second.seq()).toBe(3);
    expect(await second.horizon()).toBe(3);
    expect(await second.put(['c'], 'T', Uint8Array.of(3))).toEqual({ version: 1, seq: 4 });
    expect((await second.changes(0, 10)).map((c) => [c.address, c.seq])).toEqual([[['a'], 1], [['c'], 4]]);
    await second.close();
    expect(await openStore(file).seq()).toBe(4);
  });

  it('keeps call records across reopening', async () => {
    const file = tempFile();
    const first = openStore(file);
    await first.claimCall('editor', 'k', 'run-1', 5000);
    await first.finishCall('editor', 'k', Uint8Array.of(9));
    await first.close();
    const found = await openStore(file).claimCall('editor', 'k', 'run-2', 5000);
    expect({ ...found, outcome: Array.from(found!.outcome!) }).toEqual({ owner: 'run-1', outcome: [9], expiresAt: 5000 });
  });

  it('takes no seq for a put that fails: the counter and the row change in one transaction', async () => {
    const store = openStore(tempFile());
    await store.put(['a'], 'T', Uint8Array.of(1));
    let code: string | undefined;
    try {
      await store.put(['b'], null as unknown as string, Uint8Array.of(2)); // type is NOT NULL
    } catch (error) {
      code = (error as { code?: string }).code;
    }
    expect(code).toBe('SQLITE_CONSTRAINT_NOTNULL');
    expect(await store.seq()).toBe(1);
    expect(await store.put(['b'], 'T', Uint8Array.of(2))).toEqual({ version: 1, seq: 2 });
  });

  it('migrates a file of the previous schema in place: seqs in insertion order, tombstones kept, old delegations read', async () => {
    const file = tempFile();
    const Database = rawDatabase();
    const db = new Database(file);
    db.exec(OLD_SCHEMA);
    const insert = db.prepare('INSERT INTO objects (key, address, type, state, version, created) VALUES (?, ?, ?, ?, ?, ?)');
    // Inserted out of `created` order, so the seqs must come from `created`, not from rowids.
    for (const [address, state, version, created] of [
      [['notes', 'b'], Buffer.of(2), 3, 2000],
      [['notes', 'a'], Buffer.of(1), 1, 1000],
      [['notes', 'gone'], null, 2, 3000],
      [['notes', 'c'], Buffer.of(3), 5, 2500],
    ] as const) {
      insert.run(canonicalKey(address as unknown as string[]), JSON.stringify(address), 'Note', state, version, created);
    }
    db.prepare('INSERT INTO delegations (from_user, to_user, scope, revocation_id, bound, at) VALUES (?, ?, ?, ?, ?, ?)')
      .run('editor', 'guest', JSON.stringify(['notes', 'a']), 'r1', 0, 7);
    db.prepare('INSERT INTO settings (name, value) VALUES (?, ?)').run('capability-keys', '[1]');
    db.close();

    const store = openStore(file, () => 50_000);
    expect((await store.changes(0, 10)).map((c) => [c.address, c.version, c.seq, c.state && Array.from(c.state)])).toEqual([
      [['notes', 'a'], 1, 1, [1]],
      [['notes', 'b'], 3, 2, [2]],
      [['notes', 'c'], 5, 3, [3]],
      [['notes', 'gone'], 2, 4, null],
    ]);
    expect(await store.seq()).toBe(4);
    expect(await store.horizon()).toBe(0);
    expect((await store.list('Note')).map((o) => o.address)).toEqual([['notes', 'a'], ['notes', 'b'], ['notes', 'c']]);
    // A migrated tombstone counts as deleted at the migration (its real time is unknown), never earlier.
    expect(await store.pruneTombstones(50_000)).toBe(0);
    expect(await store.put(['notes', 'gone'], 'Note', Uint8Array.of(4))).toEqual({ version: 3, seq: 5 }); // versions go on
    expect(await store.getSetting('capability-keys')).toBe('[1]');
    const [old] = await store.delegations({ to: 'guest' });
    expect({ ...old, token: Array.from(old!.token) }).toEqual({
      from: 'editor', to: 'guest', scope: ['notes', 'a'], revocationId: 'r1', bound: false, at: 7, token: [], expiresAt: null,
    });
    const epoch = await store.epoch();
    await store.close();

    // Opening again migrates nothing twice.
    const again = openStore(file);
    expect(await again.epoch()).toBe(epoch);
    expect(await again.seq()).toBe(5);
    expect((await again.changes(0, 10)).map((c) => c.seq)).toEqual([1, 2, 3, 5]);
    expect(await again.pruneTombstones(50_001)).toBe(0); // the tombstone was re-created: nothing left to drop
  });
});

describe('better-sqlite3, an optional dependency', () => {
  it('refuses with ERR_STORE_UNAVAILABLE when better-sqlite3 cannot be loaded, keeping the cause', () => {
    const missing = Object.assign(new Error("Cannot find module 'better-sqlite3'"), { code: 'MODULE_NOT_FOUND' });
    let thrown: CapsyncError | undefined;
    try {
      loadBetterSqlite3(() => {
        throw missing;
      });
    } catch (error) {
      thrown = error as CapsyncError;
    }
    expect(thrown?.code).toBe('ERR_STORE_UNAVAILABLE');
    expect(thrown?.cause).toBe(missing);
  });

  it('is not loaded by importing the server, only by constructing a SqliteStore', () => {
    // A fresh process, so nothing this test file imported counts; the built entry is what users import.
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const script = `
      import { createRequire } from 'node:module';
      const cache = createRequire(import.meta.url).cache;
      const loaded = () => Object.keys(cache).some((k) => k.includes('better-sqlite3'));
      const server = await import('./dist/server/index.js');
      const before = loaded();
      new server.MemoryStore();
      const afterMemory = loaded();
      await new server.SqliteStore(':memory:').close();
      console.log(JSON.stringify([before, afterMemory, loaded()]));`;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual([false, false, true]);
  });

  it('keeps its database private', () => {
    const store = openStore(':memory:');
    expect(Object.keys(store)).toEqual(['revocations']);
    expect('db' in store).toBe(false);
  });
});
