// #region note
import { Capability, callServer, registerPortable } from '../../protocol/index.js';

/** A note: one class on server and client. Its capability says what the holder may do with it. */
export class Note {
  id: string;
  title: string;
  text: string;
  owner: string;
  /** Set by capsync on every change. */
  version?: number;
  declare cap: Capability;

  constructor(id: string, fields: { title: string; text: string; owner: string }) {
    this.id = id;
    this.title = fields.title;
    this.text = fields.text;
    this.owner = fields.owner;
  }

  /** Needs `["notes", id]` or `["notes", id, "edit"]`. Resolves to the note's new version. */
  edit(text: string): Promise<number> {
    return callServer(this, 'edit_note', this.cap, text);
  }
}

// The address is the scope its capabilities cover: every holder of ["notes", id] or ["notes", id, ...] gets its pushes.
registerPortable(Note, { name: 'Note', address: (note) => ['notes', note.id] });
// #endregion
