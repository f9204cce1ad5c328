import { afterEach, describe, expect, it } from 'vitest';
import { demoUsers, installVideoApp, seedIfEmpty } from '../../examples/video/app.js';
import type { Video } from '../../examples/video/video.js';
import { CapsyncServer } from '../../server/index.js';
import { connectInMemory, forgeCapability, requestIdOf } from '../../testing/index.js';
import { SECRET } from '../helpers.js';

let server: CapsyncServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe('capsync/testing: a hostile peer’s tools', () => {
  it('forges capabilities the server refuses before the function runs: unsigned, or with a stolen signature', async () => {
    server = await CapsyncServer.create({ auth: { secret: SECRET } });
    installVideoApp(server);
    await seedIfEmpty(server);
    const { client } = await connectInMemory(server, { user: demoUsers['editor']! });
    const [video] = await client.call<Video[]>('get_my_videos');
    const scope = ['youtube_videos', video!.id, 'update'];
    await expect(client.call('set_video_description', forgeCapability(scope), 'x')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_FORGED' });
    const stolen = forgeCapability(['youtube_videos', 'someone-elses', 'update'], { signatureOf: video!.cap });
    await expect(client.call('set_video_description', stolen, 'x')).rejects.toMatchObject({ code: 'ERR_CAPABILITY_BAD_SIGNATURE' });
    expect((await server.live.list(video!.constructor as never)).map((v) => (v as Video).description)).not.toContain('x');
  });

  it('reads the request id of a frame a server would answer', () => {
    expect(requestIdOf([1, 42, 'f', []])).toBe(42);
    expect(requestIdOf([2, 42, null])).toBeNull();
    expect(requestIdOf('not a frame')).toBeNull();
  });
});
