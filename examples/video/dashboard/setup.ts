// What the page needs to know before it connects, and the explanation it shows when it cannot.
import { CapsyncError } from '../../../client/browser.js';
import { h } from './dom.js';

/** The server's answer to `GET /dashboard/setup.json` (examples/video/dashboard-files.ts). */
export interface Setup {
  /** The development login (`/dev/login`) is on. */
  readonly devLogin: boolean;
  /** Its users, when it is on. */
  readonly users: readonly string[];
  /** A WebSocket from this page's origin would pass the server's origin check. */
  readonly originAllowed: boolean;
  /** The configured `--origin` list (null: only the server's own address). */
  readonly origins: readonly string[] | '*' | null;
}

export async function loadSetup(): Promise<Setup> {
  const response = await fetch(`/dashboard/setup.json?origin=${encodeURIComponent(location.origin)}`);
  if (!response.ok) throw new Error(`the server answered HTTP ${response.status} for the dashboard's setup`);
  return (await response.json()) as Setup;
}

/**
 * A fresh development token for `user`. The client calls this at every (re)connect and when the server says
 * the session expires soon (dev tokens last an hour), so a page left open renews its session by itself.
 */
export async function devToken(user: string): Promise<string> {
  const response = await fetch(`/dev/login?user=${encodeURIComponent(user)}`);
  if (response.status === 404) {
    // Terminal for the client: retrying cannot turn the development login on.
    throw new CapsyncError('ERR_AUTH_REQUIRED', 'the development login is off on this server (--no-dev-login); use your own tokens');
  }
  if (!response.ok) throw new Error(`the development login answered HTTP ${response.status}`);
  return ((await response.json()) as { token: string }).token;
}

const code = (text: string) => h('code', { text });

/** The page shown instead of the dashboard when this origin may not connect: what is wrong and the flag that fixes it. */
export function originProblem(setup: Setup): HTMLElement {
  const listed = setup.origins === null || setup.origins === '*' ? [] : setup.origins;
  return h('div', { class: 'problem', attrs: { id: 'problem', 'data-problem': 'origin', role: 'alert' } },
    h('h2', { text: 'This page may not connect to its own server' }),
    h('p', {}, 'The server accepts WebSocket connections only from the browser origins given with ', code('--origin'), ': ',
      ...listed.flatMap((o, i) => [i > 0 ? ', ' : '', code(o)]), '. This page is served from ', code(location.origin), ', which is not among them, so the browser’s connection would be refused.'),
    h('p', { text: 'To fix it, either:' }),
    h('ul', {},
      h('li', {}, 'add this page’s origin too: ', code(`npm start -- ${listed.map((o) => `--origin ${o} `).join('')}--origin ${location.origin}`), ', or'),
      h('li', {}, 'drop ', code('--origin'), ' to allow only the server’s own address (the default, what this page needs).')),
    h('p', { class: 'hint', text: 'An origin is scheme, host and port: http://localhost:8080 and http://127.0.0.1:8080 are different origins.' }));
}

/**
 * The page shown when the development login is off: log in with a token from your own auth instead.
 * Resolves with the pasted token.
 */
export function tokenLogin(): { element: HTMLElement; token: Promise<string> } {
  const input = h('textarea', { attrs: { id: 'token', rows: '3', placeholder: 'eyJhbGciOi…', 'aria-label': 'Session token' } });
  let resolve!: (token: string) => void;
  const token = new Promise<string>((r) => (resolve = r));
  const element = h('div', { class: 'problem', attrs: { id: 'problem', 'data-problem': 'no-dev-login' } },
    h('h2', { text: 'The development login is off' }),
    h('p', {}, 'This server runs with ', code('--no-dev-login'), ', so the page cannot make tokens for the demo users. Paste a session token (a JWT with ', code('sub'), ' and ', code('roles'), ' claims, signed with the server’s ', code('--jwt-secret'), ' or a key of its ', code('--jwks-url'), '):'),
    input,
    h('div', { class: 'buttons' }, h('button', { class: 'primary', text: 'Connect with this token', on: { click: () => input.value.trim() !== '' && resolve(input.value.trim()) } })),
    h('p', { class: 'hint' }, 'A pasted token is not renewed: when it expires, paste a fresh one. For the demo users, restart without ', code('--no-dev-login'), '.'));
  return { element, token };
}
