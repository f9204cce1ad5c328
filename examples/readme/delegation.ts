import { firstValueFrom } from 'rxjs';
import { connect } from '../../client/index.js';
import type { Video } from '../video/video.js';

/** Runs the README's delegation example: an editor lets a guest update one video, then revokes it. */
export async function editorDelegatesToGuest(url: string, tokens: { editor: string; guest: string }): Promise<string[]> {
  const outcomes: string[] = [];
  const editor = await connect(url, { token: tokens.editor });
  const guest = await connect(url, { token: tokens.guest });
  // #region delegation
  // Editor: narrow offline (a new chain step, so it can be revoked on its own), then delegate.
  const [video] = await editor.call<Video[]>('get_my_videos');
  const grant = video!.cap.narrow([], { expiresAt: Date.now() + 60 * 60_000 }); // at most one hour
  console.log(await editor.presence());                                          // ['guest', ...]
  const incoming = firstValueFrom(guest.delegations);
  await editor.delegate(grant, { to: 'guest' });                                // re-minted, bound to the guest

  // Guest: the delegation carries the Video itself; its methods work at once.
  const { from, object } = await incoming;
  await (object as Video).set_description(`edited by the guest, thanks to ${from}`);

  // Editor: revoke. The guest's next call fails, its pushes stop; the editor's own capability still works.
  await editor.revoke(grant);
  await (object as Video).set_description('again').catch((err) => outcomes.push(err.code)); // ERR_CAPABILITY_REVOKED
  await video!.set_description('editor still in control');
  // #endregion
  outcomes.push((object as Video).description);
  await Promise.all([editor.close(), guest.close()]);
  return outcomes;
}
