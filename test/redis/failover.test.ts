import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
// For its side effect: registering the portable Video class, so calls' results decode as Videos.
import '../../examples/video/video.js';
import { parseServeArgs } from '../../examples/video/config.js';
import { silentLogger } from '../../server/options.js';
import { connectRedis, type RedisBackend } from '../../server/redis/index.js';
import { slotOf } from '../../server/redis/wait-replicas.js';
import { next } from '../helpers.js';
import { sees } from './process-kit.js';
import { startNodes } from './nodes.js';
import { startRedisCluster, type RedisCluster } from './redis-cluster.js';
import { startRedis, type RedisServer } from './redis-server.js';
import { firstVideo, lost, traffic, until } from './traffic.js';

let started: Promise<RedisCluster> | undefined;
// Three masters and three replicas; a master silent for 1 s is failed over to its replica.
const redisCluster = (): Promise<RedisCluster> => (started ??= startRedisCluster({ replicas: 1, nodeTimeoutMs: 1000 }));
afterAll(async () => {
  if (started !== undefined) await (await started).stop();
});
let nodes: Awaited<ReturnType<typeof startNodes>> | undefined;
const backends: RedisBackend[] = [];
/** What a test started that must stop even if it fails (traffic loops). */
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  await nodes?.close();
  nodes = undefined;
  for (const b of backends.splice(0)) await b.store.close();
});

