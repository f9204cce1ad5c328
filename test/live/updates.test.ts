import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { Video } from '../../examples/video/video.js';
import { ANY, Capability, unwrapCapability, type CapsyncClient } from '../../client/index.js';
import { VersionConflictError } from '../../protocol/errors.js';
import { MemoryStore, SqliteStore } from '../../server/index.js';
import { LiveObjects } from '../../server/live.js';
import { LocalFanout } from '../../server/fanout.js';
import { Codec } from '../../protocol/codec.js';
import { next, startDemo, type DemoHarness } from '../helpers.js';
import { withoutUpdate } from '../../bench/without-update.js';

let demo: DemoHarness | undefined;
afterEach(async () => {
  await demo?.close();
  demo = undefined;
});

const address = ['youtube_videos', 'dQw4w9WgXcQ'];
const videosOf = (client: CapsyncClient): Promise<Video[]> => client.call<Video[]>('get_my_videos');

describe('conflict-safe updates over real sockets', () => {
  it('loses none of many concurrent edits from many clients (counted)', async () => {
    demo = await startDemo();
    const server = demo.server;
    // Each call appends one word: a lost update would drop a word.
    server.callable(
      'append_word',
      async (_ctx, cap: Capability, word: string) => {
        const [, id] = unwrapCapability(cap, ['youtube_videos', ANY, 'update']);
        return (await server.live.update(Video, ['youtube_videos', id as string], (v) => void (v.description += ` ${word}`)))?.version;
      },
      { args: z.tuple([z.instanceof(Capability), z.string()]) },
    );
    const clients = await Promise.all(Array.from({ length: 8 }, (_, i) => demo!.connectAs(i % 2 === 0 ? 'editor' : 'editor2')));
    const caps = await Promise.all(clients.map(async (c) => (await videosOf(c)).find((v) => v.id === address[1])!.cap));
    const before = (await server.live.get(Video, address))!;
    const perClient = 25;
    const versions = await Promise.all(
      clients.flatMap((c, i) => Array.from({ length: perClient }, (_, j) => c.call<number>('append_word', caps[i], `w${i}-${j}`))),
    );
    const after = (await server.live.get(Video, address))!;
    const words = after.description.slice(before.description.length).trim().split(' ');
    expect(words).toHaveLength(clients.length * perClient);
    expect(new Set(words).size).toBe(clients.length * perClient);
    expect(after.version).toBe(before.version! + clients.length * perClient);
    expect(new Set(versions).size).toBe(versions.length); // each write got its own version
  });

  it('refuses an edit from a stale version with ERR_VERSION_CONFLICT, leaving the other text in place and pushed', async () => {
    demo = await startDemo();
    const [editor, editor2] = await Promise.all([demo.connectAs('editor'), demo.connectAs('editor2')]);
    const mine = (await videosOf(editor)).find((v) => v.id === address[1])!;
    const theirs = (await videosOf(editor2)).find((v) => v.id === address[1])!;
    const draftFrom = mine.version!;
    const pushed = next(editor.live(mine), (v) => v.description === 'their text');
    expect(await theirs.set_description('their text', theirs.version)).toBe(draftFrom + 1);
    await pushed;
    const refused = await mine.set_description('my draft', draftFrom).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: 'ERR_VERSION_CONFLICT', message: `object is at version ${draftFrom + 1}, not ${draftFrom}` });
    // What the dashboard shows: both texts, the other's already in the live instance.
    expect(mine.description).toBe('their text');
    expect((await demo.server.live.get(Video, address))!.description).toBe('their text');
    // Editing again from the version now seen succeeds; without a version it is last-writer-wins as before.
    expect(await mine.set_description('my draft', mine.version)).toBe(draftFrom + 2);
    expect(await mine.set_description('no check')).toBe(draftFrom + 3);
  });
});

