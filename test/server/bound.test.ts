/**
 * Bound by default (issue 16): every capability the server sends is bound to the session's principal (its
 * user, or an anonymous client's identity), so a capability captured from one user's traffic is useless to
 * anyone else. Hostile peers: copied tokens, replayed handle frames, stripped and re-targeted audience steps,
 * forged capabilities in every argument position.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { firstValueFrom, filter } from 'rxjs';
import { demoUsers, installVideoApp, seedIfEmpty } from '../../examples/video/app.js';
import { Video } from '../../examples/video/video.js';
import { Capability, Codec, FrameType, capabilityFromToken, type Frame } from '../../protocol/index.js';
import { chainOf } from '../../protocol/capability/chain.js';
import { encodeBlock, parseToken } from '../../protocol/capability/token.js';
import { OutboundHandles } from '../../protocol/handles.js';
import { defaultLimits } from '../../protocol/limits.js';
import type { CapsyncClient } from '../../client/client.js';
import { CapsyncServer, MemoryStore } from '../../server/index.js';
import { connectInMemory } from '../../testing/index.js';
import { SECRET, collectUntil, next, roundTrip } from '../helpers.js';

const VIDEO = 'dQw4w9WgXcQ';
let server: CapsyncServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

/** Calls of `record` that ran: the side effect a refused call must not have. */
let ran: unknown[][] = [];

async function start(): Promise<CapsyncServer> {
  ran = [];
  server = await CapsyncServer.create({ auth: { secret: SECRET, allowAnonymous: true }, store: new MemoryStore() });
  installVideoApp(server);
  await seedIfEmpty(server);
  server.callable('public_video', () => new Capability(['youtube_videos', VIDEO, 'update']));
  server.callable('record', (_ctx, ...args: unknown[]) => {
    ran.push(args);
    return ran.length;
  });
  return server;
}

const as = async (s: CapsyncServer, user: keyof typeof demoUsers): Promise<CapsyncClient> => (await connectInMemory(s, { user: demoUsers[user]! })).client;
const videoOf = async (client: CapsyncClient): Promise<Video> => (await client.call<Video[]>('get_my_videos')).find((v) => v.id === VIDEO)!;
const codeOf = (promise: Promise<unknown>): Promise<string | null> => promise.then(() => null, (e: { code: string }) => e.code);

/** Sends raw bytes and waits for the answer frame with `id` (or an error with id nil: the frame was refused whole). */
async function rawAnswer(client: CapsyncClient, id: number, bytes: Uint8Array): Promise<Frame> {
  const answer = firstValueFrom(client.frames.pipe(filter((f) => (f[0] === FrameType.result && f[1] === id) || (f[0] === FrameType.error && (f[1] === id || f[1] === null)))));
  client.sendRaw(bytes);
  return answer;
}

