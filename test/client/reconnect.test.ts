import { firstValueFrom, toArray } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { backoffDelay } from '../../client/backoff.js';
import { Capability } from '../../protocol/capability/capability.js';
import { fail } from '../../protocol/errors.js';
import { FrameType } from '../../protocol/frames.js';
import { FakeServer, Note } from './fake-server.js';

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

/** A Note as the server hands it out: with a server-signed capability. */
function serverNote(id: string, text: string, version = 1): Note {
  return Object.assign(new Note(id, text), { version, cap: new Capability(['notes', id]) });
}

/** A client that reconnects after exactly 250 ms (half of the 0.5 s first cap: the injected random is 0.5). */
const halfway = { reconnect: { random: () => 0.5 } } as const;

/** The resume frame the client sent on its current socket, and its id. */
function resumeOf(server: FakeServer): { id: number; body: { caps: Capability[]; seen: unknown[]; epoch: string | null; seq: number } } {
  const frame = server.receivedNow.find((f) => f[0] === FrameType.resume) as [number, number, never] | undefined;
  if (frame === undefined) throw new Error('no resume on this socket');
  return { id: frame[1], body: frame[2] };
}

/** Answers the resume on the current socket after a hello, as a server that has nothing to catch up on. */
function resumeAnswered(server: FakeServer, answer: Record<string, unknown> = {}, hello: Record<string, unknown> = { epoch: 'e1' }): void {
  server.hello(hello);
  server.send([FrameType.result, resumeOf(server).id, { epoch: 'e1', seq: 0, refused: [], sent: 0, snapshot: false, ...answer }]);
}

describe('backoff', () => {
  it('draws each delay from [0, min(max, base * 2^attempt)], the first one jittered too', () => {
    const options = { baseDelayMs: 500, maxDelayMs: 20_000 };
    expect(backoffDelay(0, options, () => 0.5)).toBe(250);
    expect(backoffDelay(0, options, () => 0)).toBe(0);
    expect(backoffDelay(3, options, () => 0.5)).toBe(2000);
    expect(backoffDelay(10, options, () => 0.999)).toBeLessThan(20_000);
    expect(backoffDelay(1000, options, () => 0.5)).toBe(10_000);
  });

  it('waits a growing, jittered delay between failed attempts, and starts over once connected', async () => {
    vi.useFakeTimers();
    const draws: number[] = [];
    const { server, client } = await FakeServer.connected({ reconnect: { random: () => (draws.push(0), 0.5) } }, { epoch: 'e1' });
    server.drop();
    await vi.advanceTimersByTimeAsync(249);
    expect(server.sockets).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.sockets).toHaveLength(2);
    server.drop(); // the attempt fails before its hello: the next delay doubles (500 * 2 / 2)
    await vi.advanceTimersByTimeAsync(499);
    expect(server.sockets).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.sockets).toHaveLength(3);
    resumeAnswered(server);
    expect(client.connectionState.value).toBe('connected');
    server.drop();
    await vi.advanceTimersByTimeAsync(250);
    expect(server.sockets).toHaveLength(4);
    expect(draws).toHaveLength(3);
  });

  it('retries at once when the browser says it is online again', async () => {
    vi.useFakeTimers();
    const listeners = new Map<string, () => void>();
    vi.stubGlobal('addEventListener', (type: string, listener: () => void) => listeners.set(type, listener));
    vi.stubGlobal('removeEventListener', (type: string) => listeners.delete(type));
    const { server, client } = await FakeServer.connected({ reconnect: { random: () => 0.99, baseDelayMs: 60_000 } });
    server.drop();
    listeners.get('online')!();
    expect(server.sockets).toHaveLength(2);
    await client.close();
    expect(listeners.has('online')).toBe(false);
  });
});

