import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { fail } from '../../protocol/errors.js';
import { MemoryRevocationSet, type RevocationEntry } from '../../protocol/revocation.js';
import { runScript, settledWithin, type RedisConnection } from './connection.js';
import type { ReplicaWait } from './wait-replicas.js';

/** Options of {@link RedisRevocationSet}. */
export interface RevocationFeedOptions {
  /** How long the feed may be silent before capability use is refused (`ERR_REVOCATION_FEED_STALE`). Default 1000 ms. */
  readonly staleMs?: number;
  /** How long one XREAD blocks: a live feed answers at least this often, so silence longer than `staleMs` is loss. Default 200 ms. */
  readonly blockMs?: number;
}

/**
 * The revocation set of a Redis deployment: a hash of every revoked id (what a starting node loads) and one
 * Redis Stream, the revocation feed, that every node reads. An id added anywhere is applied on every node
 * as soon as its XREAD returns (subscribers told: holdings dropped, pushes stopped).
 *
 * It **fails closed**: `has` is synchronous and runs on every capability use; when the feed has not answered
 * for `staleMs` (Redis away, the network cut, the node's connection stuck), this node cannot know what was
 * revoked meanwhile, so `has` throws `ERR_REVOCATION_FEED_STALE` and the use is refused, until the feed has
 * caught up again (the whole set reloaded, then the stream read to its end). A blocking XREAD answers at
 * least every `blockMs` even when nothing is revoked: that answer is the heartbeat telling silence from loss.
 */
export class RedisRevocationSet extends MemoryRevocationSet {
  readonly #redis: RedisConnection;
  readonly #feed: RedisConnection;
  readonly #p: string;
  readonly #writer = randomUUID();
  readonly #staleMs: number;
  readonly #blockMs: number;
  #lastId = '0';
  #heardAt = performance.now();
  #caughtUp = false;
  #closed = false;
  readonly #waiters = new Set<() => void>();
  #loop: Promise<void> = Promise.resolve();
  #ready: Promise<void>;
  readonly #wait: ReplicaWait | undefined;

  /**
   * @internal Use `connectRedis`. `redis` runs commands; `feed` is this set's own connection for the blocking
   * reads; `wait`, if given, is waited for after each write (`RedisOptions.waitReplicas`).
   */
  constructor(redis: RedisConnection, feed: RedisConnection, prefix: string, options: RevocationFeedOptions = {}, wait?: ReplicaWait) {
    super();
    this.#redis = redis;
    this.#wait = wait;
    this.#feed = feed;
    this.#p = prefix;
    this.#staleMs = options.staleMs ?? 1000;
    this.#blockMs = options.blockMs ?? 200;
    let started!: () => void;
    this.#ready = new Promise((resolve) => (started = resolve));
    this.#loop = this.#run(started);
  }

  /** Resolves once the whole set is loaded and the feed read to its end (the node may serve from then on). */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** True while the feed is current (heard within `staleMs` and caught up). */
  get fresh(): boolean {
    return this.#caughtUp && performance.now() - this.#heardAt <= this.#staleMs;
  }

  /** Resolves true once {@link fresh} (the feed heard and caught up), false after `limitMs`. */
  async current(limitMs: number): Promise<boolean> {
    if (this.fresh) return true;
    return new Promise((resolve) => {
      const waiter = (): void => {
        clearTimeout(limit);
        resolve(true);
      };
      const limit = setTimeout(() => {
        this.#waiters.delete(waiter);
        resolve(this.fresh);
      }, limitMs);
      this.#waiters.add(waiter);
    });
  }

  /** Tells the {@link current} waiters once the feed is fresh. */
  #heard(): void {
    if (this.#waiters.size === 0 || !this.fresh) return;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const waiter of waiters) waiter();
  }

  override has(id: string): boolean {
    // Known revoked is revoked, however far behind the feed is; only "not revoked" needs a current feed.
    if (super.has(id)) return true;
    if (!this.fresh) throw fail('ERR_REVOCATION_FEED_STALE');
    return false;
  }

