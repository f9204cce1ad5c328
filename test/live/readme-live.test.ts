import { afterEach, describe, expect, it } from 'vitest';
import { adminWatchesVideos, installAddTag } from '../../examples/readme/live.js';
import { connect, type Capability } from '../../client/index.js';
import { Video } from '../../examples/video/video.js';
import { startDemo, type DemoHarness } from '../helpers.js';

let demo: DemoHarness | undefined;
afterEach(async () => {
  await demo?.close();
  demo = undefined;
});

describe('the README\'s live examples', () => {
  it('runs the collection and presence snippet', async () => {
    demo = await startDemo({ presenceGraceMs: 0 });
    const tokens = { admin: await demo.token('admin'), admin2: await demo.token('admin'), editor: await demo.token('editor') };
    const seen = await adminWatchesVideos(demo.url, tokens);
    expect(seen.titles).toContain('Fresh');
    expect(seen.titles).toHaveLength(4);
    expect(seen.joined).toBe('editor');
  });

  it('runs the update snippet: concurrent tags all land, a stale version is refused', async () => {
    demo = await startDemo();
    installAddTag(demo.server);
    const editor = await connect(demo.url, { token: await demo.token('editor') });
    try {
      const [video] = await editor.call<Video[]>('get_my_videos');
      const cap = video!.cap as Capability;
      const editedFrom = video!.version!;
      await Promise.all(['a', 'b', 'c', 'd'].map((t) => editor.call('add_tag', cap, t)));
      const now = (await demo.server.live.get(Video, ['youtube_videos', video!.id]))!;
      for (const t of ['a', 'b', 'c', 'd']) expect(now.description).toContain(`#${t}`);
      expect(now.version).toBe(editedFrom + 4);
      await expect(editor.call('add_tag', cap, 'late', editedFrom)).rejects.toMatchObject({ code: 'ERR_VERSION_CONFLICT' });
      expect(await editor.call('add_tag', cap, 'late', now.version)).toBe(editedFrom + 5);
    } finally {
      await editor.close();
    }
  });
});