describe('reconnecting', () => {
  it('goes connected, reconnecting, connected across a drop, and keeps the last close', async () => {
    vi.useFakeTimers();
    const { server, client } = await FakeServer.connected(halfway, { epoch: 'e1' });
    const states: string[] = [];
    client.connectionState.subscribe((s) => states.push(s));
    server.drop(1006, 'cut');
    expect(client.lastClose).toEqual({ code: 1006, reason: 'cut' });
    await vi.advanceTimersByTimeAsync(250);
    server.hello({ epoch: 'e1' });
    // Hello alone is not enough: connected means caught up, when the resume is answered.
    expect(client.connectionState.value).toBe('reconnecting');
    resumeAnswered(server);
    expect(states).toEqual(['connected', 'reconnecting', 'connected']);
    await client.close();
    expect(states).toEqual(['connected', 'reconnecting', 'connected', 'closed']);
  });

  it('stops on a terminal close code', async () => {
    vi.useFakeTimers();
    const { server, client } = await FakeServer.connected(halfway);
    server.drop(1008, 'policy');
    expect(client.connectionState.value).toBe('closed');
    expect(await client.closed).toEqual({ code: 1008, reason: 'policy' });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.sockets).toHaveLength(1);
  });

  it('stops when a reconnect is refused for a bad token', async () => {
    vi.useFakeTimers();
    const { server, client } = await FakeServer.connected(halfway);
    server.drop();
    server.refuseNext = () => fail('ERR_AUTH_INVALID');
    await vi.advanceTimersByTimeAsync(250);
    await vi.advanceTimersByTimeAsync(0);
    expect(client.connectionState.value).toBe('closed');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(server.sockets).toHaveLength(2);
  });

  it('asks the token function again on every reconnect, and after 4002 (a session that expired)', async () => {
    vi.useFakeTimers();
    let n = 0;
    const { server } = await FakeServer.connected({ ...halfway, token: () => `jwt-${++n}` }, { epoch: 'e1' });
    server.drop(4002, 'expired');
    await vi.advanceTimersByTimeAsync(250);
    server.drop(1006);
    await vi.advanceTimersByTimeAsync(500);
    expect(server.tokens).toEqual(['jwt-1', 'jwt-2', 'jwt-3']);
  });

  it('takes an async token function, and with a fixed token stops at 4002', async () => {
    vi.useFakeTimers();
    const { server: s1 } = await FakeServer.connected({ ...halfway, token: 'fixed' });
    s1.drop(4002);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s1.sockets).toHaveLength(1);
    const { server: s2, connecting } = await FakeServer.start({ ...halfway, token: async () => 'later' });
    await vi.advanceTimersByTimeAsync(0);
    s2.hello();
    await connecting;
    expect(s2.tokens).toEqual(['later']);
  });

  it('refreshes by itself on tokenExpiring with a token function', async () => {
    let n = 0;
    const { server, client } = await FakeServer.connected({ token: () => `jwt-${++n}` }, { tokenExpiresAt: 1_700_000_010_000 });
    server.send([FrameType.tokenExpiring, 1_700_000_010_000]);
    await Promise.resolve();
    await Promise.resolve();
    expect(server.last).toEqual([FrameType.refresh, 1, 'jwt-2']);
    server.send([FrameType.result, 1, { expiresAt: 1_700_003_600_000 }]);
    await Promise.resolve();
    expect(client.tokenExpiresAt).toBe(1_700_003_600_000);
  });
});

