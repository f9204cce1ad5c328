import type { Redis } from 'ioredis';
import type { Codec } from '../../protocol/codec.js';
import { canonicalKey, type JsonValue } from '../../protocol/json-value.js';
import type { Fanout, ObjectUpdate } from '../fanout.js';
import type { Logger } from '../options.js';
import type { ObjectStore, StoredObject } from '../store/types.js';
import { interestOf } from './channels.js';

/** Options of {@link RedisFanout}. */
export interface RedisFanoutOptions {
  /** How long a channel stays subscribed after its last local holder left (a holder coming back soon costs nothing). Default 2 s. */
  readonly lingerMs?: number;
  /** At most this many objects under a scope are re-read from the store when its channel (re)opens. Default 1000. */
  readonly resyncLimit?: number;
  /** Addresses whose last delivered seq is remembered (to drop duplicates and older copies). Default 100,000. */
  readonly rememberedAddresses?: number;
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
  readonly #sub: Redis;
  readonly #store: ObjectStore;
  readonly #codec: Codec;
  readonly #p: string;
  readonly #logger: Logger;
  readonly #lingerMs: number;
  readonly #resyncLimit: number;
  readonly #remembered: number;
  readonly #listeners = new Set<(update: ObjectUpdate) => void>();
  /** Scope key -> [scope, local holdings]. */
  readonly #scopes = new Map<string, { scope: readonly JsonValue[]; count: number; timer?: NodeJS.Timeout }>();
  /** Channel -> how many held scopes listen on it. */
  readonly #channels = new Map<string, number>();
  /** Address key -> seq of the last change delivered (insertion order: oldest forgotten first). */
  readonly #delivered = new Map<string, number>();
  #closed = false;
  #wasDown = false;
  /** Bus messages received, for `bench:cluster` (bus traffic per node). */
  received = 0;

  /** @internal Use `connectRedis`. `sub` is this bus's own connection (subscriber mode). */
  constructor(sub: Redis, store: ObjectStore, codec: Codec, prefix: string, logger: Logger, options: RedisFanoutOptions = {}) {
    this.#sub = sub;
    this.#store = store;
    this.#codec = codec;
    this.#p = prefix;
    this.#logger = logger;
    this.#lingerMs = options.lingerMs ?? 2000;
    this.#resyncLimit = options.resyncLimit ?? 1000;
    this.#remembered = options.rememberedAddresses ?? 100_000;
    sub.on('smessageBuffer', (_channel: Buffer, message: Buffer) => this.#message(message));
    sub.on('close', () => (this.#wasDown = !this.#closed));
    sub.on('ready', () => {
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

  /** The channels subscribed now (tests and `bench:cluster`). */
  get channels(): string[] {
    return [...this.#channels.keys()];
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
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

  #message(message: Buffer): void {
    this.received++;
    try {
      const first = message.indexOf(10);
      const second = message.indexOf(10, first + 1);
      const [version, seq, live] = message.subarray(0, first).toString().split(' ').map(Number) as [number, number, number];
      const [address, type] = JSON.parse(message.subarray(first + 1, second).toString()) as [JsonValue[], string];
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

  /** After a drop: subscribe again to every channel, then re-read every held scope. */
  async #resubscribe(): Promise<void> {
    this.#wasDown = false;
    const channels = [...this.#channels.keys()];
    try {
      if (channels.length > 0) await this.#sub.ssubscribe(...channels);
      this.#logger.info({ event: 'bus_resubscribed', channels: channels.length });
      await this.#resync([...this.#scopes.values()].map((e) => e.scope));
    } catch (error) {
      this.#logger.warn({ event: 'bus_resubscribe_failed', err: error });
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
