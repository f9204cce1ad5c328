import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CapsyncClient } from '../../client/index.js';
// For its side effect too: registering the portable Video class, so calls' results decode as Videos.
import '../../examples/video/video.js';
import type { Video } from '../../examples/video/video.js';
import { useServerProcesses, type ServerProcess } from '../chaos/server-process.js';
import { PushLog, reconnectingClient, state, when } from '../chaos/session-kit.js';
import { TcpProxy } from '../chaos/tcp-proxy.js';

const processes = useServerProcesses();
const proxies: TcpProxy[] = [];
const clients: CapsyncClient[] = [];
const folders: string[] = [];
afterEach(async () => {
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await processes.disposeAll();
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

/** A short ping interval: a silent peer is noticed within about two of them. */
const HEARTBEAT_MS = 250;

async function proxyTo(server: ServerProcess): Promise<TcpProxy> {
  const proxy = await TcpProxy.start(server.port);
  proxies.push(proxy);
  return proxy;
}

async function client(url: string, server: ServerProcess, user: string): Promise<{ client: CapsyncClient; videos: Video[] }> {
  const c = await reconnectingClient(url, server, user);
  clients.push(c);
  return { client: c, videos: await c.call<Video[]>('get_my_videos') };
}

/** Follows `live(video)`: every instance emitted, and whether the stream ended. */
function follow(c: CapsyncClient, video: Video): { instances: Video[]; ended: () => string | undefined } {
  const instances: Video[] = [];
  let ended: string | undefined;
  c.live(video).subscribe({ next: (v) => instances.push(v), complete: () => (ended = 'completed'), error: (e: unknown) => (ended = `errored ${String(e)}`) });
  return { instances, ended: () => ended };
}

/** The store's current videos, read by a fresh client straight to the server. */
async function storeVideos(server: ServerProcess): Promise<Video[]> {
  const fresh = await reconnectingClient(server.url, server, 'admin', { reconnect: false });
  try {
    return await fresh.call<Video[]>('get_my_videos');
  } finally {
    await fresh.close();
  }
}

/** Resolves once `c`'s copy of video `id` has description `text` (pushed or caught up). */
function sees(c: CapsyncClient, id: string, text: string): Promise<unknown> {
  return when(c.changes, (ch) => ch.address[1] === id && (ch.state as { description?: string } | null)?.description === text, `${id} = ${text}`);
}

describe('sessions survive real faults', () => {
  it('cut: reconnects by itself, catches up exactly what changed, and the call in flight completes once', async () => {
    const server = await processes.start({ heartbeatMs: HEARTBEAT_MS });
    const proxy = await proxyTo(server);
    const editor = await client(proxy.url, server, 'editor');
    const other = await client(server.url, server, 'editor2');
    const [v0, v1] = editor.videos;
    const lives = [follow(editor.client, v0!), follow(editor.client, v1!)];
    const before = v0!.version!;

    // The call reaches the server and runs; its answer is held in the proxy, then lost in the cut.
    proxy.stall('down');
    const ran = sees(other.client, v0!.id, 'in flight at the cut');
    const call = editor.client.call<number>('set_video_description', v0!.cap, 'in flight at the cut');
    await ran;
    await proxy.until(() => proxy.held.down > 0, 5000, 'the answer held');
    proxy.refuse(true);
    await proxy.cut();
    proxy.resume();
    await state(editor.client, 'reconnecting');
    // While it is away another client changes a second video.
    await other.client.call('set_video_description', other.videos[1]!.cap, 'changed while away');
    const away = new PushLog(editor.client);
    proxy.refuse(false);
    await state(editor.client, 'connected');

    expect(await call).toBe(before + 1);
    const stored = await storeVideos(server);
    expect(stored[0]!.version, 'one execution').toBe(before + 1);
    // The catch-up: each changed object once, nothing unchanged (the third video).
    expect(away.pushes.map((p) => p.address[1]).sort()).toEqual([v0!.id, v1!.id].sort());
    expect([v0!.description, v1!.description]).toEqual(['in flight at the cut', 'changed while away']);
    for (const live of lives) {
      expect(live.ended()).toBeUndefined();
      expect(new Set(live.instances).size, 'the same instance every time').toBe(1);
    }
    expect(lives[1]!.instances.length).toBeGreaterThanOrEqual(2);
  });

  it('stall: the heartbeat notices a silent connection within seconds, and the client reconnects once it flows', async () => {
    const server = await processes.start({ heartbeatMs: HEARTBEAT_MS });
    const proxy = await proxyTo(server);
    const editor = await client(proxy.url, server, 'editor');
    const other = await client(server.url, server, 'editor2');
    const started = Date.now();
    proxy.stall();
    await state(editor.client, 'reconnecting', 5000);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(editor.client.lastClose?.code).toBe(4000);
    await other.client.call('set_video_description', other.videos[2]!.cap, 'written during the stall');
    const caught = sees(editor.client, editor.videos[2]!.id, 'written during the stall');
    proxy.resume();
    await caught;
    await state(editor.client, 'connected');
    expect(editor.videos[2]!.description).toBe('written during the stall');
  });

  it('kill -9 and restart: every client resumes with no missed update, and a stored outcome is replayed, not run again', async () => {
    const server = await processes.start({ heartbeatMs: HEARTBEAT_MS });
    const proxy = await proxyTo(server);
    const admin = await client(proxy.url, server, 'admin');
    const editor = await client(proxy.url, server, 'editor');
    // The observer has a proxy of its own, never stalled: it measures the push's size on the wire.
    const observed = await proxyTo(server);
    const observer = await client(observed.url, server, 'editor2');
    const lives = [follow(admin.client, admin.videos[1]!), follow(editor.client, editor.videos[1]!)];
    const before = editor.videos[0]!.version!;

    proxy.stall('down');
    const received = observed.bytes.received.down;
    const ran = sees(observer.client, editor.videos[0]!.id, 'stored before the kill');
    const call = editor.client.call<number>('set_video_description', editor.videos[0]!.cap, 'stored before the kill');
    await ran;
    // The same push is held for the editor, then its answer, sent once the outcome is stored.
    const push = observed.bytes.received.down - received;
    await proxy.until(() => proxy.held.down > push, 5000, 'the answer held');
    proxy.refuse(true);
    await server.kill9();
    proxy.resume();
    await Promise.all([state(admin.client, 'reconnecting'), state(editor.client, 'reconnecting')]);
    await server.restart();
    await state(observer.client, 'connected');
    const text = `after the restart ${randomUUID()}`;
    await observer.client.call('set_video_description', observer.videos[1]!.cap, text);
    proxy.refuse(false);
    await Promise.all([state(admin.client, 'connected'), state(editor.client, 'connected')]);

    expect(await call, 'the outcome stored before the kill').toBe(before + 1);
    const stored = await storeVideos(server);
    expect(stored[0]!.version, 'run once').toBe(before + 1);
    for (const c of [admin, editor]) {
      expect(c.videos.map((v) => [v.description, v.version])).toEqual(stored.map((v) => [v.description, v.version]));
    }
    for (const live of lives) {
      expect(live.ended()).toBeUndefined();
      expect(live.instances.at(-1)!.description).toBe(text);
    }
  });

  it('SIGSTOP longer than two ping intervals: clients notice within seconds, reconnect after SIGCONT, converge', async () => {
    const server = await processes.start({ heartbeatMs: HEARTBEAT_MS });
    const admin = await client(server.url, server, 'admin');
    const editor = await client(server.url, server, 'editor');
    const started = Date.now();
    server.stop();
    await Promise.all([state(admin.client, 'reconnecting', 5000), state(editor.client, 'reconnecting', 5000)]);
    expect(Date.now() - started).toBeLessThan(2000);
    server.cont();
    await Promise.all([state(admin.client, 'connected'), state(editor.client, 'connected')]);
    const seen = sees(admin.client, admin.videos[0]!.id, 'after SIGCONT');
    await editor.client.call('set_video_description', editor.videos[0]!.cap, 'after SIGCONT');
    await seen;
    const stored = await storeVideos(server);
    for (const c of [admin, editor]) expect(c.videos.map((v) => v.version)).toEqual(stored.map((v) => v.version));
  });

  it('SIGTERM: clients see 1001 and reconnect to the restarted server', async () => {
    const server = await processes.start({ heartbeatMs: HEARTBEAT_MS });
    const proxy = await proxyTo(server);
    const editor = await client(proxy.url, server, 'editor');
    const live = follow(editor.client, editor.videos[0]!);
    expect(await server.terminate()).toBe(0);
    await state(editor.client, 'reconnecting');
    expect(editor.client.lastClose?.code).toBe(1001);
    await server.restart();
    await state(editor.client, 'connected');
    expect(await editor.client.call('set_video_description', editor.videos[0]!.cap, 'after the deploy')).toBe(editor.videos[0]!.version);
    expect(live.instances.at(-1)!.description).toBe('after the deploy');
    expect(live.ended()).toBeUndefined();
  });

  it('a restart on a new store (:memory:, another epoch): a full snapshot, applied, never "stale, ignored"', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'capsync-keys-'));
    folders.push(folder);
    const keys = join(folder, 'keys.json');
    writeFileSync(keys, JSON.stringify({ keys: [{ kty: 'oct', k: randomBytes(32).toString('base64url') }] }));
    const args = [`--jwt-secret=${randomBytes(32).toString('base64url')}`, '--capability-keys', keys];
    const server = await processes.start({ data: ':memory:', heartbeatMs: HEARTBEAT_MS, args });
    const editor = await client(server.url, server, 'editor');
    const seeded = editor.videos.map((v) => [v.description, v.version]);
    const live = follow(editor.client, editor.videos[0]!);
    // Versions climb past the new store's: a comparison across epochs would drop its state as stale.
    for (const n of [1, 2, 3]) await editor.client.call('set_video_description', editor.videos[0]!.cap, `edit ${n}`);
    expect(editor.videos[0]!.version).toBe(4);

    await server.kill9();
    await state(editor.client, 'reconnecting');
    await server.restart();
    await state(editor.client, 'connected');
    expect(editor.videos.map((v) => [v.description, v.version])).toEqual(seeded);
    expect(live.ended()).toBeUndefined();
    expect(live.instances.at(-1)).toBe(editor.videos[0]);
    // And it stays live on the new store.
    expect(await editor.client.call('set_video_description', editor.videos[0]!.cap, 'on the new store')).toBe(2);
    expect(editor.videos[0]!.description).toBe('on the new store');
  });
});
