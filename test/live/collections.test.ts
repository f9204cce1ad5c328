import { afterEach, describe, expect, it } from 'vitest';
import { Video } from '../../examples/video/video.js';
import { Capability, FrameType, capabilityFromToken } from '../../client/index.js';
import { connectInMemory } from '../../testing/index.js';
import { fail } from '../../protocol/errors.js';
import { MemoryStore } from '../../server/index.js';
import { memoryDemos } from '../helpers.js';
import { next, roundTrip, startDemo, type DemoHarness } from '../helpers.js';

let demo: DemoHarness | undefined;
afterEach(async () => {
  await demo?.close();
  demo = undefined;
});

const ids = (videos: Video[]): string[] => videos.map((v) => v.id).sort();
const seedIds = ['9bZkp7q19f0', 'dQw4w9WgXcQ', 'kJQP7kiw5Fk'];


describe('live collections over real sockets', () => {
  it('lists every video, then adds and removes them live as another client creates and deletes them', async () => {
    demo = await startDemo();
    const [admin, other] = await Promise.all([demo.connectAs('admin'), demo.connectAs('admin')]);
    const cap = await admin.call<Capability>('get_video_collection');
    const stream = admin.collection(cap, { type: Video });
    const first = await next(stream);
    expect(ids(first)).toEqual(seedIds);
    // Each arrives with the prefix capability narrowed to it, so its methods work.
    for (const v of first) expect(v.cap.scope).toEqual(['youtube_videos', v.id]);
    const added = next(stream, (l) => l.length === 4);
    const created = await other.call<Video>('add_video', 'New one', 'fresh');
    const withNew = await added;
    const mine = withNew.find((v) => v.id === created.id)!;
    expect(mine).toBeInstanceOf(Video);
    expect(mine.title).toBe('New one');
    const from = mine.version!;
    expect(await mine.set_description('edited through the collection', from)).toBe(from + 1);
    const removed = next(stream, (l) => l.length === 3);
    await created.delete();
    expect(ids(await removed)).toEqual(seedIds);
  });

  it('re-emits the list when a member changes, with the same instances as live() and earlier calls', async () => {
    demo = await startDemo();
    const [admin, editor] = await Promise.all([demo.connectAs('admin'), demo.connectAs('editor')]);
    const held = (await admin.call<Video[]>('get_my_videos')).find((v) => v.id === 'dQw4w9WgXcQ')!;
    const cap = await admin.call<Capability>('get_video_collection');
    const stream = admin.collection(cap, { type: Video });
    const first = await next(stream);
    expect(first.find((v) => v.id === held.id)).toBe(held);
    const changed = next(stream, (l) => l.some((v) => v.description === 'from the editor'));
    const editorVideo = (await editor.call<Video[]>('get_my_videos')).find((v) => v.id === held.id)!;
    await editorVideo.set_description('from the editor');
    const list = await changed;
    expect(list.find((v) => v.id === held.id)).toBe(held);
    expect(held.description).toBe('from the editor');
    const viaLive = await next(admin.live(held));
    expect(viaLive).toBe(held);
  });

  it('refuses a collection past the server\'s bound with ERR_COLLECTION_TOO_LARGE', async () => {
    demo = await startDemo({ collections: { maxObjects: 2 } });
    const admin = await demo.connectAs('admin');
    const cap = await admin.call<Capability>('get_video_collection');
    await expect(next(admin.collection(cap, { type: Video }))).rejects.toMatchObject({ code: 'ERR_COLLECTION_TOO_LARGE' });
  });

  it('bounds the watches of one connection with ERR_TOO_MANY_WATCHES, and frees one on unsubscribe', async () => {
    demo = await startDemo({ collections: { maxWatches: 1 } });
    const admin = await demo.connectAs('admin');
    const cap = await admin.call<Capability>('get_video_collection');
    const first = admin.collection(cap, { type: Video }).subscribe();
    await next(admin.collection(cap, { type: Video })); // the same watch, shared
    await expect(next(admin.collection(cap.narrow(['dQw4w9WgXcQ'])))).rejects.toMatchObject({ code: 'ERR_TOO_MANY_WATCHES' });
    first.unsubscribe();
    await roundTrip(admin);
    expect(await next(admin.collection(cap.narrow(['dQw4w9WgXcQ'])))).toHaveLength(1);
  });

  it('lets a server hook leave objects out and attach narrower capabilities', async () => {
    demo = await startDemo({
      collections: {
        reveal: ({ object, cap }) => ((object as Video).title.startsWith('G') ? null : cap.narrow(['update'])),
      },
    });
    const admin = await demo.connectAs('admin');
    const cap = await admin.call<Capability>('get_video_collection');
    const list = await next(admin.collection(cap, { type: Video }));
    expect(ids(list)).toEqual(['dQw4w9WgXcQ', 'kJQP7kiw5Fk']);
    for (const v of list) expect(v.cap.scope).toEqual(['youtube_videos', v.id, 'update']);
    await expect(list[0]!.delete()).rejects.toMatchObject({ code: 'ERR_CAPABILITY_MISMATCH' });
  });
});

