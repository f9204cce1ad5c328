// The videos table: one row per video id (never two), fed by any source of videos, with an empty state that explains itself.
import type { Video } from '../video.js';
import { h } from './dom.js';
import { VideoRow, type RowHost } from './video-row.js';

/**
 * Rows by video id. Every source (`get_my_videos`, delegations as they arrive, `grants()` after a load or
 * a reconnect, the admin's live collection through {@link sync}) goes through {@link show}, so the same video from two sources is one row:
 * the one with the broader capability wins, and a locked row takes a fresh capability.
 */
export class VideoList {
  readonly element: HTMLElement;
  readonly #rows = new Map<string, VideoRow>();
  readonly #body = h('tbody', { attrs: { id: 'videos' } });
  readonly #empty = h('div', { class: 'empty-state', attrs: { id: 'empty' } });
  #active = true;
  /** Ids the live collection listed last. */
  #fromCollection = new Set<string>();

  constructor(private readonly host: RowHost, private readonly guest: boolean) {
    this.element = h('section', { attrs: { 'aria-label': 'Videos' } },
      this.#empty,
      h('table', { class: 'videos' }, h('thead', {}, h('tr', {}, ...['Video', 'Description', 'Version', ''].map((t) => h('th', { text: t })))), this.#body));
    this.#showEmpty();
  }

  get size(): number {
    return this.#rows.size;
  }

  row(id: string): VideoRow | undefined {
    return this.#rows.get(id);
  }

  /** Adds a row for `video`, or gives an existing row a fresh or broader capability. */
  show(video: Video, from?: string): void {
    if (!this.#active) return;
    const row = this.#rows.get(video.id);
    if (row === undefined) {
      const added = new VideoRow(this.host, video, from);
      this.#rows.set(video.id, added);
      this.#body.append(added.element);
    } else if (row.video !== video && (row.locked || video.cap.scope.length < row.video.cap.scope.length)) {
      row.rebind(video, from);
    }
    this.#showEmpty();
  }

  /**
   * The whole list from a live collection (the admin's `["youtube_videos"]`): adds what is new, and drops rows
   * the collection listed before and no longer does (deleted). Rows from other sources are left alone.
   */
  sync(videos: readonly Video[]): Video[] {
    const ids = new Set(videos.map((v) => v.id));
    const gone: Video[] = [];
    for (const id of this.#fromCollection) {
      const row = this.#rows.get(id);
      if (ids.has(id) || row === undefined) continue;
      gone.push(row.video);
      row.dispose();
      this.removed(row);
    }
    this.#fromCollection = ids;
    for (const video of videos) this.show(video);
    return gone;
  }

  /** The video behind `row` was deleted (its live stream completed). */
  removed(row: VideoRow): boolean {
    if (!this.#active || this.#rows.get(row.video.id) !== row) return false;
    row.element.remove();
    this.#rows.delete(row.video.id);
    this.#showEmpty();
    return true;
  }

  /** Stops every row's live stream (logout). */
  dispose(): void {
    this.#active = false;
    for (const row of this.#rows.values()) row.dispose();
  }

  #showEmpty(): void {
    this.#empty.hidden = this.#rows.size > 0;
    this.#empty.replaceChildren(...(this.guest
      ? [
          h('h2', { text: 'Nothing is shared with you yet' }),
          h('p', { text: 'You are a guest: a user with no role. The server hands guests no videos of their own; a guest sees only what someone shared with them, for as long as they let it.' }),
          h('p', { text: 'Keep this page open and ask an editor or the admin to share a video with “guest” (Share… on its row). It appears here at once, and again after a reload until it expires or is revoked.' }),
        ]
      : [h('h2', { text: 'No videos' }), h('p', { text: 'There are no videos yet.' })]));
  }
}
