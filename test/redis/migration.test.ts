import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
// For its side effect too: registering the portable Video class, so calls' results decode as Videos.
import type { Video } from '../../examples/video/video.js';
import '../../examples/video/video.js';
import { slotOf } from '../../server/redis/wait-replicas.js';
import { next } from '../helpers.js';
import { sees } from './process-kit.js';
import { startNodes } from './nodes.js';
import { startRedisCluster, type RedisCluster } from './redis-cluster.js';
import { firstVideo, lost, traffic, until } from './traffic.js';

let started: Promise<RedisCluster> | undefined;
const redisCluster = (): Promise<RedisCluster> => (started ??= startRedisCluster({ masters: 3 }));
afterAll(async () => {
  if (started !== undefined) await (await started).stop();
});
let nodes: Awaited<ReturnType<typeof startNodes>> | undefined;
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  await nodes?.close();
  nodes = undefined;
});

/**
 * Moves `slot` from the master on `from` to the one on `to` as `redis-cli --cluster reshard` does: the target
 * importing, the source migrating, the keys moved with MIGRATE in batches of `batch` (`between()` runs after
 * each), then the slot assigned to the target on every master. Resolves with the number of keys moved.
 */
async function migrateSlot(cluster: RedisCluster, slot: number, from: number, to: number, batch: number, between: () => Promise<void>): Promise<number> {
  const idOf = async (port: number): Promise<string> => (await cluster.cli(port, 'cluster', 'myid')).trim();
  const [fromId, toId] = [await idOf(from), await idOf(to)];
  await cluster.cli(to, 'cluster', 'setslot', String(slot), 'importing', fromId);
  await cluster.cli(from, 'cluster', 'setslot', String(slot), 'migrating', toId);
  let moved = 0;
  for (;;) {
    const keys = (await cluster.cli(from, 'cluster', 'getkeysinslot', String(slot), String(batch))).split('\n').filter((k) => k !== '');
    if (keys.length === 0) break;
    const answer = await cluster.cli(from, 'migrate', '127.0.0.1', String(to), '', '0', '5000', 'KEYS', ...keys);
    expect(answer.trim()).toBe('OK');
    moved += keys.length;
    await between();
  }
  // The target first, then the source, then the others (as redis-cli does), so no master points back.
  for (const port of [to, from, ...cluster.ports.filter((p) => p !== to && p !== from)]) await cluster.cli(port, 'cluster', 'setslot', String(slot), 'node', toId);
  return moved;
}

describe('moving the deployment\'s slot to another master of a Redis Cluster under traffic', { timeout: 90_000 }, () => {
  it('loses no acknowledged write and fails none (they wait the move out), and pushes, presence, the revocation feed and new subscriptions work on the new master', async () => {
    const cluster = await redisCluster();
    const prefix = `{m${randomUUID().slice(0, 8)}}:`;
    const slot = slotOf(prefix);
    const { master: from } = await cluster.roles(slot);
    const to = cluster.ports.find((p) => p !== from)!;
    nodes = await startNodes(cluster.urls.join(','), 2, { cluster: true, prefix, feed: { staleMs: 1000 } });
    const [a, b] = nodes.nodes;
    const onA = await a!.connectAs('editor');
    const onB = await b!.connectAs('editor');
    const video = await firstVideo(onA);
    await firstVideo(onB);
    const writes = traffic(a!.backend);
    stops.push(() => writes.stop());
    let editing = true;
    let lastEdit: string | undefined;
    let edits = 0;
    const editing$ = (async () => {
      for (let i = 0; editing; i++) {
        try {
          await video.set_description(`edit ${i}`);
          lastEdit = `edit ${i}`;
          edits++;
        } catch {
          // Not expected (the store waits the move out), but an edit refused is tried again.
        }
      }
    })();
    stops.push(async () => ((editing = false), await editing$));
    await writes.more(50);

    // The keys move a batch at a time; after the first, the store's scripts are refused (TRYAGAIN: the slot's
    // keys are split between the masters) and sent again, until the slot has moved.
    const retried = a!.backend.store.turnWrites.retries;
    let batches = 0;
    const moved = await migrateSlot(cluster, slot, from, to, 25, async () => {
      if (batches++ === 0) await until(() => a!.backend.store.turnWrites.retries > retried, 10_000, 'a write script sent again mid-move');
    });
    expect(moved).toBeGreaterThan(50);
    expect((await cluster.roles(slot)).master).toBe(to);
    expect(await cluster.cli(from, 'cluster', 'countkeysinslot', String(slot))).toBe('0\n');

    // Writes and edits are acknowledged again, by themselves, on the new master.
    await writes.more(50);
    const before = edits;
    await until(() => edits > before + 5, 20_000, 'edits acknowledged after the move');
    await writes.stop();
    editing = false;
    await editing$;
    expect(await lost(a!.backend, writes.acked)).toBe(0);
    // None failed: they waited the move out.
    expect(writes.failed).toBe(0);

    // B's client has the last acknowledged edit (live or caught up), then a new one live.
    const held = await firstVideo(onB);
    if (held.description !== lastEdit) await sees(onB, video.id, lastEdit!);
    const after = sees(onB, video.id, 'after the move');
    await video.set_description('after the move');
    await after;
    // An object added after the move, held on B through a channel opened after it, is pushed to as well.
    const adminOnA = await a!.connectAs('admin');
    const added = await adminOnA.call<Video>('add_video', 'Added after the move', 'new');
    const adminOnB = await b!.connectAs('admin');
    expect((await adminOnB.call<Video[]>('get_my_videos')).map((v) => v.id)).toContain(added.id);
    const pushed = sees(adminOnB, added.id, 'pushed on a new channel');
    await added.set_description('pushed on a new channel');
    await pushed;
    // Presence crosses the nodes (the peers' sharded channel moved with the slot).
    const joined = new Promise<void>((resolve) => b!.backend.cluster.onPresence((change) => change.type === 'join' && change.user === 'guest' && resolve()));
    await a!.connectAs('guest');
    await joined;
    // The revocation feed is current on both nodes, and a revocation on B is enforced on A.
    await until(() => a!.backend.store.revocations.fresh && b!.backend.store.revocations.fresh, 10_000, 'both feeds current');
    const told = next(onA.revocations, () => true, 10_000);
    await b!.server.revokeUser('editor');
    await told;
    await expect(video.set_description('after the revocation')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
  });
});