describe('failover of a Redis Cluster master to its replica (3 masters, 3 replicas)', { timeout: 60_000 }, () => {
  it('kill -9 of the slot\'s master under traffic: the nodes recover by themselves, and with waitReplicas no acknowledged write is lost', async () => {
    const cluster = await redisCluster();
    const prefix = `{v${randomUUID().slice(0, 8)}}:`;
    const { master, replicas } = await cluster.roles(slotOf(prefix));
    expect(replicas).toHaveLength(1);
    const replica = replicas[0]!;
    nodes = await startNodes(cluster.urls.join(','), 2, { cluster: true, prefix, waitReplicas: { replicas: 1, timeoutMs: 1000 }, feed: { staleMs: 500 } });
    const [a, b] = nodes.nodes;
    expect(a!.backend.replicas).toBe(1);
    const onA = await a!.connectAs('editor');
    const onB = await b!.connectAs('editor');
    const video = await firstVideo(onA);
    await firstVideo(onB);
    const writes = traffic(a!.backend);
    stops.push(() => writes.stop());
    // Edits through a client on A, each pushed to the same user's client on B.
    let editing = true;
    let lastEdit: string | undefined;
    const edits = (async () => {
      for (let i = 0; editing; i++) {
        try {
          await video.set_description(`edit ${i}`);
          lastEdit = `edit ${i}`;
        } catch {
          // Refused during the gap (the store away, or the revocation feed stale): tried again.
        }
      }
    })();
    stops.push(async () => ((editing = false), await edits));
    await writes.more(20);

    await cluster.signal(master, 'SIGKILL');
    // The revocation feed fails closed while the slot has no master...
    await until(() => !a!.backend.store.revocations.fresh && !b!.backend.store.revocations.fresh, 5_000, 'both feeds stale');
    // ...the replica takes over...
    await cluster.logged(replica, /Failover election won/);
    // ...and the killed master, started again, rejoins as its replica (so waitReplicas: 1 can be met again).
    await cluster.restart(master);
    await cluster.synced(replica, master);
    // (The cluster's own view of it follows by gossip.)
    await until(async () => JSON.stringify(await cluster.roles(slotOf(prefix), replica)) === JSON.stringify({ master: replica, replicas: [master] }), 5_000, 'the old master listed as the replica');
    // Both nodes' feeds are current again by themselves, and writes are acknowledged again. Alone this takes
    // a few seconds; in a full parallel run on 2 CPUs it once took over 15 s (the bound it had then).
    await until(() => a!.backend.store.revocations.fresh && b!.backend.store.revocations.fresh, 30_000, 'both feeds current again');
    await writes.more(20);
    await writes.stop();
    editing = false;
    await edits;

    // No acknowledged write is missing from the promoted replica.
    expect(writes.acked.length).toBeGreaterThanOrEqual(40);
    expect(await lost(a!.backend, writes.acked)).toBe(0);
    // Pushes resume: B's client has the last acknowledged edit (live or caught up), then a new one live.
    expect(lastEdit).toBeDefined();
    const held = await firstVideo(onB);
    if (held.description !== lastEdit) await sees(onB, video.id, lastEdit!);
    const after = sees(onB, video.id, 'after the failover');
    await video.set_description('after the failover');
    await after;
    // Presence crosses the nodes again (the peers' sharded channel is back).
    const joined = new Promise<void>((resolve) => b!.backend.cluster.onPresence((change) => change.type === 'join' && change.user === 'guest' && resolve()));
    await a!.connectAs('guest');
    await joined;
    // A revocation on B reaches A over the feed and is enforced there.
    const told = next(onA.revocations, () => true, 10_000);
    await b!.server.revokeUser('editor');
    await told;
    await expect(video.set_description('after the revocation')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
  });

  it('puts and reads wait through the failover instead of failing (each script sent again, with the same id)', async () => {
    const cluster = await redisCluster();
    const prefix = `{r${randomUUID().slice(0, 8)}}:`;
    const backend = await connectRedis({ url: cluster.urls.join(','), cluster: true, prefix });
    backends.push(backend);
    const { master, replicas } = await cluster.roles(slotOf(prefix));
    const writes = traffic(backend);
    stops.push(() => writes.stop());
    let reads = 0;
    let readFailures = 0;
    let reading = true;
    const reader = (async () => {
      while (reading) {
        try {
          await backend.store.get(['w', '0:0']);
          reads++;
        } catch {
          readFailures++;
        }
      }
    })();
    stops.push(async () => ((reading = false), await reader));
    await writes.more(20);
    await cluster.signal(master, 'SIGKILL');
    await cluster.logged(replicas[0]!, /Failover election won/);
    const readsAfter = reads;
    await writes.more(50);
    await until(() => reads > readsAfter + 20, 10_000, 'reads after the failover');
    await writes.stop();
    reading = false;
    await reader;
    expect({ failedWrites: writes.failed, readFailures }).toEqual({ failedWrites: 0, readFailures: 0 });
    // Writes stopped for the failover (about cluster-node-timeout and an election), and waited it out.
    expect(writes.longestGapMs).toBeGreaterThan(500);
    expect(backend.store.turnWrites.retries).toBeGreaterThan(0);
    // The killed master back, as the replica, for what runs after.
    await cluster.restart(master);
    await cluster.synced(replicas[0]!, master);
  });

  it('a write the replica never received: acknowledged and then lost without waitReplicas, refused with it', async () => {
    const cluster = await redisCluster();
    const prefix = `{l${randomUUID().slice(0, 8)}}:`;
    const url = cluster.urls.join(',');
    const plain = await connectRedis({ url, cluster: true, prefix });
    backends.push(plain);
    const waiting = await connectRedis({ url, cluster: true, prefix, waitReplicas: { replicas: 1, timeoutMs: 300 } });
    backends.push(waiting);
    const put = (backend: RedisBackend, key: string): Promise<unknown> => backend.store.put(['w', key], 'W', new Uint8Array([1]));
    await put(plain, 'before');
    await put(waiting, 'before, waited');

    const { master, replicas } = await cluster.roles(slotOf(prefix));
    const replica = replicas[0]!;
    // Cut the replica off: frozen, and then dropped by the master, so it cannot connect again.
    await cluster.signal(replica, 'SIGSTOP');
    await cluster.cli(master, 'client', 'kill', 'type', 'replica');
    await until(async () => /connected_slaves:0/.test(await cluster.cli(master, 'info', 'replication')), 5_000, 'the master without its replica');

    await put(plain, 'acknowledged, then lost');
    await expect(put(waiting, 'refused')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', message: expect.stringMatching(/0 of 1 Redis replicas/) });

    await cluster.signal(master, 'SIGKILL');
    await cluster.signal(replica, 'SIGCONT');
    await cluster.logged(replica, /Failover election won/);
    expect((await cluster.roles(slotOf(prefix), replica)).master).toBe(replica);
    // Without waitReplicas the promoted replica has the writes from before the cut, not the acknowledged one after it.
    expect(await plain.store.get(['w', 'before'])).toBeDefined();
    expect(await plain.store.get(['w', 'acknowledged, then lost'])).toBeUndefined();
    // With it, what was acknowledged is there; and the new master has no replica, so writes are refused...
    expect(await waiting.store.get(['w', 'before, waited'])).toBeDefined();
    await expect(put(waiting, 'no replica')).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    // ...which a node starting now is warned of.
    const warnings: Record<string, unknown>[] = [];
    const warned = await connectRedis({ url, cluster: true, prefix, waitReplicas: 1, logger: { ...silentLogger, warn: (e) => warnings.push(e as Record<string, unknown>) } });
    backends.push(warned);
    expect(warned.replicas).toBe(0);
    expect(warnings).toEqual(expect.arrayContaining([expect.objectContaining({ event: 'redis_replicas_missing', wanted: 1, connected: 0 })]));
    // The old master back as its replica: the cluster is whole again for whatever runs after.
    await cluster.restart(master);
    await cluster.synced(replica, master);
  });
});

describe('waitReplicas on one Redis server', { timeout: 30_000 }, () => {
  const servers: RedisServer[] = [];
  afterEach(async () => {
    for (const b of backends.splice(0)) await b.store.close();
    for (const s of servers.splice(0)) await s.stop();
  });
  const cli = async (port: number, ...args: string[]): Promise<string> => (await promisify(execFile)('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args])).stdout;

  it('waits for the server\'s replica, refuses a write it does not confirm, and warns at start when there is none', async () => {
    const master = await startRedis();
    servers.push(master);
    const warnings: Record<string, unknown>[] = [];
    const logger = { ...silentLogger, warn: (e: object) => warnings.push(e as Record<string, unknown>) };
    const alone = await connectRedis({ url: master.url, prefix: 'a:', waitReplicas: { replicas: 1, timeoutMs: 200 }, logger });
    backends.push(alone);
    expect(alone.replicas).toBe(0);
    expect(warnings).toEqual([expect.objectContaining({ event: 'redis_replicas_missing', wanted: 1, connected: 0 })]);
    await expect(alone.store.put(['w', 'alone'], 'W', new Uint8Array([1]))).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', message: expect.stringMatching(/0 of 1 Redis replicas/) });
    // A revocation is applied on its node at once, and its caller told it is not confirmed.
    await expect(alone.store.revocations.add([{ id: 'r1', expiresAt: null }])).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    expect(alone.store.revocations.has('r1')).toBe(true);

    const replica = await startRedis();
    servers.push(replica);
    // The master sends the replica its data at once (not after the default 5 s delay for more replicas).
    await cli(master.port, 'config', 'set', 'repl-diskless-sync-delay', '0');
    await cli(replica.port, 'replicaof', '127.0.0.1', String(master.port));
    await until(async () => /connected_slaves:1/.test(await cli(master.port, 'info', 'replication')) && /master_link_status:up/.test(await cli(replica.port, 'info', 'replication')), 10_000, 'the replica in sync');
    const waiting = await connectRedis({ url: master.url, prefix: 'a:', waitReplicas: 1 });
    backends.push(waiting);
    expect(waiting.replicas).toBe(1);
    const written = await waiting.store.put(['w', 'waited'], 'W', new Uint8Array([2]));
    // Acknowledged means on the replica too.
    expect(await cli(replica.port, 'hget', 'a:o:' + JSON.stringify(['w', 'waited']), 'version')).toBe(`${written.version}\n`);
  });
});

describe('capsync serve --redis-retry-ms', () => {
  it('takes an integer of ms (or CAPSYNC_REDIS_RETRY_MS), 10 s by default, 0 to fail at once', () => {
    expect(parseServeArgs(['--redis', 'redis://a:6379'], {})).toMatchObject({ redisRetryMs: 10_000 });
    expect(parseServeArgs(['--redis', 'redis://a:6379', '--redis-retry-ms', '0'], {})).toMatchObject({ redisRetryMs: 0 });
    expect(parseServeArgs(['--redis', 'redis://a:6379'], { CAPSYNC_REDIS_RETRY_MS: '2500' })).toMatchObject({ redisRetryMs: 2500 });
    for (const bad of ['-1', '1.5', 'soon', '600001']) {
      expect(() => parseServeArgs(['--redis', 'redis://a:6379', '--redis-retry-ms', bad], {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENTS' }));
    }
  });
});

describe('capsync serve --redis-wait-replicas', () => {
  it('takes a positive count (or CAPSYNC_REDIS_WAIT_REPLICAS) and a timeout, only with --redis', () => {
    expect(parseServeArgs(['--redis', 'redis://a:6379', '--redis-wait-replicas', '1'], {})).toMatchObject({ redisWaitReplicas: { replicas: 1, timeoutMs: 1000 } });
    expect(parseServeArgs(['--redis', 'redis://a:6379', '--redis-wait-timeout-ms', '250'], { CAPSYNC_REDIS_WAIT_REPLICAS: '2' })).toMatchObject({ redisWaitReplicas: { replicas: 2, timeoutMs: 250 } });
    expect(parseServeArgs(['--redis', 'redis://a:6379'], {})).not.toHaveProperty('redisWaitReplicas');
    for (const bad of [['--redis', 'redis://a:6379', '--redis-wait-replicas', '0'], ['--redis-wait-replicas', '1'], ['--redis', 'redis://a:6379', '--redis-wait-timeout-ms', '0']]) {
      expect(() => parseServeArgs(bad, {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENTS' }));
    }
  });
});
