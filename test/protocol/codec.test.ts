import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  ANY,
  Capability,
  Codec,
  addressOf,
  portableByName,
  registerPortable,
  unwrapCapability,
} from '../../protocol/index.js';
import { codeOf, ext, makeVerifier } from './helpers.js';

let constructed = 0;

/** The seed's portable class: an object with a capability, methods that work on either side. */
class Video {
  cap: Capability;
  constructor(
    readonly id: string,
    fullControl: boolean,
  ) {
    constructed++;
    this.cap = new Capability(fullControl ? ['youtube_videos', id] : ['youtube_videos', id, 'update']);
  }

  play(): string {
    return `playing ${this.id}`;
  }

  get title(): string {
    return `Video ${this.id}`;
  }
}
registerPortable(Video, { name: 'Video', address: (v) => ['youtube_videos', v.id] });

class Playlist {
  constructor(
    readonly name: string,
    readonly videos: Video[],
  ) {}
}
registerPortable(Playlist, { name: 'Playlist' });

const plain = new Packr({ useRecords: false });

/** Bytes of a portable object as a hostile peer could write them. */
function portableBytes(name: unknown, fields: unknown): Uint8Array {
  return ext(2, plain.pack([name, fields]));
}

describe('Codec round trips', () => {
  it('carries JSON-like values and binary unchanged', () => {
    const codec = new Codec();
    const value = [1, -1, 2 ** 40, 1.5, 'text', '', true, false, null, [], {}, { a: [1, { b: 'c' }] }, Uint8Array.of(1, 2, 3)];
    const decoded = codec.decode(codec.encode(value)) as unknown[];
    expect(decoded.slice(0, -1)).toEqual(value.slice(0, -1));
    expect(Array.from(decoded.at(-1) as Uint8Array)).toEqual([1, 2, 3]);
  });

  it('encodes undefined as nil', () => {
    const codec = new Codec();
    expect(codec.decode(codec.encode([undefined, { a: undefined }]))).toEqual([null, { a: null }]);
  });

  it('signs capabilities on the way out of the server and verifies them on the way back', async () => {
    const { verifier } = await makeVerifier();
    const codec = new Codec();
    const out = codec.encode({ result: [new Capability(['youtube_videos', 'x'])] }, { verifier });
    const onClient = codec.decode(out) as { result: [Capability] };
    expect(onClient.result[0]).toBeInstanceOf(Capability);
    expect(onClient.result[0].signed).toBe(true);
    const back = codec.decode(codec.encode(onClient), { verifier }) as { result: [Capability] };
    expect(unwrapCapability(back.result[0], ['youtube_videos', ANY])).toEqual(['youtube_videos', 'x']);
  });

  it('re-sends a capability it received exactly as it arrived', async () => {
    const { verifier } = await makeVerifier();
    const codec = new Codec();
    const token = verifier.mint(['doc']).narrow(['x']).toToken();
    const frame = Uint8Array.from([0x91, ...ext(1, token)]);
    expect(Buffer.from(codec.encode(codec.decode(frame))).equals(Buffer.from(frame))).toBe(true);
  });

  it('tells onCapability about every capability in either direction, after the whole frame', async () => {
    const { verifier } = await makeVerifier();
    const codec = new Codec();
    const seenOut: unknown[] = [];
    const caps = [verifier.mint(['a']), verifier.mint(['b'])];
    const bytes = codec.encode([caps[0], { nested: [caps[1]] }], { verifier, onCapability: (c) => seenOut.push(c.scope) });
    expect(seenOut).toEqual([['a'], ['b']]);
    const seenIn: unknown[] = [];
    codec.decode(bytes, { verifier, onCapability: (c) => seenIn.push(c.scope) });
    expect(seenIn).toEqual([['a'], ['b']]);
  });

  it('tells no hook anything about a frame it refuses', async () => {
    const { verifier } = await makeVerifier();
    const codec = new Codec();
    const good = ext(1, verifier.mint(['a']).toToken());
    const frame = Uint8Array.from([0x92, ...good, ...ext(1, Uint8Array.of(0x90))]);
    const seen: unknown[] = [];
    expect(codeOf(() => codec.decode(frame, { verifier, onCapability: (c) => seen.push(c), onPortable: (o) => seen.push(o) }))).toBe(
      'ERR_CAPABILITY_MALFORMED',
    );
    expect(seen).toEqual([]);
  });

  it('refuses to encode what msgpack cannot carry with ERR_NOT_ENCODABLE', () => {
    const codec = new Codec();
    expect(codeOf(() => codec.encode({ f: 10n ** 30n }))).toBe('ERR_NOT_ENCODABLE');
  });
});

