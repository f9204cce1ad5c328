import { afterEach, describe, expect, it } from 'vitest';
import { Capability } from '../../protocol/capability/capability.js';
import { Codec } from '../../protocol/codec.js';
import type { CapsyncError } from '../../protocol/errors.js';
import { FrameType } from '../../protocol/frames.js';
import { registerPortable } from '../../protocol/portable.js';
import { LocalFanout, type ObjectUpdate } from '../../server/fanout.js';
import { LiveObjects } from '../../server/live.js';
import { MemoryStore } from '../../server/store/memory.js';
import { SqliteStore } from '../../server/store/sqlite.js';
import type { ObjectStore } from '../../server/store/types.js';

/** A portable value class with no address of its own: it lives inside a live object's state. */
class Thumbnail {
  constructor(
    public url: string,
    public size: { w: number; h: number },
  ) {}
  area(): number {
    return this.size.w * this.size.h;
  }
}
registerPortable(Thumbnail, { name: 'LiveTest.Thumbnail' });

class Clip {
  version?: number;
  declare cap: Capability;
  constructor(
    public id: string,
    public title: string,
    public thumbnails: Thumbnail[],
    public cover: Thumbnail,
  ) {}
}
registerPortable(Clip, { name: 'LiveTest.Clip', address: (c) => ['clips', c.id] });

const clip = () => new Clip('c1', 'Launch', [new Thumbnail('s.png', { w: 16, h: 9 }), new Thumbnail('l.png', { w: 1920, h: 1080 })], new Thumbnail('c.png', { w: 4, h: 3 }));

