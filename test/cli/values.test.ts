import { describe, expect, it } from 'vitest';
import { JsonFormError, fromJsonForm, toJsonForm } from '../../cli/json-form.js';
import { differs, mismatch } from '../../cli/script/match.js';
import { encodeRawFrame } from '../../cli/script/raw-frame.js';
import { TemplateError, parseTemplate, resolveTemplates } from '../../cli/script/template.js';
import { Video } from '../../examples/video/video.js';
import { Capability, CapabilityVerifier, Codec, Keyring, capabilityFromToken } from '../../protocol/index.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** A capability as a client holds it: signed by a server, decoded without the key. */
async function received(scope: string[]): Promise<Capability> {
  const verifier = new CapabilityVerifier({ keyring: await Keyring.fromJwks([await Keyring.generateJwk()]) });
  const codec = new Codec();
  return (codec.decode(codec.encode([new Capability(scope)], { verifier })) as Capability[])[0]!;
}

describe('the JSON form of values', () => {
  it('prints a capability as its token and scope, and reads the same capability back', async () => {
    const cap = await received(['youtube_videos', 'abc', 'update']);
    const form = toJsonForm(cap) as { $capability: string; scope: unknown[] };
    expect(form).toEqual({ $capability: Buffer.from(cap.toToken()).toString('base64url'), scope: ['youtube_videos', 'abc', 'update'] });
    const back = fromJsonForm(form) as Capability;
    expect(back).toBeInstanceOf(Capability);
    expect(hex(back.toToken())).toBe(hex(cap.toToken()));
    expect(back.narrow(['x']).scope).toEqual(['youtube_videos', 'abc', 'update', 'x']); // still narrowable offline
  });

  it('shows a capability\'s expiry and audiences when its chain has them', async () => {
    const cap = (await received(['a'])).narrow([], { expiresAt: 1_900_000_000_000, audience: 'guest' });
    expect(toJsonForm(cap)).toMatchObject({ scope: ['a'], expiresAt: 1_900_000_000_000, audiences: ['guest'] });
    expect(hex((fromJsonForm(toJsonForm(cap)) as Capability).toToken())).toBe(hex(cap.toToken()));
  });

  it('prints a portable object with its class name and fields, and rebuilds an instance', async () => {
    const video = Object.assign(new Video('abc', { title: 'T', description: 'D' }), { version: 3, cap: await received(['youtube_videos', 'abc']) });
    const form = toJsonForm(video) as Record<string, unknown>;
    expect(form).toMatchObject({ $portable: 'Video', id: 'abc', title: 'T', description: 'D', version: 3, cap: { scope: ['youtube_videos', 'abc'] } });
    const back = fromJsonForm(form) as Video;
    expect(back).toBeInstanceOf(Video);
    expect(back.cap).toBeInstanceOf(Capability);
    expect(back.cap.scope).toEqual(['youtube_videos', 'abc']);
  });

  it('prints binary as hex and escapes a map that really has a marker key', () => {
    expect(toJsonForm({ data: new Uint8Array([1, 255]) })).toEqual({ data: { $bytes: '01ff' } });
    expect(toJsonForm({ $portable: 'not one' })).toEqual({ $literal: { $portable: 'not one' } });
    expect(fromJsonForm({ $literal: { $portable: 'not one' } })).toEqual({ $portable: 'not one' });
  });

  it('keeps __proto__ from input as a key, never as a prototype', () => {
    const value = fromJsonForm(JSON.parse('{"__proto__": {"admin": true}}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect((value as { admin?: boolean }).admin).toBeUndefined();
  });

  it('refuses a token that is not one, an unknown class and a scope that disagrees with the token', async () => {
    expect(() => fromJsonForm({ $capability: 'AAAA' })).toThrow(JsonFormError);
    expect(() => fromJsonForm({ $portable: 'Nope' })).toThrow(/not a registered portable class/);
    const form = { ...(toJsonForm(await received(['a', 'b'])) as object), scope: ['a'] };
    expect(() => fromJsonForm(form)).toThrow(/"scope" does not agree with the token/);
  });

  it('capabilityFromToken refuses bytes that are not a token with ERR_CAPABILITY_MALFORMED', () => {
    expect(() => capabilityFromToken(new Uint8Array([0xc1]))).toThrow(expect.objectContaining({ code: 'ERR_CAPABILITY_MALFORMED' }));
  });
});

describe('raw frames', () => {
  it('encodes values as exact msgpack bytes', () => {
    expect(hex(encodeRawFrame([9, 1]))).toBe('920901');
    expect(hex(encodeRawFrame([1, 1000, 'f', []]))).toBe('9401cd03e8a16690');
    expect(hex(encodeRawFrame({ __proto__: 1 } as unknown))).toBe('80'); // a literal __proto__ sets the prototype: no key
    expect(hex(encodeRawFrame(JSON.parse('{"__proto__": 1}')))).toBe('81a95f5f70726f746f5f5f01');
    expect(hex(encodeRawFrame([-1, -200, 1.5, null, true, 'é']))).toBe('96ffd1ff38cb3ff8000000000000c0c3a2c3a9');
    expect(hex(encodeRawFrame({ $capability: 'AA' }))).toBe('d40100');
    expect(hex(encodeRawFrame({ $bytes: '0102' }))).toBe('c4020102');
  });

  it('encodes what the codec decodes to the same value', async () => {
    const cap = await received(['youtube_videos', 'abc']);
    const frame = [1, 7, 'set_video_description', [cap, 'x'.repeat(300)], { nested: { list: [1, 2, 3] } }];
    const decoded = new Codec().decode(encodeRawFrame(frame)) as unknown[];
    expect(hex((decoded[3] as [Capability])[0].toToken())).toBe(hex(cap.toToken()));
    expect(decoded[4]).toEqual({ nested: { list: [1, 2, 3] } });
  });

  it('sends a portable form as written, even fields the class would refuse', () => {
    const bytes = encodeRawFrame(JSON.parse('{"$portable": "Video", "id": "x", "__proto__": {}}'));
    expect(() => new Codec().decode(bytes)).toThrow(expect.objectContaining({ code: 'ERR_FORBIDDEN_KEY' }));
  });
});

describe('templates', () => {
  const scope = { saved: new Map<string, unknown>([['videos', [{ id: 'abc', tags: ['a'] }]]]), env: { HOME_TEAM: 'x' }, runId: 'run-0123' };

  it('keeps the type of a whole-string reference and writes others into the text', () => {
    expect(resolveTemplates('${videos[0]}', scope)).toEqual({ id: 'abc', tags: ['a'] });
    expect(resolveTemplates('id=${videos[0].id}, n=${videos.length}, tags=${videos[0].tags}', scope)).toBe('id=abc, n=1, tags=["a"]');
    expect(resolveTemplates(['${env.HOME_TEAM}', { k: '$${literal}' }], scope)).toEqual(['x', { k: '${literal}' }]);
    expect(resolveTemplates('user-${run.id}', scope)).toBe('user-run-0123');
  });

  it('says what is missing instead of giving undefined', () => {
    expect(() => resolveTemplates('${videos[3]}', scope)).toThrow('${videos[3]}: videos has 1 item, no [3]');
    expect(() => resolveTemplates('${videos[0].title}', scope)).toThrow('${videos[0].title}: videos[0] has no field "title" (it has id, tags)');
    expect(() => resolveTemplates('${videos[0].constructor}', scope)).toThrow(TemplateError);
    expect(() => resolveTemplates('${env.NOPE}', scope)).toThrow('the environment variable NOPE is not set');
  });

  it('refuses malformed references', () => {
    expect(() => parseTemplate('${}')).toThrow(TemplateError);
    expect(() => parseTemplate('${a..b}')).toThrow(TemplateError);
    expect(() => parseTemplate('${env}')).toThrow('write ${env.NAME}');
  });
});

describe('patterns', () => {
  it('matches maps partially and lists item by item', () => {
    expect(mismatch({ a: 1 }, { a: 1, b: 2 })).toBeNull();
    expect(mismatch([{ a: 1 }], [{ a: 1, b: 2 }])).toBeNull();
    expect(mismatch([{ a: 1 }], [{ a: 1 }, { a: 2 }])).toMatchObject({ path: '$', message: expect.stringContaining('expected 1 items, got 2') });
    expect(mismatch({ a: { b: 1 } }, { a: { b: 2 } })).toEqual({ path: '$.a.b', message: 'expected 1, got 2' });
  });

  it('has operators for types, text, length, some item and absence', () => {
    expect(mismatch({ $type: 'integer' }, 3)).toBeNull();
    expect(mismatch({ $type: 'capability' }, { $capability: 'x', scope: [] })).toBeNull();
    expect(mismatch({ $regex: '^ERR_' }, 'ERR_X')).toBeNull();
    expect(mismatch({ $length: 2 }, [1, 2])).toBeNull();
    expect(mismatch({ $contains: { id: 'b' } }, [{ id: 'a' }, { id: 'b' }])).toBeNull();
    expect(mismatch({ cap: { $absent: true } }, { id: 'a' })).toBeNull();
    expect(mismatch({ cap: { $absent: true } }, { cap: 1 })).toMatchObject({ path: '$.cap' });
    expect(mismatch({ $type: 'string' }, 1)).toMatchObject({ message: 'expected string, got integer 1' });
  });

  it('equals compares whole values, maps in any key order', () => {
    expect(differs({ a: 1, b: [1] }, { b: [1], a: 1 })).toBeNull();
    expect(differs({ a: 1 }, { a: 1, b: 2 })).toEqual({ path: '$.b', message: 'not expected, got 2' });
  });
});
