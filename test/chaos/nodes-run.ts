import fc from 'fast-check';
import { merge, startWith } from 'rxjs';
import { connect, type CapsyncClient } from '../../client/index.js';
import { demoUsers } from '../../examples/video/app.js';
// For its side effect too: registering the portable Video class, so calls' results decode as Videos.
import '../../examples/video/video.js';
import type { Video } from '../../examples/video/video.js';
import { Authenticator } from '../../server/auth.js';
import { SECRET } from '../helpers.js';
import { startRedis, type RedisServer } from '../redis/redis-server.js';
import type { ServerProcess, ServerProcesses } from './server-process.js';
import type { RunView } from './session-invariants.js';
import { fastReconnect, PushLog, settled, state, when } from './session-kit.js';
import type { EditRecord, GrantRecord, Member, User } from './sessions.js';
import { TcpProxy } from './tcp-proxy.js';
import { whenFresh } from '../redis/process-kit.js';
import { startHaproxy } from '../redis/haproxy.js';
import { Subject } from 'rxjs';
import { uncertainCodes } from './sessions.js';

/** How many node processes a run starts. */
export const NODE_COUNT = 3;
/** The users of a run: three that get videos, and a guest who gets none (so must never be pushed any). */
export const nodeUsers = ['admin', 'editor', 'editor2', 'guest'] as const satisfies readonly User[];
const editors = ['admin', 'editor', 'editor2'] as const satisfies readonly User[];
/**
 * The users whose client reaches the nodes through haproxy (round-robin, no stickiness; each behind its own
 * TcpProxy too, so a `move` can cut it): their reconnects land wherever haproxy sends them.
 */
export const balancedUsers: readonly User[] = ['guest', 'editor2'];

/** `user` (on whichever node its connection is) sets video `video`'s description to a token unique in the run. */
export interface NodeEdit {
  readonly kind: 'edit';
  readonly user: User;
  readonly video: number;
}

/**
 * `from` narrows its capability of video `video` to `update` (with an expiry unique in the run, which names
 * the grant in what the guest receives) and delegates it to the guest, wherever the guest is connected; one
 * grant per video per run.
 */
export interface NodeGrant {
  readonly kind: 'grant';
  readonly from: 'admin' | 'editor';
  readonly video: number;
}

/** The delegator of video `video`'s grant revokes the capability it delegated (the guest's one with it). */
export interface NodeRevoke {
  readonly kind: 'revoke';
  readonly video: number;
}

/** What a fault's `during` sends while it lasts (none awaited there). */
export type NodeAction = NodeEdit | NodeGrant | NodeRevoke;

/**
 * One step of a many-node chaos sequence. Every fault comes with its repair in the same step, so every node
 * runs and every link forwards again after each step; edits sent `during` a fault are where the interleavings are.
 * - `move`: the user's connection is cut and its proxy sends the reconnect to node `node` (a round-robin balancer's pick);
 * - `kill9`: kill -9 of node `node`; the proxies of its clients send their reconnects to another node (`to` picks
 *   which), as a balancer's health check would; the node is restarted on its port afterwards;
 * - `stop`: SIGSTOP of node `node`, then SIGCONT; `long` lasts until its clients' heartbeats noticed (their
 *   proxies then send them to another node);
 * - `busCut`: every Redis connection of node `node` reset (the node reconnects);
 * - `busStall`: node `node`'s Redis link stalls (both ways, or only Redis's replies) for `ms`, then resumes, or
 *   is cut (the replies held are lost);
 * - `redisKill9`: kill -9 of Redis itself, restarted on its port and folder (the AOF replayed): nothing
 *   acknowledged may be lost;
 * - `busLag`: node `node`'s Redis link gets `ms` of latency each way; `cutAfterMs` after the edits `during` are
 *   sent it is cut (landing in some phase of their calls: a claim, a write or an outcome in flight), then heals.
 */
export type NodeStep =
  | NodeAction
  | { readonly kind: 'move'; readonly user: User; readonly node: number }
  | { readonly kind: 'kill9'; readonly node: number; readonly to: number; readonly during: readonly NodeAction[] }
  | { readonly kind: 'stop'; readonly node: number; readonly to: number; readonly long: boolean; readonly during: readonly NodeAction[] }
  | { readonly kind: 'busCut'; readonly node: number; readonly during: readonly NodeAction[] }
  | {
      readonly kind: 'busStall';
      readonly node: number;
      readonly direction: 'both' | 'down';
      readonly ms: number;
      readonly end: 'resume' | 'cut';
      readonly during: readonly NodeAction[];
    }
  | { readonly kind: 'redisKill9'; readonly during: readonly NodeAction[] }
  | { readonly kind: 'busLag'; readonly node: number; readonly ms: number; readonly cutAfterMs: number; readonly during: readonly NodeAction[] };

