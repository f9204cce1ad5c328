// The admin's inspector: who is connected, what each connection holds, recent delegations and revocations, call rate.
import type { Capability, CapsyncClient, JsonValue } from '../../../client/browser.js';
import { h, relativeTime } from './dom.js';
import { describeError } from './messages.js';

/** The shape `inspect` answers (server/inspect.ts's Inspection; restated: the browser build sees no server code). */
interface Inspection {
  at: number;
  connections: { session: string; user: string | null; roles: string[]; tokenExpiresAt: number | null; holds: Held[] }[];
  recent: ({ kind: 'delegated'; at: number; from: string; to: string; scope: JsonValue[]; revocationId: string; bearer: boolean; expiresAt: number | null }
    | { kind: 'revoked'; at: number; by: string; what: JsonValue[] | string; revocationId: string | null; count: number })[];
  callsPerSecond: number;
  callsTotal: number;
}
interface Held { scope: JsonValue[]; revocationId: string; revocationIds: string[]; expiresAt: number | null; bound: boolean }

/** How often the open inspector asks again (each ask is one call, counted in the rate it shows). */
const refreshMs = 2000;

const scopeText = (scope: readonly JsonValue[]): string => JSON.stringify(scope);
const shortId = (id: string): string => `${id.slice(0, 8)}…`;

/**
 * The inspector panel. It holds the capability `get_inspector` gave (only to the admin role); `inspect`
 * refuses anything else, so the panel is guarded by the server, not by being hidden.
 */
export class Inspector {
  readonly element: HTMLElement;
  readonly #client: CapsyncClient;
  readonly #stats = h('div', { class: 'stats' });
  readonly #connections = h('tbody');
  readonly #recent = h('ol', { class: 'events' });
  readonly #error = h('p', { class: 'notice error', attrs: { role: 'alert' } });
  #cap: Capability | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #open = false;

  constructor(client: CapsyncClient) {
    this.#client = client;
    this.#error.hidden = true;
    this.element = h('section', { attrs: { id: 'inspector', 'aria-label': 'Inspector' } },
      h('h2', { text: 'Inspector' }),
      h('p', { class: 'hint', text: 'This node right now: guarded by the capability ["capsync_admin", "inspect"], which the server mints only for the admin role. Tokens are never shown: scopes and revocation ids only.' }),
      this.#error, this.#stats,
      h('h3', { text: 'Connections' }),
      h('table', { class: 'connections' }, h('thead', {}, h('tr', {}, ...['Session', 'User', 'Holds (scope · revocation id · expiry)'].map((t) => h('th', { text: t })))), this.#connections),
      h('h3', { text: 'Recent delegations and revocations' }), this.#recent);
  }

  /** Starts refreshing (the panel is shown). Asks for the inspector capability the first time. */
  async open(): Promise<void> {
    this.#open = true;
    try {
      this.#cap ??= await this.#client.call<Capability>('get_inspector');
    } catch (error) {
      this.#fail(error);
      return;
    }
    await this.#refresh();
  }

  /** Stops refreshing (the panel is hidden, or the session ended). */
  close(): void {
    this.#open = false;
    clearTimeout(this.#timer);
  }

  async #refresh(): Promise<void> {
    clearTimeout(this.#timer);
    if (!this.#open || this.#cap === undefined) return;
    try {
      this.#render(await this.#client.call<Inspection>('inspect', this.#cap));
      this.#error.hidden = true;
    } catch (error) {
      this.#fail(error);
    }
    if (this.#open) this.#timer = setTimeout(() => void this.#refresh(), refreshMs);
  }

  #fail(error: unknown): void {
    this.#error.hidden = false;
    this.#error.textContent = `The inspector is not available: ${describeError(error)}.`;
  }

  #render(view: Inspection): void {
    const stat = (label: string, value: string, name: string) => h('div', { class: 'stat', data: { stat: name } }, h('b', { text: value }), h('span', { text: label }));
    const holds = view.connections.reduce((n, c) => n + c.holds.length, 0);
    this.#stats.replaceChildren(
      stat('connections', String(view.connections.length), 'connections'),
      stat('capabilities held', String(holds), 'holds'),
      stat('calls / s (10 s)', view.callsPerSecond.toFixed(1), 'rate'),
      stat('calls since start', String(view.callsTotal), 'total'));
    this.#connections.replaceChildren(...view.connections.map((c) => h('tr', { data: { session: c.session, user: c.user ?? 'anonymous' } },
      h('td', { text: c.session }),
      h('td', {}, h('b', { text: c.user ?? 'anonymous' }), h('div', { class: 'muted', text: c.roles.join(', ') || 'no roles' })),
      h('td', {}, c.holds.length === 0 ? h('span', { class: 'muted', text: 'nothing' }) : h('ul', { class: 'holds' }, ...c.holds.map((held) => h('li', {},
        h('code', { text: scopeText(held.scope) }), ' · ',
        h('code', { text: shortId(held.revocationId), attrs: { title: held.revocationIds.join('\n') } }),
        held.revocationIds.length > 1 ? h('span', { class: 'muted', text: ` (revoked by any of ${held.revocationIds.length} ids)` }) : null,
        ' · ', held.expiresAt === null ? 'no expiry' : `expires ${relativeTime(held.expiresAt, view.at)}`,
        held.bound ? null : h('span', { class: 'badge warn', text: 'bearer' }))))))));
    this.#recent.replaceChildren(...(view.recent.length === 0 ? [h('li', { class: 'muted', text: 'none yet' })] : view.recent.map((e) => h('li', { data: { kind: e.kind } },
      h('span', { class: 'muted', text: `${new Date(e.at).toLocaleTimeString()} ` }),
      e.kind === 'delegated'
        ? `${e.from} delegated ${scopeText(e.scope)} to ${e.to} (${e.bearer ? 'bearer' : 'bound'}${e.expiresAt === null ? '' : `, expires ${relativeTime(e.expiresAt, view.at)}`}) · ${shortId(e.revocationId)}`
        : `${e.by} revoked ${typeof e.what === 'string' ? `${e.what} (${e.count} capabilities)` : scopeText(e.what)}${e.revocationId === null ? '' : ` · ${shortId(e.revocationId)}`}`))));
  }
}
