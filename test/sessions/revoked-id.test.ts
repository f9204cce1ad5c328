/**
 * Which revocation id a `revoked` frame carries (SPEC section 7, revoked): always the holding's own, the
 * id of the capability the client holds, so the client knows exactly which of its capabilities ended;
 * the revoked id that caused it travels beside it as `cause` when it is another one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { CapsyncClient, Revocation } from '../../client/index.js';
import { FrameType } from '../../protocol/frames.js';
import { next, startDemo, type DemoHarness } from '../helpers.js';
import type { Video } from '../../examples/video/video.js';

let demo: DemoHarness | undefined;
afterEach(async () => {
  await demo?.close();
  demo = undefined;
});

async function videoOf(client: CapsyncClient): Promise<Video> {
  const [video] = await client.call<Video[]>('get_my_videos');
  return video!;
}

/** The next `revoked` frame on `client`'s socket, as it came off the wire. */
function nextRevokedFrame(client: CapsyncClient): Promise<unknown[]> {
  return next(client.frames, (f) => f[0] === FrameType.revoked) as Promise<unknown[]>;
}

describe('the revocation id of a revoked frame', () => {
  it('names the capability the client holds when that one is revoked, with no cause', async () => {
    demo = await startDemo();
    const editor = await demo.connectAs('editor');
    const video = await videoOf(editor);
    const frame = nextRevokedFrame(editor);
    const told = next(editor.revocations);
    await editor.revoke(video.cap);
    expect(await frame).toEqual([FrameType.revoked, video.cap.revocationId, video.cap.scope, 'revoked']);
    expect(await told).toEqual({ revocationId: video.cap.revocationId, scope: video.cap.scope, reason: 'revoked' });
  });

  it('names the recipient’s own delegated capability, and the revoked ancestor as the cause, when the sender revokes what it delegated from', async () => {
    demo = await startDemo();
    const [editor, guest] = await Promise.all([demo.connectAs('editor'), demo.connectAs('guest')]);
    const video = await videoOf(editor);
    const arrived = next(guest.delegations);
    const shared = video.cap.narrow([], { expiresAt: Date.now() + 60_000 });
    await editor.delegate(shared, { to: 'guest' });
    const delegation = await arrived;
    // Delegation re-mints: the guest's capability has its own id, not the one the editor revoked.
    expect(delegation.cap.revocationId).not.toBe(shared.revocationId);
    const told = next(guest.revocations);
    await editor.revoke(shared);
    const revocation: Revocation = await told;
    expect(revocation).toEqual({ revocationId: delegation.cap.revocationId, scope: delegation.cap.scope, reason: 'revoked', cause: shared.revocationId });
    await expect(guest.call('set_video_description', delegation.cap, 'after')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
  });

  it('names each connection’s own capability when an ancestor two steps up is revoked', async () => {
    demo = await startDemo();
    const [admin, editor, guest] = await Promise.all([demo.connectAs('admin'), demo.connectAs('editor'), demo.connectAs('guest')]);
    const adminVideo = await videoOf(admin);
    const toEditor = next(editor.delegations);
    await admin.delegate(adminVideo.cap.narrow([]), { to: 'editor' });
    const editorCap = (await toEditor).cap;
    const toGuest = next(guest.delegations);
    await editor.delegate(editorCap.narrow([]), { to: 'guest' });
    const guestCap = (await toGuest).cap;
    const [toldEditor, toldGuest] = [next(editor.revocations), next(guest.revocations)];
    await admin.revoke(adminVideo.cap);
    expect(await toldEditor).toMatchObject({ revocationId: editorCap.revocationId, cause: adminVideo.cap.revocationId });
    expect(await toldGuest).toMatchObject({ revocationId: guestCap.revocationId, cause: adminVideo.cap.revocationId });
  });

  it('names the holding’s own id on expiry and on revokeUser, with no cause', async () => {
    demo = await startDemo();
    const [admin, guest] = await Promise.all([demo.connectAs('admin'), demo.connectAs('guest')]);
    const adminVideo = await videoOf(admin);
    const incoming = next(guest.delegations);
    await admin.delegate(adminVideo.cap.narrow(['update'], { expiresAt: Date.now() + 300 }), { to: 'guest' });
    const { cap } = await incoming;
    expect(await next(guest.revocations)).toEqual({ revocationId: cap.revocationId, scope: cap.scope, reason: 'expired' });

    const editor = await demo.connectAs('editor');
    const video = await videoOf(editor);
    const frame = nextRevokedFrame(editor);
    const told = next(editor.revocations, (r) => r.revocationId === video.cap.revocationId);
    await demo.server.revokeUser('editor');
    expect(await told).toEqual({ revocationId: video.cap.revocationId, scope: video.cap.scope, reason: 'revoked' });
    expect((await frame).length).toBe(4); // no cause element: no revoked id, a raised generation ended it
  });
});