describe('live collections, hostile', () => {
  it('ends a collection as soon as its capability is revoked, and tells nothing after', async () => {
    demo = await startDemo();
    const [admin, other] = await Promise.all([demo.connectAs('admin'), demo.connectAs('admin')]);
    const cap = await admin.call<Capability>('get_video_collection');
    const stream = admin.collection(cap, { type: Video });
    await next(stream);
    const ended = next(stream).then(() => 'emitted', (e: unknown) => e);
    await admin.revoke(cap);
    expect(await ended).toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
    const frames: unknown[][] = [];
    admin.frames.subscribe((f) => frames.push(f as unknown[]));
    const created = await other.call<Video>('add_video', 'After the revocation', '');
    await roundTrip(admin);
    expect(frames.filter((f) => JSON.stringify(f).includes(created.id))).toEqual([]);
  });

  it('tells a client without a covering capability nothing: same refusal whether objects exist, no entry, no push', async () => {
    demo = await startDemo();
    const [admin, editor] = await Promise.all([demo.connectAs('admin'), demo.connectAs('editor')]);
    const adminCap = await admin.call<Capability>('get_video_collection');
    // A capability made on the client is no capability; a copied one is bound to the admin.
    const forgedFull = new Capability(['youtube_videos']);
    const forgedEmpty = new Capability(['no_such_collection']);
    const refusals = await Promise.all([forgedFull, forgedEmpty].map((c) => next(editor.collection(c)).catch((e: unknown) => e)));
    expect(refusals.map((e) => [(e as { code: string }).code, (e as Error).message])).toEqual([
      ['ERR_CAPABILITY_FORGED', 'capabilities can only be created in server code'],
      ['ERR_CAPABILITY_FORGED', 'capabilities can only be created in server code'],
    ]);
    // The admin's real capability, copied to the editor: bound to the admin, so refused with the audience code.
    const copied = capabilityFromToken(adminCap.toToken());
    await expect(next(editor.collection(copied))).rejects.toMatchObject({ code: 'ERR_CAPABILITY_AUDIENCE' });
    // The editor's own narrow capability covers one video's update right: nothing under it but the video itself.
    const editorVideo = (await editor.call<Video[]>('get_my_videos'))[0]!;
    const narrow = await next(editor.collection(editorVideo.cap));
    expect(narrow).toEqual([]);
    const frames: unknown[][] = [];
    editor.frames.subscribe((f) => frames.push(f as unknown[]));
    const created = await admin.call<Video>('add_video', 'Secret', 'not for editors');
    await created.set_description('still secret');
    await created.delete();
    await roundTrip(editor);
    const leaked = frames.filter((f) => JSON.stringify(f).includes(created.id) || f[0] === FrameType.snapshot || f[0] === FrameType.collectionChange);
    expect(leaked).toEqual([]);
    expect(adminCap.scope).toEqual(['youtube_videos']);
  });
});

