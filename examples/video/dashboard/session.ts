// One logged-in user's page: the client, the videos, what they shared, the inspector, and what to undo at logout.
import { Subscription, skip } from 'rxjs';
import type { Capability, CapsyncClient, ConnectionState } from '../../../client/browser.js';
import { Video } from '../video.js';
import { confirmAction } from './confirm.js';
import { describeClose, describeError } from './messages.js';
import { Inspector } from './inspector.js';
import { rightsOf } from './rights.js';
import { chooseShare, type Recipients } from './share-dialog.js';
import { SharedByMe } from './shared-by-me.js';
import { VideoList } from './video-list.js';
import type { RowHost, VideoRow } from './video-row.js';

/** What a session asks of the page: its log and notices, and where its status goes. */
export interface PageUi {
  log(line: string): void;
  notice(text: string): void;
  status(state: ConnectionState, text: string): void;
}

export class Session implements RowHost {
  readonly list: VideoList;
  readonly shared: SharedByMe;
  /** The admin's inspector panel; undefined for other roles (and `inspect` would refuse them anyway). */
  readonly inspector: Inspector | undefined;
  readonly #subscriptions = new Subscription();
  readonly #ui: PageUi;
  #active = true;
  #ticker: ReturnType<typeof setInterval>;

  constructor(readonly client: CapsyncClient, readonly user: string, ui: PageUi) {
    this.#ui = ui;
    const roles = client.user?.roles ?? [];
    this.list = new VideoList(this, roles.length === 0);
    this.shared = new SharedByMe(client, client.user?.id ?? user, (what, error) => this.problem(what, error), roles.length === 0);
    this.inspector = roles.includes('admin') ? new Inspector(client) : undefined;
    // Expiries count down in "shared by me".
    this.#ticker = setInterval(() => this.shared.render(), 15_000);
    this.#subscriptions.add(client.connectionState.subscribe((state) => this.#status(state)));
    this.#subscriptions.add(client.delegations.subscribe(({ from, object }) => {
      if (!(object instanceof Video)) return;
      this.log(`${from} shared ${object.title} with you (${rightsOf(object.cap.scope).label}${object.cap.expiresAt === null ? '' : `, until ${new Date(object.cap.expiresAt).toLocaleTimeString()}`})`);
      this.list.show(object, from);
    }));
    this.#subscriptions.add(client.revocations.subscribe(({ reason, scope }) => this.log(`your capability ${JSON.stringify(scope)} ${reason === 'expired' ? 'expired' : 'was revoked'}`)));
    // After a reconnect the resume brings the rows up to date; grants are asked again for what was shared meanwhile.
    this.#subscriptions.add(client.connectionState.pipe(skip(1)).subscribe((state) => {
      if (state === 'connected') this.#loadGrants().catch((e: unknown) => this.problem('Could not list what is shared with you', e));
    }));
  }

  /**
   * The first load: this user's videos and everything shared with them (what survives a reload). The admin
   * also watches the whole collection, so a video another client adds appears and a deleted one goes.
   */
  async load(): Promise<void> {
    const [mine] = await Promise.all([this.client.call<Video[]>('get_my_videos'), this.#loadGrants()]);
    for (const video of mine) this.list.show(video);
    if (this.client.user?.roles.includes('admin') ?? false) await this.#watchAll();
  }

  /** Resolves once the collection's first list is shown. */
  async #watchAll(): Promise<void> {
    const cap = await this.client.call<Capability>('get_video_collection');
    await new Promise<void>((resolve) => {
      this.#subscriptions.add(this.client.collection(cap, { type: Video }).subscribe({
        next: (videos) => {
          const known = new Set(videos.filter((v) => this.list.row(v.id) !== undefined).map((v) => v.id));
          for (const video of videos) if (!known.has(video.id)) this.log(`${video.title} was added`);
          this.list.sync(videos);
          resolve();
        },
        error: (error: unknown) => {
          this.problem('The live list of all videos stopped', error);
          resolve();
        },
      }));
    });
  }

  async #loadGrants(): Promise<void> {
    for (const grant of await this.client.grants()) if (grant.object instanceof Video) this.list.show(grant.object, grant.from);
  }

  log(line: string): void {
    if (this.#active) this.#ui.log(line);
  }

  problem(what: string, error: unknown): void {
    if (!this.#active) return;
    this.#ui.notice(`${what}: ${describeError(error)}.`);
    this.log(`${what.toLowerCase()}: ${describeError(error)}`);
  }

  removed(row: VideoRow): void {
    if (this.list.removed(row)) this.log(`${row.video.title} was deleted`);
  }

  confirm(question: string, action: string): Promise<boolean> {
    return confirmAction(question, action);
  }

  /** Who may receive a share: the presence list, without this user, kept current by join and leave events. */
  readonly recipients: Recipients = {
    list: async () => (await this.client.presence()).filter((name) => name !== this.client.user?.id),
    watch: (changed) => {
      const subscription = this.client.presenceChanges.subscribe(() => changed());
      return () => subscription.unsubscribe();
    },
  };

  share(video: Video): void {
    void (async () => {
      const choice = await chooseShare(video, this.recipients);
      if (choice === null || !this.#active) return;
      const suffix = video.cap.scope.length === 2 && !choice.full ? ['update'] : [];
      // Every share has its own expiry, so two shares of one video to two people are two capabilities, each revocable alone.
      const expiresAt = Date.now() + choice.expiresInMs;
      const grant = video.cap.narrow(suffix, { expiresAt });
      const { revocationId } = await this.client.delegate(grant, { to: choice.to, ...(choice.bearer ? { bearer: true } : {}) });
      this.shared.add({ videoId: video.id, title: video.title, to: choice.to, rights: rightsOf(grant.scope).label, bearer: choice.bearer, expiresAt, at: Date.now(), revocationId }, grant);
      this.log(`shared ${video.title} with ${choice.to}`);
    })().catch((e: unknown) => this.problem(`Could not share ${video.title}`, e));
  }

  #status(state: ConnectionState): void {
    if (!this.#active) return;
    const user = this.client.user;
    const roles = user?.roles.join(', ') || 'guest';
    const text: Record<ConnectionState, string> = {
      connecting: 'Connecting…',
      connected: `Connected as ${user?.id ?? this.user} (${roles})`,
      reconnecting: `Reconnecting… (last close ${describeClose(this.client.lastClose)})`,
      closed: `Closed (${describeClose(this.client.lastClose)})`,
    };
    this.#ui.status(state, text[state]);
  }

  async end(): Promise<void> {
    this.#active = false;
    clearInterval(this.#ticker);
    this.#subscriptions.unsubscribe();
    this.inspector?.close();
    this.list.dispose();
    await this.client.close();
  }
}