const node = fc.nat(NODE_COUNT - 1);
/** Any user's edit of any of the three videos (the guest's only through a grant it received). */
/**
 * The delegation steps (grants to the guest, their revokes, the guest's edits through them) are on by default,
 * in `npm test`'s short form too; CHAOS_NODES_DELEGATION=0 leaves them out (faults and editors' edits only).
 */
export const withDelegation = process.env['CHAOS_NODES_DELEGATION'] !== '0';
export const nodeEditArb: fc.Arbitrary<NodeEdit> = fc.record({ kind: fc.constant('edit' as const), user: withDelegation ? fc.constantFrom(...editors, 'guest' as const) : fc.constantFrom(...editors), video: fc.nat(2) });
const grantArb: fc.Arbitrary<NodeGrant> = fc.record({ kind: fc.constant('grant' as const), from: fc.constantFrom('admin' as const, 'editor' as const), video: fc.nat(2) });
const revokeArb: fc.Arbitrary<NodeRevoke> = fc.record({ kind: fc.constant('revoke' as const), video: fc.nat(2) });
const during = fc.array(withDelegation ? fc.oneof({ arbitrary: nodeEditArb, weight: 3 }, { arbitrary: grantArb, weight: 1 }, { arbitrary: revokeArb, weight: 1 }) : nodeEditArb, { maxLength: 3 });

/** Any one {@link NodeStep}; edits weigh most, so data changes between faults. */
export const nodeStepArb: fc.Arbitrary<NodeStep> = fc.oneof(
  { arbitrary: nodeEditArb, weight: 4 },
  ...(withDelegation ? [{ arbitrary: grantArb, weight: 2 }, { arbitrary: revokeArb, weight: 2 }] : []),
  { arbitrary: fc.record({ kind: fc.constant('move' as const), user: fc.constantFrom(...nodeUsers), node }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('kill9' as const), node, to: fc.nat(1), during }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('stop' as const), node, to: fc.nat(1), long: fc.boolean(), during }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('busCut' as const), node, during }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant('busStall' as const),
      node,
      direction: fc.constantFrom('both' as const, 'down' as const),
      // Past about 1 s the node's revocation feed is stale: it refuses capability use until caught up.
      ms: fc.integer({ min: 20, max: 1500 }),
      end: fc.constantFrom('resume' as const, 'cut' as const),
      during,
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('redisKill9' as const), during }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('busLag' as const), node, ms: fc.integer({ min: 5, max: 60 }), cutAfterMs: fc.integer({ min: 0, max: 400 }), during }), weight: 2 },
);

/** A random sequence of {@link NodeStep}s. */
export function nodeStepsArb(maxLength = 10): fc.Arbitrary<NodeStep[]> {
  return fc.array(nodeStepArb, { minLength: 1, maxLength });
}

/** Codes an edit may be refused with that say it did not run: a node failing closed while its revocation feed is behind. */
export const refusedCodes: readonly string[] = ['ERR_REVOCATION_FEED_STALE'];

const auth = new Authenticator({ secret: SECRET });

/** What the run saw of one grant, beside its {@link GrantRecord}. */
export interface DelegationTrace {
  readonly from: 'admin' | 'editor';
  /** The scope and expiry of the narrowed capability that was delegated. */
  readonly scope: readonly unknown[];
  readonly expiresAt: number;
  /** Every delegation frame the guest received with this grant's expiry. */
  readonly received: { revocationId: string | null; description: string; scope: unknown[]; audiences: string[]; at: number }[];
  /** When the revoke was sent (null: never). */
  revokeSentAt: number | null;
  /** How the revoke settled ('ok' or its code). */
  revokeOutcome?: string;
}

/**
 * Applies {@link NodeStep}s to {@link NODE_COUNT} node processes of the built demo on one real redis-server
 * (AOF, `appendfsync always`), each node reaching Redis through its own {@link TcpProxy} (the bus drops), and
 * one reconnecting client per user, each through its own proxy (the balancer: which node a reconnect lands on).
 * Records every edit and push; `session-invariants.ts` checks what they must add up to.
 */
