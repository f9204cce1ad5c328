import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { Codec } from '../../protocol/codec.js';
import { clientFrameTypes, validateFrame } from '../../protocol/frames.js';
import { FrameType, type PresenceChange } from '../../client/index.js';
import { CapsyncServer, MemoryStore } from '../../server/index.js';
import { connectInMemory } from '../../testing/index.js';
import { collectUntil, next, roundTrip, SECRET, startDemo, type DemoHarness } from '../helpers.js';

let demo: DemoHarness | undefined;
let memoryServer: CapsyncServer | undefined;
afterEach(async () => {
  await demo?.close();
  await memoryServer?.close();
  demo = memoryServer = undefined;
});

const change = (type: PresenceChange['type'], user: string): PresenceChange => ({ type, user });

describe('presence events over real sockets', () => {
  it('announces a join at the first connection and a leave after the last, never to the user itself', async () => {
    demo = await startDemo({ presenceGraceMs: 0 });
    const admin = await demo.connectAs('admin');
    expect(await admin.presence()).toEqual([]);
    const seen: PresenceChange[] = [];
    admin.presenceChanges.subscribe((c) => seen.push(c));
    const joined = next(admin.presenceChanges, (c) => c.user === 'editor');
    const first = await demo.connectAs('editor');
    expect(await joined).toEqual(change('join', 'editor'));
    const selfSeen: PresenceChange[] = [];
    first.presenceChanges.subscribe((c) => selfSeen.push(c));
    // A second connection of the same user is no join; closing one of the two is no leave.
    const second = await demo.connectAs('editor');
    await first.close();
    await roundTrip(second);
    await roundTrip(admin);
    expect(seen).toEqual([change('join', 'editor')]);
    expect(await admin.presence()).toEqual(['editor']);
    const left = next(admin.presenceChanges, (c) => c.type === 'leave');
    await second.close();
    expect(await left).toEqual(change('leave', 'editor'));
    expect(await admin.presence()).toEqual([]);
    expect(selfSeen).toEqual([]);
  });

  it('keeps a user online through a reconnect within the grace: no leave, no join', async () => {
    demo = await startDemo({ presenceGraceMs: 1000 });
    const admin = await demo.connectAs('admin');
    const [editor, editor2] = [await demo.connectAs('editor'), await demo.connectAs('editor2')];
    await roundTrip(admin);
    const events: PresenceChange[] = [];
    admin.presenceChanges.subscribe((c) => events.push(c));
    await editor.close();
    const back = await demo.connectAs('editor');
    // The marker: editor2 leaves after editor's leave would have been due, so its leave arriving proves the
    // grace passed (deadlines run in order) without a sleep.
    const marker = next(admin.presenceChanges, (c) => c.user === 'editor2' && c.type === 'leave', 10_000);
    await editor2.close();
    await marker;
    expect(events).toEqual([change('leave', 'editor2')]);
    expect(await admin.presence()).toEqual(['editor']);
    await roundTrip(back);
  });

  it('sends events only to users the presence policy lets see them', async () => {
    // Admins see everyone, everyone else sees only admins.
    demo = await startDemo({
      presenceGraceMs: 0,
      presence: (viewer, online) => (viewer.roles.includes('admin') ? online : online.filter((u) => u === 'admin')),
    });
    const [editor, guest] = [await demo.connectAs('editor'), await demo.connectAs('guest')];
    const [editorSeen, guestSeen]: PresenceChange[][] = [[], []];
    editor.presenceChanges.subscribe((c) => editorSeen.push(c));
    guest.presenceChanges.subscribe((c) => guestSeen.push(c));
    const editorSawAdmin = next(editor.presenceChanges, (c) => c.user === 'admin');
    const guestSawAdmin = next(guest.presenceChanges, (c) => c.user === 'admin');
    const admin = await demo.connectAs('admin');
    await Promise.all([editorSawAdmin, guestSawAdmin]);
    const editor2 = await demo.connectAs('editor2');
    const adminSaw = next(admin.presenceChanges, (c) => c.user === 'editor2' && c.type === 'leave');
    await editor2.close();
    await adminSaw;
    await Promise.all([roundTrip(editor), roundTrip(guest)]);
    expect(editorSeen).toEqual([change('join', 'admin')]);
    expect(guestSeen).toEqual([change('join', 'admin')]);
    expect(await guest.presence()).toEqual(['admin']);
  });

  it('sends nothing with the policy "none"', async () => {
    demo = await startDemo({ presenceGraceMs: 0, presence: 'none' });
    const admin = await demo.connectAs('admin');
    const frames = collectUntil(admin.frames, (async () => {
      const editor = await demo!.connectAs('editor');
      await editor.close();
      await roundTrip(admin);
    })());
    expect((await frames).filter((f) => f[0] === FrameType.presenceEvent)).toEqual([]);
  });
});

