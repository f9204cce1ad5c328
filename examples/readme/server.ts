import { z } from 'zod';
import { ANY, Capability, CapsyncError, CapsyncServer, unwrapCapability } from '../../server/index.js';
import { Video } from '../video/video.js';

/** The README's server example: the seed's server functions, registered on a new server. */
export async function createVideoServer(secret: string): Promise<CapsyncServer> {
  // #region server
  const server = await CapsyncServer.create({ auth: { secret } }); // SQLite in memory, keys generated

  // The permission check happens once, where the Videos (and their capabilities) are handed out.
  server.callable('get_my_videos', async ({ user }) => {
    const isAdmin = user?.roles.includes('admin') ?? false;
    if (!isAdmin && !user?.roles.includes('editor')) return [];
    return (await server.live.list(Video)).map((video) => video.grant(isAdmin));
  });

  // The capability is the only proof; the video id comes from its scope.
  server.callable('set_video_description', async (_ctx, cap: Capability, text: string) => {
    const [, videoId] = unwrapCapability(cap, ['youtube_videos', ANY, 'update']);
    const video = await server.live.get(Video, ['youtube_videos', videoId]);
    if (!video) throw new CapsyncError('ERR_NOT_FOUND');
    video.description = text;
    return server.live.put(video); // stores it and pushes it to every holder of a covering capability
  }, { args: z.tuple([z.instanceof(Capability), z.string().max(5000)]) });
  // #endregion
  server.callable('delete_video', async (_ctx, cap: Capability) => {
    const [, videoId] = unwrapCapability(cap, ['youtube_videos', ANY, 'delete']);
    const video = await server.live.get(Video, ['youtube_videos', videoId]);
    if (!video) throw new CapsyncError('ERR_NOT_FOUND');
    return server.live.delete(video);
  }, { args: z.tuple([z.instanceof(Capability)]) });
  await server.live.put(new Video('dQw4w9WgXcQ', { title: 'Never Gonna Give You Up', description: 'The classic.' }));
  return server;
}
