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

/** How many node processes a run starts. */
export const NODE_COUNT = 3;
/** The users of a run: three that get videos, and a guest who gets none (so must never be pushed any). */
export const nodeUsers = ['admin', 'editor', 'editor2', 'guest'] as const satisfies readonly User[];
const editors = ['admin', 'editor', 'editor2'] as const satisfies readonly User[];

/** `user` (on whichever node its connection is) sets video `video`'s description to a token unique in the run. */
export interface NodeEdit {
  readonly kind: 'edit';
  readonly user: (typeof editors)[number];
  readonly video: number;
}

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
  | NodeEdit
  | { readonly kind: 'move'; readonly user: User; readonly node: number }
  | { readonly kind: 'kill9'; readonly node: number; readonly to: number; readonly during: readonly NodeEdit[] }
  | { readonly kind: 'stop'; readonly node: number; readonly to: number; readonly long: boolean; readonly during: readonly NodeEdit[] }
  | { readonly kind: 'busCut'; readonly node: number; readonly during: readonly NodeEdit[] }
  | {
      readonly kind: 'busStall';
      readonly node: number;
      readonly direction: 'both' | 'down';
      readonly ms: number;
      readonly end: 'resume' | 'cut';
      readonly during: readonly NodeEdit[];
    }
  | { readonly kind: 'redisKill9'; readonly during: readonly NodeEdit[] }
  | { readonly kind: 'busLag'; readonly node: number; readonly ms: number; readonly cutAfterMs: number; readonly during: readonly NodeEdit[] };

const node = fc.nat(NODE_COUNT - 1);
/** Any editor's edit of any of the three videos. */
export const nodeEditArb: fc.Arbitrary<NodeEdit> = fc.record({ kind: fc.constant('edit' as const), user: fc.constantFrom(...editors), video: fc.nat(2) });
const during = fc.array(nodeEditArb, { maxLength: 3 });

/** Any one {@link NodeStep}; edits weigh most, so data changes between faults. */
export const nodeStepArb: fc.Arbitrary<NodeStep> = fc.oneof(
  { arbitrary: nodeEditArb, weight: 4 },
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
  readonly #run = Math.random().toString(36).slice(2, 8);
  #tokens = 0;

  private constructor(
    /** The Redis server (another object after a `redisKill9`: the same port and folder). */
    public redis: RedisServer,
    /** Node i's link to Redis. */
    readonly links: readonly TcpProxy[],
    readonly nodes: readonly ServerProcess[],
  ) {}

  /** Starts Redis, the links, the nodes (the first alone: it seeds the videos) and every user's client. */
  static async start(processes: ServerProcesses): Promise<NodesRun> {
    const redis = await startRedis();
    const links: TcpProxy[] = [];
    const nodes: ServerProcess[] = [];
    try {
      for (let i = 0; i < NODE_COUNT; i++) links.push(await TcpProxy.start(redis.port));
      // A short ping interval: a client of a stopped or killed node notices within about two.
      const start = (i: number): Promise<ServerProcess> =>
        processes.start({ heartbeatMs: 300, args: ['--redis', `redis://127.0.0.1:${links[i]!.port}`, `--jwt-secret=${SECRET}`] });
      nodes.push(await start(0));
      nodes.push(...(await Promise.all(links.slice(1).map((_, i) => start(i + 1)))));
    } catch (error) {
      await Promise.all(links.map((l) => l.close()));
      await redis.stop();
      throw error;
    }
    const run = new NodesRun(redis, links, nodes);
    try {
      await run.#connectAll();
    } catch (error) {
      await run.dispose();
      throw error;
    }
    return run;
  }

  /** One client per user, each through its own proxy, spread over the nodes. */
  async #connectAll(): Promise<void> {
    for (const [i, user] of nodeUsers.entries()) {
      const proxy = await TcpProxy.start(this.nodes[i % NODE_COUNT]!.port);
      this.proxies.set(user, proxy);
      const client = await this.#connect(proxy.url, user);
      const member: Member = { client, log: new PushLog(client), videos: new Map(), ended: new Map() };
      this.members.set(user, member);
      for (const video of await whenFresh(() => client.call<Video[]>('get_my_videos'))) member.videos.set(video.id, video);
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
        return this.#edit(step);
      case 'move': {
        const proxy = this.proxies.get(step.user)!;
        proxy.retarget(this.nodes[step.node]!.port);
        await proxy.cut();
        return;
      }
      case 'kill9': {
        this.#moveClientsOff(step.node, step.to);
        await this.nodes[step.node]!.kill9();
        for (const edit of step.during) this.#edit(edit);
        return this.nodes[step.node]!.restart();
      }
      case 'stop': {
        const stopped = this.nodes[step.node]!;
        const on = this.#clientsOn(step.node);
        stopped.stop();
        for (const edit of step.during) this.#edit(edit);
        if (step.long) {
          this.#moveClientsOff(step.node, step.to);
          await Promise.all(on.map((user) => state(this.members.get(user)!.client, 'reconnecting', 10_000)));
        }
        return stopped.cont();
      }
      case 'busCut': {
        for (const edit of step.during) this.#edit(edit);
        await this.links[step.node]!.cut();
        return;
      }
      case 'busStall': {
        const link = this.links[step.node]!;
        link.stall(step.direction);
        for (const edit of step.during) this.#edit(edit);
        // The fault's length (what is drawn), not a wait for anything.
        await new Promise((resolve) => setTimeout(resolve, step.ms));
        if (step.end === 'cut') await link.cut();
        link.resume();
        return;
      }
      case 'redisKill9': {
        await this.redis.kill9();
        for (const edit of step.during) this.#edit(edit);
        this.redis = await this.redis.restart();
        return;
      }
      case 'busLag': {
        const link = this.links[step.node]!;
        link.delay(step.ms);
        for (const edit of step.during) this.#edit(edit);
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
    return when(merge(client.changes, client.connectionState).pipe(startWith(null)), () => check(), `${user}: ${what}`, limitMs);
  }

  /** Closes every client and proxy, and stops Redis (the nodes are the caller's `ServerProcesses` to reap). */
  async dispose(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
    await Promise.all([...this.members.values()].map((m) => (m.log.stop(), m.client.close())));
    await Promise.all(this.links.map((l) => l.close()));
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