export class NodesRun implements RunView {
  readonly edits: EditRecord[] = [];
  readonly grants = new Map<string, GrantRecord>();
  readonly applied: NodeStep[] = [];
  readonly ids: string[] = [];
  readonly initialVersions = new Map<string, number>();
  readonly members = new Map<User, Member>();
  /** Each user's proxy: its target is the node the client's next connection lands on. */
  readonly proxies = new Map<User, TcpProxy>();
  /** Faults injected (steps other than edits), by kind. */
  readonly faults = new Map<string, number>();
  /** Per grant (by video id): who delegated it, and the delegation frames the guest received for it. */
  readonly delegations = new Map<string, DelegationTrace>();
  /** Delegation frames the guest received that match no grant by their expiry (a widened one would). */
  readonly strayDelegations: string[] = [];
  /** Grants, revokes and the guest's adoption of delegated objects, still running (settle awaits them). */
  readonly #pending: Promise<unknown>[] = [];
  /** Fires when a guest's `live()` ends: {@link until} re-checks then too. */
  readonly #endings = new Subject<void>();
  readonly #run = Math.random().toString(36).slice(2, 8);
  /** A base for the grants' expiries: far enough that none expires in a run, distinct per grant. */
  readonly #expiryBase = Date.now() + 3_600_000;
  #tokens = 0;

  private constructor(
    /** The Redis server (another object after a `redisKill9`: the same port and folder). */
    public redis: RedisServer,
    /** Node i's link to Redis. */
    readonly links: readonly TcpProxy[],
    readonly nodes: readonly ServerProcess[],
    /** haproxy in front of the nodes (round-robin), for the {@link balancedUsers}. */
    readonly balancer: { readonly port: number; stop(): Promise<void> },
  ) {}

  /** Starts Redis, the links, the nodes (the first alone: it seeds the videos) and every user's client. */
  static async start(processes: ServerProcesses): Promise<NodesRun> {
    const redis = await startRedis();
    const links: TcpProxy[] = [];
    const nodes: ServerProcess[] = [];
    let balancer: { readonly port: number; stop(): Promise<void> } | undefined;
    try {
      for (let i = 0; i < NODE_COUNT; i++) links.push(await TcpProxy.start(redis.port));
      // A short ping interval: a client of a stopped or killed node notices within about two.
      const start = (i: number): Promise<ServerProcess> =>
        processes.start({ heartbeatMs: 300, ...(process.env['CHAOS_LOG_LEVEL'] !== undefined ? { logLevel: process.env['CHAOS_LOG_LEVEL'] } : {}), args: ['--redis', `redis://127.0.0.1:${links[i]!.port}`, `--jwt-secret=${SECRET}`] });
      nodes.push(await start(0));
      nodes.push(...(await Promise.all(links.slice(1).map((_, i) => start(i + 1)))));
      balancer = await startHaproxy(nodes.map((n) => n.port));
    } catch (error) {
      await balancer?.stop();
      await Promise.all(links.map((l) => l.close()));
      await redis.stop();
      throw error;
    }
    const run = new NodesRun(redis, links, nodes, balancer);
    try {
      await run.#connectAll();
    } catch (error) {
      await run.dispose();
      throw error;
    }
    return run;
  }

  /** One client per user, each through its own proxy, spread over the nodes (the balanced users' through haproxy). */
  async #connectAll(): Promise<void> {
    for (const [i, user] of nodeUsers.entries()) {
      const proxy = await TcpProxy.start(balancedUsers.includes(user) ? this.balancer.port : this.nodes[i % NODE_COUNT]!.port);
      this.proxies.set(user, proxy);
      const client = await this.#connect(proxy.url, user);
      const member: Member = { client, log: new PushLog(client), videos: new Map(), ended: new Map() };
      this.members.set(user, member);
      for (const video of await whenFresh(() => client.call<Video[]>('get_my_videos'))) member.videos.set(video.id, video);
      if (user === 'guest') client.delegations.subscribe(({ cap, object }) => this.#received(member, cap, object));
    }
    for (const video of this.members.get('admin')!.videos.values()) {
      this.ids.push(video.id);
      this.initialVersions.set(video.id, video.version!);
    }
  }

