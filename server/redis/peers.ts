import type { ClusterPeers, RemoteDelegation } from '../cluster.js';
import type { Logger } from '../options.js';
import type { PresenceChange } from '../presence-events.js';
import { isCluster, settledWithin, type RedisConnection } from './connection.js';

/** Options of {@link RedisPeers}. */
export interface RedisPeersOptions {
  /** How often a node renews its presence. Default 1 s. */
  readonly heartbeatMs?: number;
  /** A node not heard from for this long is taken for dead and its users for offline. Default 3 s. */
  readonly expireMs?: number;
}

/**
 * Presence and delegation delivery across the nodes of a Redis deployment.
 *
 * Presence: each node keeps the set of users with a session on it (`users:<node>`), and renews its entry in
 * the `nodes` sorted set (score: when it expires) every `heartbeatMs`; `onlineUsers` is the union over the
 * nodes not expired. A node that dies (kill -9) stops renewing, so its users drop out within `expireMs`.
 *
 * Delegation: a node SSUBSCRIBEs to `user:<id>` while that user has a session on it (interest again); a
 * delegation to a user elsewhere is SPUBLISHed there with the sending node's id, and the recipient's node
 * verifies the token for its own sessions of that user.
 *
 * Presence events: each node SPUBLISHes its own tracker's joins and leaves (after its grace) on `presence`;
 * every node keeps, per user, the nodes where it is online, and tells its sessions of a join when the first
 * node has the user and of a leave when the last one lost it (a node that expired loses all its users), so a
 * user moving between nodes within the grace is neither a leave nor a join anywhere.
 */
export class RedisPeers implements ClusterPeers {
  readonly #redis: RedisConnection;
  readonly #sub: RedisConnection;
  readonly #p: string;
  readonly #node: string;
  readonly #logger: Logger;
  readonly #expireMs: number;
  readonly #users = new Set<string>();
  readonly #listeners = new Set<(to: string, delegation: RemoteDelegation) => void>();
  readonly #timer: NodeJS.Timeout;
  /** User -> the nodes (this one included) where it is online, by their trackers. */
  readonly #online = new Map<string, Set<string>>();
  /** Remote nodes whose users were dropped when they expired (loaded again if they come back). */
  readonly #expired = new Set<string>();
  readonly #presenceListeners = new Set<(change: PresenceChange) => void>();
  readonly #listening = new Set<(users: readonly string[]) => void>();
  #closed = false;

