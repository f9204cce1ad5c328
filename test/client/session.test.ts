import { firstValueFrom, toArray } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Capability } from '../../protocol/capability/capability.js';
import { FrameType } from '../../protocol/frames.js';
import { ext } from '../protocol/helpers.js';
import { FakeServer, Note } from './fake-server.js';

afterEach(() => {
  vi.useRealTimers();
});

/** Resolves with what the promise settled to, or 'pending' if it has not settled by the end of this turn. */
async function state(promise: Promise<unknown>): Promise<unknown> {
  const marker = Symbol('pending');
  const settled = await Promise.race([promise.then((v) => ({ value: v }), (e: unknown) => ({ error: e })), Promise.resolve().then(() => marker)]);
  return settled === marker ? 'pending' : settled;
}

/** A Note as the server hands it out: with a server-signed capability. */
function serverNote(id: string, text: string, version = 1): Note {
  return Object.assign(new Note(id, text), { version, cap: new Capability(['notes', id]) });
}

describe('the hello', () => {
  it('connects only once the hello arrives, and takes the user and token expiry from it', async () => {
    const { server, connecting } = await FakeServer.start();
    expect(await state(connecting)).toBe('pending');
    server.hello({ user: { id: 'alice', roles: ['editor'] }, tokenExpiresAt: 1_700_000_060_000 });
    const client = await connecting;
    expect(client.user).toEqual({ id: 'alice', roles: ['editor'] });
    expect(client.tokenExpiresAt).toBe(1_700_000_060_000);
    expect(server.received).toEqual([]);
  });

  it('fails to connect with ERR_NOT_CONNECTED when the socket closes before the hello', async () => {
    const { server, connecting } = await FakeServer.start();
    server.drop(1006);
    await expect(connecting).rejects.toMatchObject({ code: 'ERR_NOT_CONNECTED' });
  });

  it('fails to connect with ERR_NOT_CONNECTED when no hello comes in time, and closes the socket', async () => {
    vi.useFakeTimers();
    const { server, connecting } = await FakeServer.start({ connectTimeoutMs: 500 });
    const outcome = expect(connecting).rejects.toMatchObject({ code: 'ERR_NOT_CONNECTED' });
    await vi.advanceTimersByTimeAsync(500);
    await outcome;
    expect(server.socket.closeRequests).toHaveLength(1);
  });

  it('answers a ping with a pong carrying the same nonce', async () => {
    const { server } = await FakeServer.connected();
    server.send([FrameType.ping, 77]);
    expect(server.received).toEqual([[FrameType.pong, 77]]);
  });
});

