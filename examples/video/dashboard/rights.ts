// What a capability lets its holder do, read from its scope: the page shows only the actions the server would accept.
import type { JsonValue } from '../../../client/browser.js';

/** The actions a Video capability allows, as the demo's server functions check them. */
export interface Rights {
  readonly edit: boolean;
  readonly delete: boolean;
  /** May pass on edit rights (anything one holds can be narrowed and delegated). */
  readonly share: boolean;
  /** May pass on full control (edit and delete): only a holder of full control. */
  readonly shareFull: boolean;
  /** In words, for the row's badge. */
  readonly label: string;
}

/**
 * `["youtube_videos", id]` is full control; `[..., "update"]` edit only; `[..., "delete"]` delete only (what
 * `set_video_description` and `delete_video` unwrap). A longer scope is narrower than either pattern, so
 * the server refuses it for both: view only.
 */
export function rightsOf(scope: readonly JsonValue[]): Rights {
  const full = scope.length === 2;
  const action = scope.length === 3 ? scope[2] : undefined;
  const edit = full || action === 'update';
  const remove = full || action === 'delete';
  return {
    edit,
    delete: remove,
    share: edit || remove,
    shareFull: full,
    label: full ? 'full control' : edit ? 'can edit' : remove ? 'can delete' : 'view only',
  };
}
