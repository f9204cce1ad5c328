import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type CapsyncClient } from '../../client/index.js';
import { Capability } from '../../protocol/capability/capability.js';
import { Codec } from '../../protocol/codec.js';
import { CloseCode } from '../../protocol/errors.js';
import { FrameType } from '../../protocol/frames.js';
import { CapsyncServer, silentLogger } from '../../server/index.js';
import { RawPeer } from '../../bench/fuzz/raw-peer.js';
import { SECRET } from '../helpers.js';
import { ext } from '../protocol/helpers.js';

/** Each test pins one statement of protocol/SPEC.md that an independent client had to guess (issue 11). */
let server: CapsyncServer | undefined;
const peers: RawPeer[] = [];
const clients: CapsyncClient[] = [];
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await server?.close();
  server = undefined;
});

async function serve(): Promise<CapsyncServer> {
  server = await CapsyncServer.create({ auth: { secret: SECRET }, logger: silentLogger });
  server.callable('echo', (_ctx, ...args: unknown[]) => args);
  server.callable('caps', () => [new Capability(['notes', 'a']), new Capability(['notes', 'b'])]);
  await server.listen(0, '127.0.0.1');
  return server;
}
const jwt = (id: string): Promise<string> => server!.auth.issue({ id, roles: [] });
async function peerAs(id: string): Promise<RawPeer> {
  const peer = await RawPeer.open(server!.url, await jwt(id));
  peers.push(peer);
  return peer;
}
/** The capability tokens the server sends `peer` (bound to its user). */
async function tokensOf(peer: RawPeer): Promise<Uint8Array[]> {
  const answer = peer.next((f) => Array.isArray(f) && f[0] === FrameType.result && f[1] === 1);
  peer.send(codec.encode([FrameType.call, 1, 'caps', []]));
  return ((await answer) as [number, number, Capability[]])[2].map((c) => c.toToken());
}
/** Sends `bytes` and waits for the result or error answering `id`. */
async function answer(peer: RawPeer, bytes: Uint8Array, id: number): Promise<unknown[]> {
  const got = peer.next((f) => Array.isArray(f) && (f[0] === FrameType.result || f[0] === FrameType.error) && f[1] === id);
  peer.send(bytes);
  return (await got) as unknown[];
}

const codec = new Codec();
const plain = new Packr({ useRecords: false });
const str = (s: string): number[] => [0xa0 + s.length, ...Buffer.from(s)];
const u32 = (n: number): number[] => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const bind = (handle: number, token: Uint8Array): number[] => [...ext(6, Uint8Array.from([...u32(handle), ...token]))];
const handle = (n: number): number[] => [0xd6, 0x05, ...u32(n)];
/** `[1, id, name, [args...]]` with raw argument bytes. */
const call = (id: number, name: string, args: number[][]): Uint8Array => Uint8Array.from([0x94, FrameType.call, id, ...str(name), 0x90 + args.length, ...args.flat()]);
const unknownPortable = [...ext(2, plain.pack(['test.spec.NoSuchClass', {}]))];

describe('SPEC 3.7: handles', () => {
  it('numbers several new handles in one frame in the order the frame holds them', async () => {
    await serve();
    const peer = await peerAs('alice');
    const [a, b] = await tokensOf(peer);
    expect((await answer(peer, call(2, 'echo', [bind(0, a!), bind(1, b!)]), 2))[0]).toBe(FrameType.result);
    const used = await answer(peer, call(3, 'echo', [handle(1), handle(0)]), 3);
    expect((used[2] as Capability[]).map((c) => c.scope)).toEqual([['notes', 'b'], ['notes', 'a']]);
  });

  it('keeps a binding made in a frame refused after it decodes, before and after the failing part', async () => {
    await serve();
    const peer = await peerAs('alice');
    const [a, b] = await tokensOf(peer);
    const refused = await answer(peer, call(2, 'echo', [bind(0, a!), unknownPortable, bind(1, b!)]), 2);
    expect(refused[2]).toBe('ERR_PORTABLE_UNKNOWN');
    const used = await answer(peer, call(3, 'echo', [handle(0), handle(1)]), 3);
    expect((used[2] as Capability[]).map((c) => c.scope)).toEqual([['notes', 'a'], ['notes', 'b']]);
  });

  it('keeps a binding made in a frame whose shape is refused, or that calls no function', async () => {
    await serve();
    const peer = await peerAs('alice');
    const [a, b] = await tokensOf(peer);
    expect((await answer(peer, call(2, 'no_such_function', [bind(0, a!)]), 2))[2]).toBe('ERR_FUNCTION_UNKNOWN');
    // A delegate frame with an option it does not admit: ERR_FRAME_INVALID, the binding stays.
    const invalid = Uint8Array.from([0x95, FrameType.delegate, 3, ...str('bob'), ...bind(1, b!), 0x81, ...str('x'), 0x01]);
    expect((await answer(peer, invalid, 3))[2]).toBe('ERR_FRAME_INVALID');
    expect((await answer(peer, call(4, 'echo', [handle(0), handle(1)]), 4))[0]).toBe(FrameType.result);
  });

  it('binds nothing from a frame the scan refuses: its handle is still the next one to bind', async () => {
    await serve();
    const peer = await peerAs('alice');
    const [a] = await tokensOf(peer);
    expect((await answer(peer, call(2, 'echo', [bind(0, a!), [0xc1]]), 2))[2]).toBe('ERR_FRAME_MALFORMED');
    expect((await answer(peer, call(3, 'echo', [handle(0)]), 3))[2]).toBe('ERR_CAPABILITY_MALFORMED');
    expect((await answer(peer, call(4, 'echo', [bind(0, a!)]), 4))[0]).toBe(FrameType.result);
  });

  it('accepts handles in delegate and revoke frames', async () => {
    await serve();
    const peer = await peerAs('alice');
    const bob = await connect(server!.url, { token: await jwt('bob'), reconnect: false });
    clients.push(bob);
    const [a, b] = await tokensOf(peer);
    expect((await answer(peer, call(2, 'echo', [bind(0, a!), bind(1, b!)]), 2))[0]).toBe(FrameType.result);
    const delegated = await answer(peer, Uint8Array.from([0x95, FrameType.delegate, 3, ...str('bob'), ...handle(0), 0x80]), 3);
    expect(delegated[0]).toBe(FrameType.result);
    expect((delegated[2] as { delivered: number }).delivered).toBe(1);
    const revoked = await answer(peer, Uint8Array.from([0x93, FrameType.revoke, 4, ...handle(1)]), 4);
    expect(revoked[0]).toBe(FrameType.result);
    expect((await answer(peer, call(5, 'echo', [handle(1)]), 5))[2]).toBe('ERR_CAPABILITY_REVOKED');
  });
});