describe('calls', () => {
  it('sends each call with its own id and settles each by the id of its answer', async () => {
    const { server, client } = await FakeServer.connected();
    const first = client.call('add', 1, 2);
    const second = client.call('get_note', 'n1');
    expect(server.received).toEqual([
      [FrameType.call, 1, 'add', [1, 2], expect.stringMatching(/^[0-9a-f]{24}\.[0-9a-z]+$/)],
      [FrameType.call, 2, 'get_note', ['n1'], expect.stringMatching(/^[0-9a-f]{24}\.[0-9a-z]+$/)],
    ]);
    // Every call carries its own key, so a repeat after a reconnect runs it at most once.
    expect((server.received[0] as unknown[])[4]).not.toBe((server.received[1] as unknown[])[4]);
    // Answers in the other order: each settles its own call.
    server.send([FrameType.error, 2, 'ERR_NOT_FOUND', 'no such note']);
    server.send([FrameType.result, 1, 3]);
    await expect(first).resolves.toBe(3);
    await expect(second).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
  });

  it('reports an error code it does not know as ERR_FUNCTION_FAILED', async () => {
    const { server, client } = await FakeServer.connected();
    const call = client.call('f');
    server.send([FrameType.error, 1, 'ERR_FROM_THE_FUTURE', 'whatever']);
    await expect(call).rejects.toMatchObject({ code: 'ERR_FUNCTION_FAILED' });
  });

  it('ignores an answer to an id it never used', async () => {
    const { server, client } = await FakeServer.connected();
    const call = client.call('f');
    server.send([FrameType.result, 99, 'stray']);
    expect(await state(call)).toBe('pending');
    server.send([FrameType.result, 1, 'mine']);
    await expect(call).resolves.toBe('mine');
  });

  it('fails a call with ERR_CALL_TIMEOUT at its deadline, each call at its own', async () => {
    vi.useFakeTimers();
    const { server, client } = await FakeServer.connected({ callTimeoutMs: 1000 });
    const early = client.call('slow');
    const earlyFailed = expect(early).rejects.toMatchObject({ code: 'ERR_CALL_TIMEOUT' });
    await vi.advanceTimersByTimeAsync(600);
    const late = client.call('slow');
    await vi.advanceTimersByTimeAsync(401);
    await earlyFailed;
    expect(await state(late)).toBe('pending');
    await vi.advanceTimersByTimeAsync(600);
    await expect(late).rejects.toMatchObject({ code: 'ERR_CALL_TIMEOUT' });
    // An answer after the timeout is ignored.
    server.send([FrameType.result, 1, 'too late']);
  });

  it('fails a call at once when its answer cannot be decoded, with the decoder\'s code', async () => {
    const { server, client } = await FakeServer.connected({ callTimeoutMs: 3_600_000 });
    const call = client.call('get_unknown');
    const payload = server.codec.packr.pack(['test.client.NeverRegistered', { a: 1 }]);
    server.sendBytes(Uint8Array.from([0x93, FrameType.result, 0x01, ...ext(2, payload)]));
    await expect(call).rejects.toMatchObject({ code: 'ERR_PORTABLE_UNKNOWN' });
    // The session goes on.
    const next = client.call('f');
    server.send([FrameType.result, 2, 'ok']);
    await expect(next).resolves.toBe('ok');
  });

  it('fails a call whose arguments cannot be encoded without sending anything', async () => {
    const { server, client } = await FakeServer.connected();
    await expect(client.call('f', 10n ** 30n)).rejects.toMatchObject({ code: 'ERR_NOT_ENCODABLE' });
    expect(server.bytes).toEqual([]);
  });

  it('sends a capability whole once, then by its handle', async () => {
    const { server, client } = await FakeServer.connected();
    const got = client.call<Note>('get_note');
    server.send([FrameType.result, 1, serverNote('n1', 'hello')]);
    const note = await got;
    void note.rename('a');
    void note.rename('b');
    // The first binds handle 0 (extension type 6), the second sends only the handle (fixext 4, type 5).
    const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
    // [1, 2, "rename_note", [<ext 6: handle 0 + token>, "a"], key, [key of call 1]] (it acknowledges the answer
    // to call 1) then [1, 3, "rename_note", [<ext 5: handle 0>, "b"], key]
    expect(hexOf(server.bytes[1]!)).toMatch(/^960102ab72656e616d655f6e6f746592c7[0-9a-f]{2}0600000000/);
    expect((server.received[1] as unknown[])[5]).toEqual([(server.received[0] as unknown[])[4]]);
    const key = (server.received[2] as unknown[])[4] as string;
    const keyHex = Buffer.from(key).toString('hex');
    const keyHeader = key.length < 32 ? (0xa0 | key.length).toString(16) : 'd9' + key.length.toString(16).padStart(2, '0');
    expect(hexOf(server.bytes[2]!)).toBe('950103ab72656e616d655f6e6f746592d60500000000a162' + keyHeader + keyHex);
    // And the server side reads both as the same capability.
    const [first, second] = server.received.slice(1) as [[number, number, string, unknown[]], [number, number, string, unknown[]]];
    expect(server.refused).toEqual([]);
    expect((first[3][0] as Capability).scope).toEqual(['notes', 'n1']);
    expect(second[3][0]).toBe(first[3][0]);
  });
});

