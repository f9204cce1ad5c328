import { describe, expect, it } from 'vitest';
import { Capability, ANY, unwrapCapability, Codec, Keyring, CapabilityVerifier } from '../../protocol/index.js';

describe('smoke', () => {
  it('round trips', async () => {
    const keyring = await Keyring.fromJwks([await Keyring.generateJwk()]);
    const verifier = new CapabilityVerifier({ keyring });
    const codec = new Codec();
    const cap = new Capability(['youtube_videos', 'abc']);
    const wire = codec.encode([1, 2, 'f', [cap]], { verifier });
    const clientSide = codec.decode(wire) as any;
    const narrowed = clientSide[3][0].narrow(['update']);
    const back = codec.encode([1, 3, 'g', [narrowed]]);
    const serverSide = codec.decode(back, { verifier, user: 'u' }) as any;
    expect(unwrapCapability(serverSide[3][0], ['youtube_videos', ANY, 'update'])).toEqual(['youtube_videos', 'abc', 'update']);
    expect(() => unwrapCapability(serverSide[3][0], ['youtube_videos', ANY, 'delete'])).toThrow(expect.objectContaining({ code: 'ERR_CAPABILITY_MISMATCH' }));
    const forged = codec.decode(codec.encode([new Capability(['youtube_videos'])]), { verifier }) as any;
    expect(() => unwrapCapability(forged[0], ['youtube_videos'])).toThrow(expect.objectContaining({ code: 'ERR_CAPABILITY_FORGED' }));
  });
});