describe('portable objects', () => {
  it('arrive as instances of their registered class, methods and getters working', () => {
    const codec = new Codec();
    const decoded = codec.decode(codec.encode(new Video('dQw4w9WgXcQ', false))) as Video;
    expect(decoded).toBeInstanceOf(Video);
    expect(decoded.play()).toBe('playing dQw4w9WgXcQ');
    expect(decoded.title).toBe('Video dQw4w9WgXcQ');
    expect(decoded.cap).toBeInstanceOf(Capability);
    expect(decoded.cap.scope).toEqual(['youtube_videos', 'dQw4w9WgXcQ', 'update']);
    expect(addressOf(decoded)).toEqual(['youtube_videos', 'dQw4w9WgXcQ']);
  });

  it('are rebuilt without running their constructor', () => {
    const codec = new Codec();
    const bytes = codec.encode(new Video('x', true));
    const before = constructed;
    codec.decode(bytes);
    expect(constructed).toBe(before);
  });

  it('carry capabilities the server signs and verifies, nested in other portable objects', async () => {
    const { verifier } = await makeVerifier();
    const codec = new Codec();
    const wire = codec.encode(new Playlist('mine', [new Video('a', true), new Video('b', false)]), { verifier });
    const onClient = codec.decode(wire) as Playlist;
    expect(onClient.videos.map((v) => v.cap.signed)).toEqual([true, true]);
    const portables: object[] = [];
    const onServer = codec.decode(codec.encode(onClient), { verifier, onPortable: (o) => portables.push(o) }) as Playlist;
    expect(onServer).toBeInstanceOf(Playlist);
    const [, id, action] = unwrapCapability(onServer.videos[1]!.cap, ['youtube_videos', ANY, 'update']);
    expect([id, action]).toEqual(['b', 'update']);
    expect(portables.map((p) => p.constructor.name)).toEqual(['Video', 'Video', 'Playlist']);
  });

  it.each([
    ['a method', 'play'],
    ['a getter', 'title'],
    ['constructor', 'constructor'],
    ['an Object.prototype method', 'toString'],
    ['hasOwnProperty', 'hasOwnProperty'],
  ])('refuse a field that shadows %s with ERR_PORTABLE_INVALID', (_, field) => {
    const codec = new Codec();
    expect(codeOf(() => codec.decode(portableBytes('Video', { id: 'x', [field]: 'pwned' })))).toBe('ERR_PORTABLE_INVALID');
  });

  it.each([
    ['an unregistered name', 'Audio'],
    ['"__proto__"', '__proto__'],
    ['"constructor"', 'constructor'],
    ['"toString"', 'toString'],
  ])('refuse %s with ERR_PORTABLE_UNKNOWN', (_, name) => {
    expect(codeOf(() => new Codec().decode(portableBytes(name, {})))).toBe('ERR_PORTABLE_UNKNOWN');
  });

  it.each([
    ['a payload that is not a pair', [['Video', {}, 1]]],
    ['a non-string name', [7, {}]],
    ['fields that are a list', ['Video', ['x']]],
    ['fields that are nil', ['Video', null]],
  ])('refuse %s with ERR_PORTABLE_INVALID', (_, payload) => {
    const bytes = payload.length === 1 ? ext(2, plain.pack(payload[0])) : portableBytes(payload[0], payload[1]);
    expect(codeOf(() => new Codec().decode(bytes))).toBe('ERR_PORTABLE_INVALID');
  });

  it('registers a name once: the same class again is a no-op, another class is refused', () => {
    registerPortable(Video, { name: 'Video' });
    expect(portableByName('Video')?.cls).toBe(Video);
    expect(codeOf(() => registerPortable(class Impostor {}, { name: 'Video' }))).toBe('ERR_PORTABLE_INVALID');
    expect(codeOf(() => registerPortable(class Nameless {}, { name: '' }))).toBe('ERR_PORTABLE_INVALID');
  });
});
