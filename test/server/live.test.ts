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
});
