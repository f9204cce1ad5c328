import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { JWK } from 'jose';
import { CapsyncError, type ObjectStore } from '../../server/index.js';
import { settingOnce } from '../../server/keys.js';

/** The flags of `capsync serve` (and `npm start`), each with an environment variable fallback. */
export const serveFlags = {
  port: { type: 'string', env: 'CAPSYNC_PORT', default: '8080', help: 'TCP port (0 picks a free one)' },
  host: { type: 'string', env: 'CAPSYNC_HOST', default: '127.0.0.1', help: 'interface to listen on' },
  data: { type: 'string', env: 'CAPSYNC_DATA', default: './data', help: 'data folder (SQLite store, generated secrets); ":memory:" keeps nothing' },
  'jwt-secret': { type: 'string', env: 'CAPSYNC_JWT_SECRET', help: 'HS256 secret for session JWTs (default: generated once, kept in the store)' },
  'jwks-url': { type: 'string', env: 'CAPSYNC_JWKS_URL', help: 'verify session JWTs with this JWKS instead of a secret' },
  'capability-keys': { type: 'string', env: 'CAPSYNC_CAPABILITY_KEYS', help: 'JSON file with capability root keys (JWK set); default: generated once, kept in the store' },
  origin: { type: 'string', multiple: true, env: 'CAPSYNC_ORIGINS', help: "allowed browser origin (repeatable; env: comma-separated; '*' allows any); default: the server's own" },
  anonymous: { type: 'boolean', env: 'CAPSYNC_ANONYMOUS', help: 'accept connections without a token' },
  'dev-login': { type: 'boolean', env: 'CAPSYNC_DEV_LOGIN', help: 'serve GET /dev/login?user=admin|editor|editor2|guest (on by default in the demo)' },
  'no-dev-login': { type: 'boolean', help: 'turn the development login off' },
  'dev-login-beyond-loopback': {
    type: 'boolean',
    env: 'CAPSYNC_DEV_LOGIN_BEYOND_LOOPBACK',
    help: 'serve the development login although --host is not a loopback address (it still answers only Host: localhost/127.0.0.1/[::1])',
  },
  redis: { type: 'string', env: 'CAPSYNC_REDIS_URL', help: 'share a Redis with other nodes (redis://host:port) instead of the SQLite file in --data' },
  'redis-cluster': {
    type: 'boolean',
    env: 'CAPSYNC_REDIS_CLUSTER',
    help: '--redis is a Redis Cluster: one or more seed URLs, comma-separated (redis://h1:7000,redis://h2:7000)',
  },
  'redis-durability': {
    type: 'string',
    env: 'CAPSYNC_REDIS_DURABILITY',
    default: 'always',
    help: 'what Redis must be configured for, checked at start: always (AOF, appendfsync always: no acknowledged write lost), everysec (up to ~1 s lost), none (no check)',
  },
  'redis-wait-replicas': {
    type: 'string',
    env: 'CAPSYNC_REDIS_WAIT_REPLICAS',
    help: 'acknowledge a write only once this many Redis replicas have it (WAIT after each write): a failover to a replica then loses no acknowledged write',
  },
  'redis-wait-timeout-ms': { type: 'string', env: 'CAPSYNC_REDIS_WAIT_TIMEOUT_MS', default: '1000', help: 'with --redis-wait-replicas: a write not on enough replicas by then fails (ms)' },
  'redis-retry-ms': {
    type: 'string',
    env: 'CAPSYNC_REDIS_RETRY_MS',
    default: '10000',
    help: 'with --redis: how long a store script Redis did not answer (a failover, a slot move, a dropped connection) is sent again before the write or read fails (ms; 0: fail at once)',
  },
  'heartbeat-ms': { type: 'string', env: 'CAPSYNC_HEARTBEAT_MS', default: '30000', help: 'ping interval in ms, announced to clients (a silent peer is dropped after one missed ping)' },
  'log-level': { type: 'string', env: 'CAPSYNC_LOG_LEVEL', default: 'info', help: 'pino level: fatal, error, warn, info, debug, silent' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const;

/** pino's level names, as `--log-level` accepts them. */
export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevelName = (typeof logLevels)[number];

/** Parsed settings of a server process. */
export interface ServeConfig {
  readonly port: number;
  readonly host: string;
  readonly data: string;
  readonly jwtSecret?: string;
  readonly jwksUrl?: string;
  readonly capabilityKeys?: JWK[];
  readonly origins?: string[];
  readonly anonymous: boolean;
  readonly devLogin: boolean;
  readonly devLoginBeyondLoopback: boolean;
  readonly logLevel: LogLevelName;
  /** The server's ping interval, ms. */
  readonly heartbeatMs: number;
  /** A Redis URL: the node shares it with others (no SQLite file). */
  readonly redis?: string;
  /** `redis` is a Redis Cluster (its seed URLs, comma-separated). */
  readonly redisCluster: boolean;
  readonly redisDurability: 'always' | 'everysec' | 'none';
  /** `--redis-wait-replicas` and its timeout: each write waits for that many replicas. */
  readonly redisWaitReplicas?: { readonly replicas: number; readonly timeoutMs: number };
  /** `--redis-retry-ms`: how long an unanswered store script is sent again (RedisOptions.retryMs). */
  readonly redisRetryMs: number;
  readonly help: boolean;
}

/** The `--help` text. */
export function serveHelp(command = 'capsync serve'): string {
  const lines = Object.entries(serveFlags).map(([name, f]) => {
    const short = 'short' in f ? `-${f.short}, ` : '    ';
    const env = 'env' in f ? ` [${f.env}]` : '';
    const def = 'default' in f ? ` (default ${f.default})` : '';
    return `  ${short}--${name}${f.type === 'string' ? ' <value>' : ''}\n        ${f.help}${def}${env}`;
  });
  return `Usage: ${command} [options]\n\nRuns the capsync Video manager demo server.\n\nOptions:\n${lines.join('\n')}\n`;
}

/** Parses flags, then environment variables, then defaults. Throws a clear error for unknown flags or bad values. */
export function parseServeArgs(args: string[], env: NodeJS.ProcessEnv = process.env, devLoginDefault = true): ServeConfig {
  const options = Object.fromEntries(
    Object.entries(serveFlags).map(([name, f]) => [name, { type: f.type, ...('short' in f ? { short: f.short } : {}), ...('multiple' in f ? { multiple: true } : {}) }]),
  );
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({ args, options: options as never, strict: true, allowPositionals: false }));
  } catch (error) {
    throw bad((error as Error).message);
  }
  const pick = (name: keyof typeof serveFlags): string | boolean | string[] | undefined => {
    const flag = serveFlags[name];
    if (values[name] !== undefined) return values[name];
    if ('env' in flag && env[flag.env] !== undefined) {
      const raw = env[flag.env]!;
      if (flag.type === 'boolean') return raw === '1' || raw.toLowerCase() === 'true';
      return 'multiple' in flag ? raw.split(',').map((s) => s.trim()).filter(Boolean) : raw;
    }
    return 'default' in flag ? flag.default : undefined;
  };
  const port = Number(pick('port'));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw bad(`--port must be an integer 0-65535`);
  const heartbeatMs = Number(pick('heartbeat-ms'));
  if (!Number.isInteger(heartbeatMs) || heartbeatMs < 50 || heartbeatMs > 3_600_000) throw bad(`--heartbeat-ms must be an integer 50-3600000 (ms)`);
  const keysFile = pick('capability-keys') as string | undefined;
  let capabilityKeys: JWK[] | undefined;
  if (keysFile !== undefined) {
    try {
      const parsed = JSON.parse(readFileSync(keysFile, 'utf8')) as { keys?: JWK[] } | JWK[];
      capabilityKeys = Array.isArray(parsed) ? parsed : parsed.keys;
    } catch {
      throw bad(`--capability-keys: cannot read a JWK set from ${keysFile}`);
    }
    // `{}` or `{"keys": 5}` would otherwise fall back to a generated key without a word (SPEC section 7).
    if (!Array.isArray(capabilityKeys)) throw bad(`--capability-keys: ${keysFile} holds neither {"keys": [...]} nor a list of JWKs`);
  }
  const devLogin = values['no-dev-login'] ? false : ((pick('dev-login') as boolean | undefined) ?? devLoginDefault);
  const logLevel = pick('log-level') as string;
  if (!(logLevels as readonly string[]).includes(logLevel)) throw bad(`--log-level must be one of ${logLevels.join(', ')} (got ${JSON.stringify(logLevel)})`);
  const jwtSecret = pick('jwt-secret') as string | undefined;
  if (jwtSecret !== undefined && Buffer.byteLength(jwtSecret) < 32) {
    throw bad(`--jwt-secret must be at least 32 bytes (it has ${Buffer.byteLength(jwtSecret)}); e.g. openssl rand -base64 32`);
  }
  const jwksUrl = pick('jwks-url') as string | undefined;
  if (jwksUrl !== undefined && !isHttpUrl(jwksUrl)) throw bad(`--jwks-url must be an http(s) URL (got ${JSON.stringify(jwksUrl)})`);
  const redis = pick('redis') as string | undefined;
  const redisCluster = (pick('redis-cluster') as boolean | undefined) ?? false;
  const redisUrls = redis?.split(',').map((u) => u.trim()) ?? [];
  if (redisUrls.some((u) => !/^rediss?:\/\/[^/\s]/.test(u))) throw bad(`--redis must be a redis:// or rediss:// URL (got ${JSON.stringify(redis)})`);
  if (redisUrls.length > 1 && !redisCluster) throw bad(`--redis has ${redisUrls.length} URLs: several are the seeds of a Redis Cluster, so add --redis-cluster`);
  if (redisCluster && redis === undefined) throw bad('--redis-cluster needs --redis with the seed URLs of the Cluster');
  const redisDurability = pick('redis-durability') as string;
  if (!['always', 'everysec', 'none'].includes(redisDurability)) throw bad(`--redis-durability must be always, everysec or none (got ${JSON.stringify(redisDurability)})`);
  const waitReplicas = pick('redis-wait-replicas') as string | undefined;
  const waitTimeoutMs = Number(pick('redis-wait-timeout-ms'));
  if (waitReplicas !== undefined && !/^[1-9]\d{0,2}$/.test(waitReplicas)) throw bad(`--redis-wait-replicas must be a positive integer (got ${JSON.stringify(waitReplicas)})`);
  if (!Number.isInteger(waitTimeoutMs) || waitTimeoutMs < 1 || waitTimeoutMs > 60_000) throw bad('--redis-wait-timeout-ms must be an integer 1-60000 (ms)');
  if (waitReplicas !== undefined && redis === undefined) throw bad('--redis-wait-replicas needs --redis');
  const retryText = pick('redis-retry-ms') as string;
  const redisRetryMs = Number(retryText);
  if (!/^\d+$/.test(retryText) || redisRetryMs > 600_000) throw bad(`--redis-retry-ms must be an integer 0-600000 (ms; got ${JSON.stringify(retryText)})`);
  const host = pick('host') as string;
  if (host.trim() === '' || /[\s/]/.test(host)) throw bad(`--host must be a host name or an IP address (got ${JSON.stringify(host)})`);
  return {
    port,
    host,
    data: pick('data') as string,
    jwtSecret,
    jwksUrl,
    capabilityKeys,
    origins: pick('origin') as string[] | undefined,
    anonymous: (pick('anonymous') as boolean | undefined) ?? false,
    devLogin,
    devLoginBeyondLoopback: (pick('dev-login-beyond-loopback') as boolean | undefined) ?? false,
    logLevel: logLevel as LogLevelName,
    heartbeatMs,
    ...(redis !== undefined ? { redis } : {}),
    redisCluster,
    redisDurability: redisDurability as ServeConfig['redisDurability'],
    ...(waitReplicas !== undefined ? { redisWaitReplicas: { replicas: Number(waitReplicas), timeoutMs: waitTimeoutMs } } : {}),
    redisRetryMs,
    help: (values['help'] as boolean | undefined) ?? false,
  };
}

