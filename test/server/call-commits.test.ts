/**
 * Keyed calls cheap by design: the claims and outcomes of one event-loop turn go to the store in one
 * commit, and outcomes the client acknowledges are dropped at once instead of kept for the window.
 */
import { describe, expect, it, vi } from 'vitest';
import { filter, firstValueFrom } from 'rxjs';
import { demoUsers } from '../../examples/video/app.js';
import { Codec, FrameType, type Frame } from '../../protocol/index.js';
import type { CapsyncClient } from '../../client/client.js';
import { MemoryStore } from '../../server/index.js';
import type { CallCommit } from '../../server/store/types.js';
import { connectInMemory } from '../../testing/index.js';
import { memoryDemos } from '../helpers.js';

const codec = new Codec();
const { start } = memoryDemos();

/** A MemoryStore that records every commit it is asked for. */
class RecordingStore extends MemoryStore {
  readonly commits: CallCommit[] = [];

  override commitCalls(commit: CallCommit): ReturnType<MemoryStore['commitCalls']> {
    // The outcomes as they were given: the server may reuse its buffers once the store has its copy (the
    // first answer of a plain value is written over its outcome's prefix).
    this.commits.push({ ...commit, outcomes: commit.outcomes.map((o) => ({ principal: o.principal, key: o.key, outcome: new Uint8Array(o.outcome) })) });
    return super.commitCalls(commit);
  }
}

function answerTo(client: CapsyncClient, id: number): Promise<Frame> {
  return firstValueFrom(client.frames.pipe(filter((f) => (f[0] === FrameType.result || f[0] === FrameType.error) && f[1] === id)));
}

