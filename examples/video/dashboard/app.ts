// The demo's dashboard: the browser client, the shared Video class, plain DOM in small modules.
import { connect, type CapsyncClient, type ConnectionState } from '../../../client/browser.js';
import { byId, h } from './dom.js';
import { describeError } from './messages.js';
import { Session } from './session.js';
import { devToken, loadSetup, originProblem, tokenLogin, type Setup } from './setup.js';

/** The user this tab last logged in as, so a reload comes back as them (per tab, like a session cookie). */
const USER_KEY = 'capsync.dashboard.user';

/** What each demo user is, on the login buttons. */
const userHints: Record<string, string> = {
  admin: 'admin: every video, full control, the inspector',
  editor: 'editor: every video, edit only',
  editor2: 'a second editor, to share with',
  guest: 'guest: no role, only what is shared with them',
};

function log(line: string): void {
  const entry = h('li', {}, h('time', { text: new Date().toLocaleTimeString() }), ` ${line}`);
  byId('log').prepend(entry);
  while (byId('log').childElementCount > 200) byId('log').lastElementChild!.remove();
}

/** A notice the user sees now, dismissable; the newest three stay. */
function notice(text: string): void {
  const item = h('div', { class: 'notice error', attrs: { role: 'alert' } }, h('span', { text }),
    h('button', { class: 'dismiss', text: '×', attrs: { 'aria-label': 'Dismiss' }, on: { click: () => item.remove() } }));
  const notices = byId('notices');
  notices.prepend(item);
  while (notices.childElementCount > 3) notices.lastElementChild!.remove();
}

/** Where the connection stands, always visible; `data-state` is the machine-readable copy of the words. */
function status(state: ConnectionState | 'idle', text: string): void {
  const element = byId('status');
  element.dataset['state'] = state;
  element.textContent = text;
}

let session: Session | undefined;

/** Shows one tab's panel: the videos (with what this user shared) or the admin's inspector. */
function showTab(tab: 'videos' | 'inspector'): void {
  const current = session;
  if (current === undefined) return;
  for (const button of document.querySelectorAll<HTMLButtonElement>('#tabs button')) button.setAttribute('aria-selected', String(button.dataset['tab'] === tab));
  if (tab === 'inspector' && current.inspector !== undefined) {
    byId('view').replaceChildren(current.inspector.element);
    void current.inspector.open();
  } else {
    current.inspector?.close();
    byId('view').replaceChildren(current.list.element, current.shared.element);
  }
}

async function login(user: string, token: string | (() => Promise<string>)): Promise<void> {
  await session?.end();
  session = undefined;
  byId('view').replaceChildren();
  byId('tabs').hidden = true;
  byId('intro').hidden = true;
  delete document.body.dataset['ready'];
  status('connecting', `Connecting as ${user}…`);
  let client: CapsyncClient;
  try {
    client = await connect(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`, { token });
  } catch (error) {
    status('closed', `Not connected: ${describeError(error)}`);
    throw error;
  }
  const current = (session = new Session(client, user, { log, notice, status }));
  byId('tabs').hidden = current.inspector === undefined;
  showTab('videos');
  await current.load();
  if (session === current) document.body.dataset['ready'] = client.user?.id ?? user;
}

function start(user: string, token: string | (() => Promise<string>)): void {
  login(user, token).catch((e: unknown) => log(`login as ${user} failed: ${describeError(e)}`));
}

/** Marks the logged-in user's button. */
function pressed(user: string): void {
  for (const button of document.querySelectorAll<HTMLButtonElement>('#users button')) button.setAttribute('aria-pressed', String(button.dataset['user'] === user));
}

function devLoginButtons(setup: Setup): void {
  const users = byId('users');
  users.hidden = false;
  users.replaceChildren(h('span', { text: 'Log in as' }), ...setup.users.map((user) =>
    h('button', { text: user, data: { user }, attrs: { title: userHints[user] ?? user }, on: { click: () => {
      sessionStorage.setItem(USER_KEY, user);
      start(user, () => devToken(user));
      pressed(user);
    } } })));
  const remembered = sessionStorage.getItem(USER_KEY);
  if (remembered !== null && setup.users.includes(remembered)) {
    start(remembered, () => devToken(remembered));
    pressed(remembered);
  }
}

async function main(): Promise<void> {
  for (const button of document.querySelectorAll<HTMLButtonElement>('#tabs button')) button.onclick = () => showTab(button.dataset['tab'] as 'videos' | 'inspector');
  let setup: Setup;
  try {
    setup = await loadSetup();
  } catch (error) {
    status('closed', `Not connected: ${describeError(error)}`);
    return;
  }
  if (!setup.originAllowed) {
    status('closed', 'Not connected: this page’s origin is not allowed (see below)');
    byId('intro').hidden = true;
    byId('view').replaceChildren(originProblem(setup));
    return;
  }
  if (setup.devLogin) {
    devLoginButtons(setup);
    return;
  }
  status('idle', 'Not connected: paste a token');
  byId('intro').hidden = true;
  const { element, token } = tokenLogin();
  byId('view').replaceChildren(element);
  start('you', await token);
}

void main();