describe('live objects', () => {
  it('updates a held instance in place on a push, and live() emits that same instance', async () => {
    const { server, client } = await FakeServer.connected();
    const got = client.call<Note>('get_note');
    server.send([FrameType.result, 1, serverNote('n1', 'first')]);
    const note = await got;
    expect(note).toBeInstanceOf(Note);
    const seen: Note[] = [];
    client.live(note).subscribe((n) => seen.push(n));
    const changes = firstValueFrom(client.changes);
    server.send([FrameType.push, ['notes', 'n1'], 'test.client.Note', 2, { id: 'n1', text: 'second' }]);
    expect(note.text).toBe('second');
    expect(seen).toHaveLength(2);
    expect(seen.every((n) => n === note)).toBe(true);
    expect(await changes).toEqual({ address: ['notes', 'n1'], type: 'test.client.Note', version: 2, deleted: false, state: { id: 'n1', text: 'second' } });
    // The capability, never part of a push, is still the instance's own.
    expect(note.cap.scope).toEqual(['notes', 'n1']);
  });

  it('drops a push older than the state it already has', async () => {
    const { server, client } = await FakeServer.connected();
    const got = client.call<Note>('get_note');
    server.send([FrameType.result, 1, serverNote('n1', 'at five', 5)]);
    const note = await got;
    server.send([FrameType.push, ['notes', 'n1'], 'test.client.Note', 4, { id: 'n1', text: 'at four' }]);
    expect(note.text).toBe('at five');
  });

  it('refuses a push whose field would shadow a method, and the session goes on', async () => {
    const { server, client } = await FakeServer.connected();
    const got = client.call<Note>('get_note');
    server.send([FrameType.result, 1, serverNote('n1', 'first')]);
    const note = await got;
    const seen: Note[] = [];
    const changes: unknown[] = [];
    client.live(note).subscribe((n) => seen.push(n));
    client.changes.subscribe((c) => changes.push(c));
    for (const field of ['rename', 'constructor', 'toString', 'hasOwnProperty']) {
      server.send([FrameType.push, ['notes', 'n1'], 'test.client.Note', 2, { text: 'owned', [field]: 'not a function' }]);
    }
    expect(typeof note.rename).toBe('function');
    expect(Object.keys(note)).not.toContain('rename');
    expect(note.text).toBe('first');
    expect(seen).toHaveLength(1);
    expect(changes).toEqual([]);
    // A push of another class for the same address is refused too.
    server.send([FrameType.push, ['notes', 'n1'], 'test.client.Other', 2, { text: 'other class' }]);
    expect(note.text).toBe('first');
    // The refused pushes did not consume the version: a valid push at version 2 applies.
    server.send([FrameType.push, ['notes', 'n1'], 'test.client.Note', 2, { text: 'valid' }]);
    expect(note.text).toBe('valid');
    const call = client.call('f');
    server.send([FrameType.result, 2, 'still talking']);
    await expect(call).resolves.toBe('still talking');
  });

  it('refuses a push that shadows a method even for an object it holds no instance of', async () => {
    const { server, client } = await FakeServer.connected();
    const changes: unknown[] = [];
    client.changes.subscribe((c) => changes.push(c));
    server.send([FrameType.push, ['notes', 'elsewhere'], 'test.client.Note', 1, { rename: 1 }]);
    server.send([FrameType.push, ['notes', 'elsewhere'], 'test.client.Note', 2, { text: 'fine' }]);
    expect(changes).toEqual([expect.objectContaining({ version: 2 })]);
  });

  it('completes live() when the object is deleted', async () => {
    const { server, client } = await FakeServer.connected();
    const got = client.call<Note>('get_note');
    server.send([FrameType.result, 1, serverNote('n1', 'first')]);
    const note = await got;
    const all = firstValueFrom(client.live(note).pipe(toArray()));
    server.send([FrameType.push, ['notes', 'n1'], 'test.client.Note', 2, null]);
    expect(await all).toEqual([note]);
  });

  it('fails live() with ERR_PORTABLE_INVALID for an object without a live address', async () => {
    const { client } = await FakeServer.connected();
    await expect(firstValueFrom(client.live({}))).rejects.toMatchObject({ code: 'ERR_PORTABLE_INVALID' });
  });
});

