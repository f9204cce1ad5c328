import { randomUUID } from 'node:crypto';
import type { Codec } from '../../protocol/codec.js';
import { canonicalKey, type JsonValue } from '../../protocol/json-value.js';
import type { Fanout, ObjectUpdate } from '../fanout.js';
import type { Logger } from '../options.js';
import type { ObjectStore, StoredObject } from '../store/types.js';
import { channelsOf, interestOf } from './channels.js';
import { isCluster, runScript, type RedisConnection } from './connection.js';

/** Options of {@link RedisFanout}. */
export interface RedisFanoutOptions {
  /** How long a channel stays subscribed after its last local holder left (a holder coming back soon costs nothing). Default 2 s. */
  readonly lingerMs?: number;
  /** At most this many objects under a scope are re-read from the store when its channel (re)opens. Default 1000. */
  readonly resyncLimit?: number;
  /** Addresses whose last delivered seq is remembered (to drop duplicates and older copies). Default 100,000. */
  readonly rememberedAddresses?: number;
  /**
   * After a bus drop, at most this many changes (each address once, at its latest change) are read from the
   * store's change sequence to catch up, deletions included. More than that: the held scopes' current states
   * are re-read instead (a deletion then reaches a holder at its next resume). Default 10,000.
   */
  readonly catchUpLimit?: number;
  /** How often the node publishes a mark (the store's seq) to itself on the bus, to bound a catch-up. Default 1 s. */
  readonly markMs?: number;
}

const noCapabilities = { onCapability: (): never => { throw new Error('capability in a bus message'); } };

/**
 * The bus of a Redis deployment, interest-based: the node subscribes (SSUBSCRIBE, sharded pub/sub) to a
 * scope's channels when its first local holder appears and unsubscribes `lingerMs` after the last one
 * left, so it hears only about objects its clients hold. Changes are published by the store's write
 * script itself (atomic with the write); `publish` here only delivers the writing node's own change to its
 * local holders at once, before the call that made it answers.
 *
 * Pushes are idempotent by version, and this bus delivers each address's changes in seq order, at most
 * once each: a copy whose seq is not above the last one delivered for its address is dropped. When the bus
 * connection drops, or a scope's channel opens, the objects of those scopes are re-read from the store and
 * delivered if newer, so a lost message costs a re-read, never a missed update.
 */
export class RedisFanout implements Fanout {
  readonly #sub: RedisConnection;
  readonly #store: ObjectStore;
  readonly #codec: Codec;
  readonly #p: string;
  readonly #logger: Logger;
  readonly #lingerMs: number;
  readonly #resyncLimit: number;
  readonly #remembered: number;
  readonly #catchUpLimit: number;
  readonly #listeners = new Set<(update: ObjectUpdate) => void>();
  /** Scope key -> [scope, local holdings]. */
  readonly #scopes = new Map<string, { scope: readonly JsonValue[]; count: number; timer?: NodeJS.Timeout }>();
  /** Channel -> how many held scopes listen on it. */
  readonly #channels = new Map<string, number>();
  /** Address key -> seq of the last change delivered (insertion order: oldest forgotten first). */
  readonly #delivered = new Map<string, number>();
  #closed = false;
  #wasDown = false;
  /** The watermark when the bus dropped: the catch-up reads from there (what was heard after a gap proves nothing before it). */
  #sinceDrop = 0;
  /** From a drop until its catch-up has delivered what the gap lost: {@link deliveredThrough} stays at {@link #sinceDrop}. */
  #gap = false;
  /** Called when this node hears its own mark (the Cluster's proof that a re-subscription is live). */
  readonly #markWaiters = new Set<() => void>();
  /**
   * Every change to a held object up to this seq has been heard on the bus: its messages arrive in seq
   * order (the write scripts run one at a time), and a mark message (the `MARK` script) raises it to the store's
   * seq at the moment it was published, even when nothing held changed.
   */
  #watermark = 0;
  readonly #mark: string;
  readonly #marker: NodeJS.Timeout;
  readonly #command: RedisConnection;
  /** Bus messages received, for `bench:cluster` (bus traffic per node). */
  received = 0;

