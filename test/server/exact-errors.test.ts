import { firstValueFrom } from 'rxjs';
import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type CapsyncClient } from '../../client/index.js';
import { Codec } from '../../protocol/codec.js';
import { FrameType } from '../../protocol/frames.js';
import { CapsyncServer, silentLogger } from '../../server/index.js';
import { FakeServer, Note } from '../client/fake-server.js';
import { RawPeer } from '../../bench/fuzz/raw-peer.js';
import { SECRET } from '../helpers.js';
import { codeOf, ext } from '../protocol/helpers.js';

let server: CapsyncServer | undefined;
let client: CapsyncClient | undefined;
let peer: RawPeer | undefined;
afterEach(async () => {
  await peer?.close();
  await client?.close();
  await server?.close();
  server = client = peer = undefined;
});

let ran = 0;
async function serve(): Promise<CapsyncServer> {
  ran = 0;
  server = await CapsyncServer.create({ auth: { secret: SECRET }, logger: silentLogger });
  server.callable('echo', (_ctx, value: unknown) => {
    ran++;
    return value;
  });
  await server.listen(0, '127.0.0.1');
  return server;
}

const plain = new Packr({ useRecords: false });
/** A portable object's bytes (extension type 2) around any payload bytes. */
const portable = (payload: Uint8Array): number[] => [...ext(2, payload)];
/** `[1, id, "echo", [arg]]` with `arg` given as raw bytes. */
const callWith = (id: number, arg: number[]): Uint8Array => Uint8Array.from([0x94, FrameType.call, id, 0xa4, ...Buffer.from('echo'), 0x91, ...arg]);

describe('a portable class registered on one side only', () => {
  it('fails a result holding it with ERR_PORTABLE_UNKNOWN naming the class and the type-only import', async () => {
    const { server: fake, client: c } = await FakeServer.connected({ callTimeoutMs: 3_600_000 });
    const call = c.call('get');
    fake.sendBytes(Uint8Array.from([0x93, FrameType.result, 1, ...portable(plain.pack(['test.exact.Audio', { a: 1 }]))]));
    const error = await call.catch((e: unknown) => e as { code: string; message: string });
    expect(error.code).toBe('ERR_PORTABLE_UNKNOWN');
    expect(error.message).toContain('"test.exact.Audio"');
    expect(error.message).toContain('import type');
  });

  it('errors the live stream of an object whose push holds it, and the session goes on', async () => {
    const { server: fake, client: c } = await FakeServer.connected({ callTimeoutMs: 3_600_000 });
    const got = c.call<Note>('get_note');
    fake.send([FrameType.result, 1, new Note('n1', 'first')]);
    const note = await got;
    const stream = firstValueFrom(c.live(note).pipe());
    await stream; // the current state
    const failed = new Promise<{ code: string; message: string }>((resolve) => c.live(note).subscribe({ error: resolve }));
    // [4, ["notes","n1"], "test.client.Note", 2, {text: <Audio>}]: the address is plain, the state is not.
    const address = [0x92, 0xa5, ...Buffer.from('notes'), 0xa2, ...Buffer.from('n1')];
    const type = [0xb0, ...Buffer.from('test.client.Note')];
    const state = [0x81, 0xa4, ...Buffer.from('text'), ...portable(plain.pack(['test.exact.Audio', {}]))];
    fake.sendBytes(Uint8Array.from([0x95, FrameType.push, ...address, ...type, 2, ...state]));
    const error = await failed;
    expect(error.code).toBe('ERR_PORTABLE_UNKNOWN');
    expect(error.message).toContain('"test.exact.Audio"');
    const call = c.call('f');
    fake.send([FrameType.result, 2, 'still talking']);
    await expect(call).resolves.toBe('still talking');
  });

  it('answers a call whose argument holds it with ERR_PORTABLE_UNKNOWN for that call id, naming the class', async () => {
    const s = await serve();
    peer = await RawPeer.open(s.url, await s.auth.issue({ id: 'prober', roles: [] }));
    const [, id, code, message] = await peer.errorFor(callWith(7, portable(plain.pack(['test.exact.Audio', {}]))), 7);
    expect([id, code]).toEqual([7, 'ERR_PORTABLE_UNKNOWN']);
    expect(message).toContain('"test.exact.Audio"');
    expect(ran).toBe(0);
  });
});