describe('keyed call commits', () => {
  it('claims every call of one turn in one commit, and stores their outcomes in the next', async () => {
    const store = new RecordingStore();
    const s = await start(store);
    let runs = 0;
    s.callable('count', () => ++runs);
    const { client } = await connectInMemory(s, { user: demoUsers['editor']! });
    store.commits.length = 0;
    const answers = [1, 2, 3, 4, 5].map((id) => answerTo(client, id));
    // One turn: five frames before the event loop moves on.
    for (let id = 1; id <= 5; id++) client.sendRaw(codec.encode([FrameType.call, id, 'count', [], `k-${id}`]));
    expect((await Promise.all(answers)).map((f) => f[0])).toEqual([FrameType.result, FrameType.result, FrameType.result, FrameType.result, FrameType.result]);
    expect(runs).toBe(5);
    expect(store.commits.map((c) => [c.claims.length, c.outcomes.length])).toEqual([[5, 0], [0, 5]]);
  });

  it('answers only after the outcome is stored', async () => {
    const store = new RecordingStore();
    const s = await start(store);
    s.callable('echo', (_ctx, v: unknown) => v);
    const { client } = await connectInMemory(s, { user: demoUsers['editor']! });
    store.commits.length = 0;
    const answer = answerTo(client, 1);
    client.sendRaw(codec.encode([FrameType.call, 1, 'echo', ['x'], 'k']));
    await answer;
    expect(store.commits.at(-1)?.outcomes.map((o) => o.key)).toEqual(['k']);
  });

  it('answers a plain value with the bytes of its stored outcome, packed once', async () => {
    const store = new RecordingStore();
    const s = await start(store);
    s.callable('echo', (_ctx, v: unknown) => v);
    const { client } = await connectInMemory(s, { user: demoUsers['editor']! });
    const value = { op: 'echo', n: 42, values: [1, 2, 3], nested: { ok: true } };
    const encode = vi.spyOn(Codec.prototype, 'encode');
    try {
      const answer = answerTo(client, 1);
      client.sendRaw(codec.encode([FrameType.call, 1, 'echo', [value], 'k']));
      expect(await answer).toEqual([FrameType.result, 1, value]);
      // The server packed the value once, for its stored outcome; the answer frame was not encoded again.
      expect(encode.mock.calls.filter(([frame]) => Array.isArray(frame) && frame[0] === FrameType.result)).toEqual([]);
    } finally {
      encode.mockRestore();
    }
    expect(codec.decode(store.commits.find((c) => c.outcomes.length > 0)!.outcomes[0]!.outcome)).toEqual({ ok: value });
  });

  it('drops the outcomes a client acknowledges, and keeps the rest for the window', async () => {
    const store = new MemoryStore();
    const s = await start(store);
    s.callable('echo', (_ctx, v: unknown) => v);
    const { client } = await connectInMemory(s, { user: demoUsers['editor']! });
    for (let i = 0; i < 20; i++) await client.call('echo', i);
    // Each call acknowledged the one before it: only the last is still kept.
    expect(store.callRecords).toBe(1);
  });

  it('never drops a call that still runs, even when a client acknowledges it early', async () => {
    const s = await start();
    let runs = 0;
    let release!: (v: string) => void;
    s.callable('slow', () => (runs++, new Promise<string>((resolve) => (release = resolve))));
    s.callable('echo', (_ctx, v: unknown) => v);
    const { client } = await connectInMemory(s, { user: demoUsers['editor']! });
    const first = answerTo(client, 1);
    client.sendRaw(codec.encode([FrameType.call, 1, 'slow', [], 'k']));
    await expect.poll(() => runs).toBe(1);
    const early = answerTo(client, 2);
    client.sendRaw(codec.encode([FrameType.call, 2, 'echo', ['x'], 'k2', ['k']]));
    await early;
    release('done');
    expect(await first).toEqual([FrameType.result, 1, 'done']);
    const repeat = answerTo(client, 3);
    client.sendRaw(codec.encode([FrameType.call, 3, 'slow', [], 'k']));
    expect(await repeat).toEqual([FrameType.result, 3, 'done']);
    expect(runs).toBe(1);
  });

  it('keeps acknowledgements per principal: one user cannot drop another user\'s outcome', async () => {
    const s = await start();
    let runs = 0;
    s.callable('count', () => ++runs);
    const { client: editor } = await connectInMemory(s, { user: demoUsers['editor']! });
    const { client: admin } = await connectInMemory(s, { user: demoUsers['admin']! });
    let answer = answerTo(editor, 1);
    editor.sendRaw(codec.encode([FrameType.call, 1, 'count', [], 'shared']));
    expect(await answer).toEqual([FrameType.result, 1, 1]);
    answer = answerTo(admin, 2);
    admin.sendRaw(codec.encode([FrameType.call, 2, 'count', [], 'other', ['shared']]));
    expect(await answer).toEqual([FrameType.result, 2, 2]);
    answer = answerTo(editor, 3);
    editor.sendRaw(codec.encode([FrameType.call, 3, 'count', [], 'shared']));
    expect(await answer).toEqual([FrameType.result, 3, 1]);
    expect(runs).toBe(2);
  });

  it('refuses a call frame whose acknowledgements are not a list of keys', async () => {
    const s = await start();
    s.callable('echo', (_ctx, v: unknown) => v);
    const { client } = await connectInMemory(s, { user: demoUsers['editor']! });
    for (const [id, acks] of [[1, 'k'], [2, [1]], [3, ['']], [4, Array.from({ length: 257 }, (_, i) => `k${i}`)]] as const) {
      const answer = answerTo(client, id);
      client.sendRaw(codec.encode([FrameType.call, id, 'echo', ['x'], 'key', acks]));
      expect((await answer).slice(0, 3)).toEqual([FrameType.error, id, 'ERR_FRAME_INVALID']);
    }
  });

  it('makes no commit for a client with keyedCalls false, whose call in flight at a drop is not sent again', async () => {
    const store = new RecordingStore();
    const s = await start(store);
    let runs = 0;
    let release!: () => void;
    s.callable('count', () => ++runs);
    s.callable('hang', () => new Promise<void>((resolve) => (release = resolve)));
    const { client, link } = await connectInMemory(s, { user: demoUsers['editor']!, keyedCalls: false });
    store.commits.length = 0;
    expect(await client.call('count')).toBe(1);
    expect(store.commits).toEqual([]);
    const hanging = client.call('hang');
    await expect.poll(() => release !== undefined).toBe(true);
    link.drop();
    await expect(hanging).rejects.toMatchObject({ code: 'ERR_CALL_OUTCOME_UNKNOWN' });
    release();
    expect(runs).toBe(1);
  });

  it('stores the outcomes of finished calls before the server closes its store', async () => {
    const events: string[] = [];
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    class GatedStore extends MemoryStore {
      override async commitCalls(commit: CallCommit): ReturnType<MemoryStore['commitCalls']> {
        if (commit.outcomes.length > 0) await gate;
        events.push(`commit ${commit.claims.length}/${commit.outcomes.length}`);
        return super.commitCalls(commit);
      }

      override async close(): Promise<void> {
        events.push('close');
        return super.close();
      }
    }
    const store = new GatedStore();
    const s = await start(store);
    s.callable('echo', (_ctx, v: unknown) => v);
    const { client } = await connectInMemory(s, { user: demoUsers['editor']! });
    client.sendRaw(codec.encode([FrameType.call, 1, 'echo', ['x'], 'k']));
    await expect.poll(() => events).toContain('commit 1/0');
    const closing = s.close();
    open();
    await closing;
    expect(events.slice(-2)).toEqual(['commit 0/1', 'close']);
    expect((await store.claimCall('editor', 'k', 'later', 0))?.outcome).not.toBeNull();
  });
});
