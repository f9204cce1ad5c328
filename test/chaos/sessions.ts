import fc from 'fast-check';
import { Subject, merge, startWith } from 'rxjs';
import type { CapsyncClient } from '../../client/index.js';
// For its side effect too: registering the portable Video class, so calls' results decode as Videos.
import '../../examples/video/video.js';
import type { Video } from '../../examples/video/video.js';
import type { ServerProcess, ServerProcesses } from './server-process.js';
import type { RunView } from './session-invariants.js';
import { PushLog, reconnectingClient, settled, state, when, type Settled } from './session-kit.js';
import { TcpProxy } from './tcp-proxy.js';

const OUTCOME_UNKNOWN = 'ERR_CALL_OUTCOME_UNKNOWN';
/** Codes that leave a call's effect unknown: it may have run (once) or not. */
export const uncertainCodes: readonly string[] = [OUTCOME_UNKNOWN, 'ERR_CALL_TIMEOUT'];

/** The users of a run: three that get videos, and a guest who sees only what the admin delegates. */
export const users = ['admin', 'editor', 'editor2', 'guest'] as const;
/** A user of a run. */
export type User = (typeof users)[number];

/** `user` sets video `video`'s description to a token unique in the run (the guest through its grant). */
export interface SessionEdit {
  readonly kind: 'edit';
  readonly user: User;
  readonly video: number;
}

/**
 * One step of a session chaos sequence: an edit, a fault with its repair (edits sent `during` it; `long`
 * faults last until a client's heartbeat noticed), or a right changing hands: the admin delegates video
 * `video` to the guest (bound to the guest, expiring after `expiresInMs` when set), or revokes that grant.
 */
export type SessionStep =
  | SessionEdit
  | { readonly kind: 'cut' }
  | { readonly kind: 'delay'; readonly ms: number }
  | { readonly kind: 'stall'; readonly long: boolean; readonly during: readonly SessionEdit[] }
  | { readonly kind: 'kill9'; readonly during: readonly SessionEdit[] }
  | { readonly kind: 'stop'; readonly long: boolean; readonly during: readonly SessionEdit[] }
  | { readonly kind: 'grant'; readonly video: number; readonly expiresInMs: number | null }
  | { readonly kind: 'revoke'; readonly video: number };

/** Any user's edit of any of the three videos. */
export const sessionEditArb: fc.Arbitrary<SessionEdit> = fc.record({ kind: fc.constant('edit' as const), user: fc.constantFrom(...users), video: fc.nat(2) });

const during = fc.array(sessionEditArb, { maxLength: 3 });

/** Any one {@link SessionStep}; edits and grants weigh most, so rights and data change between faults. */
export const sessionStepArb: fc.Arbitrary<SessionStep> = fc.oneof(
  { arbitrary: sessionEditArb, weight: 4 },
  { arbitrary: fc.constant({ kind: 'cut' as const }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('delay' as const), ms: fc.integer({ min: 0, max: 20 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('stall' as const), long: fc.boolean(), during }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('kill9' as const), during }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('stop' as const), long: fc.boolean(), during }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('grant' as const), video: fc.nat(2), expiresInMs: fc.option(fc.integer({ min: 200, max: 1500 }), { nil: null }) }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('revoke' as const), video: fc.nat(2) }), weight: 2 },
);

/** A random sequence of {@link SessionStep}s. */
export function sessionStepsArb(maxLength = 10): fc.Arbitrary<SessionStep[]> {
  return fc.array(sessionStepArb, { minLength: 1, maxLength });
}

/** A keyed edit the run sent and how it ended. */
export interface EditRecord {
  readonly user: User;
  readonly video: string;
  readonly token: string;
  /** When it was handed to the client (ms since epoch). */
  readonly sentAt: number;
  readonly outcome: Promise<Settled<number>>;
}

