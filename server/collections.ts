import type { Capability } from '../protocol/capability/capability.js';
import { CapsyncError, fail } from '../protocol/errors.js';
import { FrameType } from '../protocol/frames.js';
import { canonicalKey, type JsonValue } from '../protocol/json-value.js';
import { portableByName, revive } from '../protocol/portable.js';
import type { User } from './auth.js';
import type { ObjectUpdate } from './fanout.js';
import { HolderIndex } from './holders.js';
import type { LiveObjects } from './live.js';
import type { Logger } from './options.js';
import { capabilityError } from './resume.js';
import type { ServerSession } from './session.js';

/** What a reveal hook is asked about: one object under a watched scope, and the capability it would go with. */
export interface RevealRequest {
  /** The watching user (null: an anonymous session). */
  readonly user: User | null;
  /** The object, an instance of its portable class (without capabilities). */
  readonly object: object;
  /** The watched capability narrowed to the object's address: what the watcher gets by default. */
  readonly cap: Capability;
  /** The capability that is watched. */
  readonly watched: Capability;
}

/** Bounds and policy of live collections (`collections` in the server options). */
export interface CollectionOptions {
  /** Most objects one collection holds; a bigger one is refused, a growing one ended, with `ERR_COLLECTION_TOO_LARGE`. Default 1000. */
  readonly maxObjects?: number;
  /** Most collections watched at once on one connection (`ERR_TOO_MANY_WATCHES`). Default 16. */
  readonly maxWatches?: number;
  /** Objects per snapshot frame. Default 100. */
  readonly pageSize?: number;
  /**
   * Server code deciding what a watcher sees: the capability to deliver the object with (the default one,
   * a narrower one), or null to leave it out of the collection. Runs once per object per watcher, when it
   * enters the collection. Default: every object, with `cap`. The capability watched is still what decides
   * pushes: a holder of a prefix capability receives every change under it, listed or not.
   */
  readonly reveal?: (request: RevealRequest) => Capability | null | Promise<Capability | null>;
}

const defaults = { maxObjects: 1000, maxWatches: 16, pageSize: 100 };

/**
 * How long a change waits for a revocation feed that is behind (several nodes on Redis) before the watch ends with
 * `ERR_REVOCATION_FEED_STALE`: past a usual catch-up, and past a short Redis outage.
 */
const FEED_WAIT_MS = 10_000;

/** Resolves true once the revocation feed is current, false after `limitMs` (absent: a set that is always current). */
export type WhenCurrent = (limitMs: number) => Promise<boolean>;

/** One watched collection of one connection. Its work (the snapshot, then each change) runs in order. */
interface Watch {
  readonly session: ServerSession;
  readonly id: number;
  readonly key: string;
  readonly cap: Capability;
  readonly prefix: readonly JsonValue[];
  readonly type: string | undefined;
  /** Members by address key, with the version last sent (snapshot, add or a push re-sent). */
  readonly members: Map<string, number>;
  /** True until the snapshot was sent: changes seen meanwhile may have reached the client before it. */
  pending: boolean;
  ended: boolean;
  work: Promise<void>;
}

/**
 * Live collections: a connection holding a capability watches the objects under its scope. It gets a
 * snapshot (paged `snapshot` frames, then the request's result), then `collectionChange` frames when an
 * object enters (`add`, with the capability it is granted under) or leaves (`remove`) the collection, or the
 * watch ends (`end`, with a code). Member state changes travel as ordinary pushes: the watched capability
 * is held by the connection, so every change under its scope reaches it anyway. Nothing is sent about an
 * address the watched capability does not cover, and a refused watch answers with the capability's own
 * code: whether objects exist never changes the answer to someone without a covering capability.
 */
export class Collections {
  readonly #live: LiveObjects;
  readonly #logger: Logger;
  readonly #options: Required<Omit<CollectionOptions, 'reveal'>> & Pick<CollectionOptions, 'reveal'>;
  readonly #index = new HolderIndex<Watch>();
  readonly #bySession = new Map<ServerSession, Map<string, Watch>>();

  readonly #whenCurrent: WhenCurrent | undefined;