describe('capabilities bound to their holder by default', () => {
  it('binds what it sends to the recipient, and resends the same token (and holding) to the same user', async () => {
    const s = await start();
    const editor = await as(s, 'editor');
    const [first, again] = [await videoOf(editor), await videoOf(editor)];
    expect(first.cap.audiences).toEqual(['editor']);
    // get_my_videos mints afresh each time; a capability server code keeps is bound once per user.
    const shared = s.mint(['youtube_videos', VIDEO, 'update']);
    s.callable('shared', () => shared);
    const [a, b] = [await editor.call<Capability>('shared'), await editor.call<Capability>('shared')];
    expect(Buffer.from(a.toToken())).toEqual(Buffer.from(b.toToken()));
    expect(again.cap.revocationId).not.toBe(first.cap.revocationId);
    // Revoking the unbound parent server code holds revokes every bound child.
    await s.revoke(shared);
    expect(await codeOf(editor.call('set_video_description', a, 'x'))).toBe('ERR_CAPABILITY_REVOKED');
  });

  it("refuses a capability copied from one user's traffic on another user's connection and on an anonymous one", async () => {
    const s = await start();
    const [editor, editor2] = [await as(s, 'editor'), await as(s, 'editor2')];
    const { client: anonymous } = await connectInMemory(s);
    const video = await videoOf(editor);
    const copied = capabilityFromToken(video.cap.toToken()); // the bytes, as a log or a proxy would see them
    for (const thief of [editor2, anonymous]) {
      expect(await codeOf(thief.call('set_video_description', copied, 'stolen'))).toBe('ERR_CAPABILITY_AUDIENCE');
      expect(await codeOf(thief.call('set_video_description', copied.narrow([]), 'stolen'))).toBe('ERR_CAPABILITY_AUDIENCE');
      expect(await codeOf(thief.revoke(copied))).toBe('ERR_CAPABILITY_AUDIENCE');
    }
    expect(await codeOf(editor2.delegate(copied, { to: 'editor' }))).toBe('ERR_CAPABILITY_AUDIENCE');
    // Not cover either: the thief gets no pushes for the video.
    const pushes = collectUntil(editor2.frames, (async () => {
      await video.set_description('after the theft');
      await roundTrip(editor2);
    })());
    expect((await pushes).filter((f) => f[0] === FrameType.push)).toEqual([]);
    await expect(editor.call('set_video_description', copied, 'the owner')).resolves.toBeTypeOf('number');
  });

  it("refuses the editor's captured frame bytes (a handle binding) replayed on another connection, and a bare handle", async () => {
    const s = await start();
    const [editor, editor2] = [await as(s, 'editor'), await as(s, 'editor2')];
    const video = await videoOf(editor);
    const codec = new Codec();
    // What the editor's client sends the first time: a type 6 binding (handle 0 + token).
    const frame = codec.encode([FrameType.call, 41, 'record', [video.cap]], { outboundHandles: new OutboundHandles() });
    expect(Array.from(frame)).toContain(6);
    const replayed = await rawAnswer(editor2, 41, frame);
    expect(replayed.slice(0, 3)).toEqual([FrameType.error, 41, 'ERR_CAPABILITY_AUDIENCE']);
    // The handle alone means nothing on a connection that never bound it.
    const bare = await rawAnswer(editor2, 42, Uint8Array.from([0x94, 0x01, 42, 0xa6, ...Buffer.from('record'), 0x91, 0xd6, 0x05, 0, 0, 0, 1]));
    expect(bare.slice(0, 3)).toEqual([FrameType.error, 42, 'ERR_CAPABILITY_MALFORMED']); // refused, and answered by its id (SPEC section 5)
    expect(ran).toEqual([]);
  });

  it('fails a stripped or re-targeted audience step on verification', async () => {
    const s = await start();
    const [editor, editor2] = [await as(s, 'editor'), await as(s, 'editor2')];
    const cap = (await videoOf(editor)).cap;
    const chain = cap[chainOf]!;
    expect(chain.blockBytes).toHaveLength(2); // block 0, then the server's audience step
    const forge = (blockBytes: Uint8Array[], tag = chain.tag): Capability => {
      const copy = cap.narrow([]);
      copy[chainOf] = { kid: chain.kid, blockBytes, tag };
      return copy;
    };
    const stripped = forge(chain.blockBytes.slice(0, 1));
    const audienceStep = parseToken(cap.toToken(), defaultLimits).decoded[1]!;
    expect(audienceStep.audience).toBe('editor');
    const retargeted = forge([chain.blockBytes[0]!, encodeBlock({ ...audienceStep, audience: 'editor2' }, new Uint8Array(16))]);
    for (const [client, forged] of [[editor2, stripped], [editor2, retargeted], [editor, stripped]] as const) {
      expect(await codeOf(client.call('set_video_description', forged, 'x'))).toBe('ERR_CAPABILITY_BAD_SIGNATURE');
    }
    expect(ran).toEqual([]);
  });

  it('refuses a forged, tampered, foreign-key, revoked, expired or misdirected capability in any argument position before the function runs', async () => {
    const s = await start();
    const [editor, editor2] = [await as(s, 'editor'), await as(s, 'editor2')];
    const video = await videoOf(editor);
    const tampered = video.cap.narrow([]);
    const flipped = new Uint8Array(tampered[chainOf]!.tag);
    flipped[0]! ^= 1;
    tampered[chainOf] = { ...tampered[chainOf]!, tag: flipped, token: undefined };
    const foreignKey = video.cap.narrow([]);
    foreignKey[chainOf] = { ...foreignKey[chainOf]!, kid: 'another-server', token: undefined };
    const revoked = video.cap.narrow([]);
    await editor.revoke(revoked);
    const bad: [string, Capability][] = [
      ['ERR_CAPABILITY_FORGED', new Capability(['youtube_videos', VIDEO])],
      ['ERR_CAPABILITY_BAD_SIGNATURE', tampered],
      ['ERR_CAPABILITY_UNKNOWN_KEY', foreignKey],
      ['ERR_CAPABILITY_REVOKED', revoked],
      ['ERR_CAPABILITY_EXPIRED', video.cap.narrow([], { expiresAt: Date.now() - 1000 })],
      ['ERR_CAPABILITY_AUDIENCE', video.cap.narrow([], { audience: 'editor2' })],
    ];
    const portable = (cap: Capability): Video => Object.assign(new Video('x', { title: 't', description: 'd' }), { cap });
    const positions: ((cap: Capability) => unknown[])[] = [
      (cap) => [cap],
      (cap) => ['text', 1, cap],
      (cap) => [[1, [2, [cap]]]],
      (cap) => [{ deep: { list: ['a', cap] } }],
      (cap) => [portable(cap)],
      (cap) => [video.cap, { also: cap }], // a valid capability beside it does not help
    ];
    for (const [code, cap] of bad) {
      for (const args of positions) expect(await codeOf(editor.call('record', ...args(cap))), code).toBe(code);
    }
    expect(await codeOf(editor2.call('record', [video.cap]))).toBe('ERR_CAPABILITY_AUDIENCE');
    expect(ran).toEqual([]); // the function never ran
    await expect(editor.call('record', { fine: video.cap })).resolves.toBe(1);
  });
});

