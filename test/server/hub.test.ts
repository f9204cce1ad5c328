/**
 * The server core and the real client over the in-memory link of `capsync/testing`: no socket, no port.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { demoUsers, installVideoApp, seedIfEmpty } from '../../examples/video/app.js';
import type { Video } from '../../examples/video/video.js';
import { CapsyncServer, CloseCode, type ServerOptions } from '../../server/index.js';
import { connectInMemory } from '../../testing/index.js';
import { SECRET, next } from '../helpers.js';

let server: CapsyncServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(options: Partial<ServerOptions> = {}): Promise<CapsyncServer> {
  server = await CapsyncServer.create({ auth: { secret: SECRET }, ...options });
  installVideoApp(server);
  await seedIfEmpty(server);
  return server;
}

describe('the core over an in-memory link', () => {
  it('answers calls and pushes an editor’s change to the admin, with no socket', async () => {
    const s = await start();
    const { client: admin } = await connectInMemory(s, { user: demoUsers['admin']! });
    const { client: editor } = await connectInMemory(s, { user: demoUsers['editor']! });
    expect(s.url).toBe(''); // never listened
    const [adminVideo] = await admin.call<Video[]>('get_my_videos');
    const [editorVideo] = await editor.call<Video[]>('get_my_videos');
    const seen = next(admin.live(adminVideo!), (v) => v.description === 'edited in memory');
    await editorVideo!.set_description('edited in memory');
    expect((await seen).description).toBe('edited in memory');
    expect(s.sessionCount).toBe(2);
  });

  it('goes through the server’s authentication when given a token, and refuses a bad one with its code', async () => {
    const s = await start();
    const { client } = await connectInMemory(s, { token: await s.auth.issue(demoUsers['editor']!) });
    expect(client.user).toEqual({ id: 'editor', roles: ['editor'] });
    await expect(connectInMemory(s, { token: 'not.a.jwt' })).rejects.toMatchObject({ code: 'ERR_AUTH_INVALID' });
    await expect(connectInMemory(s)).rejects.toMatchObject({ code: 'ERR_AUTH_REQUIRED' });
  });

  it('delegates and revokes between in-memory clients: the guest edits, then is cut off', async () => {
    const s = await start();
    const { client: editor } = await connectInMemory(s, { user: demoUsers['editor']! });
    const { client: guest } = await connectInMemory(s, { user: demoUsers['guest']! });
    const [video] = await editor.call<Video[]>('get_my_videos');
    const arrived = next(guest.delegations);
    const shared = video!.cap.narrow([], { expiresAt: Date.now() + 60_000 });
    await editor.delegate(shared, { to: 'guest', bind: true });
    const delegation = await arrived;
    await guest.call('set_video_description', delegation.cap, 'by the guest');
    const revoked = next(guest.revocations);
    await editor.revoke(shared);
    // The guest is told its own (re-minted) capability's id, and the one the editor revoked as the cause.
    expect(await revoked).toMatchObject({ revocationId: delegation.cap.revocationId, cause: shared.revocationId, reason: 'revoked' });
    await expect(guest.call('set_video_description', delegation.cap, 'again')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_REVOKED' });
  });

  it('a dropped link closes both ends with 1006 and the session is released', async () => {
    const s = await start();
    // Without reconnecting: the point is what the drop does to both ends (a reconnecting client re-sends the call).
    const { client, link } = await connectInMemory(s, { user: demoUsers['editor']!, reconnect: false });
    await client.call('get_my_videos');
    const pending = client.call('get_my_videos');
    link.drop();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_CONNECTION_CLOSED' });
    expect((await client.closed).code).toBe(1006);
    expect(s.sessionCount).toBe(0);
  });

  it('closes a stalled client as a slow consumer (4001) once its unsent bytes pass the bound', async () => {
    const s = await start({ connection: { maxBufferedBytes: 4096 } });
    const { client: admin } = await connectInMemory(s, { user: demoUsers['admin']! });
    const { client: editor, link } = await connectInMemory(s, { user: demoUsers['editor']!, reconnect: false });
    const [video] = await admin.call<Video[]>('get_my_videos');
    await editor.call('get_my_videos'); // the editor now holds every video
    link.stall();
    for (let i = 0; i < 40 && link.open; i++) await video!.set_description(`${i} ${'x'.repeat(200)}`);
    link.resume();
    expect((await editor.closed).code).toBe(CloseCode.slowConsumer);
    expect(s.sessionCount).toBe(1);
  });

  it('server close ends every in-memory session with 1001', async () => {
    const s = await start();
    const { client } = await connectInMemory(s, { user: demoUsers['guest']!, reconnect: false });
    await s.close();
    server = undefined;
    expect((await client.closed).code).toBe(CloseCode.goingAway);
  });
});