describe('notices that arrive before anyone subscribes', () => {
  it('replays a tokenExpiring notice that came with the hello to a later subscriber', async () => {
    const { server, connecting } = await FakeServer.start();
    // Both frames in the same turn, as when they arrive in one read: nobody can have subscribed yet.
    server.hello({ tokenExpiresAt: 1_700_000_010_000 });
    server.send([FrameType.tokenExpiring, 1_700_000_010_000]);
    const client = await connecting;
    expect(client.tokenExpiresAt).toBe(1_700_000_010_000);
    expect(await firstValueFrom(client.tokenExpiring)).toBe(1_700_000_010_000);
    // A second, later subscriber gets it too: the notice stands until a refresh answers it.
    expect(await firstValueFrom(client.tokenExpiring)).toBe(1_700_000_010_000);
  });

  it('clears the notice once a refresh moves the expiry past it', async () => {
    const { server, client } = await FakeServer.connected({}, { tokenExpiresAt: 1_700_000_010_000 });
    server.send([FrameType.tokenExpiring, 1_700_000_010_000]);
    const refreshed = client.refresh('a.fresh.jwt');
    expect(server.last).toEqual([FrameType.refresh, 1, 'a.fresh.jwt']);
    server.send([FrameType.result, 1, { expiresAt: 1_700_003_600_000 }]);
    await expect(refreshed).resolves.toEqual({ expiresAt: 1_700_003_600_000 });
    expect(client.tokenExpiresAt).toBe(1_700_003_600_000);
    const heard: number[] = [];
    client.tokenExpiring.subscribe((at) => heard.push(at));
    expect(heard).toEqual([]);
    server.send([FrameType.tokenExpiring, 1_700_003_600_000]);
    expect(heard).toEqual([1_700_003_600_000]);
  });

  it('keeps the notice when a refresh fails', async () => {
    const { server, client } = await FakeServer.connected({}, { tokenExpiresAt: 1_700_000_010_000 });
    server.send([FrameType.tokenExpiring, 1_700_000_010_000]);
    const refused = client.refresh('someone.elses.jwt');
    server.send([FrameType.error, 1, 'ERR_AUTH_INVALID', 'another user']);
    await expect(refused).rejects.toMatchObject({ code: 'ERR_AUTH_INVALID' });
    expect(client.tokenExpiresAt).toBe(1_700_000_010_000);
    expect(await firstValueFrom(client.tokenExpiring)).toBe(1_700_000_010_000);
  });

  it('keeps a delegation that arrived before anyone subscribed, with its object attached to the session', async () => {
    const { server, connecting } = await FakeServer.start();
    server.hello();
    server.send([FrameType.delegation, { from: 'bob', cap: new Capability(['notes', 'n1']), object: serverNote('n1', 'shared') }]);
    const client = await connecting;
    const delegation = await firstValueFrom(client.delegations);
    expect(delegation.from).toBe('bob');
    expect(delegation.cap.scope).toEqual(['notes', 'n1']);
    const note = delegation.object as Note;
    expect(note).toBeInstanceOf(Note);
    const renamed = note.rename('mine now');
    expect(server.last).toEqual([FrameType.call, 1, 'rename_note', [expect.any(Capability), 'mine now'], expect.any(String)]);
    server.send([FrameType.result, 1, 2]);
    await expect(renamed).resolves.toBe(2);
  });

  it('hands delegations held while nobody listened to the next subscribers in order, one each', async () => {
    const { server, client } = await FakeServer.connected();
    for (const from of ['a', 'b', 'c']) server.send([FrameType.delegation, { from, cap: new Capability(['notes', from]), object: null }]);
    expect((await firstValueFrom(client.delegations)).from).toBe('a');
    const rest: string[] = [];
    const sub = client.delegations.subscribe((d) => rest.push(d.from));
    server.send([FrameType.delegation, { from: 'd', cap: new Capability(['notes', 'd']), object: null }]);
    sub.unsubscribe();
    expect(rest).toEqual(['b', 'c', 'd']);
  });

  it('keeps a revocation notice that arrived before anyone subscribed', async () => {
    const { server, client } = await FakeServer.connected();
    server.send([FrameType.revoked, 'rid', ['notes', 'n1'], 'expired']);
    expect(await firstValueFrom(client.revocations)).toEqual({ revocationId: 'rid', scope: ['notes', 'n1'], reason: 'expired' });
  });
});

describe('closing', () => {
  it('without reconnecting, a drop fails pending requests with ERR_CONNECTION_CLOSED, ends the streams, and refuses new calls', async () => {
    const { server, client } = await FakeServer.connected({ reconnect: false });
    const got = client.call<Note>('get_note');
    server.send([FrameType.result, 1, serverNote('n1', 'first')]);
    const note = await got;
    const live = firstValueFrom(client.live(note).pipe(toArray()));
    const changes = firstValueFrom(client.changes.pipe(toArray()));
    const pending = [client.call('a'), client.presence(), client.revoke(note.cap)];
    server.drop(1006, 'gone');
    for (const call of pending) await expect(call).rejects.toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
    expect(await client.closed).toEqual({ code: 1006, reason: 'gone' });
    expect(client.connectionState.value).toBe('closed');
    // A lost session is not a deletion: live() says so with an error, not a completion.
    await expect(live).rejects.toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
    expect(await changes).toEqual([]);
    await expect(client.call('after')).rejects.toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
    await expect(firstValueFrom(client.live(note).pipe(toArray()))).rejects.toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
  });

  it('close() by the app fails pending requests at once and completes live()', async () => {
    const { server, client } = await FakeServer.connected();
    const got = client.call<Note>('get_note');
    server.send([FrameType.result, 1, serverNote('n1', 'first')]);
    const note = await got;
    const live = firstValueFrom(client.live(note).pipe(toArray()));
    const pending = [client.call('a'), client.presence()];
    void client.close();
    for (const call of pending) await expect(call).rejects.toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
    expect(await live).toEqual([note]);
    expect(client.connectionState.value).toBe('closed');
    expect(server.sockets).toHaveLength(1);
  });

  it('closes the socket with the code it is given', async () => {
    const { server, client } = await FakeServer.connected();
    const call = client.call('a');
    expect(await client.close(4321, 'bye')).toEqual({ code: 4321, reason: 'bye' });
    expect(server.socket.closeRequests).toEqual([{ code: 4321, reason: 'bye' }]);
    await expect(call).rejects.toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
    // Closing again neither throws nor closes twice.
    await client.close();
    expect(server.socket.closeRequests).toHaveLength(1);
  });
});
