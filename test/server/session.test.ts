import { describe, expect, it } from 'vitest';
import { Codec, CloseCode, FrameType, Keyring, CapabilityVerifier } from '../../server/index.js';
import { Deadlines } from '../../server/deadlines.js';
import { defaultConnectionLimits, systemClock } from '../../server/options.js';
import { ServerSession, type SessionEnv, type Transport } from '../../server/session.js';

/** A scripted transport: records what the session sends, reports whatever unsent bytes the test says. */
class ScriptedTransport implements Transport {
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

async function env(overrides: Partial<SessionEnv> = {}): Promise<SessionEnv> {
  const keyring = await Keyring.fromJwks([await Keyring.generateJwk()]);
  return {
    codec: new Codec(),
    verifier: new CapabilityVerifier({ keyring }),
    connection: { ...defaultConnectionLimits, maxBufferedBytes: 1024, maxBadFrames: 2, maxInFlight: 1, maxHoldings: 2 },
    deadlines: new Deadlines(systemClock),
    tokenRefreshWindowMs: 30_000,
    request: async (_s, frame) => (frame[0] === FrameType.call ? { name: frame[2], args: frame[3] } : null),
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
    const h = await env();
    const t = new ScriptedTransport();
    const session = new ServerSession(h, t, '1', { id: 'u', roles: [] }, null);
    session.receive(h.codec.encode([FrameType.call, 7, 'echo', [1, 'two']]));
    await new Promise<void>((resolve) => queueMicrotask(resolve));
    await Promise.resolve();
    expect(t.sent.map((b) => h.codec.decode(b))).toEqual([[FrameType.result, 7, { name: 'echo', args: [1, 'two'] }]]);
  });

  it('closes a slow consumer with 4001 instead of buffering past the bound', async () => {
    const h = await env();
    const t = new ScriptedTransport();
    const session = new ServerSession(h, t, '1', null, null);
    t.bufferedAmount = 1000;
    session.sendBytes(new Uint8Array(100));
    expect(t.closedWith?.[0]).toBe(CloseCode.slowConsumer);
    expect(t.sent).toHaveLength(0);
    expect(session.closed).toBe(true);
  });

  it('refuses calls beyond the in-flight bound with ERR_RATE_LIMITED', async () => {
    let release!: () => void;
    const h = await env({ request: () => new Promise((resolve) => (release = () => resolve(null))) });
    const t = new ScriptedTransport();
    const session = new ServerSession(h, t, '1', null, null);
    session.receive(h.codec.encode([FrameType.call, 1, 'slow', []]));
    session.receive(h.codec.encode([FrameType.call, 2, 'slow', []]));
    expect(h.codec.decode(t.sent[0]!)).toEqual([FrameType.error, 2, 'ERR_RATE_LIMITED', 'too many calls in flight']);
    release();
  });

  it('holds at most maxHoldings capabilities, releasing the oldest', async () => {
    const released: unknown[] = [];
    const h = await env({ release: (_s, scope) => released.push(scope) });
    const t = new ScriptedTransport();
    const session = new ServerSession(h, t, '1', { id: 'u', roles: [] }, null);
    const caps = [h.verifier.mint(['a']), h.verifier.mint(['b']), h.verifier.mint(['c'])];
    session.send([FrameType.result, 1, caps]);
    expect(session.holdingCount).toBe(2);
    expect(released).toEqual([['a']]);
    expect(session.holds(caps[0]!)).toBe(false);
    expect(session.holds(caps[2]!)).toBe(true);
  });

  it('refuses frames only a server may send and closes after too many bad frames', async () => {
    const h = await env();
    const t = new ScriptedTransport();
    const session = new ServerSession(h, t, '1', null, null);
    session.receive(h.codec.encode([FrameType.result, 1, 'forged result']));
    session.receive(Uint8Array.of(0xc1));
    session.receive(Uint8Array.of(0xc1));
    expect(t.sent.map((b) => (h.codec.decode(b) as unknown[])[2])).toEqual(['ERR_FRAME_INVALID', 'ERR_FRAME_MALFORMED', 'ERR_FRAME_MALFORMED']);
    expect(t.closedWith?.[0]).toBe(CloseCode.tooManyBadFrames);
  });

  it('counts text frames as refused frames, so a text flood is closed like any other (4003)', async () => {
    const h = await env();
    const t = new ScriptedTransport();
    const session = new ServerSession(h, t, '1', null, null);
    for (let i = 0; i < 3; i++) session.receiveText();
    expect(t.sent.map((b) => (h.codec.decode(b) as unknown[])[2])).toEqual(['ERR_FRAME_MALFORMED', 'ERR_FRAME_MALFORMED', 'ERR_FRAME_MALFORMED']);
    expect(t.closedWith?.[0]).toBe(CloseCode.tooManyBadFrames);
    expect(session.closed).toBe(true);
  });

  it('leaves no deadline behind once closed: token warning, token end and capability expiries are cancelled', async () => {
    const h = await env();
    const t = new ScriptedTransport();
    const session = new ServerSession(h, t, '1', { id: 'u', roles: [] }, Date.now() + 3_600_000);
    session.start();
    session.send([FrameType.result, 1, [h.verifier.mint(['a'], { expiresAt: Date.now() + 3_600_000 })]]);
    // One deadline for the token at a time (its warning, then its end), one for the capability's expiry.
    expect(h.deadlines.size).toBe(2);
    session.close(CloseCode.normal, 'bye');
    expect(h.deadlines.size).toBe(0);
  });

  it('warns that the token ends (tokenExpiring) at the refresh window, then closes with 4002 at its expiry, from one deadline', async () => {
    let now = 1_000_000;
    const deadlines = new Deadlines({ now: () => now });
    const h = await env({ deadlines, tokenRefreshWindowMs: 5_000 });
    const t = new ScriptedTransport();
    const session = new ServerSession(h, t, '1', { id: 'u', roles: [] }, 1_010_000);
    session.start();
    expect(deadlines.size).toBe(1);
    now = 1_004_999;
    deadlines.runDue();
    expect(t.sent).toHaveLength(1); // the hello only
    now = 1_005_000;
    deadlines.runDue();
    expect(t.sent.map((b) => h.codec.decode(b) as unknown[]).at(-1)).toEqual([FrameType.tokenExpiring, 1_010_000]);
    expect(deadlines.size).toBe(1);
    expect(session.closed).toBe(false);
    now = 1_010_000;
    deadlines.runDue();
    expect(t.closedWith?.[0]).toBe(CloseCode.sessionExpired);
    expect(session.closed).toBe(true);
    expect(session.tokenExpiresAt).toBe(1_010_000);
    expect(deadlines.size).toBe(0);
  });
});
