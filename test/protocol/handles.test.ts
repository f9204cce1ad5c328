import { describe, expect, it } from 'vitest';
import { Codec, FrameType, unwrapCapability } from '../../protocol/index.js';
import { InboundHandles, MAX_HANDLES, OutboundHandles } from '../../protocol/handles.js';
import { ExtensionType } from '../../protocol/wire-guard.js';
import { codeOf, makeVerifier } from './helpers.js';

async function setup() {
  const { verifier, clock } = await makeVerifier();
  const codec = new Codec();
  // What a client holds: the capability as it arrived from the server.
  const sent = verifier.mint(['youtube_videos', 'v1']);
  const held = (codec.decode(codec.encode([sent], { verifier })) as [ReturnType<typeof verifier.mint>])[0];
  const client = { outboundHandles: new OutboundHandles() };
  const server = { verifier, user: 'alice', inboundHandles: new InboundHandles() };
  return { verifier, clock, codec, held, client, server };
}

describe('capability handles', () => {
  it('send a capability whole once, then as a 4-byte handle that resolves to the same capability', async () => {
    const { codec, held, client, server } = await setup();
    const first = codec.encode([FrameType.call, 1, 'f', [held]], client);
    const second = codec.encode([FrameType.call, 2, 'f', [held]], client);
    expect(first.length - second.length).toBeGreaterThan(held.toToken().length - 8);
    expect(Buffer.from(second).includes(Buffer.from([0xd6, ExtensionType.capabilityHandle, 0, 0, 0, 0]))).toBe(true);
    const a = (codec.decode(first, server) as [number, number, string, [unknown]])[3][0];
    const b = (codec.decode(second, server) as [number, number, string, [unknown]])[3][0];
    expect(b).toBe(a);
    expect(unwrapCapability(b, ['youtube_videos', 'v1'])).toEqual(['youtube_videos', 'v1']);
  });

  it('still re-checks a bound capability at every use: revocation and expiry apply to handles', async () => {
    const { verifier, clock, codec, client, server } = await setup();
    const expiring = (codec.decode(codec.encode([verifier.mint(['doc'], { expiresAt: clock.now + 1000 })], { verifier })) as [never])[0];
    codec.decode(codec.encode([expiring], client), server);
    clock.now += 2000;
    const later = (codec.decode(codec.encode([expiring], client), server) as [unknown])[0];
    expect(codeOf(() => unwrapCapability(later, ['doc']))).toBe('ERR_CAPABILITY_EXPIRED');
  });

  it('refuses a handle that was never bound, a binding out of sequence, and handles where none are kept', async () => {
    const { codec, held, client, server } = await setup();
    const ref = Uint8Array.of(0x91, 0xd6, ExtensionType.capabilityHandle, 0, 0, 0, 7);
    expect(codeOf(() => codec.decode(ref, server))).toBe('ERR_CAPABILITY_MALFORMED');
    const token = held.toToken();
    const outOfSequence = Uint8Array.of(0x91, 0xc7, 4 + token.length, ExtensionType.capabilityBind, 0, 0, 0, 3, ...token);
    expect(codeOf(() => codec.decode(outOfSequence, server))).toBe('ERR_CAPABILITY_MALFORMED');
    expect(codeOf(() => codec.decode(codec.encode([held], client), {}))).toBe('ERR_EXTENSION_UNKNOWN');
    expect(codeOf(() => codec.decode(Uint8Array.of(0x91, 0xd5, ExtensionType.capabilityHandle, 0, 0), server))).toBe('ERR_CAPABILITY_MALFORMED');
  });

  it('sends capabilities whole once the table is full', async () => {
    const handles = new OutboundHandles();
    const { verifier, codec } = await setup();
    const caps = Array.from({ length: MAX_HANDLES + 1 }, (_, i) => (codec.decode(codec.encode([verifier.mint(['n', i])], { verifier })) as [never])[0]);
    for (const cap of caps.slice(0, MAX_HANDLES)) expect(handles.handleFor(cap)?.bind).toBe(true);
    expect(handles.handleFor(caps[MAX_HANDLES]!)).toBeUndefined();
    expect(handles.handleFor(caps[0]!)).toEqual({ handle: 0, bind: false });
  });

  it('undoes the bindings of a frame that failed to encode', async () => {
    const { codec, held, client } = await setup();
    expect(codeOf(() => codec.encode([held, () => 'not encodable', Symbol('x')], client))).toBe('ERR_NOT_ENCODABLE');
    expect(client.outboundHandles.handleFor(held)).toEqual({ handle: 0, bind: true });
  });
});
