import { firstValueFrom, filter } from 'rxjs';
import { z } from 'zod';
import { connect } from '../../client/index.js';
import { ANY, Capability, CapsyncError, unwrapCapability, VersionConflictError, type CapsyncServer } from '../../server/index.js';
import { Video } from '../video/video.js';

/** The README's conflict-safe update: a server function that appends a tag without losing a concurrent one. */
export function installAddTag(server: CapsyncServer): void {
  // #region update
  server.callable(
    'add_tag',
    async (_ctx, cap: Capability, tag: string, fromVersion?: number) => {
      const [, id] = unwrapCapability(cap, ['youtube_videos', ANY, 'update']);
      // One transaction on SQLite: a concurrent add_tag is never lost, whatever the interleaving.
      const video = await server.live.update(Video, ['youtube_videos', id as string], (v) => {
        if (fromVersion !== undefined && v.version !== fromVersion) throw new VersionConflictError(v.version ?? 0, fromVersion);
        v.description += ` #${tag}`;
      });
      if (video === undefined) throw new CapsyncError('ERR_NOT_FOUND');
      return video.version;
    },
    { args: z.tuple([z.instanceof(Capability), z.string().max(50), z.number().int().min(0).optional()]) },
  );
  // #endregion
}

/**
 * Runs the README's collection and presence example: the admin's list grows when another admin adds a video,
 * and the admin hears the editor come online. Returns what the admin saw.
 */
export async function adminWatchesVideos(url: string, tokens: { admin: string; admin2: string; editor: string }): Promise<{ titles: string[]; joined: string }> {
  // #region collection
  const admin = await connect(url, { token: tokens.admin });
  const joined = firstValueFrom(admin.presenceChanges.pipe(filter((c) => c.type === 'join')));
  console.log('online now:', await admin.presence());

  const everything = await admin.call<Capability>('get_video_collection');        // ["youtube_videos"]
  const videos = admin.collection(everything, { type: Video });                  // Observable<Video[]>
  const grown = firstValueFrom(videos.pipe(filter((list) => list.some((v) => v.title === 'Fresh'))));

  const other = await connect(url, { token: tokens.admin2 });
  await other.call('add_video', 'Fresh', 'added by another admin');
  const list = await grown;               // every video, the new one included, each with its own capability
  await list.find((v) => v.title === 'Fresh')!.delete();                          // and it leaves the list

  const editor = await connect(url, { token: tokens.editor });
  const { user } = await joined;          // { type: 'join', user: 'editor' }
  // #endregion
  await Promise.all([admin.close(), other.close(), editor.close()]);
  return { titles: list.map((v) => v.title), joined: user };
}
