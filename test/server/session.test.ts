import { describe, expect, it } from 'vitest';
import { Codec, CloseCode, FrameType, Keyring, CapabilityVerifier } from '../../server/index.js';
import { ServerSession, type SessionHost, type ServerTransport } from '../../server/session.js';

/** A scripted transport: records what the session sends, reports whatever unsent bytes the test says. */
class ScriptedTransport implements ServerTransport {
  sent: Uint8Array[] = [];
  closedWith: [number, string] | undefined;
  bufferedAmount = 0;
  send(bytes: Uint8Array): void {
    this.sent.push(bytes);
  }
  close(code: number, reason: string): void {
    this.closedWith = [code, reason];
  }
}

async function host(overrides: Partial<SessionHost> = {}): Promise<SessionHost> {
  const keyring = await Keyring.fromJwks([await Keyring.generateJwk()]);
  return {
    codec: new Codec(),
    verifier: new CapabilityVerifier({ keyring }),
    maxBufferedBytes: 1024,
    maxBadFrames: 2,
    maxInFlight: 1,
    maxHoldings: 2,
    call: async (_s, name, args) => ({ name, args }),
    delegate: async () => null,
    revokeFor: async () => null,
    refresh: async () => null,
    presence: async () => [],
    hold: () => {},
    release: () => {},
    issued: () => {},
    closed: () => {},
    logFailure: () => {},
    ...overrides,
  };
}

describe('a server session over a scripted transport', () => {
  it('answers a call frame with a result frame carrying the call id', async () => {
    const h = await host();
    const t = new ScriptedTransport();
    const session = new ServerSession(h, t, { id: 'u', roles: [] }, null);
    session.receive(h.codec.encode([FrameType.call, 7, 'echo', [1, 'two']]));
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    await Promise.resolve();
    expect(t.sent.map((b) => h.codec.decode(b))).toEqual([[FrameType.result, 7, { name: 'echo', args: [1, 'two'] }]]);
  });

  it('closes a slow consumer with 4001 instead of buffering past the bound', async () => {
    const h = await host();
    const t = new ScriptedTransport();
    const session = new ServerSession(h, t, null, null);
    t.bufferedAmount = 1000;
    session.sendBytes(new Uint8Array(100));
    expect(t.closedWith?.[0]).toBe(CloseCode.slowConsumer);
    expect(t.sent).toHaveLength(0);
    expect(session.closed).toBe(true);
  });

  it('refuses calls beyond the in-flight bound with ERR_RATE_LIMITED', async () => {
    let release!: () => void;
    const h = await host({ call: () => new Promise((resolve) => (release = () => resolve(null))) });
    const t = new ScriptedTransport();
    const session = new ServerSession(h, t, null, null);
    session.receive(h.codec.encode([FrameType.call, 1, 'slow', []]));
    session.receive(h.codec.encode([FrameType.call, 2, 'slow', []]));
    expect(h.codec.decode(t.sent[0]!)).toEqual([FrameType.error, 2, 'ERR_RATE_LIMITED', 'too many calls in flight']);
    release();
  });

  it('holds at most maxHoldings capabilities, releasing the oldest', async () => {
    const released: unknown[] = [];
    const h = await host({ release: (_s, scope) => released.push(scope) });
    const t = new ScriptedTransport();
    const session = new ServerSession(h, t, { id: 'u', roles: [] }, null);
    const caps = [h.verifier.mint(['a']), h.verifier.mint(['b']), h.verifier.mint(['c'])];
    session.send([FrameType.result, 1, caps]);
    expect(session.holdingCount).toBe(2);
    expect(released).toEqual([['a']]);
    expect(session.holds(caps[0]!)).toBe(false);
    expect(session.holds(caps[2]!)).toBe(true);
  });

  it('refuses frames only a server may send and closes after too many bad frames', async () => {
    const h = await host();
    const t = new ScriptedTransport();
    const session = new ServerSession(h, t, null, null);
    session.receive(h.codec.encode([FrameType.result, 1, 'forged result']));
    session.receive(Uint8Array.of(0xc1));
    session.receive(Uint8Array.of(0xc1));
    expect(t.sent.map((b) => (h.codec.decode(b) as unknown[])[2])).toEqual(['ERR_FRAME_INVALID', 'ERR_FRAME_MALFORMED', 'ERR_FRAME_MALFORMED']);
    expect(t.closedWith?.[0]).toBe(CloseCode.tooManyBadFrames);
  });
});
