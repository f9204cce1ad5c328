// #region functions
import { z } from 'zod';
import { ANY, Capability, CapsyncError, serverFunction, unwrapCapability } from '../../server/index.js';
import { Note } from './note.js';

/** Each function once: its argument schema (the server's runtime check) and its result (the client's type). */
export const functions = {
  // The permission check happens here, once: the owner gets ["notes", id], everyone else ["notes", id, "read"].
  my_notes: serverFunction(z.tuple([]), async ({ user, server }) => {
    if (!user) return [];
    const notes = await server.live.list(Note);
    for (const note of notes) note.cap = new Capability(note.owner === user.id ? ['notes', note.id] : ['notes', note.id, 'read']);
    return notes;
  }),

  create_note: serverFunction(z.tuple([z.string().min(1).max(200)]), async ({ user, server }, title) => {
    if (!user?.roles.includes('writer')) throw new CapsyncError('ERR_FORBIDDEN', 'only writers create notes');
    const note = new Note(crypto.randomUUID(), { title, text: '', owner: user.id });
    await server.live.put(note);
    note.cap = new Capability(['notes', note.id]);
    return note;
  }),

  // The capability is the only proof; the note's id comes from its scope.
  edit_note: serverFunction(z.tuple([z.instanceof(Capability), z.string().max(10_000)]), async ({ server }, cap, text) => {
    const [, id] = unwrapCapability(cap, ['notes', ANY, 'edit']);
    const note = await server.live.get(Note, ['notes', id]);
    if (!note) throw new CapsyncError('ERR_NOT_FOUND');
    note.text = text;
    return server.live.put(note); // the new version, pushed to every holder of a covering capability
  }),
};

/** What clients type their calls with: `connect<NotesApi>(url, { token })`. Import it with `import type`. */
export type NotesApi = typeof functions;
// #endregion
