import { randomUUID } from 'node:crypto';
import { fail } from '../../protocol/errors.js';
import { Codec } from '../../protocol/codec.js';
import { resolveLimits, type Limits } from '../../protocol/limits.js';
import { silentLogger, type Logger } from '../options.js';
import type { StoreOptions } from '../store/types.js';
import { hashTagOf, openConnection, redactUrl, targetOf } from './connection.js';
import { checkDurability, type Durability } from './durability.js';
import { RedisFanout, type RedisFanoutOptions } from './fanout.js';
import { RedisPeers, type RedisPeersOptions } from './peers.js';
import { RedisRevocationSet, type RevocationFeedOptions } from './revocations.js';
import { RedisStore } from './store.js';
import type { TurnWritesOptions } from './turn-writes.js';
import { ReplicaWait, type WaitReplicasOptions } from './wait-replicas.js';

export { RedisFanout } from './fanout.js';
export { RedisPeers } from './peers.js';
export { RedisRevocationSet } from './revocations.js';
export { RedisStore } from './store.js';
export { checkDurability, durabilityOf, type Durability } from './durability.js';
export type { TurnWritesOptions } from './turn-writes.js';
export type { WaitReplicasOptions } from './wait-replicas.js';

/** Options of {@link connectRedis}. */
export interface RedisOptions extends StoreOptions {
  /**
   * `redis://[[user]:password@]host:port[/db]` (or `rediss://`). With `cluster`, one or more seed nodes of the
   * Cluster, separated by commas (`redis://10.0.0.1:7000,redis://10.0.0.2:7000`); the client finds the others.
   */
  readonly url: string;
  /**
   * Redis Cluster: connect with an ioredis `Cluster` client (commands and scripts routed to the slot's master,
   * sharded pub/sub on each shard's own connection). Default false (one Redis server).
   */
  readonly cluster?: boolean;
  /**
   * Prefix of every key and channel: several deployments can share one Redis. Default `{capsync}:`. On a
   * Cluster it must contain a hash tag (`{...}`): every key and channel of the deployment is in that tag's slot.
   */
  readonly prefix?: string;
  /** What Redis must guarantee for acknowledged writes (see {@link Durability}). Default `always`. */
  readonly durability?: Durability;
  /** When Redis is configured weaker than `durability`: refuse to start (default) or log a warning. */
  readonly weakerDurability?: 'refuse' | 'warn';
  /** Same as the server's, so bus messages decode under the same limits. */
  readonly limits?: Partial<Limits>;
  /** Where the backend logs (connection, durability check, bus and feed events). Default silent. */
  readonly logger?: Logger;
  /** This node's name in presence and in `CLIENT LIST`. Default random. */
  readonly node?: string;
  /** The revocation feed: how long it may be silent before capability use is refused, how long one read blocks. */
  readonly feed?: RevocationFeedOptions;
  /** The bus: channel linger, re-read and catch-up limits. */
  readonly bus?: RedisFanoutOptions;
  /** Presence heartbeats: how often a node renews itself, and when a silent one counts as dead. */
  readonly peers?: RedisPeersOptions;
  /** A command not answered within this many ms fails (Redis away for longer). Default 10 s. */
  readonly commandTimeoutMs?: number;
  /** How a turn's writes are grouped into scripts (`maxWrites: 1`: one script per write). */
  readonly writes?: TurnWritesOptions;
  /**
   * How long a store script that Redis did not answer (its connection closed, the Cluster down or failing
   * over, a slot moving) is sent again before it fails (ms): a turn's writes with the same script id (answered
   * from the kept reply if the first attempt ran, so none runs twice) and the store's reads. Default 10,000: a
   * failover or a short restart makes calls wait rather than fail. 0: fail at once.
   */
  readonly retryMs?: number;
  /**
   * Acknowledge a write (a turn's script, a revocation) only once this many replicas have it (`WAIT`), so a
   * failover to a replica loses none; a number is `{ replicas }` with the default timeout (1 s). Default: no
   * wait (replication is asynchronous: writes acknowledged just before a master dies may be lost). Checked at
   * start: a master with fewer replicas is a warning (`redis_replicas_missing`).
   */
  readonly waitReplicas?: number | WaitReplicasOptions;
}