describe('anonymous clients', () => {
  it('get an identity in hello; their capabilities are bound to it and survive a reconnect', async () => {
    const s = await start();
    const memory = await connectInMemory(s, { reconnect: { baseDelayMs: 1, maxDelayMs: 2 } });
    const anonymous = memory.client;
    const cap = await anonymous.call<Capability>('public_video');
    expect(cap.audiences).toHaveLength(1);
    expect(cap.audiences[0]!.startsWith('\u0000anon:')).toBe(true);
    const { client: other } = await connectInMemory(s);
    const editor = await as(s, 'editor');
    expect(await codeOf(other.call('record', cap))).toBe('ERR_CAPABILITY_AUDIENCE');
    expect(await codeOf(editor.call('record', cap))).toBe('ERR_CAPABILITY_AUDIENCE');
    memory.link.drop();
    // The reconnect re-presents the identity: the capability works, and pushes for it resume.
    await expect(anonymous.call('record', cap)).resolves.toBe(1);
    expect(memory.links).toHaveLength(2);
    const video = await videoOf(await as(s, 'admin'));
    const pushed = next(anonymous.frames, (f) => f[0] === FrameType.push && (f[1] as unknown[])[1] === VIDEO);
    await video.set_description('pushed to the anonymous client');
    await pushed;
  });

  it('cannot claim an identity the server did not make', async () => {
    const s = await start();
    const { client: victim } = await connectInMemory(s);
    const cap = await victim.call<Capability>('public_video');
    const { client: thief } = await connectInMemory(s);
    const id = cap.audiences[0]!.slice('\u0000anon:'.length);
    const codec = new Codec();
    const body = { caps: [cap], seen: [], epoch: null, seq: 0, identity: `${id}.${'A'.repeat(43)}.${'k'}` };
    const answer = await rawAnswer(thief, 7, codec.encode([FrameType.resume, 7, body]));
    expect((answer[2] as { refused: unknown }).refused).toEqual([[0, 'ERR_CAPABILITY_AUDIENCE']]);
    expect(await codeOf(thief.call('record', cap))).toBe('ERR_CAPABILITY_AUDIENCE');
  });

  it('never lets a JWT subject name an anonymous identity', async () => {
    const s = await start();
    const token = await s.auth.issue({ id: '\u0000anon:AAAAAAAAAAAAAAAAAAAAAA', roles: [] });
    await expect(s.auth.authenticate(token)).rejects.toMatchObject({ code: 'ERR_AUTH_INVALID' });
  });
});

