import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ANY, Capability, CapsyncError, unwrapCapability, VersionConflictError, type CapsyncServer, type User } from '../../server/index.js';
import { installInspector } from './inspect.js';
import { Video } from './video.js';

/** The demo's development users: an admin, an editor and a guest (and a second editor to delegate between). */
export const demoUsers: Record<string, User> = {
  admin: { id: 'admin', roles: ['admin'] },
  editor: { id: 'editor', roles: ['editor'] },
  editor2: { id: 'editor2', roles: ['editor'] },
  guest: { id: 'guest', roles: [] },
};

const seedVideos = [
  { id: 'dQw4w9WgXcQ', title: 'Never Gonna Give You Up', description: 'The classic.' },
  { id: '9bZkp7q19f0', title: 'Gangnam Style', description: 'Oppan.' },
  { id: 'kJQP7kiw5Fk', title: 'Despacito', description: 'Poquito a poquito.' },
];

/** Puts the seed videos in an empty store. */
export async function seedIfEmpty(server: CapsyncServer): Promise<void> {
  if ((await server.live.list(Video)).length > 0) return;
  for (const v of seedVideos) await server.live.put(new Video(v.id, v));
}

/** Registers the Video manager's server functions: the seed's, in capsync. */
export function installVideoApp(server: CapsyncServer): void {
  installInspector(server);
  // The permission check happens once, where the objects are handed out.
  server.callable('get_my_videos', async ({ user }) => {
    const fullControl = user?.roles.includes('admin') ?? false;
    const mayUpdate = fullControl || (user?.roles.includes('editor') ?? false);
    if (!mayUpdate) return [];
    return (await server.live.list(Video)).map((v) => v.grant(fullControl));
  });

  // The admin's right to the whole collection: client.collection(cap, { type: Video }) lists every video,
  // live (add_video from another client appears, delete_video disappears), each with full control.
  server.callable('get_video_collection', ({ user }) => {
    if (!(user?.roles.includes('admin') ?? false)) throw new CapsyncError('ERR_FORBIDDEN', 'only admins watch every video');
    return new Capability(['youtube_videos']);
  });

  // The capability is the only proof, and the video id comes from its scope, never from another argument.
  // `fromVersion`, when given, is the version the client edited from: if someone else changed the video
  // since, the edit is refused with ERR_VERSION_CONFLICT (its message names the current version) instead of
  // silently overwriting theirs. The read-modify-write is atomic either way: no concurrent edit is lost.
  server.callable(
    'set_video_description',
    async ({ user }, cap: Capability, description: string, fromVersion?: number) => {
      const [, videoId] = unwrapCapability(cap, ['youtube_videos', ANY, 'update']);
      const video = await server.live.update(Video, ['youtube_videos', videoId as string], (v) => {
        if (fromVersion !== undefined && v.version !== fromVersion) throw new VersionConflictError(v.version ?? 0, fromVersion);
        v.description = description;
        v.updatedBy = user?.id ?? 'anonymous';
      });
      if (video === undefined) throw new CapsyncError('ERR_NOT_FOUND', 'no such video');
      return video.version;
    },
    { args: z.tuple([z.instanceof(Capability), z.string().max(5000), z.number().int().min(0).optional()]) },
  );

  server.callable(
    'delete_video',
    async (_ctx, cap: Capability) => {
      const [, videoId] = unwrapCapability(cap, ['youtube_videos', ANY, 'delete']);
      const video = await server.live.get(Video, ['youtube_videos', videoId]);
      if (video === undefined) throw new CapsyncError('ERR_NOT_FOUND', 'no such video');
      return server.live.delete(video);
    },
    { args: z.tuple([z.instanceof(Capability)]) },
  );

  // Adding hands out a new object, so it gets the same one-time role check as get_my_videos; the admin who
  // adds it gets full control. Lets scripted scenarios delete a video of their own and leave the seed intact.
  server.callable(
    'add_video',
    async ({ user }, title: string, description: string) => {
      if (!(user?.roles.includes('admin') ?? false)) throw new CapsyncError('ERR_FORBIDDEN', 'only admins add videos');
      const video = new Video(randomBytes(8).toString('base64url').slice(0, 11), { title, description });
      await server.live.put(video);
      return video.grant(true);
    },
    { args: z.tuple([z.string().min(1).max(200), z.string().max(5000)]) },
  );
}
