import { afterEach, describe, expect, it } from 'vitest';
import { connect, FrameType, type CapsyncClient, type Delegation } from '../../client/index.js';
import { chainOf } from '../../protocol/capability/chain.js';
import { Video } from '../../examples/video/video.js';
import { collectUntil, next, roundTrip, startDemo, tempDir, type DemoHarness } from '../helpers.js';

let demo: DemoHarness | undefined;
afterEach(async () => {
  await demo?.close();
  demo = undefined;
});

const VIDEO = 'dQw4w9WgXcQ';

async function videoOf(client: CapsyncClient, id = VIDEO): Promise<Video> {
  return (await client.call<Video[]>('get_my_videos')).find((v) => v.id === id)!;
}

function pushesFor(frames: unknown[][], id: string): unknown[][] {
  return frames.filter((f) => f[0] === FrameType.push && (f[1] as unknown[])[1] === id);
}

describe('delegation between connected clients', () => {
  it('revoking a capability narrowed only by expiry and delegated ends the delegated one, not the delegator\'s own', async () => {
    demo = await startDemo();
    const [admin, editor, guest] = await Promise.all([demo.connectAs('admin'), demo.connectAs('editor'), demo.connectAs('guest')]);
    const editorVideo = await videoOf(editor);
    const ended: unknown[] = [];
    editor.live(editorVideo).subscribe({ error: (e: unknown) => ended.push(e), complete: () => ended.push('completed') });
    // Same scope as the editor's own capability (['youtube_videos', id, 'update']), only an expiry added.
    const grant = editorVideo.cap.narrow([], { expiresAt: Date.now() + 3_600_000 });
    const incoming = next(guest.delegations);
    await editor.delegate(grant, { to: 'guest' });
    const delegation = (await incoming) as Delegation<Video>;
    const guestEnded = next(guest.revocations);
    const told = next(editor.revocations);
    await editor.revoke(grant);
    await Promise.all([guestEnded, told]);
    await expect(delegation.object!.set_description('by the guest')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
    // The editor's own copy still works and still hears changes.
    const seen = next(editor.live(editorVideo), (v) => v.description === 'by the admin after the revoke');
    await (await videoOf(admin)).set_description('by the admin after the revoke');
    expect((await seen).description).toBe('by the admin after the revoke');
    await expect(editorVideo.set_description('by the editor after the revoke')).resolves.toBeTypeOf('number');
    expect(ended).toEqual([]);
  });

  it('runs the seed scenario: delegate, update, push, revoke, refused, pushes stop', async () => {
    demo = await startDemo();
    const [admin, editor, guest] = await Promise.all([demo.connectAs('admin'), demo.connectAs('editor'), demo.connectAs('guest')]);
    const adminVideo = await videoOf(admin);
    const editorVideo = await videoOf(editor);
    expect(await guest.call('get_my_videos')).toEqual([]);

    const incoming = next(guest.delegations);
    const grant = editorVideo.cap.narrow([]);
    const receipt = await editor.delegate(grant, { to: 'guest' });
    const delegation = (await incoming) as Delegation<Video>;
    // The guest gets a capability re-minted for it: its own revocation id, bound to the guest.
    expect(receipt).toEqual({ revocationId: delegation.cap.revocationId, delivered: 1 });
    expect(receipt.revocationId).not.toBe(grant.revocationId);
    expect(delegation.cap.audiences).toEqual(['guest']);
    expect(delegation.from).toBe('editor');
    expect(delegation.object).toBeInstanceOf(Video);
    expect(delegation.object!.id).toBe(VIDEO);
    expect(delegation.cap.scope).toEqual(['youtube_videos', VIDEO, 'update']);

    const adminSees = next(admin.live(adminVideo), (v) => v.description === 'guest was here');
    await delegation.object!.set_description('guest was here');
    await adminSees;

    // The guest now holds a covering capability, so it gets the video's pushes.
    const guestPush = next(guest.live(delegation.object!), (v) => v.description === 'admin edit');
    await adminVideo.set_description('admin edit');
    await guestPush;

    const told = next(guest.revocations);
    await editor.revoke(grant);
    // The guest is told the id of the capability it holds (the re-minted delegation), and the revoked one as the cause.
    expect(await told).toEqual({ revocationId: delegation.cap.revocationId, scope: ['youtube_videos', VIDEO, 'update'], reason: 'revoked', cause: grant.revocationId });
    await expect(delegation.object!.set_description('again')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });

    const after = collectUntil(guest.frames, (async () => {
      await adminVideo.set_description('after revocation');
      await roundTrip(guest);
    })());
    expect(pushesFor(await after, VIDEO)).toEqual([]);
    // Revoking the narrowed grant never touches the editor's own capability.
    await expect(editorVideo.set_description('editor still can')).resolves.toBeTypeOf('number');
  });

  it('lets each hop only narrow: a three-hop chain, revoked in the middle', async () => {
    demo = await startDemo();
    const [admin, editor, editor2, guest] = await Promise.all(['admin', 'editor', 'editor2', 'guest'].map((u) => demo!.connectAs(u as 'admin')));
    const adminVideo = await videoOf(admin);
    const hop1 = adminVideo.cap.narrow(['update']);
    const toEditor = next(editor.delegations);
    await admin.delegate(hop1, { to: 'editor' });
    const d1 = await toEditor;
    expect(d1.cap.scope).toEqual(['youtube_videos', VIDEO, 'update']);

    const hop2 = d1.cap.narrow([], { expiresAt: Date.now() + 3_600_000 });
    const toEditor2 = next(editor2.delegations);
    await editor.delegate(hop2, { to: 'editor2' });
    const d2 = await toEditor2;

    const hop3 = d2.cap.narrow([]);
    const toGuest = next(guest.delegations);
    await editor2.delegate(hop3, { to: 'guest' });
    const d3 = (await toGuest) as Delegation<Video>;
    await expect(d3.object!.set_description('three hops')).resolves.toBeTypeOf('number');

    // A hop cannot widen: narrowing never drops the scope's tail, and a capability cannot be turned into delete rights.
    await expect(guest.call('delete_video', d3.cap)).rejects.toMatchObject({ code: 'ERR_CAPABILITY_MISMATCH' });

    await editor.revoke(hop2);
    await expect(guest.call('set_video_description', d3.cap, 'x')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
    await expect(editor2.call('set_video_description', d2.cap, 'x')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
    await expect(editor.call('set_video_description', d1.cap, 'first hop still works')).resolves.toBeTypeOf('number');
    await expect(admin.call('delete_video', adminVideo.cap)).resolves.toBeTypeOf('number');
  });

  it('refuses a recipient that strips, splices or re-signs the narrowing', async () => {
    demo = await startDemo();
    const [admin, guest] = await Promise.all([demo.connectAs('admin'), demo.connectAs('guest')]);
    const adminVideo = await videoOf(admin);
    const other = await videoOf(admin, '9bZkp7q19f0');
    const incoming = next(guest.delegations);
    await admin.delegate(adminVideo.cap.narrow(['update']), { to: 'guest' });
    const { cap } = await incoming;
    const chain = cap[chainOf]!;

    // The delegated capability is one re-minted block: strip a narrowing the guest added on top of it.
    const narrowed = cap.narrow(['extra'])[chainOf]!;
    const stripped = cap.narrow([]);
    stripped[chainOf] = { kid: chain.kid, blockBytes: narrowed.blockBytes.slice(0, 1), tag: narrowed.tag };
    await expect(guest.call('delete_video', stripped)).rejects.toMatchObject({ code: 'ERR_CAPABILITY_BAD_SIGNATURE' });

    const otherChain = other.cap[chainOf]!;
    const spliced = cap.narrow([]);
    spliced[chainOf] = { kid: chain.kid, blockBytes: [otherChain.blockBytes[0]!, ...chain.blockBytes.slice(1)], tag: chain.tag };
    await expect(guest.call('set_video_description', spliced, 'x')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_BAD_SIGNATURE' });

    const resigned = cap.narrow([]);
    resigned[chainOf] = { kid: chain.kid, blockBytes: chain.blockBytes.slice(0, 1), tag: new Uint8Array(32).fill(7) };
    await expect(guest.call('delete_video', resigned)).rejects.toMatchObject({ code: 'ERR_CAPABILITY_BAD_SIGNATURE' });

    const unknownKey = cap.narrow([]);
    unknownKey[chainOf] = { ...unknownKey[chainOf]!, kid: 'someone-elses-key', token: undefined };
    await expect(guest.call('set_video_description', unknownKey, 'x')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_UNKNOWN_KEY' });
  });

  it('binds a delegated capability to its recipient (bind: true is the default, and changes nothing)', async () => {
    demo = await startDemo();
    const [editor, guest, editor2] = await Promise.all([demo.connectAs('editor'), demo.connectAs('guest'), demo.connectAs('editor2')]);
    const video = await videoOf(editor);
    const incoming = next(guest.delegations);
    const grant = video.cap.narrow([]);
    const receipt = await editor.delegate(grant, { to: 'guest', bind: true });
    const { cap } = await incoming;
    expect(cap.audiences).toEqual(['guest']);
    expect(receipt.revocationId).not.toBe(grant.revocationId);
    await expect(guest.call('set_video_description', cap, 'bound works')).resolves.toBeTypeOf('number');
    // Passed on to anyone else, it fails with the audience code; the delegator cannot use it either.
    await expect(editor2.call('set_video_description', cap, 'stolen')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_AUDIENCE' });
    await expect(editor.call('set_video_description', cap, 'not mine')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_AUDIENCE' });
    await expect(editor2.delegate(cap, { to: 'guest' })).rejects.toMatchObject({ code: 'ERR_CAPABILITY_AUDIENCE' });
    // The guest may delegate on: editor2 gets its own re-mint, bound to editor2.
    const onward = next(editor2.delegations);
    await guest.delegate(cap, { to: 'editor2' });
    const hop = await onward;
    expect(hop.cap.audiences).toEqual(['editor2']);
    await expect(editor2.call('set_video_description', hop.cap, 'second hop')).resolves.toBeTypeOf('number');
    // Revoking what the guest's capability was re-minted from revokes both hops.
    await editor.revoke(grant);
    await expect(guest.call('set_video_description', cap, 'x')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
    await expect(editor2.call('set_video_description', hop.cap, 'x')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
  });

  it('fails to delegate to a user who is not connected, and lists who is', async () => {
    demo = await startDemo();
    const [editor] = await Promise.all([demo.connectAs('editor'), demo.connectAs('guest')]);
    const video = await videoOf(editor);
    await expect(editor.delegate(video.cap.narrow([]), { to: 'admin' })).rejects.toMatchObject({ code: 'ERR_RECIPIENT_OFFLINE' });
    expect(await editor.presence()).toEqual(['guest']);
    await demo.close();
    demo = await startDemo({ presence: 'none' });
    const [e2] = await Promise.all([demo.connectAs('editor'), demo.connectAs('guest')]);
    expect(await e2.presence()).toEqual([]);
    await expect(e2.delegate((await videoOf(e2)).cap.narrow([]), { to: 'guest' })).rejects.toMatchObject({ code: 'ERR_RECIPIENT_OFFLINE' });
  });

  it('records who delegated what to whom', async () => {
    demo = await startDemo();
    const [editor] = await Promise.all([demo.connectAs('editor'), demo.connectAs('guest')]);
    const video = await videoOf(editor);
    const { revocationId } = await editor.delegate(video.cap.narrow([]), { to: 'guest' });
    expect(await demo.server.store.delegations({ to: 'guest' })).toEqual([
      expect.objectContaining({ from: 'editor', to: 'guest', scope: ['youtube_videos', video.id, 'update'], revocationId, bound: true }),
    ]);
  });
});

describe('revocation and expiry', () => {
  it('stops pushes at the moment a delegated capability expires', async () => {
    demo = await startDemo();
    const [admin, guest] = await Promise.all([demo.connectAs('admin'), demo.connectAs('guest')]);
    const adminVideo = await videoOf(admin);
    const incoming = next(guest.delegations);
    await admin.delegate(adminVideo.cap.narrow(['update'], { expiresAt: Date.now() + 300 }), { to: 'guest' });
    const { cap } = await incoming;
    const expired = await next(guest.revocations);
    expect(expired.reason).toBe('expired');
    expect(expired.scope).toEqual(cap.scope);
    await expect(guest.call('set_video_description', cap, 'late')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_EXPIRED' });
    const after = collectUntil(guest.frames, (async () => {
      await adminVideo.set_description('after expiry');
      await roundTrip(guest);
    })());
    expect(pushesFor(await after, VIDEO)).toEqual([]);
  });

  it('lets server code revoke everything issued to one user', async () => {
    demo = await startDemo();
    const [admin, editor] = await Promise.all([demo.connectAs('admin'), demo.connectAs('editor')]);
    const editorVideo = await videoOf(editor);
    const adminVideo = await videoOf(admin);
    const told = next(editor.revocations);
    expect(await demo.server.revokeUser('editor')).toBeGreaterThanOrEqual(3);
    await told;
    await expect(editorVideo.set_description('x')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
    await expect(adminVideo.set_description('admin unaffected')).resolves.toBeTypeOf('number');
    // A fresh get_my_videos issues fresh capabilities: every minted capability has its own revocation id.
    await expect((await videoOf(editor)).set_description('fresh')).resolves.toBeTypeOf('number');
  });

  it('keeps revocations across a restart', async () => {
    const dir = tempDir();
    try {
      demo = await startDemo({ data: dir.path });
      const editor = await demo.connectAs('editor');
      const video = await videoOf(editor);
      const grant = video.cap.narrow([]);
      await editor.revoke(grant);
      await demo.close();
      demo = await startDemo({ data: dir.path });
      const again = await connect(demo.url, { token: await demo.token('editor') });
      await expect(again.call('set_video_description', grant, 'x')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
      await expect(again.call('set_video_description', video.cap, 'parent still works')).resolves.toBeTypeOf('number');
      await again.close();
    } finally {
      await demo?.close();
      demo = undefined;
      dir.remove();
    }
  });

  it('only lets holders revoke: a forged capability cannot revoke anything', async () => {
    demo = await startDemo();
    const [editor, guest] = await Promise.all([demo.connectAs('editor'), demo.connectAs('guest')]);
    const video = await videoOf(editor);
    const { Capability } = await import('../../client/index.js');
    await expect(guest.revoke(new Capability(['youtube_videos', video.id, 'update']))).rejects.toMatchObject({ code: 'ERR_CAPABILITY_FORGED' });
    await expect(video.set_description('still fine')).resolves.toBeTypeOf('number');
  });
});

describe('session tokens that expire', () => {
  it('asks for a fresh token, accepts it, and ends the session when none comes', async () => {
    demo = await startDemo({ tokenRefreshWindowMs: 1900 });
    const short = await demo.server.auth.issue({ id: 'editor', roles: ['editor'] }, 2);
    const client = await connect(demo.url, { token: short });
    // The hello says when the token expires. The notice can arrive in the same read as the hello, before
    // anyone could subscribe: tokenExpiring replays it, so this cannot miss it.
    const expiresAt = client.tokenExpiresAt;
    expect(expiresAt).toBeGreaterThan(Date.now());
    expect(await next(client.tokenExpiring)).toBe(expiresAt);
    await expect(client.refresh(await demo.server.auth.issue({ id: 'guest', roles: [] }))).rejects.toMatchObject({ code: 'ERR_AUTH_INVALID' });
    expect(client.tokenExpiresAt).toBe(expiresAt);
    const refreshed = await client.refresh(await demo.server.auth.issue({ id: 'editor', roles: ['editor'] }, 3600));
    expect(refreshed.expiresAt).toBeGreaterThan(Date.now() + 3_000_000);
    expect(client.tokenExpiresAt).toBe(refreshed.expiresAt);
    await client.close();

    const lapsing = await connect(demo.url, { token: await demo.server.auth.issue({ id: 'editor', roles: ['editor'] }, 1) });
    expect((await lapsing.closed).code).toBe(4002);
  });
});