  /** Applies one step; resolves once its repair is done (edits are sent, not awaited). */
  async apply(step: NodeStep): Promise<void> {
    this.applied.push(step);
    if (step.kind !== 'edit') this.faults.set(step.kind, (this.faults.get(step.kind) ?? 0) + 1);
    switch (step.kind) {
      case 'edit':
      case 'grant':
      case 'revoke':
        return this.#act(step, true);
      case 'move': {
        const proxy = this.proxies.get(step.user)!;
        // A balanced user's reconnect goes where haproxy sends it.
        if (!balancedUsers.includes(step.user)) proxy.retarget(this.nodes[step.node]!.port);
        await proxy.cut();
        return;
      }
      case 'kill9': {
        this.#moveClientsOff(step.node, step.to);
        await this.nodes[step.node]!.kill9();
        for (const action of step.during) void this.#act(action, false);
        return this.nodes[step.node]!.restart();
      }
      case 'stop': {
        const stopped = this.nodes[step.node]!;
        const on = this.#clientsOn(step.node);
        stopped.stop();
        for (const action of step.during) void this.#act(action, false);
        if (step.long) {
          this.#moveClientsOff(step.node, step.to);
          await Promise.all(on.map((user) => state(this.members.get(user)!.client, 'reconnecting', 10_000)));
        }
        return stopped.cont();
      }
      case 'busCut': {
        for (const action of step.during) void this.#act(action, false);
        await this.links[step.node]!.cut();
        return;
      }
      case 'busStall': {
        const link = this.links[step.node]!;
        link.stall(step.direction);
        for (const action of step.during) void this.#act(action, false);
        // The fault's length (what is drawn), not a wait for anything.
        await new Promise((resolve) => setTimeout(resolve, step.ms));
        if (step.end === 'cut') await link.cut();
        link.resume();
        return;
      }
      case 'redisKill9': {
        await this.redis.kill9();
        for (const action of step.during) void this.#act(action, false);
        this.redis = await this.redis.restart();
        return;
      }
      case 'busLag': {
        const link = this.links[step.node]!;
        link.delay(step.ms);
        for (const action of step.during) void this.#act(action, false);
        // Where the cut lands in the calls (what is drawn), not a wait for anything.
        await new Promise((resolve) => setTimeout(resolve, step.cutAfterMs));
        await link.cut();
        link.delay(0);
        return;
      }
    }
  }

  /** Waits for every edit to settle and every client to be connected again. */
  async settle(): Promise<void> {
    while (this.#pending.length > 0) await Promise.all(this.#pending.splice(0));
    await Promise.all(this.edits.map((e) => e.outcome));
    await Promise.all([...this.members.values()].map((m) => state(m.client, 'connected', 15_000)));
  }

  /** The store's videos now, read by a fresh admin client straight to node 0. */
  async store(): Promise<Map<string, Video>> {
    const fresh = await this.#connect(this.nodes[0]!.url, 'admin', false);
    try {
      return new Map((await whenFresh(() => fresh.call<Video[]>('get_my_videos'))).map((v) => [v.id, v]));
    } finally {
      await fresh.close();
    }
  }

  /**
   * What is broken at the end: a client that cannot call (each one's `get_my_videos` must answer, with all three
   * videos for an editor and none for the guest), a node that died by itself or logged an unhandled error.
   */
  async broken(): Promise<string[]> {
    const found: string[] = [];
    for (const [user, member] of this.members) {
      const answer = await settled(whenFresh(() => member.client.call<Video[]>('get_my_videos')));
      if (!answer.ok) found.push(`${user}'s client cannot call: ${answer.code}`);
      else if (answer.value.length !== (user === 'guest' ? 0 : this.ids.length)) found.push(`${user} got ${answer.value.length} videos`);
    }
    this.nodes.forEach((n, i) => {
      if (!n.running) found.push(`node ${i} exited by itself:\n${n.log}`);
      if (/unhandled|uncaught/i.test(n.log)) found.push(`node ${i} logged an unhandled error:\n${n.log}`);
    });
    return found;
  }

  /** Resolves once `check()` holds, re-checked at every change and state change of `user`'s client. */
  until(user: User, check: () => boolean, what: string, limitMs = 10_000): Promise<unknown> {
    const client = this.members.get(user)!.client;
    return when(merge(client.changes, client.connectionState, this.#endings).pipe(startWith(null)), () => check(), `${user}: ${what}`, limitMs);
  }

  /** Closes every client and proxy, and stops Redis (the nodes are the caller's `ServerProcesses` to reap). */
  async dispose(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
    await Promise.all([...this.members.values()].map((m) => (m.log.stop(), m.client.close())));
    await Promise.all(this.links.map((l) => l.close()));
    await this.balancer.stop();
    await this.redis.stop();
  }

  #connect(url: string, user: User, reconnect = true): Promise<CapsyncClient> {
    return connect(url, {
      token: () => auth.issue(demoUsers[user]!),
      ...(reconnect ? { reconnect: fastReconnect } : { reconnect: false }),
      callTimeoutMs: 20_000,
      connectTimeoutMs: 3_000,
    });
  }

  /** The users whose proxy sends them to node `n`. */
  #clientsOn(n: number): User[] {
    return [...this.proxies].filter(([, p]) => p.targetPort === this.nodes[n]!.port).map(([user]) => user);
  }

  /** Points the proxies of node `n`'s clients at another node (`to` picks which): their next connection lands there. */
  #moveClientsOff(n: number, to: number): void {
    const other = [...this.nodes.keys()].filter((i) => i !== n)[to % (NODE_COUNT - 1)]!;
    for (const user of this.#clientsOn(n)) this.proxies.get(user)!.retarget(this.nodes[other]!.port);
  }

  /** Sends one action; a grant or revoke is awaited when `wait` (a step of its own), else left running. */
  async #act(action: NodeAction, wait: boolean): Promise<void> {
    if (action.kind === 'edit') return this.#edit(action);
    const running = action.kind === 'grant' ? this.#grant(action) : this.#revoke(action);
    if (wait) return running;
    this.#pending.push(running);
  }

