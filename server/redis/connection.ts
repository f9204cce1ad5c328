import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import { fail } from '../../protocol/errors.js';
import * as lua from './scripts.js';

/** A connection to Redis (ioredis), with capsync's scripts defined on it. */
export type RedisConnection = Redis;

/**
 * @internal Loads ioredis on first use: it is an optional dependency (like better-sqlite3), so a server that
 * does not use Redis starts without it. `require` is a parameter so a test can play a missing module.
 */
export function loadIoredis(require: (id: string) => unknown = createRequire(import.meta.url)): new (url: string, options: RedisOptions) => Redis {
  try {
    const module = require('ioredis') as { Redis?: unknown; default?: unknown };
    return (module.Redis ?? module.default ?? module) as new (url: string, options: RedisOptions) => Redis;
  } catch (cause) {
    const error = fail('ERR_STORE_UNAVAILABLE', 'the Redis store needs the optional dependency ioredis (npm install ioredis)');
    error.cause = cause;
    throw error;
  }
}

/** What each connection of a node is for: its name in `CLIENT LIST`, and how it behaves when Redis is away. */
export type ConnectionRole = 'command' | 'bus' | 'feed' | 'peers';

/**
 * Opens a connection and waits until it is ready. Commands wait (offline queue) while Redis restarts, so a
 * write during a short outage completes once Redis is back, and fails (never hangs for ever) after
 * `commandTimeoutMs`. Reconnects for ever, backing off to 1 s.
 */
export async function openConnection(url: string, role: ConnectionRole, node: string, options: { commandTimeoutMs?: number } = {}): Promise<Redis> {
  const Redis = loadIoredis();
  const connection = new Redis(url, {
    connectionName: `capsync:${role}:${node}`,
    lazyConnect: true,
    // The subscriber connections resubscribe themselves (then re-read what they may have missed).
    autoResubscribe: false,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (times) => Math.min(50 * times, 1000),
    ...(options.commandTimeoutMs !== undefined ? { commandTimeout: options.commandTimeoutMs } : {}),
  });
  // ioredis reports connection errors as events too; the owner of each connection watches its state itself.
  connection.on('error', () => {});
  defineScripts(connection);
  try {
    await connection.connect();
  } catch (cause) {
    connection.disconnect();
    const error = fail('ERR_STORE_UNAVAILABLE', `cannot connect to Redis at ${redactUrl(url)}: ${(cause as Error).message}`);
    error.cause = cause;
    throw error;
  }
  return connection;
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(an unparsable URL)';
  }
}

/** The scripts, by name, as commands on a connection (`capsyncTurn`, `capsyncTurnBuffer`, ...). */
const scripts: Record<string, { lua: string; keys: number }> = {
  capsyncTurn: { lua: lua.TURN, keys: 1 },
  capsyncGet: { lua: lua.GET, keys: 1 },
  capsyncList: { lua: lua.LIST, keys: 1 },
  capsyncChanges: { lua: lua.CHANGES, keys: 1 },
  capsyncListUnder: { lua: lua.LIST_UNDER, keys: 1 },
  capsyncPruneTombstones: { lua: lua.PRUNE_TOMBSTONES, keys: 1 },
  capsyncClaimCall: { lua: lua.CLAIM_CALL, keys: 2 },
  capsyncFinishCall: { lua: lua.FINISH_CALL, keys: 1 },
  capsyncPruneCalls: { lua: lua.PRUNE_CALLS, keys: 1 },
  capsyncRevoke: { lua: lua.REVOKE, keys: 1 },
  capsyncPruneRevocations: { lua: lua.PRUNE_REVOCATIONS, keys: 1 },
  capsyncBumpGeneration: { lua: lua.BUMP_GENERATION, keys: 1 },
  capsyncPruneIssued: { lua: lua.PRUNE_ISSUED, keys: 1 },
  capsyncMark: { lua: lua.MARK, keys: 1 },
};

function defineScripts(connection: Redis): void {
  for (const [name, s] of Object.entries(scripts)) connection.defineCommand(name, { numberOfKeys: s.keys, lua: s.lua });
}

/** Runs one of {@link scripts}; `buffers` asks for replies as Buffers (state bytes must stay bytes). */
export function runScript(connection: Redis, name: keyof typeof scripts | string, args: readonly (string | Buffer | number)[], buffers = false): Promise<unknown> {
  const command = (connection as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[buffers ? `${name}Buffer` : name];
  return command!.apply(connection, args as unknown[]);
}