  /** @internal Use `connectRedis`. `sub` is this bus's own connection (subscriber mode). */
  constructor(sub: RedisConnection, command: RedisConnection, store: ObjectStore, codec: Codec, prefix: string, logger: Logger, options: RedisFanoutOptions = {}) {
    this.#sub = sub;
    this.#command = command;
    this.#mark = `${prefix}mark:${randomUUID()}`;
    this.#store = store;
    this.#codec = codec;
    this.#p = prefix;
    this.#logger = logger;
    this.#lingerMs = options.lingerMs ?? 2000;
    this.#resyncLimit = options.resyncLimit ?? 1000;
    this.#remembered = options.rememberedAddresses ?? 100_000;
    this.#catchUpLimit = options.catchUpLimit ?? 10_000;
    sub.on('smessageBuffer', (channel: Buffer, message: Buffer) => {
      if (channel.length === this.#mark.length && channel.toString() === this.#mark) {
        this.#watermark = Math.max(this.#watermark, Number(message.toString()));
        for (const waiter of [...this.#markWaiters]) waiter();
      } else this.#message(message);
    });
    // The mark keeps the watermark near the store's seq, so a catch-up after a drop reads only what changed meanwhile.
    this.#marker = setInterval(() => void this.#publishMark(), options.markMs ?? 1000);
    this.#marker.unref();
    sub.ssubscribe(this.#mark).then(() => this.#publishMark(), () => undefined);
    // One server: this connection dropped, then is back. A Cluster: a shard's subscriber connection was
    // replaced (it dropped, or its slots moved), then the client re-subscribed the channels on the new one.
    const [dropped, back] = isCluster(sub) ? ['-subscriber', 'subscribersReady'] : ['close', 'ready'];
    sub.on(dropped, () => {
      if (this.#closed || this.#wasDown) return;
      this.#wasDown = true;
      // On a Cluster the client re-subscribes before it says so, so messages may be heard before the
      // catch-up starts: they must not raise the seq it starts from past the changes lost in the gap. A drop
      // before the last one's catch-up was done keeps that one's start: what it had not delivered yet is still owed.
      if (!this.#gap) this.#sinceDrop = this.#watermark;
      this.#gap = true;
    });
    sub.on(back, () => {
      if (this.#wasDown) void this.#resubscribe();
    });
  }

  async publish(update: ObjectUpdate): Promise<void> {
    if (!this.#closed) this.#deliver(update);
  }

  subscribe(listener: (update: ObjectUpdate) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A local holder of `scope` appeared: opens its channels (first holder), then re-reads what it covers. */
  hold(scope: readonly JsonValue[]): void {
    if (this.#closed) return;
    const key = canonicalKey(scope as JsonValue[]);
    const entry = this.#scopes.get(key);
    if (entry !== undefined) {
      entry.count++;
      clearTimeout(entry.timer);
      entry.timer = undefined;
      return;
    }
    this.#scopes.set(key, { scope: structuredClone(scope as JsonValue[]), count: 1 });
    const fresh = interestOf(this.#p, scope).filter((c) => this.#channels.set(c, (this.#channels.get(c) ?? 0) + 1).get(c) === 1);
    if (fresh.length === 0) return;
    this.#sub
      .ssubscribe(...fresh)
      .then(() => this.#resync([scope]))
      .catch((error: unknown) => this.#logger.warn({ event: 'bus_subscribe_failed', err: error }));
  }

  /** A local holding of `scope` ended; its channels close `lingerMs` after the last. */
  release(scope: readonly JsonValue[]): void {
    const key = canonicalKey(scope as JsonValue[]);
    const entry = this.#scopes.get(key);
    if (entry === undefined || --entry.count > 0) return;
    entry.timer = setTimeout(() => this.#drop(key), this.#lingerMs);
    entry.timer.unref();
  }

  /**
   * Every change up to this seq to an object held here has been delivered: the bus's watermark, or, from a drop
   * until its catch-up is done, the watermark at the drop (messages heard meanwhile may be past changes the gap lost).
   */
  deliveredThrough(): number {
    return this.#gap ? this.#sinceDrop : this.#watermark;
  }

  /** True while the bus connection is down (since its drop, until it is subscribed again). */
  get down(): boolean {
    return this.#wasDown;
  }

  /** The channels subscribed now (tests and `bench:cluster`). */
  get channels(): string[] {
    return [...this.#channels.keys()];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#marker);
    this.#listeners.clear();
    for (const entry of this.#scopes.values()) clearTimeout(entry.timer);
    this.#sub.disconnect();
  }

  #drop(key: string): void {
    const entry = this.#scopes.get(key);
    if (entry === undefined || entry.count > 0) return;
    this.#scopes.delete(key);
    const gone: string[] = [];
    for (const c of interestOf(this.#p, entry.scope)) {
      const n = (this.#channels.get(c) ?? 1) - 1;
      if (n > 0) this.#channels.set(c, n);
      else (this.#channels.delete(c), gone.push(c));
    }
    if (gone.length > 0 && !this.#closed) this.#sub.sunsubscribe(...gone).catch(() => undefined);
  }

  /** Publishes a mark and resolves once it is heard, or after `limitMs` (then the catch-up runs anyway). */
  #markHeard(limitMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(limit);
        this.#markWaiters.delete(done);
        resolve();
      };
      const limit = setTimeout(() => {
        this.#logger.warn({ event: 'bus_mark_not_heard', limitMs });
        done();
      }, limitMs);
      limit.unref();
      this.#markWaiters.add(done);
      void this.#publishMark();
    });
  }

  async #publishMark(): Promise<void> {
    if (this.#closed || this.#sub.status !== 'ready') return;
    await runScript(this.#command, 'capsyncMark', [this.#p, this.#mark]).catch(() => undefined);
  }

  #message(message: Buffer): void {
    this.received++;
    try {
      const first = message.indexOf(10);
      const second = message.indexOf(10, first + 1);
      const [version, seq, live] = message.subarray(0, first).toString().split(' ').map(Number) as [number, number, number];
      if (seq > this.#watermark) this.#watermark = seq;
      const [address, type] = JSON.parse(message.subarray(first + 1, second).toString()) as [JsonValue[], string];
      // The writer's own change (delivered when it was written) or an older copy: not worth decoding.
      const last = this.#delivered.get(canonicalKey(address));
      if (last !== undefined && seq <= last) return;
      const state = live === 1 ? { ...(this.#codec.decode(message.subarray(second + 1), noCapabilities) as Record<string, unknown>), version } : null;
      this.#deliver({ address, type, version, seq, state });
    } catch (error) {
      this.#logger.warn({ event: 'bus_message_invalid', err: error });
    }
  }

  #deliver(update: ObjectUpdate): void {
    const key = canonicalKey(update.address);
    const last = this.#delivered.get(key);
    if (last !== undefined && update.seq <= last) return;
    this.#delivered.delete(key);
    this.#delivered.set(key, update.seq);
    if (this.#delivered.size > this.#remembered) this.#delivered.delete(this.#delivered.keys().next().value!);
    for (const listener of this.#listeners) listener(update);
  }

  /**
   * After a drop: subscribe again to every channel, then catch up from the store's change sequence since the
   * last seq delivered (so deletions made meanwhile reach the holders now, as tombstones), or, when more
   * changed than `catchUpLimit`, re-read every held scope's current state.
   */
  async #resubscribe(): Promise<void> {
    this.#wasDown = false;
    const channels = [...this.#channels.keys()];
    const since = this.#sinceDrop;
    try {
      // Every channel live again before the catch-up reads the store, so it misses nothing published after
      // that read. One server: subscribe again here. A Cluster: the client has re-sent the SSUBSCRIBE of every
      // channel of the slot (the mark's too) in one command; hearing a mark published now proves it was applied.
      if (isCluster(this.#sub)) await this.#markHeard(2000);
      else if (channels.length > 0) await this.#sub.ssubscribe(...channels);
      const caughtUp = await this.#catchUp(since);
      this.#logger.info({ event: 'bus_resubscribed', channels: channels.length, since, caughtUp });
      if (!caughtUp) await this.#resync([...this.#scopes.values()].map((e) => e.scope));
      // Not while another drop came meanwhile: its own catch-up ends that gap.
      if (!this.#wasDown) this.#gap = false;
    } catch (error) {
      this.#logger.warn({ event: 'bus_resubscribe_failed', err: error });
    }
  }

  /**
   * Delivers the changes after `since` to objects this node listens for, in seq order, tombstones included.
   * Resolves false (nothing skipped, but not all read) when more than `catchUpLimit` changed.
   */
  async #catchUp(since: number): Promise<boolean> {
    // Tombstones before the horizon are pruned: a change list from before it would miss deletions.
    if (since < (await this.#store.horizon())) return false;
    const page = Math.min(1000, this.#catchUpLimit);
    let read = 0;
    for (let after = since; ; ) {
      const changes = await this.#store.changes(after, page);
      for (const ch of changes) {
        if (this.#closed) return true;
        after = ch.seq;
        if (ch.seq > this.#watermark) this.#watermark = ch.seq;
        if (!channelsOf(this.#p, ch.address).some((c) => this.#channels.has(c))) continue;
        const state = ch.state === null ? null : { ...(this.#codec.decode(ch.state, noCapabilities) as Record<string, unknown>), version: ch.version };
        this.#deliver({ address: ch.address, type: ch.type, version: ch.version, seq: ch.seq, state });
      }
      read += changes.length;
      if (changes.length < page) return true;
      if (read >= this.#catchUpLimit) return false;
    }
  }

  /** Reads the objects `scopes` cover from the store and delivers those newer than what was delivered. */
  async #resync(scopes: readonly (readonly JsonValue[])[]): Promise<void> {
    for (const scope of scopes) {
      const found: StoredObject[] = [];
      for (let n = 1; n < scope.length; n++) {
        const above = await this.#store.get(scope.slice(0, n));
        if (above !== undefined) found.push(above);
      }
      found.push(...(await this.#store.listUnder(scope, this.#resyncLimit)));
      for (const o of found) {
        if (this.#closed) return;
        const state = { ...(this.#codec.decode(o.state, noCapabilities) as Record<string, unknown>), version: o.version };
        this.#deliver({ address: o.address, type: o.type, version: o.version, seq: o.seq, state });
      }
    }
  }
}
