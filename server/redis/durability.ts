import { fail } from '../../protocol/errors.js';
import type { Logger } from '../options.js';
import { isCluster, type RedisConnection } from './connection.js';

/**
 * How much an acknowledged write may be lost when Redis itself crashes (a kill -9, a power cut):
 * - `always`: nothing. Needs `appendonly yes` and `appendfsync always` (Redis fsyncs the AOF before it replies).
 * - `everysec`: up to about one second of acknowledged writes. Needs `appendonly yes` (`appendfsync everysec` or `always`).
 * - `none`: no check (a cache-like deployment, RDB snapshots, or a managed Redis that hides its config):
 *   everything since the last snapshot may be lost.
 */
export type Durability = 'always' | 'everysec' | 'none';

/** What the server's config gives, in the same terms. */
export function durabilityOf(appendonly: string | undefined, appendfsync: string | undefined): Durability {
  if (appendonly !== 'yes') return 'none';
  return appendfsync === 'always' ? 'always' : appendfsync === 'everysec' ? 'everysec' : 'none';
}

const rank: Record<Durability, number> = { none: 0, everysec: 1, always: 2 };

/**
 * Checks at start that Redis is configured for the chosen durability (`CONFIG GET appendonly appendfsync`;
 * on a Cluster, on every master, and the weakest counts). Weaker: refuses to start (`ERR_STORE_UNAVAILABLE`,
 * saying what to set) unless `weaker: 'warn'`, which logs a warning instead. A Redis that refuses CONFIG
 * (some managed services) is reported as unchecked.
 */
export async function checkDurability(connection: RedisConnection, wanted: Durability, weaker: 'refuse' | 'warn', logger: Logger): Promise<Durability | 'unknown'> {
  if (wanted === 'none') return 'none';
  let configs: { where: string; config: Record<string, string> }[];
  try {
    const servers = isCluster(connection) ? connection.nodes('master') : [connection];
    configs = await Promise.all(
      servers.map(async (server) => {
        const reply = (await server.call('CONFIG', 'GET', 'append*')) as string[];
        const config: Record<string, string> = {};
        for (let i = 0; i + 1 < reply.length; i += 2) config[reply[i]!] = reply[i + 1]!;
        return { where: `${server.options.host ?? 'localhost'}:${server.options.port ?? 6379}`, config };
      }),
    );
  } catch (error) {
    logger.warn({ event: 'redis_durability_unchecked', wanted, err: error });
    return 'unknown';
  }
  const weakest = configs
    .map((c) => ({ ...c, actual: durabilityOf(c.config['appendonly'], c.config['appendfsync']) }))
    .reduce((a, b) => (rank[b.actual] < rank[a.actual] ? b : a));
  const { actual, config } = weakest;
  if (rank[actual] >= rank[wanted]) return actual;
  const fix = wanted === 'always' ? 'appendonly yes, appendfsync always' : 'appendonly yes, appendfsync everysec';
  const message =
    `Redis${isCluster(connection) ? ` (Cluster node ${weakest.where})` : ''} is configured for durability "${actual}" (appendonly ${config['appendonly'] ?? '?'}, appendfsync ${config['appendfsync'] ?? '?'}), ` +
    `weaker than "${wanted}": set ${fix} in redis.conf (or CONFIG SET), or choose a weaker durability`;
  if (weaker === 'warn') {
    logger.warn({ event: 'redis_durability_weaker', wanted, actual, message });
    return actual;
  }
  throw fail('ERR_STORE_UNAVAILABLE', message);
}