function isHttpUrl(text: string): boolean {
  try {
    return /^https?:$/.test(new URL(text).protocol);
  } catch {
    return false;
  }
}

function bad(message: string): CapsyncError {
  return new CapsyncError('ERR_BAD_ARGUMENTS', message);
}

/** The SQLite file for a data folder (created if missing), or `:memory:`. Throws `ERR_BAD_ARGUMENTS` when `data` cannot be a folder. */
export function storeFilename(data: string): string {
  if (data === ':memory:') return data;
  try {
    mkdirSync(data, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const exists = statSync(data, { throwIfNoEntry: false });
    if (exists !== undefined && !exists.isDirectory()) throw bad(`--data ${data} is a file, not a folder`);
    if (code === 'ENOTDIR' || code === 'EEXIST') throw bad(`--data ${data}: a part of that path is a file, not a folder`);
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') throw bad(`--data ${data}: no permission to create that folder`);
    throw error;
  }
  return join(data, 'capsync.sqlite');
}

/** The JWT secret: configured, or generated once and kept in the store so restarts keep sessions valid. */
export async function jwtSecretFor(config: ServeConfig, store: ObjectStore): Promise<string> {
  if (config.jwtSecret !== undefined) return config.jwtSecret;
  // First writer wins on a shared store: nodes starting together on an empty Redis agree on one secret.
  return settingOnce(store, 'jwt-secret', () => randomBytes(32).toString('base64url'));
}
