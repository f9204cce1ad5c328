import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect, type CapsyncClient } from '../../client/index.js';
import { demoUsers } from '../../examples/video/app.js';
import { parseServeArgs } from '../../examples/video/config.js';
import { startDemo } from '../../examples/video/serve.js';
import { Video } from '../../examples/video/video.js';
import { silentLogger } from '../../server/options.js';
import { connectRedis } from '../../server/redis/index.js';
import { channelsOf, interestOf } from '../../server/redis/channels.js';
import { hashTagOf, targetOf } from '../../server/redis/connection.js';
import { next } from '../helpers.js';
import { startNodes } from './nodes.js';
import { startRedisCluster, type RedisCluster } from './redis-cluster.js';

let started: Promise<RedisCluster> | undefined;
const redisCluster = (): Promise<RedisCluster> => (started ??= startRedisCluster());
afterAll(async () => {
  if (started !== undefined) await (await started).stop();
});
let nodes: Awaited<ReturnType<typeof startNodes>> | undefined;
afterEach(async () => {
  await nodes?.close();
  nodes = undefined;
});

const VIDEO = 'dQw4w9WgXcQ';
async function videoOf(client: CapsyncClient): Promise<Video> {
  return (await client.call<Video[]>('get_my_videos')).find((v) => v.id === VIDEO)!;
}

/** The port of the master that owns `key`'s slot, from `CLUSTER SLOTS` (what the client routes by). */
async function ownerOf(cluster: RedisCluster, key: string): Promise<number> {
  const slot = Number((await cluster.cli(cluster.ports[0]!, 'cluster', 'keyslot', key)).trim());
  for (const port of cluster.ports) {
    const ranges = (await cluster.cli(port, 'cluster', 'nodes')).split('\n').find((line) => line.includes('myself'))!.split(' ').slice(8);
    if (ranges.some((r) => { const [lo, hi = lo] = r.split('-').map(Number); return slot >= lo! && slot <= hi!; })) return port;
  }
  throw new Error(`no master owns slot ${slot}`);
}

describe('two capsync nodes on a real Redis Cluster (3 masters)', () => {
  it('pushes a write on node A to a holder on node B, refuses on A what B revoked, and keeps the deployment in one slot', async () => {
    const cluster = await redisCluster();
    const prefix = `{c${randomUUID().slice(0, 8)}}:`;
    nodes = await startNodes(cluster.urls.join(','), 2, { cluster: true, prefix });
    const [a, b] = nodes.nodes;
    const onA = await a!.connectAs('editor');
    const onB = await b!.connectAs('editor');
    const held = await videoOf(onB);
    const seen = next(onB.live(held), (v) => v.description === 'written on A');
    const onAVideo = await videoOf(onA);
    await onAVideo.set_description('written on A');
    expect((await seen).description).toBe('written on A');
    // B heard it on the sharded bus (SSUBSCRIBE on the slot's shard), not only from the store.
    expect(b!.backend.fanout.received).toBeGreaterThan(0);
    expect(b!.backend.fanout.channels.length).toBeGreaterThan(0);

    const toldA = next(onA.revocations);
    await b!.server.revokeUser('editor');
    await toldA;
    await expect(onAVideo.set_description('after the revocation')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });

    // One hash tag, one slot, one shard: every key of the deployment is on the master owning the tag's slot.
    const owner = await ownerOf(cluster, `${prefix}meta`);
    for (const port of cluster.ports) {
      const keys = (await cluster.cli(port, '--scan', '--pattern', `${prefix}*`)).split('\n').filter((k) => k !== '');
      if (port === owner) expect(keys.length).toBeGreaterThan(5);
      else expect(keys).toEqual([]);
    }
  });

  it('re-subscribes after a shard drops its bus connection, and catches up on what was written meanwhile', async () => {
    const cluster = await redisCluster();
    const prefix = `{d${randomUUID().slice(0, 8)}}:`;
    const events: Record<string, unknown>[] = [];
    // The bus's catch-up is logged when it ends, which may be after the change reached B live on the new connection.
    let caughtUp!: () => void;
    const resubscribed = new Promise<void>((resolve) => (caughtUp = resolve));
    const log = (e: object): void => {
      const event = e as Record<string, unknown>;
      events.push(event);
      if (event['event'] === 'bus_resubscribed' && event['caughtUp'] === true) caughtUp();
    };
    const logger = { ...silentLogger, info: log, warn: log };
    nodes = await startNodes(cluster.urls.join(','), 2, { cluster: true, prefix, logger });
    const [a, b] = nodes.nodes;
    const onA = await a!.connectAs('editor');
    const onB = await b!.connectAs('editor');
    const held = await videoOf(onB);
    const onAVideo = await videoOf(onA);
    // Kill the sharded-subscriber connections on the shard that owns the deployment's slot, and write at
    // once: the Cluster client may not have made new ones yet, so the change may reach B only through its
    // catch-up from the store's change sequence, which must run once the shard's subscriber is replaced.
    const owner = await ownerOf(cluster, `${prefix}meta`);
    const seen = next(onB.live(held), (v) => v.description === 'during the drop', 15_000);
    const killed = Number((await cluster.cli(owner, 'client', 'kill', 'type', 'pubsub')).trim());
    expect(killed).toBeGreaterThan(0);
    await onAVideo.set_description('during the drop');
    expect((await seen).description).toBe('during the drop');
    // The client replaced the shard's subscriber and the bus caught up from the change sequence.
    await resubscribed;
    expect(events.filter((e) => e['event'] === 'bus_resubscribed' && e['caughtUp'] === true).length).toBeGreaterThan(0);
    // Its catch-up waited for its own mark on the new connection (the proof the re-subscription is live), not in vain.
    expect(events.filter((e) => e['event'] === 'bus_mark_not_heard')).toEqual([]);
    // And the bus carries changes again afterwards.
    const heard = b!.backend.fanout.received;
    const again = next(onB.live(held), (v) => v.description === 'after the drop', 15_000);
    await onAVideo.set_description('after the drop');
    expect((await again).description).toBe('after the drop');
    expect(b!.backend.fanout.received).toBeGreaterThan(heard);
  });
});