/** The class and own fields of a value, all the way down: what "round-trips exactly" means here. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape);
  if (value === null || typeof value !== 'object') return value;
  const fields = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shape(v)]));
  return { class: value.constructor?.name ?? null, fields };
}

const codeOf = async (promise: Promise<unknown>) => ((await promise.then(() => undefined, (e: unknown) => e)) as CapsyncError | undefined)?.code;

const stores: ObjectStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

describe.each([
  ['MemoryStore', () => new MemoryStore()],
  ['SqliteStore', () => new SqliteStore(':memory:')],
] as const)('live objects over a %s', (_, makeStore) => {
  const setup = () => {
    const store = makeStore();
    stores.push(store);
    const fanout = new LocalFanout();
    const codec = new Codec();
    const pushed: ObjectUpdate[] = [];
    fanout.subscribe((u) => pushed.push(u));
    return { store, codec, pushed, live: new LiveObjects(store, fanout, codec) };
  };

  it('round-trips a state nesting other portable objects through put and get exactly, and pushes it', async () => {
    const { live, codec, pushed } = setup();
    const original = clip();
    expect(await live.put(original)).toBe(1);
    const back = await live.get(Clip, ['clips', 'c1']);
    expect(back).toBeInstanceOf(Clip);
    expect(back!.cover).toBeInstanceOf(Thumbnail);
    expect(back!.thumbnails[1]!.area()).toBe(1920 * 1080);
    expect(shape(back)).toEqual(shape(original));

    expect(pushed).toHaveLength(1);
    const push = codec.decode(live.encodePush(pushed[0]!)) as [number, unknown, string, number, Record<string, unknown>];
    expect(push.slice(0, 4)).toEqual([FrameType.push, ['clips', 'c1'], 'LiveTest.Clip', 1]);
    expect(push[4]['cover']).toBeInstanceOf(Thumbnail);
    expect(shape(push[4])).toEqual(shape({ ...original }));
  });

  it('rebuilds nested portable objects in list and grantedBy too', async () => {
    const { live } = setup();
    await live.put(clip());
    const [listed] = await live.list(Clip);
    expect(listed!.thumbnails.map((t) => t instanceof Thumbnail)).toEqual([true, true]);
    const cap = new Capability(['clips', 'c1', 'update']);
    const granted = (await live.grantedBy(cap)) as Clip;
    expect(granted.cover).toBeInstanceOf(Thumbnail);
    expect(granted.cap).toBe(cap);
    expect(granted.version).toBe(1);
  });

  it('stores the state as the codec encodes it', async () => {
    const { live, store, codec } = setup();
    await live.put(clip());
    const stored = await store.get(['clips', 'c1']);
    expect(shape(codec.decode(stored!.state))).toEqual(shape({ ...clip() }));
  });

  it('refuses a state holding a capability with ERR_NOT_ENCODABLE, before storing or pushing it', async () => {
    const { live, store, pushed } = setup();
    const bad = clip();
    (bad.cover as unknown as { extra: unknown }).extra = [new Capability(['clips', 'c1'])];
    expect(await codeOf(live.put(bad))).toBe('ERR_NOT_ENCODABLE');
    expect(await store.get(['clips', 'c1'])).toBeUndefined();
    expect(pushed).toEqual([]);
  });

  it('refuses stored bytes that hold a capability (ERR_NOT_ENCODABLE) or are not a map (ERR_PORTABLE_INVALID)', async () => {
    const { live, store, codec } = setup();
    await store.put(['clips', 'cap'], 'LiveTest.Clip', codec.encode({ id: 'cap', leak: new Capability(['clips']) }));
    await store.put(['clips', 'list'], 'LiveTest.Clip', codec.encode(['not', 'a', 'map']));
    await store.put(['clips', 'obj'], 'LiveTest.Clip', codec.encode(new Thumbnail('x', { w: 1, h: 1 })));
    await store.put(['clips', 'junk'], 'LiveTest.Clip', Uint8Array.of(0xc1));
    expect(await codeOf(live.get(Clip, ['clips', 'cap']))).toBe('ERR_NOT_ENCODABLE');
    expect(await codeOf(live.get(Clip, ['clips', 'list']))).toBe('ERR_PORTABLE_INVALID');
    expect(await codeOf(live.get(Clip, ['clips', 'obj']))).toBe('ERR_PORTABLE_INVALID');
    expect(await codeOf(live.get(Clip, ['clips', 'junk']))).toBe('ERR_FRAME_MALFORMED');
  });

  it('carries the store seq in every update it pushes, deletions included, and returns versions as before', async () => {
    const { live, pushed } = setup();
    const c = clip();
    expect(await live.put(c)).toBe(1);
    expect(await live.put(new Clip('c2', 'Other', [], new Thumbnail('o.png', { w: 1, h: 1 })))).toBe(1);
    expect(await live.put(c)).toBe(2);
    expect(await live.delete(c)).toBe(3);
    expect(await live.delete(c)).toBeUndefined();
    expect(pushed.map((u) => [u.address, u.version, u.seq, u.state === null])).toEqual([
      [['clips', 'c1'], 1, 1, false],
      [['clips', 'c2'], 1, 2, false],
      [['clips', 'c1'], 2, 3, false],
      [['clips', 'c1'], 3, 4, true],
    ]);
    expect(await live.seq()).toBe(4);
  });

  it('answers changesSince with the pushes a client missed, decoded, each object once with its latest state', async () => {
    const { live, pushed, codec } = setup();
    const c = clip();
    await live.put(c);
    const other = new Clip('c2', 'Other', [], new Thumbnail('o.png', { w: 1, h: 1 }));
    await live.put(other);
    c.title = 'Renamed';
    await live.put(c);
    await live.delete(other);
    const { changes, read, last } = await live.changesSince(1, 100);
    expect([read, last]).toEqual([2, 4]);
    expect(changes.map((u) => [u.address, u.type, u.version, u.seq])).toEqual([
      [['clips', 'c1'], 'LiveTest.Clip', 2, 3],
      [['clips', 'c2'], 'LiveTest.Clip', 2, 4],
    ]);
    expect(changes[0]!.state!['cover']).toBeInstanceOf(Thumbnail);
    expect(changes[1]!.state).toBeNull();
    // Encoded, a change is byte for byte the push the client would have had live.
    const decode = (update: ObjectUpdate) => shape(codec.decode(live.encodePush(update)));
    expect(changes.map(decode)).toEqual([decode(pushed[2]!), decode(pushed[3]!)]);
    expect((await live.changesSince(0, 1)).changes.map((u) => u.seq)).toEqual([3]);
    expect((await live.changesSince(4, 100)).changes).toEqual([]);
    // Filtered before decoding: an unwanted change is read (and counted) but never decoded or returned.
    const only = await live.changesSince(0, 100, (address) => address[1] === 'c2');
    expect([only.read, only.changes.map((u) => u.address)]).toEqual([2, [['clips', 'c2']]]);
  });

  it('lists the objects under a prefix decoded, with type, version and seq', async () => {
    const { live, store, codec } = setup();
    await live.put(clip());
    await store.put(['elsewhere'], 'LiveTest.Clip', codec.encode({ id: 'x' }));
    const [found, ...rest] = await live.under(['clips'], 10);
    expect(rest).toEqual([]);
    expect(found).toMatchObject({ address: ['clips', 'c1'], type: 'LiveTest.Clip', version: 1, seq: 1 });
    expect(found!.state['version']).toBe(1);
    expect((found!.state['thumbnails'] as Thumbnail[])[1]!.area()).toBe(1920 * 1080);
    expect(await live.under(['clips', 'c1', 'update'], 10)).toEqual([]);
  });

  it('decodes changes as get does: damaged stored bytes give a typed error', async () => {
    const { live, store, codec } = setup();
    await store.put(['clips', 'list'], 'LiveTest.Clip', codec.encode(['not', 'a', 'map']));
    expect(await codeOf(live.changesSince(0, 10))).toBe('ERR_PORTABLE_INVALID');
    expect((await live.changesSince(0, 10, () => false)).read).toBe(1);
    expect(await codeOf(live.under(['clips'], 10))).toBe('ERR_PORTABLE_INVALID');
  });

  it('passes the epoch, seq and horizon of its store on', async () => {
    const { live, store } = setup();
    await store.put(['clips', 'gone'], 'LiveTest.Clip', Uint8Array.of(0x80));
    await store.delete(['clips', 'gone']);
    await store.pruneTombstones(Number.MAX_SAFE_INTEGER);
    expect(await live.epoch()).toBe(await store.epoch());
    expect(await live.seq()).toBe(2);
    expect(await live.horizon()).toBe(2);
  });
});
