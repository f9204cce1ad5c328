/**
 * The server's half of sessions that survive: a `resume` frame re-presents capabilities and what the client
 * saw, and the answer brings exactly what changed; keyed calls run once; grants are listed again.
 * Raw frames over the in-memory link, so the server is tested on its own.
 */
import { describe, expect, it } from 'vitest';
import { firstValueFrom, filter, toArray, takeWhile } from 'rxjs';
import { demoUsers } from '../../examples/video/app.js';
import type { Video } from '../../examples/video/video.js';
import { Codec, FrameType, type Capability, type Frame } from '../../protocol/index.js';
import type { CapsyncClient } from '../../client/client.js';
import { SqliteStore } from '../../server/index.js';
import { connectInMemory } from '../../testing/index.js';
import { memoryDemos, next, tempDir } from '../helpers.js';

const codec = new Codec();
const { start, stop } = memoryDemos();

interface Resumed {
  pushes: Frame[];
  other: Frame[];
  answer: { epoch: string; seq: number; refused: [number, string][]; sent: number; snapshot: boolean };
}

/** Sends a raw resume frame and collects every frame up to its answer. */
async function resume(client: CapsyncClient, body: { caps: Capability[]; seen: [unknown[], number][]; epoch: string | null; seq: number }, id = 900): Promise<Resumed> {
  const frames = firstValueFrom(
    client.frames.pipe(takeWhile((f) => !((f[0] === FrameType.result || f[0] === FrameType.error) && f[1] === id), true), toArray()),
  );
  client.sendRaw(codec.encode([FrameType.resume, id, body]));
  const all = await frames;
  const last = all.pop()!;
  if (last[0] === FrameType.error) throw Object.assign(new Error(String(last[3])), { code: last[2] });
  return {
    pushes: all.filter((f) => f[0] === FrameType.push),
    other: all.filter((f) => f[0] !== FrameType.push),
    answer: last[2] as Resumed['answer'],
  };
}

/** Sends a raw keyed call and waits for its answer frame. */
async function keyedCall(client: CapsyncClient, id: number, name: string, args: unknown[], key: string): Promise<Frame> {
  const answer = firstValueFrom(client.frames.pipe(filter((f) => (f[0] === FrameType.result || f[0] === FrameType.error) && f[1] === id)));
  client.sendRaw(codec.encode([FrameType.call, id, name, args, key]));
  return answer;
}