/** Resolves once `condition()` holds, checked every 20 ms; rejects after `limitMs` (a guard, not a synchronisation). */
async function until(condition: () => boolean, limitMs: number, what: string): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the revocation feed on a Redis Cluster', () => {
  it('fails closed while the shard holding the feed stops answering, and serves again once caught up', async () => {
    const cluster = await redisCluster();
    const prefix = `{f${randomUUID().slice(0, 8)}}:`;
    const backend = await connectRedis({ url: cluster.urls.join(','), cluster: true, prefix });
    try {
      const revocations = backend.store.revocations;
      await revocations.ready();
      expect(revocations.has('nothing')).toBe(false);
      // The master owning the slot holds every client's commands for 2.5 s: the feed's blocking read times out.
      const owner = await ownerOf(cluster, `${prefix}rev:feed`);
      await cluster.cli(owner, 'client', 'pause', '2500', 'ALL');
      await until(() => !revocations.fresh, 5000, 'feed stale');
      expect(() => revocations.has('nothing')).toThrow(expect.objectContaining({ code: 'ERR_REVOCATION_FEED_STALE' }));
      await until(() => revocations.fresh, 15_000, 'feed caught up');
      expect(revocations.has('nothing')).toBe(false);
    } finally {
      await backend.store.close();
    }
  });
});