/** A capability the admin delegated (or tried to) to the guest, and when it stopped working, if it did. */
export interface GrantRecord {
  readonly video: string;
  /** The admin's capability narrowed for the guest (the server binds it to the guest on delivery). */
  readonly cap: Video['cap'];
  readonly expiresAt: number | null;
  /** The delegation's outcome: a definite failure means the guest never got it. */
  delegated: Settled<unknown>;
  /** When the admin's revoke was answered (ms since epoch), if it was. */
  revokedAt: number | null;
  /** A revoke whose outcome is unknown: whether the grant still works cannot be told. */
  revokeUncertain: boolean;
}

/** A client of the run, what it received, and its live objects. */
export interface Member {
  readonly client: CapsyncClient;
  readonly log: PushLog;
  /** The instances from `get_my_videos` (the guest: from its delegations), by video id; pushes update them in place. */
  readonly videos: Map<string, Video>;
  /** For the guest: how each delegated object's `live()` ended (`ERR_...`), by video id. */
  readonly ended: Map<string, string>;
}

/** Options of {@link SessionRun.start}. */
export interface SessionRunOptions {
  /** The server's ping interval. Default 300 ms. */
  readonly heartbeatMs?: number;
}

/**
 * Applies {@link SessionStep}s to a demo server process, with one reconnecting client per user: admin, editor
 * and the guest through a {@link TcpProxy}, editor2 straight to the server. Records every edit, grant and push;
 * `session-invariants.ts` checks what they must add up to.
 */
export class SessionRun implements RunView {
  readonly edits: EditRecord[] = [];
  readonly grants = new Map<string, GrantRecord>();
  readonly applied: SessionStep[] = [];
  /** The three seeded video ids, in order, and their versions at the start. */
  readonly ids: string[] = [];
  readonly initialVersions = new Map<string, number>();
  readonly members = new Map<User, Member>();
  /** Fires when a guest's `live()` ends: {@link until} re-checks then too. */
  readonly #endings = new Subject<void>();
  #tokens = 0;
  readonly #run = Math.random().toString(36).slice(2, 8);

  private constructor(
    readonly server: ServerProcess,
    readonly proxy: TcpProxy,
  ) {}