describe('resume', () => {
  it('sends exactly the objects that changed while the client was away, then its answer', async () => {
    const s = await start();
    const { client: editor, link } = await connectInMemory(s, { user: demoUsers['editor']! });
    const videos = await editor.call<Video[]>('get_my_videos');
    // Read now: the instances are live, and the dropped client's own reconnect may update them in place.
    const seenVersions = new Map(videos.map((v) => [v.id, v.version!]));
    const epoch = await s.store.epoch();
    const seq = await s.store.seq();
    link.drop();
    const { client: admin } = await connectInMemory(s, { user: demoUsers['admin']! });
    const [first] = await admin.call<Video[]>('get_my_videos');
    await first!.set_description('changed while away');
    const { client: back } = await connectInMemory(s, { user: demoUsers['editor']! });
    const got = await resume(back, { caps: videos.map((v) => v.cap), seen: videos.map((v) => [['youtube_videos', v.id], seenVersions.get(v.id)!]), epoch, seq });
    expect(got.answer).toMatchObject({ epoch, refused: [], sent: 1, snapshot: false });
    expect(got.answer.seq).toBeGreaterThan(seq);
    expect(got.pushes).toHaveLength(1);
    expect(got.pushes[0]!.slice(0, 5)).toMatchObject([FrameType.push, ['youtube_videos', first!.id], 'Video', seenVersions.get(first!.id)! + 1, { description: 'changed while away' }]);
    // The capabilities hold again on the new connection: the next change is pushed live.
    const live = next(back.changes);
    await first!.set_description('and after');
    expect((await live).state).toMatchObject({ description: 'and after' });
  });

  it('sends nothing when nothing changed, and a deletion made while away', async () => {
    const s = await start();
    const { client: admin } = await connectInMemory(s, { user: demoUsers['admin']! });
    const videos = await admin.call<Video[]>('get_my_videos');
    const body = { caps: videos.map((v) => v.cap), seen: videos.map((v) => [['youtube_videos', v.id], v.version!] as [unknown[], number]), epoch: await s.store.epoch(), seq: await s.store.seq() };
    const { client: again } = await connectInMemory(s, { user: demoUsers['admin']! });
    expect((await resume(again, body)).pushes).toEqual([]);
    await videos[2]!.delete();
    const { client: later } = await connectInMemory(s, { user: demoUsers['admin']! });
    const got = await resume(later, body);
    expect(got.pushes).toHaveLength(1);
    expect(got.pushes[0]!.slice(0, 5)).toMatchObject([FrameType.push, ['youtube_videos', videos[2]!.id], 'Video', videos[2]!.version! + 1, null]);
  });

  it('gives a full snapshot to a client of another store (epoch): what its capabilities reach, and deletions', async () => {
    const s = await start();
    const { client: admin } = await connectInMemory(s, { user: demoUsers['admin']! });
    const videos = await admin.call<Video[]>('get_my_videos');
    await videos[0]!.delete();
    const { client: back } = await connectInMemory(s, { user: demoUsers['admin']! });
    const seen = videos.map((v) => [['youtube_videos', v.id], v.version!] as [unknown[], number]);
    const got = await resume(back, { caps: videos.map((v) => v.cap), seen, epoch: 'another store', seq: 12345 });
    expect(got.answer).toMatchObject({ snapshot: true, sent: 3 });
    const byId = new Map(got.pushes.map((p) => [(p[1] as unknown[])[1], p]));
    expect([...byId.keys()].sort()).toEqual(videos.map((v) => v.id).sort());
    // The object it saw that is gone arrives as a deletion, one version past what it saw; the others whole.
    expect(byId.get(videos[0]!.id)!.slice(0, 5)).toEqual([FrameType.push, ['youtube_videos', videos[0]!.id], '', videos[0]!.version! + 1, null]);
    expect(byId.get(videos[1]!.id)![4]).toMatchObject({ title: videos[1]!.title });
  });

  it('refuses, with their codes, the capabilities that stopped working, and holds only the others', async () => {
    const s = await start();
    const { client: editor } = await connectInMemory(s, { user: demoUsers['editor']! });
    const [a, b, c] = await editor.call<Video[]>('get_my_videos');
    const revoked = a!.cap.narrow([], { expiresAt: Date.now() + 60_000 });
    await editor.revoke(revoked);
    const expired = b!.cap.narrow([], { expiresAt: Date.now() - 1 });
    const { client: back } = await connectInMemory(s, { user: demoUsers['editor']! });
    const body = { caps: [revoked, expired, c!.cap], seen: [], epoch: await s.store.epoch(), seq: await s.store.seq() };
    expect((await resume(back, body)).answer.refused).toEqual([[0, 'ERR_CAPABILITY_REVOKED'], [1, 'ERR_CAPABILITY_EXPIRED']]);
    // Only the third still covers anything: a change to the first video reaches no one on this connection.
    const changes: unknown[] = [];
    back.changes.subscribe((ch) => changes.push(ch.address));
    await a!.set_description('not for the revoked');
    await c!.set_description('for the valid one');
    await expect.poll(() => changes).toEqual([['youtube_videos', c!.id]]);
  });
});

