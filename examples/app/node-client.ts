// #region node-client
import { filter, firstValueFrom } from 'rxjs';
import { connect } from '../../client/index.js';
import type { NotesApi } from './functions.js'; // types only: no server code runs in the client
import './note.js';                             // registers Note, so notes arrive as Note instances

/** Ada writes a note, Bob (read only) watches it change, and cannot change it himself. */
export async function adaWritesBobWatches(url: string, token: (user: string) => Promise<string>): Promise<string[]> {
  // A token function is asked again at every reconnect and before the JWT expires: sessions renew by themselves.
  const ada = await connect<NotesApi>(url, { token: () => token('ada') });
  const bob = await connect<NotesApi>(url, { token: () => token('bob') });

  const note = await ada.call('create_note', 'Groceries');                      // a Note, with ["notes", id]
  const seen = (await bob.call('my_notes')).find((n) => n.id === note.id)!;     // ["notes", id, "read"]
  const pushed = firstValueFrom(bob.live(seen).pipe(filter((n) => n.text !== '')));
  await note.edit('milk, eggs');                                                // typed: resolves to a number
  const refused = await seen.edit('bob was here').catch((err) => err.code);     // ERR_CAPABILITY_MISMATCH

  const outcome = [(await pushed).text, refused];
  await Promise.all([ada.close(), bob.close()]);
  return outcome;
}
// #endregion