describe('presence and delegation on a Redis Cluster', () => {
  it('delegates from a client on A to a user on B, also after the shard dropped the peers\' subscriber connections', async () => {
    const cluster = await redisCluster();
    const prefix = `{g${randomUUID().slice(0, 8)}}:`;
    nodes = await startNodes(cluster.urls.join(','), 2, { cluster: true, prefix });
    const [a, b] = nodes.nodes;
    const editor = await a!.connectAs('editor');
    const guest = await b!.connectAs('guest');
    expect((await editor.presence()).sort()).toEqual(['guest']);
    const first = next(guest.delegations);
    await editor.delegate((await videoOf(editor)).cap.narrow([]), { to: 'guest' });
    expect((await first).cap.audiences).toEqual(['guest']);
    // Every sharded subscriber on the slot's master dropped (bus and peers): the client replaces them.
    const owner = await ownerOf(cluster, `${prefix}meta`);
    const subscribers = async (): Promise<number> => Number((await cluster.cli(owner, 'pubsub', 'shardnumsub', `${prefix}user:guest`)).trim().split('\n')[1]);
    expect(await subscribers()).toBe(1);
    await cluster.cli(owner, 'client', 'kill', 'type', 'pubsub');
    // Bounded poll on what Redis reports: node B's peers client subscribed the guest's channel again by itself.
    let back = false;
    for (const deadline = Date.now() + 10_000; !back && Date.now() < deadline; ) {
      back = (await subscribers()) === 1;
      if (!back) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(back).toBe(true);
    const second = next(guest.delegations, () => true, 10_000);
    const receipt = await editor.delegate((await videoOf(editor)).cap.narrow([]), { to: 'guest' });
    expect(receipt.delivered).toBe(1);
    expect((await second).cap.audiences).toEqual(['guest']);
  });
});

describe('connecting to a Redis Cluster', () => {
  it('takes several seed URLs only for a Cluster, and a Cluster URL naming no database', () => {
    expect(targetOf('redis://h:1')).toEqual({ urls: ['redis://h:1'], cluster: false });
    expect(targetOf('redis://h:1, redis://h:2', true)).toEqual({ urls: ['redis://h:1', 'redis://h:2'], cluster: true });
    expect(() => targetOf('redis://h:1,redis://h:2')).toThrow(expect.objectContaining({ code: 'ERR_STORE_UNAVAILABLE', message: expect.stringContaining('Cluster') }));
    expect(() => targetOf('redis://h:1/2', true)).toThrow(expect.objectContaining({ code: 'ERR_STORE_UNAVAILABLE' }));
  });

  it('finds the hash tag of a prefix as Redis does (first { to the next }, not empty)', () => {
    expect(hashTagOf('{capsync}:')).toBe('capsync');
    expect(hashTagOf('app:{x}:{y}')).toBe('x');
    expect(hashTagOf('{}:{x}')).toBeUndefined();
    expect(hashTagOf('capsync:')).toBeUndefined();
  });

  it("keeps every bus channel in the prefix's slot, whatever braces an address holds (what SPUBLISH in a script needs)", async () => {
    const cluster = await redisCluster();
    const prefix = '{capsync}:';
    const address = ['{evil}', 'a}b{c', 7, { k: '{x}' }];
    const names = [prefix + 'meta', ...channelsOf(prefix, address), ...interestOf(prefix, address), `${prefix}mark:1`, `${prefix}presence`, `${prefix}user:{u}`];
    const slots = new Set(await Promise.all(names.map(async (n) => (await cluster.cli(cluster.ports[0]!, 'cluster', 'keyslot', n)).trim())));
    expect(slots.size).toBe(1);
  });

  it('refuses a prefix without a hash tag, and a master weaker than the durability asked for', async () => {
    const cluster = await redisCluster();
    const url = cluster.urls.join(',');
    await expect(connectRedis({ url, cluster: true, prefix: 'capsync:' })).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', message: expect.stringContaining('hash tag') });
    const backend = await connectRedis({ url, cluster: true, prefix: `{e${randomUUID().slice(0, 8)}}:`, logger: silentLogger });
    expect(backend.durability).toBe('always');
    await backend.store.close();
    const weak = cluster.ports[2]!;
    await cluster.cli(weak, 'config', 'set', 'appendfsync', 'everysec');
    try {
      await expect(connectRedis({ url, cluster: true })).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', message: expect.stringContaining(`127.0.0.1:${weak}`) });
    } finally {
      await cluster.cli(weak, 'config', 'set', 'appendfsync', 'always');
    }
  });
});

describe('capsync serve --redis-cluster', () => {
  it('takes the flag or CAPSYNC_REDIS_CLUSTER, and several seed URLs only with it', () => {
    expect(parseServeArgs(['--redis', 'redis://a:7000,redis://b:7000', '--redis-cluster'], {})).toMatchObject({ redis: 'redis://a:7000,redis://b:7000', redisCluster: true });
    expect(parseServeArgs([], { CAPSYNC_REDIS_URL: 'redis://a:7000', CAPSYNC_REDIS_CLUSTER: '1' })).toMatchObject({ redisCluster: true });
    expect(parseServeArgs(['--redis', 'redis://a:6379'], {}).redisCluster).toBe(false);
    expect(() => parseServeArgs(['--redis', 'redis://a:7000,redis://b:7000'], {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENTS', message: expect.stringContaining('--redis-cluster') }));
    expect(() => parseServeArgs(['--redis', 'redis://a:7000,b:7000', '--redis-cluster'], {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENTS' }));
    expect(() => parseServeArgs(['--redis-cluster'], {})).toThrow(expect.objectContaining({ code: 'ERR_BAD_ARGUMENTS' }));
  });

  it('serves the demo on the Cluster', async () => {
    const cluster = await redisCluster();
    const server = await startDemo(parseServeArgs(['--redis', cluster.urls.join(','), '--redis-cluster', '--port', '0', '--log-level', 'silent'], {}));
    try {
      const client = await connect(server.url, { token: await server.auth.issue(demoUsers['editor']!) });
      try {
        const video = await videoOf(client);
        await expect(video.set_description('served on the Cluster')).resolves.toBeTypeOf('number');
      } finally {
        await client.close();
      }
    } finally {
      await server.close();
    }
  });
});
