import { createRequire } from 'node:module';
import type { Cluster, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { fail } from '../../protocol/errors.js';
import * as lua from './scripts.js';

/** A connection to Redis (ioredis): one server, or a Redis Cluster client; capsync's scripts are defined on it. */
export type RedisConnection = Redis | Cluster;

/** True for a Redis Cluster client (ioredis types `isCluster` as a plain boolean, so this narrows it). */
export function isCluster(connection: RedisConnection): connection is Cluster {
  return connection.isCluster;
}

/** The ioredis classes capsync uses. */
export interface Ioredis {
  readonly Redis: new (url: string, options: RedisOptions) => Redis;
  readonly Cluster: new (seeds: { host: string; port: number }[], options: ClusterOptions) => Cluster;
}

/**
 * @internal Loads ioredis on first use: it is an optional dependency (like better-sqlite3), so a server that
 * does not use Redis starts without it. `require` is a parameter so a test can play a missing module.
 */
export function loadIoredis(require: (id: string) => unknown = createRequire(import.meta.url)): Ioredis {
  try {
    const module = require('ioredis') as { Redis?: unknown; Cluster?: unknown; default?: unknown };
    const Redis = (module.Redis ?? module.default ?? module) as Ioredis['Redis'];
    return { Redis, Cluster: (module.Cluster ?? (Redis as unknown as { Cluster: unknown }).Cluster) as Ioredis['Cluster'] };
  } catch (cause) {
    const error = fail('ERR_STORE_UNAVAILABLE', 'the Redis store needs the optional dependency ioredis (npm install ioredis)');
    error.cause = cause;
    throw error;
  }
}

/** Where a node's Redis is: one server (one URL), or a Redis Cluster (its seed URLs; the client finds the rest). */
export interface RedisTarget {
  readonly urls: readonly string[];
  readonly cluster: boolean;
}

/**
 * The target of `connectRedis`'s `url` (one URL, or seed URLs separated by commas) and `cluster`. Several
 * URLs are only seeds of a Cluster, so they need `cluster: true`; a Cluster has no databases, so a URL
 * naming one (other than 0) is refused rather than silently ignored.
 */
export function targetOf(url: string, cluster = false): RedisTarget {
  const urls = url.split(',').map((u) => u.trim()).filter((u) => u !== '');
  if (urls.length === 0) throw fail('ERR_STORE_UNAVAILABLE', 'no Redis URL given');
  if (urls.length > 1 && !cluster) throw fail('ERR_STORE_UNAVAILABLE', `${urls.length} Redis URLs given: several URLs are the seeds of a Redis Cluster (--redis-cluster, cluster: true)`);
  if (cluster) {
    for (const u of urls) {
      const db = new URL(u).pathname.replace(/^\//, '');
      if (db !== '' && db !== '0') throw fail('ERR_STORE_UNAVAILABLE', `a Redis Cluster has no database ${db} (${redactUrl(u)}): drop the /${db}`);
    }
  }
  return { urls, cluster };
}

/**
 * The hash tag of a key prefix (the text between its first `{` and the next `}`, if not empty): on a Cluster
 * the prefix must have one, so that every key and channel built from it maps to the same slot.
 */
export function hashTagOf(prefix: string): string | undefined {
  const open = prefix.indexOf('{');
  const close = open < 0 ? -1 : prefix.indexOf('}', open + 1);
  return close > open + 1 ? prefix.slice(open + 1, close) : undefined;
}

/** What each connection of a node is for: its name in `CLIENT LIST`, and how it behaves when Redis is away. */
export type ConnectionRole = 'command' | 'bus' | 'feed' | 'peers';

/**
 * Opens a connection and waits until it is ready. Commands wait (offline queue) while Redis restarts, so a
 * write during a short outage completes once Redis is back, and fails (never hangs for ever) after
 * `commandTimeoutMs`. Reconnects for ever, backing off to 1 s.
 *
 * On a Cluster it is an ioredis `Cluster` (its own connections to every master), the bus and peers ones
 * with `shardedSubscribers: true`: SSUBSCRIBE goes to the shard that owns the channel's slot, on a
 * connection of its own per shard, which the client re-subscribes after a drop or a slot move.
 */
export async function openConnection(target: RedisTarget, role: ConnectionRole, node: string, options: { commandTimeoutMs?: number } = {}): Promise<RedisConnection> {
  const ioredis = loadIoredis();
  const common = {
    connectionName: `capsync:${role}:${node}`,
    maxRetriesPerRequest: null,
    ...(options.commandTimeoutMs !== undefined ? { commandTimeout: options.commandTimeoutMs } : {}),
  };
  const backoff = (times: number): number => Math.min(50 * times, 1000);
  const connection: RedisConnection = target.cluster
    ? new ioredis.Cluster(target.urls.map(seedOf), {
        lazyConnect: true,
        enableReadyCheck: true,
        enableOfflineQueue: true,
        clusterRetryStrategy: backoff,
        shardedSubscribers: role === 'bus' || role === 'peers',
        redisOptions: { ...common, ...credentialsOf(target.urls[0]!) },
      })
    : new ioredis.Redis(target.urls[0]!, {
        ...common,
        lazyConnect: true,
        // The subscriber connections resubscribe themselves (then re-read what they may have missed).
        autoResubscribe: false,
        enableReadyCheck: true,
        retryStrategy: backoff,
      });
  // ioredis reports connection errors as events too; the owner of each connection watches its state itself.
  connection.on('error', () => {});
  defineScripts(connection);
  try {
    await connection.connect();
  } catch (cause) {
    connection.disconnect();
    const where = target.urls.map(redactUrl).join(', ');
    const error = fail('ERR_STORE_UNAVAILABLE', `cannot connect to Redis${target.cluster ? ' Cluster' : ''} at ${where}: ${(cause as Error).message}`);
    error.cause = cause;
    throw error;
  }
  return connection;
}

/** A Cluster seed from a `redis://host:port` URL (6379 when it names no port). */
function seedOf(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port: parsed.port === '' ? 6379 : Number(parsed.port) };
}

/** The user, password and TLS of a Cluster's connections, from its first seed URL (every node shares them). */
function credentialsOf(url: string): { username?: string; password?: string; tls?: object } {
  const parsed = new URL(url);
  return {
    ...(parsed.username !== '' ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password !== '' ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
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
const scripts: Record<string, { lua: string; keys: number; guarded?: true }> = {
  capsyncTurn: { lua: lua.TURN, keys: 1, guarded: true },
  capsyncGet: { lua: lua.GET, keys: 1, guarded: true },
  capsyncList: { lua: lua.LIST, keys: 1, guarded: true },
  capsyncChanges: { lua: lua.CHANGES, keys: 1, guarded: true },
  capsyncListUnder: { lua: lua.LIST_UNDER, keys: 1, guarded: true },
  capsyncPruneTombstones: { lua: lua.PRUNE_TOMBSTONES, keys: 1, guarded: true },
  capsyncClaimCall: { lua: lua.CLAIM_CALL, keys: 2 },
  capsyncFinishCall: { lua: lua.FINISH_CALL, keys: 1 },
  capsyncPruneCalls: { lua: lua.PRUNE_CALLS, keys: 1, guarded: true },
  capsyncRevoke: { lua: lua.REVOKE, keys: 1, guarded: true },
  capsyncPruneRevocations: { lua: lua.PRUNE_REVOCATIONS, keys: 1, guarded: true },
  capsyncBumpGeneration: { lua: lua.BUMP_GENERATION, keys: 1, guarded: true },
  capsyncPruneIssued: { lua: lua.PRUNE_ISSUED, keys: 1, guarded: true },
  capsyncMark: { lua: lua.MARK, keys: 1, guarded: true },
};

/**
 * The key a guarded script declares after its prefix: one that never exists (see {@link lua.MIGRATION_GUARD}).
 * While the prefix's slot is migrating, a command declaring two keys that are not all present is refused
 * with TRYAGAIN on the importing master, so a script that builds its keys from the prefix never runs on
 * half of the keys; the client retries it until the slot has moved.
 */
export function migrationGuardOf(prefix: string): string {
  return `${prefix}${lua.MIGRATION_GUARD}`;
}

function defineScripts(connection: RedisConnection): void {
  for (const [name, s] of Object.entries(scripts)) connection.defineCommand(name, { numberOfKeys: s.guarded ? s.keys + 1 : s.keys, lua: s.lua });
}

/** Runs one of {@link scripts}; `buffers` asks for replies as Buffers (state bytes must stay bytes). */
export function runScript(connection: RedisConnection, name: keyof typeof scripts | string, args: readonly (string | Buffer | number)[], buffers = false): Promise<unknown> {
  const command = (connection as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[buffers ? `${name}Buffer` : name];
  if (scripts[name]?.guarded !== true) return command!.apply(connection, args as unknown[]);
  return command!.call(connection, args[0], migrationGuardOf(String(args[0])), ...args.slice(1));
}

/**
 * Resolves once `work` settles or `limitMs` have passed, whichever is first (never rejects): for what a close
 * does on its way out (a best-effort cleanup command, a loop's last turn), so that closing a node never waits
 * on a Redis that is out of reach.
 */
export function settledWithin(work: Promise<unknown>, limitMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, limitMs);
    work.then(
      () => (clearTimeout(timer), resolve()),
      () => (clearTimeout(timer), resolve()),
    );
  });
}