describe('resume', () => {
  it('pipelines the held capabilities, the versions seen and the store cookie before the hello', async () => {
    vi.useFakeTimers();
    const { server, client } = await FakeServer.connected(halfway, { epoch: 'e1', seq: 3 });
    const got = client.call<Note>('get_note');
    server.send([FrameType.result, 1, serverNote('n1', 'first', 4)]);
    const note = await got;
    server.send([FrameType.push, ['notes', 'n1'], 'test.client.Note', 5, { text: 'second' }, 9]);
    server.drop();
    await vi.advanceTimersByTimeAsync(250);
    // Nothing from the server yet on the new socket, and the resume is already there.
    expect(server.receivedNow.map((f) => f[0])).toEqual([FrameType.resume]);
    const { body } = resumeOf(server);
    expect(body.caps.map((c) => c.scope)).toEqual([['notes', 'n1']]);
    expect(body.caps[0]!.revocationId).toBe(note.cap.revocationId);
    expect(body.seen).toEqual([[['notes', 'n1'], 5]]);
    expect(body).toMatchObject({ epoch: 'e1', seq: 9 });
    expect(server.refused).toEqual([]);
  });

  it('re-sends a call in flight with the same key after the resume frame, and settles it once', async () => {
    vi.useFakeTimers();
    const { server, client } = await FakeServer.connected(halfway, { epoch: 'e1' });
    const call = client.call('add', 1, 2);
    const key = (server.last as unknown[])[4];
    server.drop();
    const queued = client.call('later');
    await vi.advanceTimersByTimeAsync(250);
    const sent = server.receivedNow;
    expect(sent.map((f) => f[0])).toEqual([FrameType.resume, FrameType.call, FrameType.call]);
    expect(sent[1]).toEqual([FrameType.call, 1, 'add', [1, 2], key]);
    expect(sent[2]).toEqual([FrameType.call, 2, 'later', [], expect.any(String)]);
    // The resume took the next id when the socket opened.
    expect(resumeOf(server).id).toBe(3);
    resumeAnswered(server);
    server.send([FrameType.result, 1, 3]);
    server.send([FrameType.result, 1, 'a repeat answer is ignored']);
    server.send([FrameType.result, 2, 'done']);
    await expect(call).resolves.toBe(3);
    await expect(queued).resolves.toBe('done');
  });

  it('answers ERR_CALL_OUTCOME_UNKNOWN for a call sent again and refused ERR_REVOCATION_FEED_STALE (the first attempt may have run), the refusal itself for a first attempt', async () => {
    vi.useFakeTimers();
    const { server, client } = await FakeServer.connected(halfway, { epoch: 'e1' });
    const call = client.call('add', 1, 2);
    const outcome = expect(call).rejects.toMatchObject({ code: 'ERR_CALL_OUTCOME_UNKNOWN' });
    server.drop();
    await vi.advanceTimersByTimeAsync(250);
    resumeAnswered(server);
    server.send([FrameType.error, 1, 'ERR_REVOCATION_FEED_STALE', 'feed behind']);
    await outcome;
    const fresh = client.call('add', 3, 4);
    const id = (server.last as unknown[])[1];
    server.send([FrameType.error, id, 'ERR_REVOCATION_FEED_STALE', 'feed behind']);
    await expect(fresh).rejects.toMatchObject({ code: 'ERR_REVOCATION_FEED_STALE' });
  });

  it('fails a call first sent longer ago than the key window with ERR_CALL_OUTCOME_UNKNOWN', async () => {
    vi.useFakeTimers();
    const { server, client } = await FakeServer.connected({ reconnect: { random: () => 0.5, baseDelayMs: 4000 } }, { callKeyWindowMs: 1000 });
    const call = client.call('slow');
    const failed = expect(call).rejects.toMatchObject({ code: 'ERR_CALL_OUTCOME_UNKNOWN' });
    server.drop();
    await vi.advanceTimersByTimeAsync(2000);
    await failed;
    expect(server.receivedNow.map((f) => f[0])).toEqual([FrameType.resume]);
  });

  it('fails a delegation in flight at a drop with ERR_CALL_OUTCOME_UNKNOWN, and re-sends presence', async () => {
    vi.useFakeTimers();
    const { server, client } = await FakeServer.connected(halfway);
    const got = client.call<Note>('get_note');
    server.send([FrameType.result, 1, serverNote('n1', 'x')]);
    const note = await got;
    const delegated = client.delegate(note.cap, { to: 'bob' });
    const presence = client.presence();
    server.drop();
    await expect(delegated).rejects.toMatchObject({ code: 'ERR_CALL_OUTCOME_UNKNOWN' });
    await vi.advanceTimersByTimeAsync(250);
    expect(server.receivedNow.map((f) => f[0])).toEqual([FrameType.resume, FrameType.presence]);
    resumeAnswered(server);
    server.send([FrameType.result, 3, ['bob']]);
    await expect(presence).resolves.toEqual(['bob']);
  });

  it('keeps call timeouts counting across a reconnect', async () => {
    vi.useFakeTimers();
    const { server, client } = await FakeServer.connected({ ...halfway, callTimeoutMs: 1000 });
    const call = client.call('slow');
    const timedOut = expect(call).rejects.toMatchObject({ code: 'ERR_CALL_TIMEOUT' });
    await vi.advanceTimersByTimeAsync(600);
    server.drop();
    await vi.advanceTimersByTimeAsync(250);
    resumeAnswered(server);
    await vi.advanceTimersByTimeAsync(151);
    await timedOut;
  });

  it('keeps live() and its instance across a drop, and completes it only on deletion', async () => {
    vi.useFakeTimers();
    const { server, client } = await FakeServer.connected(halfway, { epoch: 'e1' });
    const got = client.call<Note>('get_note');
    server.send([FrameType.result, 1, serverNote('n1', 'first')]);
    const note = await got;
    const all = firstValueFrom(client.live(note).pipe(toArray()));
    const changes: number[] = [];
    client.changes.subscribe((c) => changes.push(c.version));
    server.drop();
    await vi.advanceTimersByTimeAsync(250);
    server.hello({ epoch: 'e1' });
    server.send([FrameType.push, ['notes', 'n1'], 'test.client.Note', 2, { text: 'while away' }, 5]);
    resumeAnswered(server, {}, {});
    expect(note.text).toBe('while away');
    server.send([FrameType.push, ['notes', 'n1'], 'test.client.Note', 3, null, 6]);
    const seen = await all;
    // The first state, the one caught up on; then completion on the deletion.
    expect(seen).toHaveLength(2);
    expect(seen.every((n) => n === note)).toBe(true);
    expect(changes).toEqual([2, 3]);
  });

  it('errors live() with the refused code when the resume refuses its only capability', async () => {
    vi.useFakeTimers();
    const { server, client } = await FakeServer.connected(halfway, { epoch: 'e1' });
    const got = client.call<Note[]>('get_notes');
    server.send([FrameType.result, 1, [serverNote('n1', 'a'), serverNote('n2', 'b')]]);
    const [n1, n2] = await got;
    const live1 = firstValueFrom(client.live(n1!).pipe(toArray()));
    const live2: Note[] = [];
    client.live(n2!).subscribe((n) => live2.push(n));
    server.drop();
    await vi.advanceTimersByTimeAsync(250);
    const index = resumeOf(server).body.caps.findIndex((c) => c.revocationId === n1!.cap.revocationId);
    resumeAnswered(server, { refused: [[index, 'ERR_CAPABILITY_EXPIRED']] });
    await expect(live1).rejects.toMatchObject({ code: 'ERR_CAPABILITY_EXPIRED' });
    server.send([FrameType.push, ['notes', 'n2'], 'test.client.Note', 2, { text: 'still live' }]);
    expect(live2).toHaveLength(2);
    // The refused capability is not presented again.
    server.drop();
    await vi.advanceTimersByTimeAsync(250);
    expect(resumeOf(server).body.caps.map((c) => c.scope)).toEqual([['notes', 'n2']]);
  });

  it('errors live() with ERR_CAPABILITY_REVOKED when a revoked notice ends its last capability', async () => {
    const { server, client } = await FakeServer.connected();
    const got = client.call<Note>('get_note');
    server.send([FrameType.result, 1, serverNote('n1', 'a')]);
    const note = await got;
    const live = firstValueFrom(client.live(note).pipe(toArray()));
    server.send([FrameType.revoked, note.cap.revocationId!, ['notes', 'n1'], 'revoked']);
    await expect(live).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
  });

  it('resets every version when the store epoch changed, so the new store\'s states apply', async () => {
    vi.useFakeTimers();
    const { server, client } = await FakeServer.connected(halfway, { epoch: 'e1', seq: 40 });
    const got = client.call<Note>('get_note');
    server.send([FrameType.result, 1, serverNote('n1', 'old store', 12)]);
    const note = await got;
    server.drop();
    await vi.advanceTimersByTimeAsync(250);
    expect(resumeOf(server).body).toMatchObject({ epoch: 'e1', seq: 40 });
    server.hello({ epoch: 'e2', seq: 2 });
    server.send([FrameType.push, ['notes', 'n1'], 'test.client.Note', 1, { text: 'new store' }, 1]);
    expect(note.text).toBe('new store');
    resumeAnswered(server, { epoch: 'e2', seq: 2, snapshot: true }, {});
    server.drop();
    await vi.advanceTimersByTimeAsync(250);
    expect(resumeOf(server).body).toMatchObject({ epoch: 'e2', seq: 2, seen: [[['notes', 'n1'], 1]] });
  });

  it('sends grants as [15, id]', async () => {
    const { server, client } = await FakeServer.connected();
    const grants = client.grants();
    expect(server.last).toEqual([FrameType.grants, 1]);
    server.send([FrameType.result, 1, [{ from: 'bob', cap: new Capability(['notes', 'n1']), object: null, at: 5 }]]);
    const [grant] = await grants;
    expect(grant).toMatchObject({ from: 'bob', object: null, at: 5 });
    expect(grant!.cap.scope).toEqual(['notes', 'n1']);
  });
});