describe.each([
  ['SqliteStore (one transaction)', () => new SqliteStore(':memory:')],
  ['MemoryStore', () => new MemoryStore()],
  ['a store without update (conditional put and retry)', () => withoutUpdate(new MemoryStore())],
])('LiveObjects.update on %s', (_name, makeStore) => {
  const setup = () => {
    const store = makeStore();
    const fanout = new LocalFanout();
    const pushed: number[] = [];
    fanout.subscribe((u) => void pushed.push(u.version));
    return { store, live: new LiveObjects(store, fanout, new Codec()), pushed };
  };

  it('counts every one of 200 concurrent increments, and pushes each version once', async () => {
    const { store, live, pushed } = setup();
    await live.put(new Video('v', { title: '0', description: '' }));
    const results = await Promise.all(Array.from({ length: 200 }, () => live.update(Video, ['youtube_videos', 'v'], (v) => void (v.title = String(Number(v.title) + 1)))));
    const stored = (await live.get(Video, ['youtube_videos', 'v']))!;
    expect(stored.title).toBe('200');
    expect(stored.version).toBe(201);
    expect(results.every((r) => r instanceof Video)).toBe(true);
    expect(new Set(pushed).size).toBe(201);
    await store.close();
  });

  it('writes nothing when mutate returns false or throws, and answers undefined for a missing object or another class', async () => {
    const { store, live } = setup();
    await live.put(new Video('v', { title: 't', description: '' }));
    expect(await live.update(Video, ['youtube_videos', 'v'], () => false)).toBeUndefined();
    await expect(live.update(Video, ['youtube_videos', 'v'], (v) => { throw new VersionConflictError(v.version!, 0); })).rejects.toMatchObject({ code: 'ERR_VERSION_CONFLICT', current: 1 });
    expect(await live.update(Video, ['youtube_videos', 'none'], () => undefined)).toBeUndefined();
    await expect(live.update(Video, ['youtube_videos', 'v'], (v) => void (v.id = 'moved'))).rejects.toMatchObject({ code: 'ERR_PORTABLE_INVALID' });
    expect((await live.get(Video, ['youtube_videos', 'v']))!.version).toBe(1);
    await store.close();
  });

  it('put with ifVersion fails with the current version and stores nothing', async () => {
    const { store, live } = setup();
    const video = new Video('v', { title: 't', description: '' });
    expect(await live.put(video, { ifVersion: 0 })).toBe(1);
    video.title = 'stale';
    await expect(live.put(video, { ifVersion: 0 })).rejects.toMatchObject({ code: 'ERR_VERSION_CONFLICT', current: 1 });
    expect(await live.put(video, { ifVersion: 1 })).toBe(2);
    expect(video.version).toBe(2);
    await store.close();
  });
});

describe('LiveObjects.update from two servers on one store without an atomic update', () => {
  it('retries on the conflicts the other server causes and loses none of either\'s increments', async () => {
    const store = withoutUpdate(new MemoryStore());
    const reader = new LiveObjects(store, new LocalFanout(), new Codec());
    await reader.put(new Video('v', { title: '0', description: '' }));
    let conflicts = 0;
    const counting = new Proxy(store, {
      get: (target, key) => {
        const value: unknown = Reflect.get(target, key, target);
        if (key !== 'put' || typeof value !== 'function') return value;
        return (...args: unknown[]) => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args).catch((e: unknown) => {
          if (e instanceof VersionConflictError) conflicts++;
          throw e;
        });
      },
    });
    const [c, d] = [new LiveObjects(counting, new LocalFanout(), new Codec()), new LiveObjects(counting, new LocalFanout(), new Codec())];
    const bump = (live: LiveObjects) => live.update(Video, ['youtube_videos', 'v'], (v) => void (v.title = String(Number(v.title) + 1)));
    await Promise.all(Array.from({ length: 60 }, (_, i) => bump(i % 2 === 0 ? c : d)));
    expect((await reader.get(Video, ['youtube_videos', 'v']))!.title).toBe('60');
    expect(conflicts).toBeGreaterThan(0); // the two servers did race, and the retries absorbed it
  });
});
