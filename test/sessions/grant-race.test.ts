import { afterEach, describe, expect, it } from 'vitest';
import type { Delegation } from '../../client/index.js';
// For its side effect too: registering the portable Video class, so calls' results decode as Videos.
import '../../examples/video/video.js';
import type { Video } from '../../examples/video/video.js';
import type { JsonValue } from '../../protocol/json-value.js';
import { MemoryStore } from '../../server/index.js';
import { connectInMemory, type MemoryConnection } from '../../testing/index.js';
import { next, startDemo, type DemoHarness } from '../helpers.js';

/** A store that runs `race` once, between reading an object at `address` and handing it back. */
class RacingStore extends MemoryStore {
  race: { address: string; run: () => Promise<unknown> } | undefined;
  override async get(address: readonly JsonValue[]) {
    const read = await super.get(address);
    const race = this.race;
    if (race !== undefined && JSON.stringify(address) === race.address) {
      this.race = undefined;
      await race.run();
    }
    return read;
  }
}

let demo: DemoHarness | undefined;
let away: MemoryConnection | undefined;
afterEach(async () => {
  await away?.client.close();
  await demo?.close();
  demo = away = undefined;
});

describe('grants delivered again on resume, racing an edit of the object', () => {
  it('the device that was away ends at the edit, although the grant read the object before its holding existed', async () => {
    const store = new RacingStore();
    demo = await startDemo({ store });
    const admin = await demo.connectAs('admin');
    await demo.connectAs('guest');
    // The guest's second device: its token function waits at a gate, so it stays away while the gate is shut.
    const jwt = await demo.token('guest');
    let open: () => void = () => {};
    let gate = Promise.resolve();
    away = await connectInMemory(demo.server, { token: async () => (await gate, jwt), reconnect: { random: () => 0 } });
    gate = new Promise((resolve) => (open = resolve));
    away.link.drop();
    await next(away.client.connectionState, (s) => s === 'reconnecting');

    const [video] = await admin.call<Video[]>('get_my_videos');
    await admin.delegate(video!.cap.narrow(['update']), { to: 'guest', bind: true });
    // When the resume's grants read the video, the admin's edit lands first: its push finds no holding of
    // the away device's yet, and the grant carries the state from before the edit.
    let edited = 0;
    store.race = { address: JSON.stringify(['youtube_videos', video!.id]), run: async () => (edited = await admin.call<number>('set_video_description', video!.cap, 'edited during the resume')) };
    const delivered = next(away.client.delegations, (g: Delegation) => (g.object as Video | null)?.id === video!.id);
    open();
    const granted = (await delivered).object as Video;
    expect(store.race).toBeUndefined();
    expect(edited).toBeGreaterThan(0);
    if (granted.version !== edited) await next(away.client.live(granted), (v) => v.version === edited, 2000);
    expect([granted.version, granted.description]).toEqual([edited, 'edited during the resume']);
  });
});
