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

function openStore(file: string): SqliteStore {
  const store = new SqliteStore(file);
  open.push(store);
  return store;
}

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
    await first.recordDelegation({ from: 'editor', to: 'guest', scope: ['notes', 'a'], revocationId: 'r1', bound: true, at: 5 });
    await first.setSetting('capability-keys', '[]');
    await first.close();

    const second = openStore(file);
    expect((await second.list('Note')).map((o) => [o.address, o.version, Array.from(o.state)])).toEqual([
      [['notes', 'a'], 2, [3]],
      [['notes', 'b'], 1, [2]],
    ]);
    expect(await second.get(['notes', 'gone'])).toBeUndefined();
    expect(await second.put(['notes', 'gone'], 'Note', Uint8Array.of(5))).toBe(3); // the tombstone survived
    expect(await second.put(['notes', 'a'], 'Note', Uint8Array.of(6))).toBe(3);
    expect(await second.issuedTo('editor', 0)).toEqual([{ id: 'i1', expiresAt: null }]);
    expect(await second.delegations({ to: 'guest' })).toEqual([{ from: 'editor', to: 'guest', scope: ['notes', 'a'], revocationId: 'r1', bound: true, at: 5 }]);
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
    const Database = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');
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