  /** One grant per video per run, so when the guest may use a video is one interval. */
  async #grant(step: NodeGrant): Promise<void> {
    const id = this.ids[step.video]!;
    if (this.grants.has(id)) return;
    const from = this.members.get(step.from)!;
    const expiresAt = this.#expiryBase + this.grants.size * 1000;
    // The admin holds a video's full control (`[youtube_videos, id]`), an editor its update right already
    // (`[..., 'update']`): either grants the update right (narrowing an editor's with 'update' again made a
    // scope no function accepts, ERR_CAPABILITY_TOO_NARROW).
    const held = from.videos.get(id)!.cap;
    const cap = held.narrow(held.scope.at(-1) === 'update' ? [] : ['update'], { expiresAt });
    // The expiry is past the run: for the invariants the grant does not expire.
    const record: GrantRecord = { video: id, cap, expiresAt: null, delegated: { ok: false, code: 'pending' }, revokedAt: null, revokeUncertain: false };
    this.grants.set(id, record);
    const trace: DelegationTrace = { from: step.from, scope: [...cap.scope], expiresAt, received: [], revokeSentAt: null };
    this.delegations.set(id, trace);
    record.delegated = await settled(from.client.delegate(cap, { to: 'guest' }));
  }

  /** Revokes the capability a grant delegated (once its delegation settled): the guest's ends with it. */
  async #revoke(step: NodeRevoke): Promise<void> {
    const id = this.ids[step.video]!;
    const record = this.grants.get(id);
    const trace = this.delegations.get(id);
    if (record === undefined || trace === undefined || trace.revokeSentAt !== null) return;
    trace.revokeSentAt = Date.now();
    const outcome = await settled(this.members.get(trace.from)!.client.revoke(record.cap));
    if (outcome.ok) record.revokedAt = Date.now();
    // A definite refusal (e.g. a feed behind) revoked nothing; a lost answer leaves it unknown.
    else if (uncertainCodes.includes(outcome.code)) record.revokeUncertain = true;
    trace.revokeOutcome = outcome.ok ? 'ok' : outcome.code;
  }

  /** A delegation frame reached the guest (live, relayed from another node, or on a resume). */
  #received(guest: Member, cap: Video['cap'], object: unknown): void {
    const entry = [...this.delegations].find(([, t]) => t.expiresAt === cap.expiresAt);
    const description = `scope ${JSON.stringify(cap.scope)}, expiry ${cap.expiresAt}, audiences ${JSON.stringify(cap.audiences)}`;
    if (entry === undefined) {
      this.strayDelegations.push(description);
      return;
    }
    const [id, trace] = entry;
    trace.received.push({ revocationId: cap.revocationId ?? null, description, scope: [...cap.scope], audiences: [...cap.audiences], at: Date.now() });
    const video = object as Video | null;
    if (video === null || video.id !== id || guest.videos.has(id)) return;
    guest.videos.set(id, video);
    const end = (how: string): void => {
      guest.ended.set(id, how);
      this.#endings.next();
    };
    guest.client.live(video).subscribe({ error: (e: unknown) => end((e as { code?: string }).code ?? String(e)), complete: () => end('completed') });
  }

  #edit(edit: NodeEdit): void {
    const member = this.members.get(edit.user)!;
    const id = this.ids[edit.video]!;
    const video = member.videos.get(id);
    if (video === undefined) return;
    const token = `${this.#run}-${++this.#tokens}`;
    const outcome = settled(member.client.call<number>('set_video_description', video.cap, token));
    this.edits.push({ user: edit.user, video: id, token, sentAt: Date.now(), outcome });
  }
}

