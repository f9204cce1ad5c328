/**
 * No process-wide state in the codec: msgpackr's global extension registry holds only inert dispatchers
 * that act for the capsync Codec running at that moment, and each codec has its own portable registry.
 */
import { Packr, Unpackr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  Capability,
  Codec,
  PortableRegistry,
  addressOf,
  defaultPortables,
  portableByName,
  registerPortable,
  type JsonValue,
} from '../../protocol/index.js';
import { portableOf, revive } from '../../protocol/portable.js';
import { codeOf, ext, makeVerifier } from './helpers.js';

class Note {
  constructor(
    readonly id: string,
    readonly cap?: Capability,
  ) {}
}
registerPortable(Note, { name: 'Note', address: (n) => ['notes', n.id] });

/** Two unrelated apps in one process, each with a class it calls "Thing". */
class ThingOfA {
  id = 'a';
}
class ThingOfB {
  id = 'b';
}
class OnlyInB {
  id = 'only-b';
}

function registries(): { a: PortableRegistry; b: PortableRegistry } {
  const a = new PortableRegistry();
  const b = new PortableRegistry();
  a.register(ThingOfA, { name: 'Thing', address: (t) => ['a', t.id] });
  b.register(ThingOfB, { name: 'Thing' });
  b.register(OnlyInB, { name: 'OnlyInB' });
  return { a, b };
}

const PLAIN_PACKRS = [
  ['new Packr()', () => new Packr()],
  ['a store-like Packr', () => new Packr({ useRecords: false, encodeUndefinedAsNil: true, moreTypes: false })],
] as const;

describe('a plain msgpackr encoder never writes a capsync extension', () => {
  it.each(PLAIN_PACKRS)('%s refuses a capability made by local code: ERR_NOT_ENCODABLE', (_, make) => {
    expect(codeOf(() => make().pack(new Capability(['doc'])))).toBe('ERR_NOT_ENCODABLE');
    expect(codeOf(() => make().pack({ nested: [new Capability(['doc']).narrow(['x'])] }))).toBe('ERR_NOT_ENCODABLE');
  });

  it.each(PLAIN_PACKRS)('%s refuses a signed capability: ERR_NOT_ENCODABLE', async (_, make) => {
    const { verifier } = await makeVerifier();
    expect(codeOf(() => make().pack([verifier.mint(['doc'])]))).toBe('ERR_NOT_ENCODABLE');
  });

  it.each(PLAIN_PACKRS)('%s refuses a portable instance, of the default registry or of another: ERR_NOT_ENCODABLE', (_, make) => {
    registries();
    expect(codeOf(() => make().pack(new Note('n1')))).toBe('ERR_NOT_ENCODABLE');
    expect(codeOf(() => make().pack({ thing: new ThingOfA() }))).toBe('ERR_NOT_ENCODABLE');
  });

  it('a plain Packr called while a codec is encoding does not act for that codec', () => {
    const plain = new Packr();
    let inside = 'not called';
    const note = new Note('n1');
    // An own enumerable getter runs while the codec reads the fields, in the middle of its encode.
    Object.defineProperty(note, 'sneaky', {
      enumerable: true,
      get: () => {
        inside = codeOf(() => plain.pack(new Capability(['doc'])));
        return 1;
      },
    });
    new Codec().encode(note);
    expect(inside).toBe('ERR_NOT_ENCODABLE');
  });

  it('a plain msgpackr decoder refuses capsync extensions: ERR_EXTENSION_UNKNOWN', () => {
    const codec = new Codec();
    const capability = codec.encode(new Capability(['doc']));
    const portable = codec.encode(new Note('n1'));
    for (const bytes of [capability, portable, ext(5, Uint8Array.of(0, 0, 0, 0))]) {
      expect(codeOf(() => new Unpackr().unpack(bytes))).toBe('ERR_EXTENSION_UNKNOWN');
    }
  });

  it('the codec still encodes both, and a plain Packr still encodes ordinary values after it', () => {
    const codec = new Codec();
    const [cap, note] = codec.decode(codec.encode([new Capability(['doc']), new Note('n1')])) as [Capability, Note];
    expect(cap).toBeInstanceOf(Capability);
    expect(note).toBeInstanceOf(Note);
    const plain = new Packr({ useRecords: false });
    expect(plain.unpack(plain.pack({ a: [1, 'x', new Date(0)] }))).toEqual({ a: [1, 'x', new Date(0)] });
  });
});

