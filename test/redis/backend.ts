import { randomUUID } from 'node:crypto';
import { afterAll } from 'vitest';
import type { Fanout } from '../../server/fanout.js';
import { connectRedis, type RedisBackend, type RedisOptions } from '../../server/redis/index.js';
import { startRedisCluster, type RedisCluster } from './redis-cluster.js';
import { startRedis, type RedisServer } from './redis-server.js';

/**
 * One redis-server per test file (started on first use, stopped after the file), and backends on it: each
 * backend has a fresh key prefix, so every store starts empty without flushing the others'.
 */
export function redisForFile(): { server(): Promise<RedisServer>; backend(options?: Partial<RedisOptions>): Promise<RedisBackend> } {
  let started: Promise<RedisServer> | undefined;
  const server = (): Promise<RedisServer> => (started ??= startRedis());
  afterAll(async () => {
    if (started !== undefined) await (await started).stop();
  });
  return {
    server,
    async backend(options = {}) {
      const { url } = await server();
      return connectRedis({ url, prefix: `{t${randomUUID().slice(0, 8)}}:`, ...options });
    },
  };
}

/** A backend's fan-out whose `close()` also closes the backend's store (what a server does on close). */
export function closingFanout(backend: RedisBackend): Fanout {
  const { fanout, store } = backend;
  return {
    publish: (update) => fanout.publish(update),
    subscribe: (listener) => fanout.subscribe(listener),
    async close() {
      await fanout.close();
      await store.close();
    },
  };
}

/**
 * One real Redis Cluster per test file (3 masters, started on first use, stopped after the file), and
 * backends on it (`cluster: true`, its nodes as seeds): each with a fresh hash-tagged prefix, so each
 * deployment's keys are in a slot of their own and every store starts empty.
 */
export function redisClusterForFile(): { cluster(): Promise<RedisCluster>; backend(options?: Partial<RedisOptions>): Promise<RedisBackend> } {
  let started: Promise<RedisCluster> | undefined;
  const cluster = (): Promise<RedisCluster> => (started ??= startRedisCluster());
  afterAll(async () => {
    if (started !== undefined) await (await started).stop();
  });
  return {
    cluster,
    async backend(options = {}) {
      const { urls } = await cluster();
      return connectRedis({ url: urls.join(','), cluster: true, prefix: `{t${randomUUID().slice(0, 8)}}:`, ...options });
    },
  };
}