/** What one node needs to share a Redis with others: pass `store`, `fanout` and `cluster` to `CapsyncServer.create`. */
export interface RedisBackend {
  /** The shared object store (with its revocation set, `store.revocations`). */
  readonly store: RedisStore;
  /** The interest-based bus. */
  readonly fanout: RedisFanout;
  /** Presence, presence events and delegation delivery across the nodes. */
  readonly cluster: RedisPeers;
  /** This node's name (presence, `CLIENT LIST`). */
  readonly node: string;
  /** What Redis's config gives (checked at start), or `unknown` if it would not say. */
  readonly durability: Durability | 'unknown';
  /** With `waitReplicas`: the replicas the slot's master had at start (-1: it would not say). */
  readonly replicas?: number;
}

/**
 * Connects a node to a shared Redis: checks its durability config, loads the revocation set and starts
 * reading the feed, opens the bus and presence. Four connections: commands, the bus (sharded pub/sub),
 * the revocation feed (blocking reads) and the peers' channel; on a Cluster (`cluster: true`) four ioredis
 * `Cluster` clients instead, each with its own connections. Closing the store (the server does) closes them all.
 *
 * @example
 * ```ts
 * const redis = await connectRedis({ url: 'redis://127.0.0.1:6379' });
 * // or a Redis Cluster, from one or more of its nodes:
 * // await connectRedis({ url: 'redis://10.0.0.1:7000,redis://10.0.0.2:7000', cluster: true });
 * const server = await CapsyncServer.create({ auth: { secret }, ...redis });
 * ```
 */
export async function connectRedis(options: RedisOptions): Promise<RedisBackend> {
  const node = options.node ?? randomUUID().slice(0, 8);
  const prefix = options.prefix ?? '{capsync}:';
  const target = targetOf(options.url, options.cluster);
  // The scripts touch many keys and publish on many channels: on a Cluster they must all be in one slot.
  if (target.cluster && hashTagOf(prefix) === undefined) throw fail('ERR_STORE_UNAVAILABLE', `on a Redis Cluster the key prefix must contain a hash tag such as {capsync} (got ${JSON.stringify(prefix)})`);
  const logger = options.logger ?? silentLogger;
  const timeout = options.commandTimeoutMs ?? 10_000;
  const staleMs = options.feed?.staleMs ?? 1000;
  const command = await openConnection(target, 'command', node, { commandTimeoutMs: timeout });
  const opened = [command];
  try {
    const durability = await checkDurability(command, options.durability ?? 'always', options.weakerDurability ?? 'refuse', logger);
    const waitOptions = typeof options.waitReplicas === 'number' ? { replicas: options.waitReplicas } : options.waitReplicas;
    const wait = waitOptions === undefined ? undefined : new ReplicaWait(command, prefix, waitOptions);
    const replicas = await wait?.check(logger);
    const feed = await openConnection(target, 'feed', node, { commandTimeoutMs: (options.feed?.blockMs ?? 200) + staleMs });
    opened.push(feed);
    const bus = await openConnection(target, 'bus', node);
    opened.push(bus);
    const peersSub = await openConnection(target, 'peers', node);
    opened.push(peersSub);
    const revocations = new RedisRevocationSet(command, feed, prefix, options.feed, wait);
    await revocations.ready();
    const epoch = await RedisStore.epochOf(command, prefix);
    let fanout: RedisFanout | undefined;
    let cluster: RedisPeers | undefined;
    const store = new RedisStore(command, prefix, epoch, revocations, async () => {
      await cluster?.close();
      await fanout?.close();
      await revocations.close();
      command.disconnect();
    }, options, { ...(options.retryMs !== undefined ? { retryMs: options.retryMs } : {}), ...options.writes }, wait);
    fanout = new RedisFanout(bus, command, store, new Codec(resolveLimits(options.limits)), prefix, logger, options.bus);
    cluster = new RedisPeers(command, peersSub, prefix, node, logger, options.peers);
    await cluster.start();
    logger.info({ event: 'redis_connected', url: target.urls.map(redactUrl).join(','), cluster: target.cluster, node, durability, ...(wait !== undefined ? { waitReplicas: wait.replicas, replicas } : {}) });
    return { store, fanout, cluster, node, durability, ...(replicas !== undefined ? { replicas } : {}) };
  } catch (error) {
    for (const c of opened) c.disconnect();
    throw error;
  }
}
