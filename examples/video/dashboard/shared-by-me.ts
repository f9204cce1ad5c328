// "Shared by me": every capability this user delegated from this tab, with its revoke button; kept across reloads.
import { capabilityFromToken, type CapsyncClient } from '../../../client/browser.js';
import { h, relativeTime } from './dom.js';

/** One delegation as the list keeps it. */
export interface Share {
  readonly videoId: string;
  readonly title: string;
  readonly to: string;
  readonly rights: string;
  readonly bearer: boolean;
  readonly expiresAt: number;
  readonly at: number;
  /** The revocation id of the recipient's capability (what the server answered). */
  readonly revocationId: string;
  /** The capability that was delegated (this user's, narrowed), base64: revoking it revokes the recipient's. */
  readonly token: string;
  revoked?: boolean;
}

const toBase64 = (bytes: Uint8Array): string => btoa(String.fromCharCode(...bytes));
const fromBase64 = (text: string): Uint8Array => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/**
 * The list, in sessionStorage per user, so a reload still shows (and can revoke) what was shared. What is
 * kept is this user's own narrowed capability: it is bound to this user, so a copy read out of the tab's
 * storage is refused on anyone else's connection.
 */
export class SharedByMe {
  readonly element: HTMLElement;
  readonly #body: HTMLTableSectionElement;
  readonly #empty: HTMLElement;
  readonly #table: HTMLTableElement;
  readonly #key: string;
  readonly #shares: Share[];

  /** `quiet`: show nothing while nothing is shared (a guest, who usually has nothing to pass on). */
  constructor(readonly client: CapsyncClient, user: string, private readonly report: (what: string, error: unknown) => void, private readonly quiet = false) {
    this.#key = `capsync.dashboard.shared-by.${user}`;
    this.#shares = JSON.parse(sessionStorage.getItem(this.#key) ?? '[]') as Share[];
    this.#body = h('tbody');
    this.#empty = h('p', { class: 'empty', text: 'Nothing shared yet. Use Share… on a video to give someone edit rights for a while; it appears here with a Revoke button.' });
    this.#table = h('table', {}, h('thead', {}, h('tr', {}, ...['Video', 'With', 'Rights', 'Kind', 'Expires', ''].map((t) => h('th', { text: t })))), this.#body);
    this.element = h('section', { attrs: { id: 'shared-by-me', 'aria-label': 'Shared by me' } }, h('h2', { text: 'Shared by me' }), this.#empty, this.#table);
    this.render();
  }

  /** Records a delegation made just now. */
  add(share: Omit<Share, 'token'>, delegated: { toToken(): Uint8Array }): void {
    this.#shares.unshift({ ...share, token: toBase64(delegated.toToken()) });
    this.#save();
    this.render();
  }

  /** Redraws (expiries count down). */
  render(): void {
    const now = Date.now();
    this.#empty.hidden = this.#shares.length > 0;
    this.#table.hidden = this.#shares.length === 0;
    this.element.hidden = this.quiet && this.#shares.length === 0;
    this.#body.replaceChildren(...this.#shares.map((share) => {
      const expired = share.expiresAt <= now;
      const state = share.revoked ? 'revoked' : expired ? 'expired' : 'active';
      const action = state === 'active'
        ? h('button', { class: 'revoke danger', text: 'Revoke', on: { click: () => void this.#revoke(share) } })
        : h('span', { class: 'muted', text: state });
      return h('tr', { data: { share: share.revocationId, state, video: share.videoId, to: share.to } },
        h('td', { text: share.title }), h('td', { text: share.to }), h('td', { text: share.rights }),
        h('td', { text: share.bearer ? 'bearer' : 'bound' }),
        h('td', { text: state === 'active' ? relativeTime(share.expiresAt, now) : '—', attrs: { title: new Date(share.expiresAt).toLocaleString() } }),
        h('td', {}, action));
    }));
  }

  async #revoke(share: Share): Promise<void> {
    try {
      await this.client.revoke(capabilityFromToken(fromBase64(share.token)));
      share.revoked = true;
      this.#save();
      this.render();
    } catch (error) {
      this.report(`Could not revoke ${share.title} for ${share.to}`, error);
    }
  }

  #save(): void {
    sessionStorage.setItem(this.#key, JSON.stringify(this.#shares.slice(0, 100)));
  }
}
