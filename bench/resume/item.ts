import { registerPortable, type Capability } from '../../protocol/index.js';

/**
 * The live object of the resume benchmark: a card at `["rs", folder, id]`, a few hundred bytes of state like a
 * row of a dashboard. A capability with scope `["rs", folder]` covers every card of the folder.
 */
export class Card {
  folder: string;
  id: string;
  title: string;
  body: string;
  rev: number;
  // Declared only: an initialised field would be stored and pushed as part of the state.
  declare version?: number;
  declare cap?: Capability;

  constructor(fields: { folder: string; id: string; title: string; body: string; rev: number }) {
    this.folder = fields.folder;
    this.id = fields.id;
    this.title = fields.title;
    this.body = fields.body;
    this.rev = fields.rev;
  }
}

registerPortable(Card, { name: 'ResumeBenchCard', address: (card) => ['rs', card.folder, card.id] });

/** What `open_folders` and `join_group` return: the capabilities and the cards they cover. */
export interface Holdings {
  readonly caps: Capability[];
  readonly cards: Card[];
}

/** Folders of the measured client (each a capability), and cards per folder (herd groups have as many). */
export const FOLDERS = 100;
export const CARDS_PER_FOLDER = 10;

/** Folder names: `f000`..`f099` for the measured client, `g000`.. for herd groups, `n000`.. for other users' noise. */
export const folderName = (prefix: 'f' | 'g' | 'n', index: number): string => `${prefix}${String(index).padStart(3, '0')}`;

/** A card as the seed puts it: about 300 bytes of state. */
export function seedCard(folder: string, index: number): Card {
  return new Card({ folder, id: `c${index}`, title: `Card ${index} of ${folder}`, body: 'x'.repeat(240), rev: 0 });
}
