import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { MemoryRevocationSet } from '../../protocol/revocation.js';
import { MemoryStore } from '../../server/store/memory.js';
import { SqliteStore } from '../../server/store/sqlite.js';
import type { ObjectStore } from '../../server/store/types.js';
import { redisForFile } from '../redis/backend.js';
import { revocationSetContract } from './revocation-set.contract.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A store's own revocation set, released with its store. */
const setOf = (store: ObjectStore) => ({ set: store.revocations, close: () => store.close() });

revocationSetContract('MemoryRevocationSet', () => ({ set: new MemoryRevocationSet(), close: async () => {} }));
revocationSetContract('MemoryStore revocations', () => setOf(new MemoryStore()));
revocationSetContract('SqliteStore revocations in memory', () => setOf(new SqliteStore(':memory:')));
revocationSetContract('SqliteStore revocations in a file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'capsync-revocations-'));
  dirs.push(dir);
  return setOf(new SqliteStore(join(dir, 'capsync.sqlite')));
});

const redis = redisForFile();
revocationSetContract('RedisStore revocations', async () => setOf((await redis.backend()).store));
