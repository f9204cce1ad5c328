import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { MemoryStore } from '../../server/store/memory.js';
import { SqliteStore } from '../../server/store/sqlite.js';
import { redisForFile } from '../redis/backend.js';
import { objectStoreContract } from './object-store.contract.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

objectStoreContract('MemoryStore', (clock) => new MemoryStore({ clock }));
objectStoreContract('SqliteStore in memory', (clock) => new SqliteStore(':memory:', { clock }));
objectStoreContract('SqliteStore in a file', (clock) => {
  const dir = mkdtempSync(join(tmpdir(), 'capsync-store-'));
  dirs.push(dir);
  return new SqliteStore(join(dir, 'capsync.sqlite'), { clock });
});

const redis = redisForFile();
objectStoreContract('RedisStore', async (clock) => (await redis.backend({ clock })).store);
