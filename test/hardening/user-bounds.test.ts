import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { FrameType, type CapsyncClient } from '../../client/index.js';
import { CloseCode } from '../../protocol/errors.js';
import { hubOf } from '../../server/server.js';
import { next, startDemo, type DemoHarness } from '../helpers.js';

let demo: DemoHarness | undefined;
afterEach(async () => {
  await demo?.close();
  demo = undefined;
});

/** A raw socket as the given user: what it is told first (a frame or the close), without a client's retries. */
function dial(url: string, token: string): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }>; first: Promise<Buffer> }> {
  const ws = new WebSocket(url, ['capsync.v1'], { headers: { authorization: `Bearer ${token}` } });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const first = new Promise<Buffer>((resolve) => ws.once('message', (data: Buffer) => resolve(data)));
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, closed, first }));
    ws.once('error', reject);
  });
}

describe('per-user bounds', () => {
  it('refuses a user connection past maxConnectionsPerUser with ERR_LIMIT_CONNECTIONS and 4005, others unaffected', async () => {
    demo = await startDemo({ connection: { maxConnectionsPerUser: 2 } });
    const held = [await demo.connectAs('editor', { reconnect: false }), await demo.connectAs('editor', { reconnect: false })];
    const third = await dial(demo.url, await demo.token('editor'));
    const { code } = await third.closed;
    expect(code).toBe(CloseCode.tooManyConnections);
    // The server still serves everyone else.
    const admin = await demo.connectAs('admin', { reconnect: false });
    await expect(admin.call('get_my_videos')).resolves.toHaveLength(3);
    // Once one of the editor's connections closes, a new one is accepted.
    await held[0]!.close();
    const again = await demo.connectAs('editor', { reconnect: false });
    await expect(again.call('get_my_videos')).resolves.toHaveLength(3);
  });

  it('tells the refused connection why with a typed error frame before the close', async () => {
    demo = await startDemo({ connection: { maxConnectionsPerUser: 1 } });
    await demo.connectAs('guest', { reconnect: false });
    const second = await dial(demo.url, await demo.token('guest'));
    const { Codec } = await import('../../protocol/codec.js');
    expect(new Codec().decode(await second.first)).toEqual([FrameType.error, null, 'ERR_LIMIT_CONNECTIONS', 'this user has too many connections open']);
    expect((await second.closed).code).toBe(CloseCode.tooManyConnections);
  });

  it('bounds the capabilities one user holds over all its connections (maxHoldingsPerUser)', async () => {
    demo = await startDemo({ connection: { maxHoldingsPerUser: 6 } });
    const hub = hubOf(demo.server);
    const [a, b]: CapsyncClient[] = [await demo.connectAs('editor'), await demo.connectAs('editor')];
    const held = () => hub.sessions().filter((s) => s.user?.id === 'editor').map((s) => s.holdingCount);
    // A asks again and again: it stays at the user's bound (its own oldest released), never past it.
    for (let i = 0; i < 5; i++) await a.call('get_my_videos');
    expect(held()).toEqual([6, 0]);
    // B holds nothing to release: its capabilities arrive, are no cover, and it is told with a typed error.
    const refused = next(b.frames, (f) => f[0] === FrameType.error && f[2] === 'ERR_LIMIT_HOLDINGS');
    const videos = await b.call<unknown[]>('get_my_videos');
    expect(videos).toHaveLength(3);
    expect((await refused)[1]).toBeNull();
    expect(held()).toEqual([6, 0]);
    // When A goes, the user's budget comes back to B.
    await a.close();
    await b.call('get_my_videos');
    expect(held()).toEqual([3]);
    // Another user has its own budget.
    const admin = await demo.connectAs('admin');
    await admin.call('get_my_videos');
    await admin.call('get_my_videos');
    expect(hub.sessions().find((s) => s.user?.id === 'admin')!.holdingCount).toBe(6);
  });
});
