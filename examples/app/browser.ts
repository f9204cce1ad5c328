// #region browser
import { connect } from '../../client/browser.js'; // bundlers pick its browser build
import type { NotesApi } from './functions.js';
import './note.js';

/** Lists the notes this user may see in `list` and keeps every row current as pushes arrive. */
export async function showNotes(list: HTMLElement, url: string, token: () => Promise<string>) {
  const client = await connect<NotesApi>(url, { token }); // the JWT travels as a WebSocket subprotocol
  client.connectionState.subscribe((state) => (list.dataset['state'] = state)); // connected, reconnecting, ...
  for (const note of await client.call('my_notes')) {
    const row = list.appendChild(document.createElement('li'));
    const readOnly = note.cap.scope.length > 2 ? ' (read only)' : '';
    // live() emits the instance now and after every change, across reconnects.
    client.live(note).subscribe((n) => (row.textContent = `${n.title}: ${n.text} (v${n.version ?? 0})${readOnly}`));
  }
  return client;
}
// #endregion
