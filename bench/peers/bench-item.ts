import { registerPortable, type Capability } from '../../protocol/index.js';

/**
 * The live object of the capsync fan-out: one item at address `["bench", id]`. Every connection holds a
 * capability covering it, and each `server.live.put` of it is pushed to all of them.
 */
export class BenchItem {
  id: string;
  seq: number;
  title: string;
  text: string;
  // Declared only: an initialised field would be stored and pushed as part of the state.
  declare version?: number;
  declare cap?: Capability;

  constructor(fields: { id: string; seq: number; title: string; text: string }) {
    this.id = fields.id;
    this.seq = fields.seq;
    this.title = fields.title;
    this.text = fields.text;
  }
}

registerPortable(BenchItem, { name: 'BenchItem', address: (item) => ['bench', item.id] });
