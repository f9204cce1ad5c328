import { afterEach, describe, expect, it } from 'vitest';
import type { Delegation } from '../../client/index.js';
// For its side effect too: registering the portable Video class, so calls' results decode as Videos.
import '../../examples/video/video.js';
import type { Video } from '../../examples/video/video.js';
import { next, startDemo, type DemoHarness } from '../helpers.js';

const demos: DemoHarness[] = [];
afterEach(async () => {
  await Promise.all(demos.splice(0).map((d) => d.close()));
});

describe('a delegation racing an edit of the object it grants', () => {
  // Found by test/chaos/sessions.property.test.ts: [edit video 1 by admin, grant video 1 to the guest].
  it('the recipient ends at the latest version, whether the edit lands before or after the delegation reads the object', async () => {
    const d = await startDemo();
    demos.push(d);
    const admin = await d.connectAs('admin');
    const guest = await d.connectAs('guest');
    const videos = await admin.call<Video[]>('get_my_videos');
    for (const [i, video] of videos.entries()) {
      const delivered = next(guest.delegations, (g: Delegation) => (g.object as Video | null)?.id === video.id);
      // Sent back to back on one connection: the server runs them concurrently.
      const edit = admin.call<number>('set_video_description', video.cap, `edited alongside delegation ${i}`);
      const delegation = admin.delegate(video.cap.narrow(['update']), { to: 'guest', bind: true });
      const [version] = await Promise.all([edit, delegation]);
      const granted = (await delivered).object as Video;
      // The guest's copy reaches the edit's version: in the delegation itself or by a push after it.
      if (granted.version !== version) await next(guest.live(granted), (v) => v.version === version, 2000);
      expect([granted.version, granted.description]).toEqual([version, `edited alongside delegation ${i}`]);
    }
  });
});
