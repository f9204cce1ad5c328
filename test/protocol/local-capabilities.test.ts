/**
 * The seed's semantics: server code may unwrap a Capability it has just constructed (Anvil's
 * `unwrap_capability(Capability([...]))`). capsync trusts a capability made by `new Capability(...)` in this
 * process and never sent, and nothing else that did not verify: whatever came from the wire, in whatever
 * shape, keeps failing. These tests try every way wire data could turn into such an object.
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { ANY, Capability, Codec, PortableRegistry, capabilityFromToken, unwrapCapability, type JsonValue } from '../../protocol/index.js';
import { InboundHandles, OutboundHandles } from '../../protocol/handles.js';
import { ExtensionType } from '../../protocol/wire-guard.js';
import { codeOf, ext, makeVerifier } from './helpers.js';

const plain = new Packr({ useRecords: false, encodeUndefinedAsNil: true });

/** A frame `[value]` as a hostile peer writes it, bypassing every capsync encoder. */
function frameWith(...items: Uint8Array[]): Uint8Array {
  return Uint8Array.from([0x90 + items.length, ...items.flatMap((b) => [...b])]);
}

class Video {
  id = '';
  cap?: Capability;
  grant(full: boolean): this {
    this.cap = full ? new Capability(['youtube_videos', this.id]) : new Capability(['youtube_videos', this.id, 'update']);
    return this;
  }
}

describe('a capability server code has just constructed', () => {
  it('unwraps as in the seed, before it was ever sent', () => {
    const video = Object.assign(new Video(), { id: 'dQw4w9WgXcQ' }).grant(false);
    expect(unwrapCapability(video.cap, ['youtube_videos', ANY, 'update'])).toEqual(['youtube_videos', 'dQw4w9WgXcQ', 'update']);
    const full = Object.assign(new Video(), { id: 'dQw4w9WgXcQ' }).grant(true);
    expect(unwrapCapability(full.cap, ['youtube_videos', ANY, 'update'])).toEqual(['youtube_videos', 'dQw4w9WgXcQ', null]);
  });

  it('still matches like any capability: too narrow and mismatching scopes are refused', () => {
    const cap = new Capability(['youtube_videos', 'v1', 'update']);
    expect(codeOf(() => unwrapCapability(cap, ['youtube_videos', ANY]))).toBe('ERR_CAPABILITY_TOO_NARROW');
    expect(codeOf(() => unwrapCapability(cap, ['youtube_videos', ANY, 'delete']))).toBe('ERR_CAPABILITY_MISMATCH');
  });

  it('narrows into capabilities that are local too, and expires on this process\'s clock', () => {
    const cap = new Capability(['doc']).narrow(['x']).narrow([], { audience: 'alice' });
    expect(unwrapCapability(cap, ['doc', ANY])).toEqual(['doc', 'x']);
    expect(codeOf(() => unwrapCapability(new Capability(['doc'], { expiresAt: Date.now() - 1 }), ['doc']))).toBe('ERR_CAPABILITY_EXPIRED');
    expect(codeOf(() => unwrapCapability(new Capability(['doc']).narrow([], { expiresAt: 0 }), ['doc']))).toBe('ERR_CAPABILITY_EXPIRED');
  });

  it('narrowing one leaves the constructor checking the next scope it is given', () => {
    const child = new Capability(['doc']).narrow(['x'], { expiresAt: 5 });
    expect([child.scope, child.blocks.length, child.expiresAt]).toEqual([['doc', 'x'], 2, 5]);
    expect(codeOf(() => new Capability([]))).toBe('ERR_INVALID_SCOPE');
    expect(new Capability(['other']).scope).toEqual(['other']);
  });

  it('once sent, is the signed capability the verifier knows, revocable like any other', async () => {
    const { verifier } = await makeVerifier();
    const cap = new Capability(['doc']);
    new Codec().encode([cap], { verifier });
    expect(cap.signed).toBe(true);
    await verifier.revocations.add([{ id: cap.revocationId!, expiresAt: null }]);
    expect(codeOf(() => unwrapCapability(cap, ['doc']))).toBe('ERR_CAPABILITY_REVOKED');
  });
});