describe('keyed calls', () => {
  it('answer a resend whose capability is refused now with the outcome of the run it repeats, and keep a refusal as the outcome', async () => {
    const s = await start();
    const { client: editor } = await connectInMemory(s, { user: demoUsers['editor']! });
    const [video] = await editor.call<Video[]>('get_my_videos');
    const cap = video!.cap.narrow([], { expiresAt: Date.now() + 60_000 });
    const ran = await keyedCall(editor, 1, 'set_video_description', [cap, 'once'], 'k-ran');
    expect(ran.slice(0, 3)).toEqual([FrameType.result, 1, ran[2]]);
    // The answer was lost (say) and the capability revoked before the resend: the call did run, so the resend
    // gets its outcome, not ERR_CAPABILITY_REVOKED, which would tell the caller it never took effect.
    await editor.revoke(cap);
    const { client: back } = await connectInMemory(s, { user: demoUsers['editor']! });
    expect(await keyedCall(back, 2, 'set_video_description', [cap, 'once'], 'k-ran')).toEqual([FrameType.result, 2, ran[2]]);
    // A key first seen with a refused capability: refused, and the refusal is its outcome from now on.
    expect((await keyedCall(back, 3, 'set_video_description', [cap, 'never'], 'k-refused')).slice(0, 3)).toEqual([FrameType.error, 3, 'ERR_CAPABILITY_REVOKED']);
    expect((await keyedCall(back, 4, 'set_video_description', [video!.cap, 'never'], 'k-refused')).slice(0, 3)).toEqual([FrameType.error, 4, 'ERR_CAPABILITY_REVOKED']);
    const [after] = (await back.call<Video[]>('get_my_videos')).filter((v) => v.id === video!.id);
    expect(after!.description).toBe('once');
  });

  it('run once per key: a repeat, on another connection too, gets the first outcome', async () => {
    const s = await start();
    let runs = 0;
    s.callable('count', () => ++runs);
    const { client: one } = await connectInMemory(s, { user: demoUsers['editor']! });
    const { client: two } = await connectInMemory(s, { user: demoUsers['editor']! });
    expect(await keyedCall(one, 1, 'count', [], 'k-1')).toEqual([FrameType.result, 1, 1]);
    expect(await keyedCall(two, 7, 'count', [], 'k-1')).toEqual([FrameType.result, 7, 1]);
    expect(await keyedCall(one, 2, 'count', [], 'k-2')).toEqual([FrameType.result, 2, 2]);
    expect(runs).toBe(2);
  });

  it('keep a failure as the outcome, and never share a key between users', async () => {
    const s = await start();
    let runs = 0;
    s.callable('fails', () => {
      runs++;
      throw new Error('boom');
    });
    const { client: editor } = await connectInMemory(s, { user: demoUsers['editor']! });
    const { client: guest } = await connectInMemory(s, { user: demoUsers['guest']! });
    expect((await keyedCall(editor, 1, 'fails', [], 'same')).slice(0, 3)).toEqual([FrameType.error, 1, 'ERR_FUNCTION_FAILED']);
    expect((await keyedCall(editor, 2, 'fails', [], 'same')).slice(0, 3)).toEqual([FrameType.error, 2, 'ERR_FUNCTION_FAILED']);
    expect(runs).toBe(1);
    expect((await keyedCall(guest, 3, 'fails', [], 'same')).slice(0, 3)).toEqual([FrameType.error, 3, 'ERR_FUNCTION_FAILED']);
    expect(runs).toBe(2);
  });

  it('join a repeat that arrives while the first still runs', async () => {
    const s = await start();
    let runs = 0;
    let release!: (v: string) => void;
    s.callable('slow', () => (runs++, new Promise<string>((resolve) => (release = resolve))));
    const { client: one } = await connectInMemory(s, { user: demoUsers['editor']! });
    const first = keyedCall(one, 1, 'slow', [], 'k');
    const second = keyedCall(one, 2, 'slow', [], 'k');
    await expect.poll(() => runs).toBe(1);
    release('done');
    expect(await first).toEqual([FrameType.result, 1, 'done']);
    expect(await second).toEqual([FrameType.result, 2, 'done']);
    expect(runs).toBe(1);
  });

  it('survive a restart on the same store; one interrupted by a crash answers ERR_CALL_OUTCOME_UNKNOWN', async () => {
    const dir = tempDir();
    try {
      const file = `${dir.path}/capsync.sqlite`;
      let s = await start(new SqliteStore(file));
      let runs = 0;
      s.callable('count', () => ++runs);
      const { client: before } = await connectInMemory(s, { user: demoUsers['editor']! });
      expect(await keyedCall(before, 1, 'count', [], 'kept')).toEqual([FrameType.result, 1, 1]);
      // A claim by a server run that died before it finished.
      await s.store.claimCall('user:editor', 'interrupted', 'a run that crashed', Date.now() + 60_000);
      await s.close();
      s = await start(new SqliteStore(file));
      s.callable('count', () => ++runs);
      const { client: after } = await connectInMemory(s, { user: demoUsers['editor']! });
      expect(await keyedCall(after, 1, 'count', [], 'kept')).toEqual([FrameType.result, 1, 1]);
      expect((await keyedCall(after, 2, 'count', [], 'interrupted')).slice(0, 3)).toEqual([FrameType.error, 2, 'ERR_CALL_OUTCOME_UNKNOWN']);
      expect(runs).toBe(1);
    } finally {
      await stop();
      dir.remove();
    }
  });
});

describe('grants', () => {
  it('lists what was delegated to this user and still works, after a reload; resume delivers it again', async () => {
    const s = await start();
    const { client: editor } = await connectInMemory(s, { user: demoUsers['editor']! });
    const { client: guest } = await connectInMemory(s, { user: demoUsers['guest']! });
    const [a, b] = await editor.call<Video[]>('get_my_videos');
    const keep = a!.cap.narrow([], { expiresAt: Date.now() + 60_000 });
    const gone = b!.cap.narrow([], { expiresAt: Date.now() + 60_000 });
    await editor.delegate(keep, { to: 'guest', bind: true });
    await editor.delegate(gone, { to: 'guest', bind: true });
    await editor.revoke(gone);
    await guest.close();
    const { client: reloaded } = await connectInMemory(s, { user: demoUsers['guest']! });
    const answer = firstValueFrom(reloaded.frames.pipe(filter((f) => f[0] === FrameType.result && f[1] === 6)));
    reloaded.sendRaw(codec.encode([FrameType.grants, 6]));
    const grants = (await answer)[2] as { from: string; cap: Capability; object: Video | null }[];
    expect(grants.map((g) => [g.from, g.cap.scope, (g.object as Video | null)?.id])).toEqual([['editor', ['youtube_videos', a!.id, 'update'], a!.id]]);
    const { client: resumed } = await connectInMemory(s, { user: demoUsers['guest']! });
    const got = await resume(resumed, { caps: [], seen: [], epoch: await s.store.epoch(), seq: await s.store.seq() });
    expect(got.other.filter((f) => f[0] === FrameType.delegation)).toHaveLength(1);
  });
});