  /** Starts a server (reaped by `processes`), the proxy, and every user's client. */
  static async start(processes: ServerProcesses, options: SessionRunOptions = {}): Promise<SessionRun> {
    const server = await processes.start({ heartbeatMs: options.heartbeatMs ?? 300 });
    const run = new SessionRun(server, await TcpProxy.start(server.port));
    for (const user of users) {
      const client = await reconnectingClient(user === 'editor2' ? server.url : run.proxy.url, server, user);
      const member: Member = { client, log: new PushLog(client), videos: new Map(), ended: new Map() };
      run.members.set(user, member);
      for (const video of await client.call<Video[]>('get_my_videos')) member.videos.set(video.id, video);
    }
    for (const video of run.members.get('admin')!.videos.values()) {
      run.ids.push(video.id);
      run.initialVersions.set(video.id, video.version!);
    }
    const guest = run.members.get('guest')!;
    guest.client.delegations.subscribe(({ object }) => run.#adoptGrant(guest, object));
    return run;
  }

  /** Applies one step; resolves once its repair is done (edits are sent, not awaited). */
  async apply(step: SessionStep): Promise<void> {
    this.applied.push(step);
    switch (step.kind) {
      case 'edit':
        return this.#edit(step);
      case 'cut':
        await this.proxy.cut();
        return;
      case 'delay':
        return this.proxy.delay(step.ms);
      case 'stall':
        this.proxy.stall();
        for (const edit of step.during) this.#edit(edit);
        if (step.long) await state(this.#client('admin'), 'reconnecting', 10_000);
        return this.proxy.resume();
      case 'kill9':
        await this.server.kill9();
        for (const edit of step.during) this.#edit(edit);
        return this.server.restart();
      case 'stop':
        this.server.stop();
        for (const edit of step.during) this.#edit(edit);
        if (step.long) await state(this.#client('editor2'), 'reconnecting', 10_000);
        return this.server.cont();
      case 'grant':
        return this.#grant(this.ids[step.video]!, step.expiresInMs);
      case 'revoke':
        return this.#revoke(this.ids[step.video]!);
    }
  }

  /** Waits for every edit to settle (grants and revokes were awaited), and for every client to be connected again. */
  async settle(): Promise<void> {
    this.proxy.delay(0);
    await Promise.all(this.edits.map((e) => e.outcome));
    await Promise.all([...this.members.values()].map((m) => state(m.client, 'connected', 15_000)));
  }

  /** The store's videos now, read by a fresh admin client straight to the server. */
  async store(): Promise<Map<string, Video>> {
    const fresh = await reconnectingClient(this.server.url, this.server, 'admin', { reconnect: false });
    try {
      return new Map((await fresh.call<Video[]>('get_my_videos')).map((v) => [v.id, v]));
    } finally {
      await fresh.close();
    }
  }

  /** Resolves once `check()` holds, re-checked at every change and state change of `user`'s client. */
  until(user: User, check: () => boolean, what: string, limitMs = 10_000): Promise<unknown> {
    const client = this.#client(user);
    return when(merge(client.changes, client.connectionState, this.#endings).pipe(startWith(null)), () => check(), `${user}: ${what}`, limitMs);
  }

  /** Closes the proxy, then every client. */
  async dispose(): Promise<void> {
    await this.proxy.close();
    await Promise.all([...this.members.values()].map((m) => (m.log.stop(), m.client.close())));
  }

  #client(user: User): CapsyncClient {
    return this.members.get(user)!.client;
  }

  #edit(edit: SessionEdit): void {
    const member = this.members.get(edit.user)!;
    const id = this.ids[edit.video]!;
    const video = member.videos.get(id);
    if (video === undefined) return;
    const token = `${this.#run}-${++this.#tokens}`;
    const outcome = settled(member.client.call<number>('set_video_description', video.cap, token));
    this.edits.push({ user: edit.user, video: id, token, sentAt: Date.now(), outcome });
  }

  /** One grant per video per run, so when the guest may see a video is one interval. */
  async #grant(id: string, expiresInMs: number | null): Promise<void> {
    if (this.grants.has(id)) return;
    const admin = this.members.get('admin')!;
    await state(this.#client('guest'), 'connected', 10_000);
    const expiresAt = expiresInMs === null ? null : Date.now() + expiresInMs;
    const cap = admin.videos.get(id)!.cap.narrow(['update'], expiresAt === null ? {} : { expiresAt });
    const record: GrantRecord = { video: id, cap, expiresAt, delegated: { ok: false, code: 'pending' }, revokedAt: null, revokeUncertain: false };
    this.grants.set(id, record);
    record.delegated = await settled(admin.client.delegate(cap, { to: 'guest', bind: true }));
    // Refused (the guest was offline, ...): the guest never had it, and the video may be granted later.
    if (!record.delegated.ok && !uncertainCodes.includes(record.delegated.code)) this.grants.delete(id);
  }

  async #revoke(id: string): Promise<void> {
    const record = this.grants.get(id);
    if (record === undefined || record.revokedAt !== null || record.revokeUncertain) return;
    const outcome = await settled(this.#client('admin').revoke(record.cap));
    if (outcome.ok) record.revokedAt = Date.now();
    // A definite refusal (the grant already expired) changes nothing; a lost answer leaves it unknown.
    else if (uncertainCodes.includes(outcome.code)) record.revokeUncertain = true;
  }

  /** A delegated object reached the guest (live, or again on a resume): keep the first instance and follow its end. */
  #adoptGrant(guest: Member, object: unknown): void {
    const video = object as Video | null;
    if (video === null || typeof video.id !== 'string' || guest.videos.has(video.id)) return;
    guest.videos.set(video.id, video);
    const end = (how: string): void => {
      guest.ended.set(video.id, how);
      this.#endings.next();
    };
    guest.client.live(video).subscribe({ error: (e: unknown) => end((e as { code?: string }).code ?? String(e)), complete: () => end('completed') });
  }
}
