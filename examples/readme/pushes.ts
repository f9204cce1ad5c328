import { firstValueFrom, filter } from 'rxjs';
import { connect } from '../../client/index.js';
import type { Video } from '../video/video.js';

/** Runs the README's client example against a server: an editor's update reaches the admin as a push. */
export async function editorUpdatesAdminSees(url: string, tokens: { admin: string; editor: string }): Promise<string> {
  // #region client
  const admin = await connect(url, { token: tokens.admin });
  const editor = await connect(url, { token: tokens.editor });

  const [adminVideo] = await admin.call<Video[]>('get_my_videos');   // full control: ["youtube_videos", id]
  const editorVideo = (await editor.call<Video[]>('get_my_videos'))   // update only: ["youtube_videos", id, "update"]
    .find((v) => v.id === adminVideo!.id)!;

  // The admin's instance updates in place; live() emits it after every change.
  const seen = firstValueFrom(admin.live(adminVideo!).pipe(filter((v) => v.description === 'Now in 4K')));
  await editorVideo.set_description('Now in 4K');
  const updated = await seen;

  await editorVideo.delete().catch((err) => console.log(err.code)); // ERR_CAPABILITY_MISMATCH: editors cannot delete
  // #endregion
  await Promise.all([admin.close(), editor.close()]);
  return updated.description;
}
