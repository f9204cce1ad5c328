import type { Redis } from 'ioredis';
import { fail } from '../../protocol/errors.js';
import type { Logger } from '../options.js';
import { isCluster, type RedisConnection } from './connection.js';

/**
 * `RedisOptions.waitReplicas`: after each write script, `WAIT replicas timeoutMs` on the connection that ran
 * it, and the write is acknowledged only once that many replicas have it. Redis replicates asynchronously, so
 * without it a write acknowledged by the master may be missing from the replica promoted at a failover.
 */
export interface WaitReplicasOptions {
  /** Replicas that must have each write before it is acknowledged. */
  readonly replicas: number;
  /** How long to wait for them (ms); fewer by then: the write fails (`ERR_STORE_UNAVAILABLE`). Default 1000. */
  readonly timeoutMs?: number;
}

/**
 * @internal Runs `WAIT` for the writes a connection sent: on one server, on that connection; on a Cluster, on
 * the connection to the master of the prefix's slot (where the client routed the script: `WAIT` counts the
 * writes of the connection it is sent on). Fewer replicas than asked within the timeout reject: the write is
 * on the master but is not acknowledged, since a failover now could lose it. After a failover the script may
 * have run again on the promoted replica, which has no replica of its own yet: that is refused as well.
 */
export class ReplicaWait {
  readonly replicas: number;
  readonly timeoutMs: number;
  readonly #redis: RedisConnection;
  readonly #slot: number;

  constructor(redis: RedisConnection, prefix: string, options: WaitReplicasOptions) {
    if (!Number.isInteger(options.replicas) || options.replicas < 1) throw fail('ERR_STORE_UNAVAILABLE', `waitReplicas must be a positive integer (got ${String(options.replicas)})`);
    this.#redis = redis;
    this.replicas = options.replicas;
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.#slot = slotOf(prefix);
  }

  /** The connection to the master that holds the prefix's slot (the connection itself on one server). */
  master(): Redis {
    const redis = this.#redis;
    if (!isCluster(redis)) return redis;
    const key = redis.slots[this.#slot]?.[0];
    const node = key === undefined ? undefined : redis.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === key);
    if (node === undefined) throw fail('ERR_STORE_UNAVAILABLE', `no master known for the key prefix's slot ${this.#slot} (the Cluster is failing over)`);
    return node;
  }

  /** Resolves once `replicas` replicas have this connection's writes so far, else rejects after the timeout. */
  async wait(): Promise<void> {
    const got = (await this.master().call('WAIT', this.replicas, this.timeoutMs)) as number;
    if (got < this.replicas) {
      throw fail('ERR_STORE_UNAVAILABLE', `the write reached ${got} of ${this.replicas} Redis replicas within ${this.timeoutMs} ms: not acknowledged (a failover could lose it)`);
    }
  }

  /** Runs a write, then waits for the replicas; resolves with the write's reply. */
  async after<T>(write: Promise<T>): Promise<T> {
    const reply = await write;
    await this.wait();
    return reply;
  }

  /**
   * Checks at start that the master of the prefix's slot has at least `replicas` replicas connected (`INFO
   * replication`); fewer: a warning (every write would fail until they connect). Returns how many it has.
   */
  async check(logger: Logger): Promise<number> {
    let connected: number;
    try {
      const info = (await this.master().call('INFO', 'replication')) as string;
      connected = Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0);
    } catch (error) {
      logger.warn({ event: 'redis_replicas_unchecked', wanted: this.replicas, err: error });
      return -1;
    }
    if (connected < this.replicas) {
      logger.warn({
        event: 'redis_replicas_missing',
        wanted: this.replicas,
        connected,
        message: `waitReplicas asks each write to reach ${this.replicas} Redis replica(s), but the master has ${connected}: writes will fail (ERR_STORE_UNAVAILABLE) until enough replicas connect`,
      });
    }
    return connected;
  }
}

/** The Cluster slot of a key (CRC16 of its hash tag, or of the whole key), as Redis computes it. */
export function slotOf(key: string): number {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(hashed)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}
