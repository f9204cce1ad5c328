import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
// For its side effect too: registering the portable Video class, so calls' results decode as Videos.
import '../../examples/video/video.js';
import type { Video } from '../../examples/video/video.js';
import { connectInMemory, type MemoryConnection } from '../../testing/index.js';
import { next, startDemo, type DemoHarness } from '../helpers.js';

/** The engine's collector (V8 allows exposing it at run time). */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
const gc = collector();

let demo: DemoHarness | undefined;
let memory: MemoryConnection | undefined;
afterEach(async () => {
  await memory?.client.close();
  await demo?.close();
  demo = memory = undefined;
});

describe('live() on an object whose capability the app dropped', () => {
  // Capabilities are held weakly; before, one the app let go of was collected, left out of the next
  // resume, and the live stream went quiet after a reconnect without a word.
  it('keeps the covering capability while subscribed: the stream goes on updating after a reconnect', async () => {
    demo = await startDemo();
    const editor = await demo.connectAs('admin');
    memory = await connectInMemory(demo.server, { token: await demo.token('admin'), reconnect: { random: () => 0 } });
    const [video] = await memory.client.call<Video[]>('get_my_videos');
    const id = video!.id;
    // The app keeps the row but not its capability.
    delete (video as Partial<Video>).cap;
    const seen: number[] = [];
    const subscription = memory.client.live(video!).subscribe((v) => seen.push(v.version ?? 0));
    try {
      // 8 collections, each followed by a turn of the event loop (finalizers run as tasks): a bound, not a wait.
      for (let i = 0; i < 8; i++) {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
      }
      memory.link.drop();
      await next(memory.client.connectionState, (s) => s === 'reconnecting');
      await next(memory.client.connectionState, (s) => s === 'connected');
      const mine = (await editor.call<Video[]>('get_my_videos')).find((v) => v.id === id)!;
      const version = await editor.call<number>('set_video_description', mine.cap, 'edited after the reconnect');
      await next(memory.client.live(video!), (v) => v.version === version, 3000);
      expect(video!.description).toBe('edited after the reconnect');
      expect(seen.at(-1)).toBe(version);
    } finally {
      subscription.unsubscribe();
    }
  });
});