describe('live collections across a reconnect', () => {
  const demos = memoryDemos();

  it('re-watches after the resume: objects created and deleted while away come and go', async () => {
    const server = await demos.start();
    const admin = await connectInMemory(server, { user: { id: 'admin', roles: ['admin'] } });
    const other = await connectInMemory(server, { user: { id: 'admin', roles: ['admin'] } });
    const cap = await admin.client.call<Capability>('get_video_collection');
    const stream = admin.client.collection(cap, { type: Video });
    const snapshots: unknown[] = [];
    admin.client.frames.subscribe((f) => f[0] === FrameType.snapshot && snapshots.push(f));
    const before = await next(stream);
    expect(ids(before)).toEqual(seedIds);
    const doomed = (await other.client.call<Video[]>('get_my_videos')).find((v) => v.id === 'kJQP7kiw5Fk')!;
    const caughtUp = next(stream, (l) => l.length === 3 && !l.some((v) => v.id === doomed.id));
    admin.link.drop();
    // While the admin is away (its reconnect waits for a timer): one video created, one deleted.
    const created = await other.client.call<Video>('add_video', 'Made while away', '');
    await doomed.delete();
    const after = await caughtUp;
    expect(ids(after)).toEqual([...seedIds.filter((id) => id !== doomed.id), created.id].sort());
    expect(admin.links.length).toBe(2);
    expect(snapshots).toHaveLength(2); // watched again on the new connection
    // The same instances as before the drop, for the videos that stayed.
    for (const v of after) if (v.id !== created.id) expect(before).toContain(v);
    await other.client.close();
    await admin.client.close();
  });
});

describe('a live collection on a node whose revocation feed is behind', () => {
  it('holds the changes until the feed is current, then delivers them: the watch does not end with ERR_REVOCATION_FEED_STALE', async () => {
    const store = new MemoryStore();
    const set = store.revocations;
    // A feed that can fall behind, as the Redis one does: stale, `has` refuses; `current` resolves once caught up.
    let stale = false;
    const caughtUp: (() => void)[] = [];
    let waited!: () => void;
    const waiting = new Promise<void>((resolve) => (waited = resolve));
    const has = set.has.bind(set);
    const size = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(set), 'size')!.get!.bind(set);
    Object.defineProperty(set, 'size', { get: () => (stale ? Math.max(1, size()) : size()) });
    set.has = (id: string) => {
      if (stale) throw fail('ERR_REVOCATION_FEED_STALE');
      return has(id);
    };
    set.current = (limitMs: number) => new Promise<boolean>((resolve) => {
      if (!stale) return resolve(true);
      const timer = setTimeout(() => resolve(!stale), limitMs);
      caughtUp.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
      waited();
    });
    demo = await startDemo({ store });
    const [admin, other] = await Promise.all([demo.connectAs('admin'), demo.connectAs('admin')]);
    const cap = await admin.call<Capability>('get_video_collection');
    const stream = admin.collection(cap, { type: Video });
    // Subscribed throughout (a resubscription would watch again, refused while stale); an end would fail `added`.
    const kept = stream.subscribe({ error: () => undefined });
    expect(ids(await next(stream))).toEqual(seedIds);
    stale = true;
    let delivered = false;
    const added = next(stream, (l) => l.some((v) => v.title === 'While stale')).then((l) => ((delivered = true), l));
    // A write that needs no capability (role-checked): its change reaches the watch while the feed is behind.
    const created = await other.call<Video>('add_video', 'While stale', 'held');
    // The change waits for the feed (an ended watch rejects `added` with its code at once).
    await Promise.race([waiting, added]);
    expect(delivered).toBe(false);
    stale = false;
    for (const resume of caughtUp) resume();
    expect((await added).map((v) => v.id)).toContain(created.id);
    kept.unsubscribe();
  });
});