describe('bearer capabilities, only on request', () => {
  it('sends a capability minted with bearer: true unbound, usable by whoever holds its bytes', async () => {
    const s = await start();
    const share = s.mint(['youtube_videos', VIDEO, 'update'], { bearer: true });
    s.callable('share', () => share);
    const [editor, editor2] = [await as(s, 'editor'), await as(s, 'editor2')];
    const cap = await editor.call<Capability>('share');
    expect(cap.audiences).toEqual([]);
    await expect(editor2.call('record', capabilityFromToken(cap.toToken()))).resolves.toBe(1);
    // A holder can still bind it for one user by narrowing.
    expect(await codeOf(editor2.call('record', cap.narrow([], { audience: 'editor' })))).toBe('ERR_CAPABILITY_AUDIENCE');
  });
});

describe('delegation re-mints for the recipient', () => {
  it("stops the last recipient's calls and pushes at once, through three hops, when the first delegator's parent is revoked", async () => {
    const s = await start();
    const [admin, editor, editor2, guest] = await Promise.all((['admin', 'editor', 'editor2', 'guest'] as const).map((u) => as(s, u)));
    const adminVideo = await videoOf(admin);
    let cap = adminVideo.cap.narrow(['update']);
    for (const [from, to] of [[admin, editor], [editor, editor2], [editor2, guest]] as const) {
      const arrived = next(to.delegations);
      await from.delegate(cap, { to: to.user!.id });
      const delivered = (await arrived).cap;
      expect(delivered.audiences).toEqual([to.user!.id]);
      cap = delivered.narrow([]); // each hop narrows before delegating on
    }
    const last = cap;
    await expect(guest.call('set_video_description', last, 'three hops')).resolves.toBeTypeOf('number');
    expect(await codeOf(admin.call('set_video_description', last, 'x'))).toBe('ERR_CAPABILITY_AUDIENCE'); // refused for a third user
    const told = next(guest.revocations);
    await admin.revoke(adminVideo.cap); // the parent of what the admin delegated
    expect((await told).reason).toBe('revoked');
    expect(await codeOf(guest.call('set_video_description', last, 'x'))).toBe('ERR_CAPABILITY_REVOKED');
    const pushes = collectUntil(guest.frames, (async () => {
      await s.live.put(Object.assign((await s.live.get(Video, ['youtube_videos', VIDEO]))!, { description: 'after' }));
      await roundTrip(guest);
    })());
    expect((await pushes).filter((f) => f[0] === FrameType.push)).toEqual([]);
  });

  it('refuses a delegation whose lineage would name more ancestors than the limit (ERR_LIMIT_ANCESTORS)', async () => {
    const s = await start();
    expect(() => s.mint(['a'], { ancestors: Array.from({ length: 65 }, () => 'AAAAAAAAAAAAAAAAAAAAAA') })).toThrow(expect.objectContaining({ code: 'ERR_LIMIT_ANCESTORS' }));
    const minted = s.mint(['a'], { ancestors: ['AAAAAAAAAAAAAAAAAAAAAA'] });
    expect(s.isValid(minted)).toBe(true);
  });
});

describe('session-wide invalidation and validity, as in Anvil', () => {
  it('revokes everything one session was sent (reset_session), and isValid says so', async () => {
    const s = await start();
    let seen: Capability | undefined;
    s.callable('reset_session', async ({ session, server: api }) => api.revokeSession(session.id));
    s.callable('is_valid', ({ server: api }, cap: unknown) => {
      seen = cap as Capability;
      return api.isValid(cap);
    });
    const editor = await as(s, 'editor');
    const other = await as(s, 'editor');
    const video = await videoOf(editor);
    const kept = await videoOf(other);
    expect(await editor.call('is_valid', video.cap)).toBe(true);
    expect(await editor.call('reset_session')).toBeGreaterThan(0);
    expect(await codeOf(editor.call('is_valid', video.cap))).toBe('ERR_CAPABILITY_REVOKED');
    expect(s.isValid(seen)).toBe(false);
    await expect(other.call('is_valid', kept.cap)).resolves.toBe(true);
    expect(s.isValid({ scope: ['youtube_videos'] })).toBe(false);
  });
});