describe('SPEC 5: delegate', () => {
  it('refuses to delegate a capability bound to the recipient, sent by someone else, with ERR_CAPABILITY_AUDIENCE', async () => {
    await serve();
    const bobPeer = await peerAs('bob');
    const [bobs] = await tokensOf(bobPeer);
    const alice = await peerAs('alice');
    const frame = Uint8Array.from([0x95, FrameType.delegate, 2, ...str('bob'), ...ext(1, bobs!), 0x80]);
    const refused = await answer(alice, frame, 2);
    expect(refused[2]).toBe('ERR_CAPABILITY_AUDIENCE');
  });
});

describe('SPEC 7: maxBadFrames', () => {
  it('answers 16 refused frames and keeps the connection, then answers the 17th and closes with 4003', async () => {
    await serve();
    const peer = await peerAs('alice');
    for (let i = 0; i < 16; i++) {
      const refused = await peer.errorFor(call(100 + i, 'echo', [[0xc1]]), 100 + i);
      expect(refused[2]).toBe('ERR_FRAME_MALFORMED');
    }
    const pong = peer.next((f) => Array.isArray(f) && f[0] === FrameType.pong && f[1] === 5);
    peer.send(codec.encode([FrameType.ping, 5]));
    await pong;
    const last = await peer.errorFor(call(120, 'echo', [[0xc1]]), 120);
    expect(last[2]).toBe('ERR_FRAME_MALFORMED');
    expect((await peer.closed).code).toBe(CloseCode.tooManyBadFrames);
  });

  it('never counts call-level errors: unknown functions and capabilities that fail verification leave it open', async () => {
    await serve();
    const peer = await peerAs('alice');
    const [a] = await tokensOf(peer);
    const tampered = Uint8Array.from(a!);
    tampered[tampered.length - 1]! ^= 1; // the tag: decodes, fails its signature
    for (let i = 0; i < 40; i++) {
      const bytes = i % 2 === 0 ? call(0x20 + i, 'no_such_function', []) : call(0x20 + i, 'echo', [[...ext(1, tampered)]]);
      const refused = await answer(peer, bytes, 0x20 + i);
      expect(refused[2]).toBe(i % 2 === 0 ? 'ERR_FUNCTION_UNKNOWN' : 'ERR_CAPABILITY_BAD_SIGNATURE');
    }
    expect((await answer(peer, call(0x70, 'echo', [[0x01]]), 0x70))[0]).toBe(FrameType.result);
    expect(peer.closeCode).toBeUndefined();
  });

  it('counts a token that does not decode (ERR_CAPABILITY_MALFORMED) as a refused frame', async () => {
    await serve();
    const peer = await peerAs('alice');
    for (let i = 0; i < 17; i++) {
      const refused = await peer.errorFor(call(0x20 + i, 'echo', [[...ext(1, Uint8Array.from([0x91, 0xa1, 0x78]))]]), 0x20 + i);
      expect(refused[2]).toBe('ERR_CAPABILITY_MALFORMED');
    }
    expect((await peer.closed).code).toBe(CloseCode.tooManyBadFrames);
  });

  it('counts text frames and frames of a type only a server sends', async () => {
    await serve();
    const peer = await peerAs('alice');
    for (let i = 0; i < 8; i++) await peer.errorFor(Uint8Array.from([0x93, FrameType.result, i, 0xc0]), null);
    for (let i = 0; i < 9; i++) {
      const answered = peer.next((f) => Array.isArray(f) && f[0] === FrameType.error);
      peer.send('text');
      await answered;
    }
    expect((await peer.closed).code).toBe(CloseCode.tooManyBadFrames);
  });
});

describe('SPEC 1: duplicate map keys', () => {
  it('keeps the last value of a key given twice', async () => {
    await serve();
    const peer = await peerAs('alice');
    const result = await answer(peer, call(2, 'echo', [[0x82, ...str('a'), 0x01, ...str('a'), 0x02]]), 2);
    expect(result[2]).toEqual([{ a: 2 }]);
  });
});