  override get size(): number {
    // Never 0 while stale: verification must ask `has`, which refuses.
    return this.fresh ? super.size : Math.max(1, super.size);
  }

  override async add(entries: readonly RevocationEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const args: (string | number)[] = [this.#p, this.#writer];
    for (const e of entries) args.push(e.id, e.expiresAt === null ? '' : e.expiresAt);
    await runScript(this.#redis, 'capsyncRevoke', args);
    // At once here; the other nodes apply it from the feed (which skips this writer's own entries).
    this.apply(entries);
    // Applied here at once even if the replicas do not confirm it (refusing more is safe); the caller is told.
    await this.#wait?.wait();
  }

  override async bumpGeneration(user: string): Promise<number> {
    const generation = (await runScript(this.#redis, 'capsyncBumpGeneration', [this.#p, this.#writer, user])) as number;
    this.applyGeneration(user, generation);
    await this.#wait?.wait();
    return generation;
  }

  override async prune(now: number): Promise<number> {
    await runScript(this.#redis, 'capsyncPruneRevocations', [this.#p, now]);
    return super.prune(now);
  }

  /** Stops reading the feed (the connection is closed by its owner). */
  async close(): Promise<void> {
    this.#closed = true;
    this.#feed.disconnect();
    // A read the disconnect left pending may never settle: the loop ends at its next turn either way.
    await settledWithin(this.#loop, 1000);
  }

  async #run(started: () => void): Promise<void> {
    let reload = true;
    while (!this.#closed) {
      try {
        if (reload) {
          await this.#reload();
          reload = false;
          started();
        }
        await this.#read();
      } catch {
        if (this.#closed) return;
        // A failed or timed-out read: the connection may be stuck mid-reply, so start it afresh, and reload
        // the whole set (entries may have been trimmed from the stream meanwhile) before trusting the feed.
        this.#caughtUp = false;
        reload = true;
        this.#feed.disconnect(true);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  async #reload(): Promise<void> {
    // The stream's end first, then the hash: an id revoked in between is in both, and applied once.
    const last = (await this.#feed.xrevrange(`${this.#p}rev:feed`, '+', '-', 'COUNT', 1)) as [string, string[]][];
    const all = await this.#feed.hgetall(`${this.#p}rev`);
    const generations = await this.#feed.hgetall(`${this.#p}gen`);
    this.#lastId = last[0]?.[0] ?? '0';
    this.apply(Object.entries(all).map(([id, at]) => ({ id, expiresAt: at === '' ? null : Number(at) })));
    for (const [user, generation] of Object.entries(generations)) this.applyGeneration(user, Number(generation));
    this.#heardAt = performance.now();
    this.#caughtUp = true;
    this.#heard();
  }

  async #read(): Promise<void> {
    const count = 1000;
    const reply = (await this.#feed.xread('COUNT', count, 'BLOCK', this.#blockMs, 'STREAMS', `${this.#p}rev:feed`, this.#lastId)) as [string, [string, string[]][]][] | null;
    const entries = reply?.[0]?.[1] ?? [];
    for (const [id, fields] of entries) {
      this.#lastId = id;
      // Fields: by <writer> kind ids|gen, then id/expiry pairs, or the user and its new generation.
      if (fields[1] === this.#writer) continue;
      if (fields[3] === 'gen') {
        this.applyGeneration(fields[4]!, Number(fields[5]));
        continue;
      }
      const batch: RevocationEntry[] = [];
      for (let i = 4; i + 1 < fields.length; i += 2) batch.push({ id: fields[i]!, expiresAt: fields[i + 1] === '' ? null : Number(fields[i + 1]) });
      this.apply(batch);
    }
    this.#heardAt = performance.now();
    // A full batch may have more behind it: caught up only once a read returns less.
    this.#caughtUp = entries.length < count || this.#caughtUp;
    this.#heard();
  }
}