describe('a portable payload with bytes after its value', () => {
  const payload = [...plain.pack(['test.client.Note', { id: 'n1' }]), 0xc0];

  it('is ERR_PORTABLE_INVALID (valid msgpack, not one portable object) to the codec', () => {
    expect(codeOf(() => new Codec().decode(Uint8Array.from(portable(Uint8Array.from(payload)))))).toBe('ERR_PORTABLE_INVALID');
  });

  it('is answered by the server with ERR_PORTABLE_INVALID for the call id', async () => {
    const s = await serve();
    peer = await RawPeer.open(s.url, await s.auth.issue({ id: 'prober', roles: [] }));
    const [, id, code] = await peer.errorFor(callWith(9, portable(Uint8Array.from(payload))), 9);
    expect([id, code]).toEqual([9, 'ERR_PORTABLE_INVALID']);
  });
});

describe('frames the scan refuses carry the request id when its first bytes hold one', () => {
  const long = (n: number): number[] => [0xda, n >> 8, n & 0xff, ...new Uint8Array(n).fill(0x61)];
  const deep = (n: number): number[] => [...new Array<number>(n).fill(0x91), 0x01];
  it.each([
    ['a string over maxStringBytes', 'ERR_LIMIT_STRING', callWith(300, [0xdb, 0x00, 0x05, 0x00, 0x00, ...new Uint8Array(300_000).fill(0x61)])],
    ['nesting over maxDepth', 'ERR_LIMIT_DEPTH', callWith(301, deep(40))],
    ['trailing bytes', 'ERR_FRAME_TRAILING_BYTES', Uint8Array.from([...callWith(302, [0x01]), 0xc0])],
    ['a truncated argument', 'ERR_FRAME_TRUNCATED', callWith(303, long(10)).subarray(0, 15)],
    ['an unknown extension type', 'ERR_EXTENSION_UNKNOWN', callWith(304, [0xd4, 0x65, 0x00])],
    ['the byte 0xc1', 'ERR_FRAME_MALFORMED', callWith(305, [0xc1])],
    ['a non-string map key', 'ERR_NON_STRING_KEY', callWith(306, [0x81, 0x01, 0x02])],
  ])('%s: %s with the id', async (_, expected, bytes) => {
    const s = await serve();
    peer = await RawPeer.open(s.url, await s.auth.issue({ id: 'prober', roles: [] }));
    const id = (bytes[2] === 0xcd ? (bytes[3]! << 8) | bytes[4]! : bytes[2])!;
    const [, answered, code] = await peer.errorFor(bytes, id);
    expect([answered, code]).toEqual([id, expected]);
  });

  it('carries nil when the id cannot be read (not a list, or a type without an id)', async () => {
    const s = await serve();
    peer = await RawPeer.open(s.url, await s.auth.issue({ id: 'prober', roles: [] }));
    expect((await peer.errorFor(Uint8Array.from([0xc1]), null))[2]).toBe('ERR_FRAME_MALFORMED');
    expect((await peer.errorFor(Uint8Array.from([0x92, FrameType.ping, 0xc1]), null))[2]).toBe('ERR_FRAME_MALFORMED');
  });
});

describe('a call argument over a limit', () => {
  it('fails at once at the sender with the limit\'s code, and nothing reaches the server', async () => {
    const s = await serve();
    client = await connect(s.url, { token: await s.auth.issue({ id: 'prober', roles: [] }), callTimeoutMs: 3_600_000 });
    await expect(client.call('echo', 'x'.repeat(300_000))).rejects.toMatchObject({ code: 'ERR_LIMIT_STRING' });
    let nested: unknown = 1;
    for (let i = 0; i < 40; i++) nested = [nested];
    await expect(client.call('echo', nested)).rejects.toMatchObject({ code: 'ERR_LIMIT_DEPTH' });
    await expect(client.call('echo', new Uint8Array(600_000))).rejects.toMatchObject({ code: 'ERR_LIMIT_BINARY' });
    await expect(client.call('echo', 'y'.repeat(200_000), 'y'.repeat(200_000), 'y'.repeat(200_000), 'y'.repeat(200_000), 'y'.repeat(200_000), 'y'.repeat(200_000))).rejects.toMatchObject({ code: 'ERR_FRAME_TOO_LARGE' });
    // The session goes on, and the refused calls never ran.
    await expect(client.call('echo', 'fits')).resolves.toBe('fits');
    expect(ran).toBe(1);
  });
});