  /** @internal Use `connectRedis`. */
  constructor(redis: RedisConnection, sub: RedisConnection, prefix: string, node: string, logger: Logger, options: RedisPeersOptions = {}) {
    this.#redis = redis;
    this.#sub = sub;
    this.#p = prefix;
    this.#node = node;
    this.#logger = logger;
    this.#expireMs = options.expireMs ?? 3000;
    this.#timer = setInterval(() => void this.#renew(), options.heartbeatMs ?? 1000);
    this.#timer.unref();
    sub.on('smessageBuffer', (channel: Buffer, message: Buffer) => this.#message(channel.toString(), message));
    // One server: the connection is back. A Cluster: the shard's subscriber connection was replaced, and the
    // client has subscribed it to the channels again itself (a second SSUBSCRIBE would be kept twice).
    const cluster = isCluster(sub);
    sub.on(cluster ? 'subscribersReady' : 'ready', () => {
      // After a drop: listen again, and write this node's users again (Redis may have restarted empty of them).
      if (!cluster) {
        this.#sub
          .ssubscribe(this.#presenceChannel, ...[...this.#users].map((u) => this.#channel(u)))
          .then(() => this.#listeningFor([...this.#users]))
          .catch(() => undefined);
      } else this.#listeningFor([...this.#users]);
      void this.#renew(true);
    });
  }

  /** @internal Registers the node (before it serves). */
  async start(): Promise<void> {
    await this.#sub.ssubscribe(this.#presenceChannel);
    await this.#renew(true);
    // Who is online elsewhere already (no events for them: they were there before this node).
    const nodes = await this.#redis.zrangebyscore(`${this.#p}nodes`, Date.now(), '+inf');
    for (const node of nodes) if (node !== this.#node) await this.#load(node, false);
  }

  presence(change: PresenceChange): void {
    this.#apply(this.#node, change);
    if (this.#closed) return;
    const message = JSON.stringify({ node: this.#node, type: change.type, user: change.user });
    this.#redis.call('SPUBLISH', this.#presenceChannel, message).catch((error: unknown) => this.#logger.warn({ event: 'presence_failed', err: error }));
  }

  onPresence(listener: (change: PresenceChange) => void): () => void {
    this.#presenceListeners.add(listener);
    return () => this.#presenceListeners.delete(listener);
  }

  joined(userId: string): void {
    this.#users.add(userId);
    this.#redis.sadd(this.#usersKey(this.#node), userId).catch((error: unknown) => this.#logger.warn({ event: 'presence_failed', err: error }));
    this.#sub
      .ssubscribe(this.#channel(userId))
      .then(() => this.#listeningFor([userId]))
      .catch((error: unknown) => this.#logger.warn({ event: 'presence_failed', err: error }));
  }

  onListening(listener: (users: readonly string[]) => void): () => void {
    this.#listening.add(listener);
    return () => this.#listening.delete(listener);
  }

  /** Tells the listeners that `users` (those still here) may have missed deliveries and are listened for now. */
  #listeningFor(users: readonly string[]): void {
    const here = users.filter((u) => this.#users.has(u));
    if (this.#closed || here.length === 0) return;
    for (const listener of this.#listening) listener(here);
  }

  left(userId: string): void {
    this.#users.delete(userId);
    if (this.#closed) return;
    this.#redis.srem(this.#usersKey(this.#node), userId).catch(() => undefined);
    this.#sub.sunsubscribe(this.#channel(userId)).catch(() => undefined);
  }

  async onlineUsers(): Promise<string[]> {
    const nodes = await this.#redis.zrangebyscore(`${this.#p}nodes`, Date.now(), '+inf');
    if (nodes.length === 0) return [...this.#users];
    const all = await this.#redis.sunion(...nodes.map((n) => this.#usersKey(n)));
    return [...new Set([...this.#users, ...all])];
  }

  async deliver(to: string, delegation: RemoteDelegation): Promise<number> {
    const message = JSON.stringify({ node: this.#node, from: delegation.from, token: Buffer.from(delegation.token).toString('base64') });
    const receivers = (await this.#redis.call('SPUBLISH', this.#channel(to), message)) as number;
    // This node hears its own message too when `to` has a session here; it delivered to those directly.
    return this.#users.has(to) ? receivers - 1 : receivers;
  }

  onDelivery(listener: (to: string, delegation: RemoteDelegation) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#listeners.clear();
    this.#presenceListeners.clear();
    this.#listening.clear();
    // Best effort, and bounded: the other nodes drop a silent node's entries by themselves.
    await settledWithin(Promise.all([this.#redis.zrem(`${this.#p}nodes`, this.#node), this.#redis.del(this.#usersKey(this.#node))]), 1000);
    this.#sub.disconnect();
  }

  #message(channel: string, message: Buffer): void {
    if (channel === this.#presenceChannel) return this.#presenceMessage(message);
    const prefix = `${this.#p}user:`;
    if (!channel.startsWith(prefix)) return;
    try {
      const { node, from, token } = JSON.parse(message.toString()) as { node: string; from: string; token: string };
      if (node === this.#node) return;
      const to = channel.slice(prefix.length);
      for (const listener of this.#listeners) listener(to, { from, token: new Uint8Array(Buffer.from(token, 'base64')) });
    } catch (error) {
      this.#logger.warn({ event: 'peer_message_invalid', err: error });
    }
  }

  #presenceMessage(message: Buffer): void {
    try {
      const { node, type, user } = JSON.parse(message.toString()) as { node: string; type: string; user: string };
      if (node === this.#node || (type !== 'join' && type !== 'leave') || typeof user !== 'string') return;
      this.#expired.delete(node);
      this.#apply(node, { type, user });
    } catch (error) {
      this.#logger.warn({ event: 'peer_message_invalid', err: error });
    }
  }

  /** A node's tracker says `change`: updates who is online where, and tells the listeners if the deployment's view changed. */
  #apply(node: string, change: PresenceChange, tell = true): void {
    const nodes = this.#online.get(change.user) ?? new Set<string>();
    const before = nodes.size > 0;
    if (change.type === 'join') nodes.add(node);
    else nodes.delete(node);
    if (nodes.size > 0) this.#online.set(change.user, nodes);
    else this.#online.delete(change.user);
    if (!tell || before === nodes.size > 0) return;
    for (const listener of this.#presenceListeners) listener(change);
  }

  /** Marks `node`'s users (its `users:` set) online. */
  async #load(node: string, tell: boolean): Promise<void> {
    for (const user of await this.#redis.smembers(this.#usersKey(node))) this.#apply(node, { type: 'join', user }, tell);
  }

  /** Users of nodes that stopped renewing leave; a node back from that has its users loaded again. */
  async #expire(alive: readonly string[]): Promise<void> {
    const living = new Set(alive);
    for (const [user, nodes] of [...this.#online]) {
      for (const node of [...nodes]) {
        if (node === this.#node || living.has(node)) continue;
        this.#expired.add(node);
        this.#apply(node, { type: 'leave', user });
      }
    }
    for (const node of [...this.#expired]) {
      if (!living.has(node)) continue;
      this.#expired.delete(node);
      await this.#load(node, true);
    }
  }

  async #renew(rewrite = false): Promise<void> {
    if (this.#closed) return;
    try {
      const now = Date.now();
      const pipeline = this.#redis.multi();
      pipeline.zadd(`${this.#p}nodes`, now + this.#expireMs, this.#node);
      pipeline.zremrangebyscore(`${this.#p}nodes`, '-inf', now - 60_000);
      if (rewrite && this.#users.size > 0) pipeline.sadd(this.#usersKey(this.#node), ...this.#users);
      pipeline.pexpire(this.#usersKey(this.#node), this.#expireMs * 20);
      pipeline.zrangebyscore(`${this.#p}nodes`, now, '+inf');
      const replies = await pipeline.exec();
      const alive = replies?.[replies.length - 1]?.[1];
      if (Array.isArray(alive)) await this.#expire(alive as string[]);
    } catch (error) {
      this.#logger.debug({ event: 'presence_renew_failed', err: error });
    }
  }

  get #presenceChannel(): string {
    return `${this.#p}presence`;
  }

  #usersKey(node: string): string {
    return `${this.#p}users:${node}`;
  }

  #channel(userId: string): string {
    return `${this.#p}user:${userId}`;
  }
}