describe('each codec has its own portable registry', () => {
  it('two codecs with different registries do not see each other\'s classes', () => {
    const { a, b } = registries();
    const codecA = new Codec(undefined, { portables: a });
    const codecB = new Codec(undefined, { portables: b });
    // The same name revives as each codec's own class.
    expect(codecB.decode(codecA.encode(new ThingOfA()))).toBeInstanceOf(ThingOfB);
    expect(codecA.decode(codecB.encode(new ThingOfB()))).toBeInstanceOf(ThingOfA);
    // A class of another registry is never encoded (not even as a plain map), nor a name of another registry revived.
    expect(codeOf(() => codecB.encode([new ThingOfA()]))).toBe('ERR_NOT_ENCODABLE');
    expect(codeOf(() => codecA.encode(new OnlyInB()))).toBe('ERR_NOT_ENCODABLE');
    expect(codeOf(() => codecA.decode(codecB.encode(new OnlyInB())))).toBe('ERR_PORTABLE_UNKNOWN');
  });

  it('a fresh registry starts empty and is not the default one', () => {
    const fresh = new PortableRegistry();
    const codec = new Codec(undefined, { portables: fresh });
    expect(codeOf(() => codec.encode(new Note('n1')))).toBe('ERR_NOT_ENCODABLE');
    expect(codeOf(() => codec.decode(new Codec().encode(new Note('n1'))))).toBe('ERR_PORTABLE_UNKNOWN');
    fresh.register(Note, { name: 'Note' });
    expect(codec.decode(codec.encode(new Note('n1')))).toBeInstanceOf(Note);
  });

  it('codecs given no registry use the one registerPortable fills', () => {
    const { a } = registries();
    expect(portableByName('Note')?.cls).toBe(Note);
    expect(defaultPortables.byName('Thing')).toBeUndefined();
    expect(codeOf(() => new Codec().encode(new ThingOfA()))).toBe('ERR_NOT_ENCODABLE');
    expect(addressOf(new Note('n1'))).toEqual(['notes', 'n1']);
    expect(addressOf(new ThingOfA())).toBeUndefined();
    expect(addressOf(new ThingOfA(), a)).toEqual(['a', 'a']);
    expect(portableOf(new ThingOfA(), a)?.name).toBe('Thing');
    expect(revive('Thing', { id: 'x' }, a)).toBeInstanceOf(ThingOfA);
    expect(codeOf(() => revive('Thing', { id: 'x' }))).toBe('ERR_PORTABLE_UNKNOWN');
  });

  it('carries capabilities inside another registry\'s objects like any field', async () => {
    const { verifier } = await makeVerifier();
    const portables = new PortableRegistry();
    portables.register(Note, { name: 'Note' });
    const server = new Codec(undefined, { portables });
    const note = new Note('n1', verifier.mint(['notes', 'n1']));
    const onClient = new Codec(undefined, { portables }).decode(server.encode(note, { verifier })) as Note;
    expect(onClient.cap!.scope).toEqual(['notes', 'n1'] satisfies JsonValue[]);
  });

  it('refuses to make Capability or a subclass portable: an instance revived from wire fields would be a capability nobody checked', () => {
    class Sneaky extends Capability {}
    for (const registry of [new PortableRegistry(), defaultPortables]) {
      expect(codeOf(() => registry.register(Capability, { name: 'Capability' }))).toBe('ERR_PORTABLE_INVALID');
      expect(codeOf(() => registry.register(Sneaky, { name: 'Sneaky' }))).toBe('ERR_PORTABLE_INVALID');
    }
    expect(codeOf(() => registerPortable(Sneaky, { name: 'Sneaky' }))).toBe('ERR_PORTABLE_INVALID');
  });
});
