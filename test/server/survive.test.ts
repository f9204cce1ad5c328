/**
 * The reconnecting client and the resuming core together, over in-memory links: a dropped connection
 * comes back by itself, catches up in one round trip and runs an interrupted call once.
 */
import { describe, expect, it } from 'vitest';
import { firstValueFrom, filter } from 'rxjs';
import { demoUsers } from '../../examples/video/app.js';
import type { Video } from '../../examples/video/video.js';
import type { CapsyncClient } from '../../client/client.js';
import { FrameType } from '../../protocol/index.js';
import { connectInMemory, type MemoryConnectOptions } from '../../testing/index.js';
import { memoryDemos, next } from '../helpers.js';

const { start } = memoryDemos();

/** Retries at once: these tests are about what a reconnect brings back, not about its backoff. */
const quick: MemoryConnectOptions = { reconnect: { baseDelayMs: 1, maxDelayMs: 1 } };

const connected = (client: CapsyncClient): Promise<string> => firstValueFrom(client.connectionState.pipe(filter((s) => s === 'connected')));

describe('a session that survives a dropped connection', () => {
  it('reconnects by itself and receives, in one round trip, the change it missed; live() keeps its instance', async () => {
    const s = await start();
    const editor = await connectInMemory(s, { user: demoUsers['editor']!, ...quick });
    const { client: admin } = await connectInMemory(s, { user: demoUsers['admin']! });
    const [video] = await editor.client.call<Video[]>('get_my_videos');
    const seen: string[] = [];
    let completed = false;
    editor.client.live(video!).subscribe({ next: (v) => seen.push(v.description), complete: () => (completed = true) });
    const states: string[] = [];
    editor.client.connectionState.subscribe((state) => states.push(state));
    editor.link.drop();
    const [mine] = await admin.call<Video[]>('get_my_videos');
    await mine!.set_description('while you were away');
    await next(editor.client.live(video!), (v) => v.description === 'while you were away');
    expect(video!.description).toBe('while you were away');
    expect(seen.at(-1)).toBe('while you were away');
    expect(completed).toBe(false);
    // The missed change arrives before the resume's answer; 'connected' follows it.
    await connected(editor.client);
    expect(states).toEqual(['connected', 'reconnecting', 'connected']);
    expect(editor.links).toHaveLength(2);
    // The capabilities hold on the new connection: the next change arrives live.
    await mine!.set_description('and now live');
    await next(editor.client.live(video!), (v) => v.description === 'and now live');
  });

  it('runs a call interrupted by the drop exactly once, and answers it after the reconnect', async () => {
    const s = await start();
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    s.callable('slow_count', async () => {
      runs++;
      await gate;
      return runs;
    });
    const editor = await connectInMemory(s, { user: demoUsers['editor']!, ...quick });
    const pending = editor.client.call<number>('slow_count');
    await expect.poll(() => runs).toBe(1);
    editor.link.drop();
    await connected(editor.client);
    release();
    expect(await pending).toBe(1);
    expect(runs).toBe(1);
  });

  it('resumes from the last change it saw live: what it already had is not sent again', async () => {
    const s = await start();
    const editor = await connectInMemory(s, { user: demoUsers['editor']!, ...quick });
    const { client: admin } = await connectInMemory(s, { user: demoUsers['admin']! });
    await editor.client.call<Video[]>('get_my_videos');
    const [a, b] = await admin.call<Video[]>('get_my_videos');
    const live = next(editor.client.changes, (c) => c.address[1] === a!.id);
    await a!.set_description('seen live');
    await live;
    const after: unknown[] = [];
    // Raw frames: a push the client drops as stale still counts here. Subscribed before the drop: the client
    // reconnects by itself, and may be back before the admin's write, which then reaches it as a live push.
    const sub = editor.client.frames.subscribe((f) => f[0] === FrameType.push && after.push((f[1] as unknown[])[1]));
    editor.link.drop();
    await b!.set_description('missed');
    await connected(editor.client);
    // Either way the change to `a` (seen live) comes before `b`'s if it is sent again: it never is.
    await expect.poll(() => after).toEqual([b!.id]);
    sub.unsubscribe();
  });
});