describe('nothing from the wire becomes a local capability', () => {
  it('an unsigned token a client made is ERR_CAPABILITY_FORGED on the server, narrowed or not', async () => {
    const { verifier } = await makeVerifier();
    const codec = new Codec();
    const wire = codec.encode([new Capability(['youtube_videos', 'v1']), new Capability(['admin']).narrow(['all'])]);
    const received = codec.decode(wire, { verifier, user: 'alice' }) as Capability[];
    for (const cap of received) {
      expect(codeOf(() => unwrapCapability(cap, [ANY, ANY, ANY]))).toBe('ERR_CAPABILITY_FORGED');
      expect(codeOf(() => unwrapCapability(cap.narrow(['more']), [ANY, ANY, ANY, ANY]))).toBe('ERR_CAPABILITY_FORGED');
      // Sending it back does not get it signed.
      const [again] = codec.decode(codec.encode([cap.narrow([])], { verifier }), { verifier }) as [Capability];
      expect(codeOf(() => unwrapCapability(again, [ANY, ANY, ANY]))).toBe('ERR_CAPABILITY_FORGED');
    }
  });

  it('a token decoded without a verifier (client side, or by a tool) is never trusted, nor its narrowings', async () => {
    const { verifier } = await makeVerifier();
    const unsigned = new Capability(['doc']).toToken();
    const signed = verifier.mint(['doc']).toToken();
    for (const token of [unsigned, signed]) {
      const fromToken = capabilityFromToken(token);
      const [fromFrame] = new Codec().decode(frameWith(ext(ExtensionType.capability, token))) as [Capability];
      for (const cap of [fromToken, fromFrame, fromToken.narrow(['x']), fromFrame.narrow([])]) {
        expect(codeOf(() => unwrapCapability(cap, ['doc', ANY]))).toBe('ERR_CAPABILITY_NOT_VERIFIED');
      }
    }
  });

  it('a capability inside a portable object from the wire is whatever the verifier says, never local', async () => {
    const { verifier } = await makeVerifier();
    const portables = new PortableRegistry();
    portables.register(Video, { name: 'Video' });
    const codec = new Codec(undefined, { portables });
    const forged = Object.assign(new Video(), { id: 'v1' }).grant(true); // built by the client
    const bytes = codec.encode(forged);
    const onServer = codec.decode(bytes, { verifier, user: 'alice' }) as Video;
    expect(onServer).toBeInstanceOf(Video);
    expect(codeOf(() => unwrapCapability(onServer.cap, ['youtube_videos', ANY]))).toBe('ERR_CAPABILITY_FORGED');
    const onClient = codec.decode(bytes) as Video;
    expect(codeOf(() => unwrapCapability(onClient.cap, ['youtube_videos', ANY]))).toBe('ERR_CAPABILITY_NOT_VERIFIED');
  });

  it('portable fields shaped like a capability revive as data, and no portable class can be a capability', async () => {
    const portables = new PortableRegistry();
    portables.register(Video, { name: 'Video' });
    const codec = new Codec(undefined, { portables });
    const fields = { id: 'v1', cap: { scope: ['youtube_videos', 'v1'], blocks: [{ segment: ['youtube_videos', 'v1'], expiresAt: null, audience: null }] } };
    const payload = plain.pack(['Video', fields]);
    const video = codec.decode(ext(ExtensionType.portable, payload)) as Video;
    expect(codeOf(() => unwrapCapability(video.cap, ['youtube_videos', ANY]))).toBe('ERR_CAPABILITY_NOT_VERIFIED');
    expect(codeOf(() => portables.register(Capability, { name: 'Capability' }))).toBe('ERR_PORTABLE_INVALID');
    expect(codeOf(() => codec.decode(ext(ExtensionType.portable, plain.pack(['Capability', { scope: ['a'] }]))))).toBe('ERR_PORTABLE_UNKNOWN');
  });

  it('a forged token bound to a handle stays forged at every use of the handle', async () => {
    const { verifier } = await makeVerifier();
    const codec = new Codec();
    const server = { verifier, user: 'alice', inboundHandles: new InboundHandles() };
    const token = new Capability(['doc']).toToken();
    const bind = Uint8Array.from([0xc7, 4 + token.length, ExtensionType.capabilityBind, 0, 0, 0, 0, ...token]);
    const [bound] = codec.decode(frameWith(bind), server) as [Capability];
    const [again] = codec.decode(frameWith(Uint8Array.of(0xd6, ExtensionType.capabilityHandle, 0, 0, 0, 0)), server) as [Capability];
    for (const cap of [bound, again]) expect(codeOf(() => unwrapCapability(cap, ['doc']))).toBe('ERR_CAPABILITY_FORGED');
    // The client never binds an unsigned capability to a handle in the first place.
    expect(new OutboundHandles().handleFor(new Capability(['doc']))).toBeUndefined();
  });

  it('copies of a local capability are not local: a clone, a JSON round trip, an object inheriting from it', () => {
    const cap = new Capability(['doc']);
    for (const copy of [structuredClone(cap), JSON.parse(JSON.stringify(cap)), Object.create(cap), { ...cap }, Object.create(Capability.prototype)]) {
      expect(codeOf(() => unwrapCapability(copy, ['doc']))).toBe('ERR_CAPABILITY_NOT_VERIFIED');
    }
  });

  it('whatever scope and restrictions a client uses, its capability never unwraps on the server or the client', async () => {
    const { verifier } = await makeVerifier({ cacheSize: 0 });
    const codec = new Codec();
    const element: fc.Arbitrary<JsonValue> = fc.oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.boolean(), fc.constant(null));
    fc.assert(
      fc.property(
        fc.array(element, { minLength: 1, maxLength: 6 }),
        fc.array(fc.array(element, { maxLength: 2 }), { maxLength: 3 }),
        fc.option(fc.string({ maxLength: 4 }), { nil: undefined }),
        (scope, steps, audience) => {
          let cap = new Capability(scope, audience === undefined ? {} : { audience });
          for (const step of steps) cap = cap.narrow(step);
          const pattern = cap.scope.map(() => ANY);
          expect(unwrapCapability(cap, pattern)).toEqual(cap.scope); // local: trusted here
          const bytes = codec.encode([cap]);
          const [onServer] = codec.decode(bytes, { verifier, user: audience ?? null }) as [Capability];
          expect(codeOf(() => unwrapCapability(onServer, pattern))).toBe('ERR_CAPABILITY_FORGED');
          const [onClient] = codec.decode(bytes) as [Capability];
          expect(codeOf(() => unwrapCapability(onClient, pattern))).toBe('ERR_CAPABILITY_NOT_VERIFIED');
        },
      ),
    );
  });
});