  constructor(live: LiveObjects, logger: Logger, options: CollectionOptions = {}, whenCurrent?: WhenCurrent) {
    this.#live = live;
    this.#whenCurrent = whenCurrent;
    this.#logger = logger;
    this.#options = { ...defaults, ...options };
  }

  /** Watches connected now (for tests: a closed connection leaves none). */
  get size(): number {
    let n = 0;
    for (const watches of this.#bySession.values()) n += watches.size;
    return n;
  }

  /** The `watch` request: starts (or replaces, or with `stop` ends) the watch of `cap`'s scope by this session. */
  async watch(session: ServerSession, id: number, cap: Capability, options: { type?: string; stop?: true }): Promise<unknown> {
    const key = `${canonicalKey(cap.scope as JsonValue[])}\u0000${options.type ?? ''}`;
    let watches = this.#bySession.get(session);
    if (options.stop) {
      const found = watches?.get(key);
      if (found !== undefined) this.#remove(found);
      return { stopped: found !== undefined };
    }
    // The capability's own verdict, nothing about the objects: revoked, expired, another's, not this server's.
    const refused = capabilityError(cap);
    if (refused !== undefined) throw fail(refused.code);
    if (!session.holds(cap)) throw fail('ERR_CAPABILITY_AUDIENCE');
    const previous = watches?.get(key);
    if (previous !== undefined) this.#remove(previous);
    else if ((watches?.size ?? 0) >= this.#options.maxWatches) throw fail('ERR_TOO_MANY_WATCHES');
    if (session.closed) throw fail('ERR_CONNECTION_CLOSED');
    if (watches === undefined) this.#bySession.set(session, (watches = new Map()));
    const watch: Watch = { session, id, key, cap, prefix: cap.scope, type: options.type, members: new Map(), pending: true, ended: false, work: Promise.resolve() };
    // Indexed before the snapshot is read: a change from now on is queued behind it, none falls between.
    watches.set(key, watch);
    this.#index.add(watch.prefix, watch);
    const snapshot = this.#snapshot(watch);
    watch.work = snapshot.then(() => undefined, () => undefined);
    try {
      return { size: await snapshot };
    } catch (error) {
      this.#remove(watch);
      throw error;
    }
  }

  /** A change anywhere: queued on every watch whose scope it is under. */
  changed(update: ObjectUpdate): void {
    for (const watch of this.#index.lookup(update.address)) {
      if (update.address.length < watch.prefix.length) continue; // a prefix of the scope, not under it
      if (watch.type !== undefined && update.type !== watch.type) continue;
      const duringSnapshot = watch.pending;
      watch.work = watch.work.then(() => this.#apply(watch, update, duringSnapshot)).catch((error: unknown) => this.#failed(watch, error));
    }
  }

  /**
   * The session stopped holding a capability of `scope` (revoked, expired, evicted): a watch of that scope
   * whose capability is no longer held ends now, with the capability's code, not at the next change.
   */
  released(session: ServerSession, scope: readonly JsonValue[]): void {
    const watches = this.#bySession.get(session);
    if (watches === undefined || session.closed) return;
    const key = canonicalKey(scope as JsonValue[]);
    for (const watch of [...watches.values()]) {
      if (canonicalKey(watch.prefix as JsonValue[]) !== key || session.holds(watch.cap)) continue;
      this.#end(watch, capabilityError(watch.cap)?.code ?? 'ERR_CAPABILITY_REVOKED');
    }
  }

  /** A connection closed: its watches go. */
  closed(session: ServerSession): void {
    for (const watch of [...(this.#bySession.get(session)?.values() ?? [])]) this.#remove(watch);
    this.#bySession.delete(session);
  }

  async #snapshot(watch: Watch): Promise<number> {
    const { maxObjects, pageSize, reveal } = this.#options;
    // With a hook, more may be read than shown; without one, one more than the bound tells it is passed.
    const scan = reveal === undefined ? maxObjects + 1 : maxObjects * 10 + 1;
    const found = await this.#live.under(watch.prefix, scan);
    if (found.length >= scan) throw fail('ERR_COLLECTION_TOO_LARGE');
    const entries: object[] = [];
    for (const current of found) {
      if (watch.type !== undefined && current.type !== watch.type) continue;
      const entry = await this.#entry(watch, current.type, current.address, current.state);
      if (entry === undefined) continue;
      if (entries.length >= maxObjects) throw fail('ERR_COLLECTION_TOO_LARGE');
      entries.push(entry);
      watch.members.set(canonicalKey(current.address), current.version);
    }
    if (watch.ended) throw fail('ERR_CONNECTION_CLOSED');
    for (let i = 0; i < entries.length || i === 0; i += pageSize) watch.session.send([FrameType.snapshot, watch.id, entries.slice(i, i + pageSize)]);
    watch.pending = false;
    return entries.length;
  }

  /** The object as the watcher gets it (with its capability), or undefined if it is not revealed. */
  async #entry(watch: Watch, type: string, address: JsonValue[], state: Record<string, unknown>): Promise<object | undefined> {
    if (portableByName(type) === undefined) return undefined;
    const object = revive(type, state);
    const narrowed = watch.cap.narrow(address.slice(watch.prefix.length));
    const reveal = this.#options.reveal;
    const cap = reveal === undefined ? narrowed : await reveal({ user: watch.session.user, object, cap: narrowed, watched: watch.cap });
    if (cap === null || cap === undefined) return undefined;
    return Object.assign(object, { cap });
  }

  async #apply(watch: Watch, update: ObjectUpdate, duringSnapshot: boolean): Promise<void> {
    if (watch.ended) return;
    const refused = await this.#verdict(watch);
    if (refused !== undefined) return this.#end(watch, refused);
    if (watch.ended) return;
    const key = canonicalKey(update.address);
    const known = watch.members.get(key);
    if (update.state === null) {
      if (known === undefined) return;
      watch.members.delete(key);
      watch.session.send([FrameType.collectionChange, watch.id, 'remove', update.address]);
      return;
    }
    if (known !== undefined) {
      if (update.version <= known) return;
      watch.members.set(key, update.version);
      // Its push may have reached the client before the snapshot's older state did: send it again.
      if (duringSnapshot) watch.session.sendBytes(this.#live.encodePush(update));
      return;
    }
    const entry = await this.#entry(watch, update.type, update.address, update.state);
    if (entry === undefined || watch.ended) return;
    if (watch.members.size >= this.#options.maxObjects) return this.#end(watch, 'ERR_COLLECTION_TOO_LARGE');
    watch.members.set(key, update.version);
    watch.session.send([FrameType.collectionChange, watch.id, 'add', entry]);
  }

  /**
   * The watched capability's code now, or undefined while it is good. A node whose revocation feed is behind cannot
   * tell whether it was revoked: the change is held (and the ones behind it, in order) until the feed is current,
   * as a resume is; ending the watch instead would end it for good though the right is unknown, not gone. Only a
   * feed behind for longer than {@link FEED_WAIT_MS} ends it, with `ERR_REVOCATION_FEED_STALE`.
   */
  async #verdict(watch: Watch): Promise<string | undefined> {
    const waitUntil = performance.now() + FEED_WAIT_MS;
    for (;;) {
      const code = capabilityError(watch.cap)?.code;
      if (code !== 'ERR_REVOCATION_FEED_STALE' || this.#whenCurrent === undefined || watch.ended) return code;
      const left = waitUntil - performance.now();
      if (left <= 0) return code;
      await this.#whenCurrent(Math.min(left, 1000));
    }
  }

  #failed(watch: Watch, error: unknown): void {
    if (!(error instanceof CapsyncError)) this.#logger.warn({ event: 'collection_failed', session: watch.session.id, err: error });
    this.#end(watch, error instanceof CapsyncError ? error.code : 'ERR_FUNCTION_FAILED');
  }

  #end(watch: Watch, code: string): void {
    if (watch.ended) return;
    this.#remove(watch);
    watch.session.send([FrameType.collectionChange, watch.id, 'end', code]);
  }

  #remove(watch: Watch): void {
    if (watch.ended) return;
    watch.ended = true;
    this.#index.remove(watch.prefix, watch);
    const watches = this.#bySession.get(watch.session);
    if (watches?.get(watch.key) === watch) watches.delete(watch.key);
    if (watches?.size === 0) this.#bySession.delete(watch.session);
  }
}