describe('heartbeat', () => {
  it('pings after one quiet interval and gives the connection up after about two', async () => {
    vi.useFakeTimers();
    const { server, client } = await FakeServer.connected(halfway, { pingIntervalMs: 1000 });
    await vi.advanceTimersByTimeAsync(500);
    server.send([FrameType.pong, 0]); // anything heard resets the silence
    await vi.advanceTimersByTimeAsync(999);
    expect(server.received).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.last).toEqual([FrameType.ping, 0]);
    expect(vi.getTimerCount()).toBe(1);
    // Given up once what had arrived by then was read (a timer later: 1 ms under fake timers).
    await vi.advanceTimersByTimeAsync(1000);
    expect(server.sockets[0]!.closeRequests).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.sockets[0]!.closeRequests).toEqual([{ code: 4000, reason: 'server silent for two ping intervals' }]);
    expect(client.connectionState.value).toBe('reconnecting');
    expect(client.lastClose?.code).toBe(4000);
  });

  it('reads what already arrived before it gives the connection up after this process was stalled', async () => {
    vi.useFakeTimers();
    const { server, client } = await FakeServer.connected(halfway, { pingIntervalMs: 1000 });
    // Stalled for three intervals: no timer ran, and the server's answer waits to be read when the check fires.
    vi.setSystemTime(Date.now() + 3000);
    vi.advanceTimersToNextTimer();
    server.send([FrameType.pong, 0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.sockets[0]!.closeRequests).toEqual([]);
    expect(client.connectionState.value).toBe('connected');
    // Silent for real after that: pinged after one interval, given up after two.
    await vi.advanceTimersByTimeAsync(999);
    expect(server.last).toEqual([FrameType.ping, 0]);
    await vi.advanceTimersByTimeAsync(1001);
    expect(server.sockets[0]!.closeRequests).toEqual([{ code: 4000, reason: 'server silent for two ping intervals' }]);
  });
});
