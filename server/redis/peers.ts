import type { Redis } from 'ioredis';
import type { ClusterPeers, RemoteDelegation } from '../cluster.js';
import type { Logger } from '../options.js';

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
 */
export class RedisPeers implements ClusterPeers {
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #p: string;
  readonly #node: string;
  readonly #logger: Logger;
  readonly #expireMs: number;
  readonly #users = new Set<string>();
  readonly #listeners = new Set<(to: string, delegation: RemoteDelegation) => void>();
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  /** @internal Use `connectRedis`. */
  constructor(redis: Redis, sub: Redis, prefix: string, node: string, logger: Logger, options: RedisPeersOptions = {}) {
    this.#redis = redis;
    this.#sub = sub;
    this.#p = prefix;
    this.#node = node;
    this.#logger = logger;
    this.#expireMs = options.expireMs ?? 3000;
    this.#timer = setInterval(() => void this.#renew(), options.heartbeatMs ?? 1000);
    this.#timer.unref();
    sub.on('smessageBuffer', (channel: Buffer, message: Buffer) => this.#message(channel.toString(), message));
    sub.on('ready', () => {
      // After a drop: listen again, and write this node's users again (Redis may have restarted empty of them).
      if (this.#users.size > 0) void this.#sub.ssubscribe(...[...this.#users].map((u) => this.#channel(u))).catch(() => undefined);
      void this.#renew(true);
    });
  }

  /** @internal Registers the node (before it serves). */
  async start(): Promise<void> {
    await this.#renew(true);
  }

  joined(userId: string): void {
    this.#users.add(userId);
    this.#redis.sadd(this.#usersKey(this.#node), userId).catch((error: unknown) => this.#logger.warn({ event: 'presence_failed', err: error }));
    this.#sub.ssubscribe(this.#channel(userId)).catch((error: unknown) => this.#logger.warn({ event: 'presence_failed', err: error }));
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
    await this.#redis.zrem(`${this.#p}nodes`, this.#node).catch(() => undefined);
    await this.#redis.del(this.#usersKey(this.#node)).catch(() => undefined);
    this.#sub.disconnect();
  }

  #message(channel: string, message: Buffer): void {
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

  async #renew(rewrite = false): Promise<void> {
    if (this.#closed) return;
    try {
      const now = Date.now();
      const pipeline = this.#redis.multi();
      pipeline.zadd(`${this.#p}nodes`, now + this.#expireMs, this.#node);
      pipeline.zremrangebyscore(`${this.#p}nodes`, '-inf', now - 60_000);
      if (rewrite && this.#users.size > 0) pipeline.sadd(this.#usersKey(this.#node), ...this.#users);
      pipeline.pexpire(this.#usersKey(this.#node), this.#expireMs * 20);
      await pipeline.exec();
    } catch (error) {
      this.#logger.debug({ event: 'presence_renew_failed', err: error });
    }
  }

  #usersKey(node: string): string {
    return `${this.#p}users:${node}`;
  }

  #channel(userId: string): string {
    return `${this.#p}user:${userId}`;
  }
}