describe('presence events across a reconnect of the observer', () => {
  it('emits the join it missed while away, from a fresh presence() answer after the resume', async () => {
    memoryServer = await CapsyncServer.create({ auth: { secret: SECRET }, store: new MemoryStore(), presenceGraceMs: 0 });
    const observer = await connectInMemory(memoryServer, { user: { id: 'admin', roles: ['admin'] } });
    expect(await observer.client.presence()).toEqual([]);
    const events: PresenceChange[] = [];
    observer.client.presenceChanges.subscribe((c) => events.push(c));
    const eventFrames: unknown[] = [];
    observer.client.frames.subscribe((f) => f[0] === FrameType.presenceEvent && eventFrames.push(f));
    const caughtUp = next(observer.client.presenceChanges, (c) => c.user === 'editor');
    observer.link.drop();
    // Connects while the observer is away (its reconnect waits for a timer; this runs in microtasks).
    const editor = await connectInMemory(memoryServer, { user: { id: 'editor', roles: ['editor'] } });
    expect(await caughtUp).toEqual(change('join', 'editor'));
    expect(eventFrames).toEqual([]); // it came from the reconciliation, not from a live event
    expect(events).toEqual([change('join', 'editor')]);
    await editor.client.close();
    await observer.client.close();
  });
});

describe('presence events go only to connections that watch', () => {
  /** A raw socket as `user`: every frame type it receives, and a way to send a frame and wait for its answer. */
  async function rawAs(url: string, token: string) {
    const codec = new Codec();
    const ws = new WebSocket(url, ['capsync.v1'], { headers: { authorization: `Bearer ${token}` } });
    const types: number[] = [];
    const waiting = new Map<number, () => void>();
    ws.on('message', (data: Buffer) => {
      const frame = codec.decode(data) as unknown[];
      types.push(frame[0] as number);
      if (frame[0] === FrameType.result || frame[0] === FrameType.error || frame[0] === FrameType.pong) waiting.get(frame[1] as number)?.();
    });
    await new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject)));
    const request = (frame: unknown[]) =>
      new Promise<void>((resolve) => {
        waiting.set(frame[1] as number, resolve);
        ws.send(codec.encode(frame));
      });
    return { ws, types, request };
  }
  const events = (types: number[]) => types.filter((t) => t === FrameType.presenceEvent).length;

  it('sends none to a connection that never asked, and stops when the client unsubscribes', async () => {
    demo = await startDemo({ presenceGraceMs: 0 });
    const quiet = await rawAs(demo.url, await demo.token('admin'));
    const watching = await rawAs(demo.url, await demo.token('admin'));
    await watching.request([FrameType.presence, 1, { watch: true }]);
    const client = await demo.connectAs('editor2');
    const seen: PresenceChange[] = [];
    const subscription = client.presenceChanges.subscribe((c) => seen.push(c));
    await roundTrip(client);
    const editor = await demo.connectAs('editor');
    await next(client.presenceChanges, (c) => c.user === 'editor');
    await Promise.all([quiet.request([FrameType.ping, 2]), watching.request([FrameType.presence, 3])]);
    expect(events(quiet.types)).toBe(0);
    expect(events(watching.types)).toBe(2); // editor2 and editor joined
    // The client's last unsubscribe stops its events (the request is answered before the next join).
    subscription.unsubscribe();
    await roundTrip(client);
    await watching.request([FrameType.presence, 4, { watch: false }]);
    await editor.close();
    const again = await demo.connectAs('guest');
    await Promise.all([quiet.request([FrameType.ping, 5]), watching.request([FrameType.ping, 6]), roundTrip(client), roundTrip(again)]);
    expect(events(quiet.types)).toBe(0);
    expect(events(watching.types)).toBe(2);
    expect(seen).toEqual([change('join', 'editor')]);
    quiet.ws.close();
    watching.ws.close();
  });

  it('refuses a watch option of another shape', () => {
    expect(() => validateFrame([FrameType.presence, 1, { watch: 'yes' }], clientFrameTypes)).toThrow(expect.objectContaining({ code: 'ERR_FRAME_INVALID' }));
    expect(() => validateFrame([FrameType.presence, 1, { watch: true, all: true }], clientFrameTypes)).toThrow(expect.objectContaining({ code: 'ERR_FRAME_INVALID' }));
  });
});
