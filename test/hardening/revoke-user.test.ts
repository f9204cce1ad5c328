import { afterEach, describe, expect, it } from 'vitest';
import { connect, type CapsyncClient } from '../../client/index.js';
import { Video } from '../../examples/video/video.js';
import type { BindingRestrictions } from '../../protocol/capability/capability.js';
import { next, startDemo, tempDir, type DemoHarness } from '../helpers.js';

let demo: DemoHarness | undefined;
afterEach(async () => {
  await demo?.close();
  demo = undefined;
});

const VIDEO = 'dQw4w9WgXcQ';
const videoOf = async (client: CapsyncClient): Promise<Video> => (await client.call<Video[]>('get_my_videos')).find((v) => v.id === VIDEO)!;

describe('revokeUser with bounded storage (a generation per user)', () => {
  it('keeps no row per capability sent, yet revokes every one bound to the user, live holdings included', async () => {
    demo = await startDemo();
    const [admin, editor] = await Promise.all([demo.connectAs('admin'), demo.connectAs('editor')]);
    for (let i = 0; i < 20; i++) await editor.call('get_my_videos');
    const video = await videoOf(editor);
    const adminVideo = await videoOf(admin);
    // 21 calls sent the editor dozens of capabilities, all bound to it: nothing is recorded per capability.
    expect(await demo.server.store.issuedTo('editor', Date.now())).toEqual([]);

    const told = next(editor.revocations);
    expect(await demo.server.revokeUser('editor')).toBeGreaterThanOrEqual(1);
    expect((await told).reason).toBe('revoked');
    await expect(video.set_description('after revokeUser')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
    await expect(adminVideo.set_description('admin unaffected')).resolves.toBeTypeOf('number');
    // What the server sends from now on is bound at the new generation and works.
    await expect((await videoOf(editor)).set_description('fresh')).resolves.toBeTypeOf('number');
    expect(demo.server.store.revocations.size).toBe(0); // one number, not a revoked id per capability
  });

  it('refuses a revoked capability that its holder narrowed with a forged, higher generation', async () => {
    demo = await startDemo();
    const editor = await demo.connectAs('editor');
    const video = await videoOf(editor);
    await demo.server.revokeUser('editor');
    // The holder appends its own binding block claiming generation 99: the server's block at 0 still counts.
    const forged = video.cap.narrow([], { audience: 'editor', generation: 99 } as BindingRestrictions);
    await expect(editor.call('set_video_description', forged, 'x')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
    await expect(editor.call('set_video_description', video.cap.narrow([]), 'x')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
  });

  it('revokes delegated capabilities of the user too, and grants after a reload leave them out', async () => {
    demo = await startDemo();
    const [admin, guest] = await Promise.all([demo.connectAs('admin'), demo.connectAs('guest')]);
    const incoming = next(guest.delegations);
    await admin.delegate((await videoOf(admin)).cap.narrow(['update']), { to: 'guest' });
    const { cap } = await incoming;
    await expect(guest.call('set_video_description', cap, 'as guest')).resolves.toBeTypeOf('number');
    await demo.server.revokeUser('guest');
    await expect(guest.call('set_video_description', cap, 'again')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
    const again = await connect(demo.url, { token: await demo.token('guest') });
    try {
      expect(await again.grants()).toEqual([]);
    } finally {
      await again.close();
    }
  });

  it('keeps generations across a restart (SQLite file)', async () => {
    const dir = tempDir();
    try {
      demo = await startDemo({ data: dir.path });
      const editor = await demo.connectAs('editor');
      const old = (await videoOf(editor)).cap;
      await demo.server.revokeUser('editor');
      await demo.close();
      demo = await startDemo({ data: dir.path });
      const again = await connect(demo.url, { token: await demo.token('editor') });
      try {
        await expect(again.call('set_video_description', old, 'x')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
        expect(demo.server.store.revocations.generation('editor')).toBe(1);
        await expect((await videoOf(again)).set_description('fresh after restart')).resolves.toBeTypeOf('number');
      } finally {
        await again.close();
      }
    } finally {
      await demo?.close();
      demo = undefined;
      dir.remove();
    }
  });
});
