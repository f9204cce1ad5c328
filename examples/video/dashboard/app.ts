// The demo's live dashboard: the browser client, the shared Video class, plain DOM.
import { Subscription, skip } from 'rxjs';
import { CapsyncError, connect, type CapsyncClient, type ConnectionState } from '../../../client/browser.js';
import { Video } from '../video.js';
import { describeClose, describeError } from './messages.js';
import { VideoRow, type RowHost } from './video-row.js';

const $ = (id: string) => document.getElementById(id)!;
/** The user this tab last logged in as, so a reload comes back as them (per tab, like a session cookie). */
const USER_KEY = 'capsync.dashboard.user';

function log(line: string): void {
  $('log').textContent = `${new Date().toLocaleTimeString()} ${line}\n${$('log').textContent ?? ''}`;
}

/** Shows where the connection stands; `data-state` is the machine-readable copy of the words. */
function showStatus(state: ConnectionState | 'idle', text: string): void {
  const status = $('status');
  status.dataset['state'] = state;
  status.textContent = text;
}

/**
 * A fresh development token for `user`. The client calls this at every (re)connect and when the server says
 * the session expires soon, so a dashboard left open renews its session without anyone logging in again.
 */
async function devToken(user: string): Promise<string> {
  const response = await fetch(`/dev/login?user=${encodeURIComponent(user)}`);
  if (response.status === 404) {
    // Terminal for the client: retrying cannot turn the development login on.
    throw new CapsyncError('ERR_AUTH_REQUIRED', 'the development login is off on this server (--no-dev-login); use your own tokens');
  }
  if (!response.ok) throw new Error(`the development login answered HTTP ${response.status}`);
  return ((await response.json()) as { token: string }).token;
}

/** One logged-in user's page: the client, their rows by video id, and what to unsubscribe at logout. */
class Session implements RowHost {
  readonly rows = new Map<string, VideoRow>();
  readonly subscriptions = new Subscription();
  #active = true;

  constructor(readonly client: CapsyncClient, readonly user: string) {}

  log(line: string): void {
    if (this.#active) log(line);
  }

  /** Adds a row for `video`, or gives an existing read-only row the new capability (shared again). */
  show(video: Video, from?: string): void {
    if (!this.#active) return;
    const row = this.rows.get(video.id);
    if (row === undefined) {
      const added = new VideoRow(this, video, from);
      this.rows.set(video.id, added);
      $('videos').append(added.element);
    } else if (row.locked || video.cap.scope.length < row.video.cap.scope.length) {
      row.rebind(video, from);
    }
    this.showEmpty();
  }

  removed(row: VideoRow): void {
    if (!this.#active || this.rows.get(row.video.id) !== row) return;
    row.element.remove();
    this.rows.delete(row.video.id);
    this.log(`${row.video.title} was deleted`);
    this.showEmpty();
  }

  share(video: Video): void {
    void (async () => {
      const online = (await this.client.presence()).filter((name) => name !== this.user);
      const to = prompt(`Grant update rights on ${video.title} to (online: ${online.join(', ') || 'nobody'})`);
      if (!to) return;
      const grant = video.cap.scope.length === 2 ? video.cap.narrow(['update']) : video.cap.narrow([]);
      await this.client.delegate(grant, { to, bind: true });
      this.log(`shared ${video.title} with ${to}`);
    })().catch((e: unknown) => this.log(`could not share ${video.title}: ${describeError(e)}`));
  }

  /** Every capability delegated to this user that still works: what survives a reload. */
  async loadGrants(): Promise<void> {
    for (const grant of await this.client.grants()) if (grant.object instanceof Video) this.show(grant.object, grant.from);
  }

  showStatus(state: ConnectionState): void {
    if (!this.#active) return;
    const roles = this.client.user?.roles.join(', ') || 'no roles';
    const text: Record<ConnectionState, string> = {
      connecting: 'Connecting…',
      connected: `Connected as ${this.client.user?.id ?? this.user} (${roles})`,
      reconnecting: `Reconnecting… (last close ${describeClose(this.client.lastClose)})`,
      closed: `Closed (${describeClose(this.client.lastClose)})`,
    };
    showStatus(state, text[state]);
  }

  /** A guest's empty table explains itself. */
  showEmpty(): void {
    const empty = $('empty');
    empty.hidden = this.rows.size > 0;
    empty.textContent =
      (this.client.user?.roles.length ?? 0) === 0
        ? 'You are logged in as a guest. Guests see only the videos someone shared with them, and nothing is shared with you yet: ask an editor or the admin to share a video while this page is open.'
        : 'No videos.';
  }

  async end(): Promise<void> {
    this.#active = false;
    this.subscriptions.unsubscribe();
    for (const row of this.rows.values()) row.dispose();
    await this.client.close();
  }
}

let session: Session | undefined;

async function login(user: string): Promise<void> {
  await session?.end();
  session = undefined;
  $('videos').textContent = '';
  $('empty').hidden = true;
  delete document.body.dataset['ready'];
  sessionStorage.setItem(USER_KEY, user);
  showStatus('connecting', `Connecting as ${user}…`);
  let client: CapsyncClient;
  try {
    client = await connect(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`, { token: () => devToken(user) });
  } catch (error) {
    showStatus('closed', `Not connected: ${describeError(error)}`);
    throw error;
  }
  const current = (session = new Session(client, user));
  current.subscriptions.add(client.connectionState.subscribe((state) => current.showStatus(state)));
  current.subscriptions.add(
    client.delegations.subscribe(({ from, object }) => {
      current.log(`${from} shared ${(object as Video | null)?.title ?? 'something'} with you`);
      if (object instanceof Video) current.show(object, from);
    }),
  );
  current.subscriptions.add(client.revocations.subscribe(({ reason }) => current.log(`a capability you held was ${reason}`)));
  // After a reconnect the resume brings the rows up to date; grants are asked again for what was shared meanwhile.
  current.subscriptions.add(
    client.connectionState.pipe(skip(1)).subscribe((state) => {
      if (state === 'connected') current.loadGrants().catch((e: unknown) => current.log(`could not list what is shared with you: ${describeError(e)}`));
    }),
  );
  const [mine] = await Promise.all([client.call<Video[]>('get_my_videos'), current.loadGrants()]);
  for (const video of mine) current.show(video);
  current.showEmpty();
  document.body.dataset['ready'] = user;
}

function start(user: string): void {
  login(user).catch((e: unknown) => log(`login as ${user} failed: ${describeError(e)}`));
}

for (const button of document.querySelectorAll<HTMLButtonElement>('button[data-user]')) {
  button.onclick = () => start(button.dataset['user']!);
}
const remembered = sessionStorage.getItem(USER_KEY);
if (remembered !== null) start(remembered);
