import { afterEach, describe, expect, it } from 'vitest';
import type { CapsyncClient } from '../../client/index.js';
import { WebSocket } from 'ws';
import { Codec } from '../../protocol/codec.js';
import { FrameType } from '../../protocol/frames.js';
import { announcedLimitNames, defaultLimits } from '../../protocol/limits.js';
import { startDemo, type DemoHarness } from '../helpers.js';
import { FakeServer } from './fake-server.js';

describe('the limits a server announces in hello', () => {
  let client: CapsyncClient | undefined;
  let demo: DemoHarness | undefined;
  afterEach(async () => {
    await client?.close();
    client = undefined;
    await demo?.close();
    demo = undefined;
  });

  it('a call over an announced limit smaller than the client\'s own fails at once at the sender with the limit\'s code; nothing is sent', async () => {
    const connected = await FakeServer.connected({ callTimeoutMs: 3_600_000, reconnect: false }, { limits: { maxStringBytes: 100, maxDepth: 8, maxFrameBytes: 4_096 } });
    client = connected.client;
    const server = connected.server;
    const before = server.bytes.length;
    await expect(client.call('echo', 'x'.repeat(101))).rejects.toMatchObject({ code: 'ERR_LIMIT_STRING' });
    let nested: unknown = 1;
    for (let i = 0; i < 8; i++) nested = [nested];
    await expect(client.call('echo', nested)).rejects.toMatchObject({ code: 'ERR_LIMIT_DEPTH' });
    await expect(client.call('echo', 'a'.repeat(90), 'b'.repeat(90), ...Array.from({ length: 50 }, () => 'c'.repeat(90)))).rejects.toMatchObject({ code: 'ERR_FRAME_TOO_LARGE' });
    expect(server.bytes.length).toBe(before);
    // Within the announced limits it is sent.
    client.call('echo', 'x'.repeat(100)).catch(() => {});
    expect(server.last[0]).toBe(FrameType.call);
    expect(server.last[3]).toEqual(['x'.repeat(100)]);
  });

  it('an older server that announces only maxFrameBytes leaves the client its own limits for the rest', async () => {
    const connected = await FakeServer.connected({ callTimeoutMs: 3_600_000, reconnect: false, limits: { maxStringBytes: 1_000 } }, { maxFrameBytes: 2_000 });
    client = connected.client;
    const server = connected.server;
    await expect(client.call('echo', 'x'.repeat(1_001))).rejects.toMatchObject({ code: 'ERR_LIMIT_STRING' });
    await expect(client.call('echo', 'x'.repeat(900), 'x'.repeat(900), 'x'.repeat(900))).rejects.toMatchObject({ code: 'ERR_FRAME_TOO_LARGE' });
    client.call('echo', 'x'.repeat(1_000)).catch(() => {});
    expect(server.last[3]).toEqual(['x'.repeat(1_000)]);
  });

  it('a real server announces every wire limit, and the client holds its calls to them: none reaches the server to count as a bad frame', async () => {
    demo = await startDemo({ limits: { maxStringBytes: 1_024 }, connection: { maxBadFrames: 4 } });
    demo.server.callable('echo', (_ctx, value: unknown) => value);
    client = await demo.connectAs('editor', { reconnect: false, callTimeoutMs: 3_600_000 });
    // Many more than maxBadFrames: had they been sent, the server would have closed the connection with 4003.
    for (let i = 0; i < 10; i++) await expect(client.call('echo', 'x'.repeat(1_025))).rejects.toMatchObject({ code: 'ERR_LIMIT_STRING' });
    await expect(client.call('echo', 'x'.repeat(1_024))).resolves.toBe('x'.repeat(1_024));
    expect(client.connectionState.value).toBe('connected');
    expect(client.lastClose).toBeNull();
  });

  it('hello names each limit of announcedLimitNames with the server\'s value', async () => {
    demo = await startDemo({ limits: { maxStringBytes: 1_024, maxDepth: 10 } });
    const ws = new WebSocket(demo.url, ['capsync.v1'], { headers: { authorization: `Bearer ${await demo.token('editor')}` } });
    const first = await new Promise<Buffer>((resolve) => ws.once('message', resolve));
    ws.close();
    const hello = (new Codec().decode(first) as [number, { maxFrameBytes: number; limits: Record<string, number> }])[1];
    expect(hello.limits).toEqual({ ...Object.fromEntries(announcedLimitNames.map((name) => [name, defaultLimits[name]])), maxStringBytes: 1_024, maxDepth: 10 });
    expect(hello.maxFrameBytes).toBe(defaultLimits.maxFrameBytes);
    // The announced names are every one of the Limits: each holds a client's frames or the tokens in them.
    expect([...announcedLimitNames].sort()).toEqual(Object.keys(defaultLimits).sort());
  });
});
