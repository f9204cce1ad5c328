import { afterEach, describe, expect, it, vi } from 'vitest';
import { Video } from '../../examples/video/video.js';
import { Capability, FrameType, type CapsyncClient } from '../../client/index.js';
import { chainOf } from '../../protocol/capability/chain.js';
import { collectUntil, next, roundTrip, startDemo, tempDir, type DemoHarness } from '../helpers.js';

let demo: DemoHarness | undefined;
afterEach(async () => {
  await demo?.close();
  demo = undefined;
});

async function videosOf(client: CapsyncClient): Promise<Video[]> {
  return client.call<Video[]>('get_my_videos');
}

describe('the Video manager, end to end', () => {
  it('hands out full-control Videos to admins, update-only ones to editors, none to guests', async () => {
    demo = await startDemo();
    const [admin, editor, guest] = await Promise.all([demo.connectAs('admin'), demo.connectAs('editor'), demo.connectAs('guest')]);
    const adminVideos = await videosOf(admin);
    const editorVideos = await videosOf(editor);
    expect(adminVideos).toHaveLength(3);
    expect(adminVideos[0]).toBeInstanceOf(Video);
    expect(adminVideos[0]!.cap).toBeInstanceOf(Capability);
    expect(adminVideos[0]!.cap.scope).toEqual(['youtube_videos', adminVideos[0]!.id]);
    expect(editorVideos[0]!.cap.scope).toEqual(['youtube_videos', editorVideos[0]!.id, 'update']);
    expect(await videosOf(guest)).toEqual([]);
    expect(admin.user).toEqual({ id: 'admin', roles: ['admin'] });
  });

  it('pushes an editor\'s update to the admin, updating the admin\'s instance in place', async () => {
    demo = await startDemo();
    const [admin, editor] = await Promise.all([demo.connectAs('admin'), demo.connectAs('editor')]);
    const adminVideo = (await videosOf(admin)).find((v) => v.id === 'dQw4w9WgXcQ')!;
    const editorVideo = (await videosOf(editor)).find((v) => v.id === 'dQw4w9WgXcQ')!;
    const versionBefore = adminVideo.version!;
    const seen = next(admin.live(adminVideo), (v) => v.description === 'updated by the editor');
    const version = await editorVideo.set_description('updated by the editor');
    expect(version).toBe(versionBefore + 1);
    const pushed = await seen;
    expect(pushed).toBe(adminVideo);
    expect(adminVideo.description).toBe('updated by the editor');
    expect(adminVideo.version).toBe(version);
    expect(adminVideo.cap.scope).toEqual(['youtube_videos', 'dQw4w9WgXcQ']); // the recipient keeps its own capability
  });

  it('refuses an editor\'s delete with the pattern-mismatch code', async () => {
    demo = await startDemo();
    const editor = await demo.connectAs('editor');
    const [video] = await videosOf(editor);
    await expect(video!.delete()).rejects.toMatchObject({ code: 'ERR_CAPABILITY_MISMATCH' });
    expect(await demo.server.live.get(Video, ['youtube_videos', video!.id])).toBeDefined();
  });

  it('pushes an admin\'s deletion to every holder and completes their live streams', async () => {
    demo = await startDemo();
    const [admin, editor, editor2] = await Promise.all([demo.connectAs('admin'), demo.connectAs('editor'), demo.connectAs('editor2')]);
    const target = (await videosOf(admin)).find((v) => v.id === '9bZkp7q19f0')!;
    const editorVideo = (await videosOf(editor)).find((v) => v.id === '9bZkp7q19f0')!;
    await videosOf(editor2);
    const editorDone = collectUntil(editor.live(editorVideo), Promise.resolve());
    const completed = new Promise<void>((resolve) => editor.live(editorVideo).subscribe({ complete: resolve }));
    const editor2Deletion = next(editor2.changes, (c) => c.deleted && c.address[1] === '9bZkp7q19f0');
    await target.delete();
    await completed;
    expect((await editor2Deletion).state).toBeNull();
    await editorDone;
    expect((await videosOf(admin)).map((v) => v.id)).not.toContain('9bZkp7q19f0');
    await expect(editorVideo.set_description('too late')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
  });

  it('never pushes anything to a connection without a covering capability, and encodes a push once', async () => {
    demo = await startDemo();
    const [admin, editor, guest] = await Promise.all([demo.connectAs('admin'), demo.connectAs('editor'), demo.connectAs('guest')]);
    await videosOf(admin);
    const [video] = await videosOf(editor);
    await videosOf(guest);
    const encode = vi.spyOn(demo.server.live, 'encodePush');
    const guestFrames = collectUntil(guest.frames, (async () => {
      await video!.set_description('secret change');
      await roundTrip(guest);
    })());
    const adminPush = next(admin.frames, (f) => f[0] === FrameType.push);
    const frames = await guestFrames;
    expect(frames.filter((f) => f[0] === FrameType.push)).toEqual([]);
    const push = await adminPush;
    expect(JSON.stringify(push)).not.toContain('cap');
    expect(encode).toHaveBeenCalledTimes(1);
  });

  it('gives a guest typed errors for forged, tampered, stripped, expired and misdirected capabilities', async () => {
    demo = await startDemo();
    const [editor, guest] = await Promise.all([demo.connectAs('editor'), demo.connectAs('guest')]);
    const [video] = await videosOf(editor);
    const call = (cap: Capability) => guest.call('set_video_description', cap, 'hacked');

    await expect(call(new Capability(['youtube_videos', video!.id]))).rejects.toMatchObject({ code: 'ERR_CAPABILITY_FORGED' });

    const tampered = video!.cap.narrow([]);
    const chain = tampered[chainOf]!;
    const flipped = new Uint8Array(chain.tag);
    flipped[0]! ^= 1;
    tampered[chainOf] = { ...chain, tag: flipped, token: undefined };
    await expect(call(tampered)).rejects.toMatchObject({ code: 'ERR_CAPABILITY_BAD_SIGNATURE' });

    // Stripping the narrowing: keep the narrowed tag, drop the last block, so the scope is the broader one.
    const narrowed = video!.cap.narrow(['extra']);
    const full = narrowed[chainOf]!;
    const stripped = video!.cap.narrow([]);
    stripped[chainOf] = { kid: full.kid, blockBytes: full.blockBytes.slice(0, -1), tag: full.tag };
    await expect(call(stripped)).rejects.toMatchObject({ code: 'ERR_CAPABILITY_BAD_SIGNATURE' });

    // Expired in its holder's hands; in anyone else's, bound to another user comes first (a non-holder learns
    // nothing of a capability, not even that it expired).
    const expired = video!.cap.narrow([], { expiresAt: Date.now() - 1000 });
    await expect(editor.call('set_video_description', expired, 'late')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_EXPIRED' });
    await expect(call(expired)).rejects.toMatchObject({ code: 'ERR_CAPABILITY_AUDIENCE' });
    await expect(call(video!.cap.narrow([], { audience: 'editor' }))).rejects.toMatchObject({ code: 'ERR_CAPABILITY_AUDIENCE' });
    // The editor's own bound capability still works for the editor.
    await expect(editor.call('set_video_description', video!.cap.narrow([], { audience: 'editor' }), 'mine')).resolves.toBeTypeOf('number');
    // The editor's capability was bound to the editor when it was sent: in the guest's hands it is refused
    // before it is matched; in the editor's, delete is still beyond its scope.
    await expect(guest.call('delete_video', video!.cap)).rejects.toMatchObject({ code: 'ERR_CAPABILITY_AUDIENCE' });
    await expect(guest.call('set_video_description', video!.cap, 'stolen')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_AUDIENCE' });
    await expect(editor.call('delete_video', video!.cap)).rejects.toMatchObject({ code: 'ERR_CAPABILITY_MISMATCH' });
    expect((await demo.server.live.get(Video, ['youtube_videos', video!.id]))!.description).toBe('mine');
  });

  it('answers unknown names, prototype names and bad arguments with typed errors and keeps the connection', async () => {
    demo = await startDemo();
    const editor = await demo.connectAs('editor');
    const [video] = await videosOf(editor);
    for (const name of ['no_such_function', 'constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      await expect(editor.call(name)).rejects.toMatchObject({ code: 'ERR_FUNCTION_UNKNOWN' });
    }
    await expect(editor.call('set_video_description', video!.cap)).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENTS' });
    await expect(editor.call('set_video_description', 'not a capability', 'x')).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENTS' });
    await expect(editor.call('set_video_description', video!.cap, 'x'.repeat(6000))).rejects.toMatchObject({ code: 'ERR_BAD_ARGUMENTS' });
    demo.server.callable('explode', () => {
      throw new Error('internal detail /etc/passwd');
    });
    demo.server.callable('send_a_date', () => new Date());
    demo.server.callable('store_a_date', async () => demo!.server.live.put(Object.assign(video!, { description: new Date() })));
    await expect(editor.call('store_a_date')).rejects.toMatchObject({ code: 'ERR_NOT_ENCODABLE' });
    expect(typeof (await demo.server.live.get(Video, ['youtube_videos', video!.id]))!.description).toBe('string');
    await expect(editor.call('send_a_date')).rejects.toMatchObject({ code: 'ERR_FUNCTION_FAILED' });
    const failure = await editor.call('explode').catch((e: unknown) => e as { code: string; message: string; stack?: string });
    expect(failure).toMatchObject({ code: 'ERR_FUNCTION_FAILED' });
    expect(failure.message).not.toContain('passwd');
    expect(await videosOf(editor)).toHaveLength(3);
  });

  it('times out a call on the client with its own code', async () => {
    demo = await startDemo();
    let release: () => void = () => {};
    demo.server.callable('hang', () => new Promise<void>((resolve) => (release = resolve)));
    const editor = await demo.connectAs('editor', { callTimeoutMs: 50 });
    await expect(editor.call('hang')).rejects.toMatchObject({ code: 'ERR_CALL_TIMEOUT' });
    release();
  });

  it('keeps serving everyone else through a burst of malformed frames, then closes the offender', async () => {
    demo = await startDemo({ connection: { maxBadFrames: 8 } });
    const [attacker, editor] = await Promise.all([demo.connectAs('guest'), demo.connectAs('editor')]);
    const errors = collectUntil(attacker.frames, attacker.closed);
    const garbage = [
      Uint8Array.of(0xc1), Uint8Array.of(0x93, 0x01), Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff), Uint8Array.of(0xdb, 0x03, 0x00, 0x00, 0x00, 0x41),
      Uint8Array.of(0xd4, 0x65, 0x00), Uint8Array.of(0x81, 0xa9, ...new TextEncoder().encode('__proto__'), 0x01), Uint8Array.of(0x93, 0x63, 0x01, 0xa1, 0x78),
    ];
    for (let i = 0; i < 20; i++) attacker.sendRaw(garbage[i % garbage.length]!);
    const [, closed] = await Promise.all([videosOf(editor), attacker.closed]);
    expect(closed.code).toBe(4003);
    const codes = (await errors).filter((f) => f[0] === FrameType.error).map((f) => f[2]);
    expect(codes.length).toBeGreaterThanOrEqual(8);
    expect(codes).toEqual(expect.arrayContaining(['ERR_FRAME_MALFORMED', 'ERR_FRAME_TRUNCATED', 'ERR_LIMIT_STRING', 'ERR_EXTENSION_UNKNOWN', 'ERR_FORBIDDEN_KEY', 'ERR_FRAME_INVALID']));
    expect(await videosOf(editor)).toHaveLength(3);
    expect(demo.server.sessionCount).toBe(1);
  });

  it('keeps every video and every issued capability across a restart on the same data folder', async () => {
    const dir = tempDir();
    try {
      demo = await startDemo({ data: dir.path });
      const editor = await demo.connectAs('editor');
      const [video] = await videosOf(editor);
      await video!.set_description('before restart');
      const token = await demo.token('editor');
      await demo.close();
      demo = await startDemo({ data: dir.path });
      const again = await (await import('../../client/index.js')).connect(demo.url, { token: await demo.token('editor') });
      expect(token).toBeTruthy();
      // The capability issued by the first process still verifies in the second.
      await expect(again.call('set_video_description', video!.cap, 'after restart')).resolves.toBe(video!.version! + 1);
      const videos = await videosOf(again);
      expect(videos).toHaveLength(3);
      expect(videos.find((v) => v.id === video!.id)!.description).toBe('after restart');
      await again.close();
    } finally {
      await demo?.close();
      demo = undefined;
      dir.remove();
    }
  });
});

describe('a client that cannot decode an answer', () => {
  it('fails that call at once with the reason instead of timing out', async () => {
    const { WebSocketServer } = await import('ws');
    const { Packr } = await import('msgpackr');
    const { Codec, connect } = await import('../../client/index.js');
    const codec = new Codec();
    const plain = new Packr({ useRecords: false });
    // A scripted server: hello, then answers every call with a portable object of a class no one registered.
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => 'capsync.v1' });
    wss.on('connection', (ws) => {
      ws.send(codec.encode([FrameType.hello, { protocol: 1, user: null, maxFrameBytes: 1 << 20, tokenExpiresAt: null }]));
      ws.on('message', (data: Buffer) => {
        const [, id] = codec.decode(data) as [number, number];
        const payload = plain.pack(['NoSuchClass', {}]);
        ws.send(Buffer.concat([Buffer.from([0x93, FrameType.result, id, 0xc7, payload.length, 2]), payload]));
      });
    });
    await new Promise((resolve) => wss.once('listening', resolve));
    try {
      const client = await connect(`ws://127.0.0.1:${(wss.address() as { port: number }).port}`, { callTimeoutMs: 30_000 });
      await expect(client.call('anything')).rejects.toMatchObject({ code: 'ERR_PORTABLE_UNKNOWN' });
      await client.close();
    } finally {
      await new Promise((resolve) => wss.close(resolve));
    }
  });
});
