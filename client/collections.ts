import { Observable, Subject } from 'rxjs';
import type { Capability } from '../protocol/capability/capability.js';
import { CapsyncError, fail, isErrorCode } from '../protocol/errors.js';
import { canonicalKey, type JsonValue } from '../protocol/json-value.js';
import { addressOf, portableOfClass, type PortableClass } from '../protocol/portable.js';
import type { LiveRegistry } from './live-registry.js';

/** Options of {@link CapsyncClient.collection}. */
export interface CollectionOptions<T extends object> {
  /** Only objects of this portable class (the server filters: others are never sent). */
  readonly type?: PortableClass<T>;
}

/** Sends a watch request (`[16, id, cap, options]`); resolves with the answer. `onId` learns the id before any frame of it can arrive. */
export type WatchRequest = (cap: Capability, options: { type?: string; stop?: true }, onId: (id: number) => void) => Promise<unknown>;

/** One watched collection, shared by every subscriber of the same capability scope and type. */
class Collection {
  readonly key: string;
  readonly cap: Capability;
  readonly type: string | undefined;
  /** Members by address key, in the order they entered: the instances the app gets (held strongly while watched). */
  members = new Map<string, object>();
  /** While a snapshot is coming: the members it lists so far (a re-watch replaces the list with it once answered). */
  incoming: Map<string, object> | undefined;
  watchId: number | undefined;
  answered = false;
  readonly updates = new Subject<object[]>();
  subscribers = 0;

  constructor(key: string, cap: Capability, type: string | undefined) {
    this.key = key;
    this.cap = cap;
    this.type = type;
  }

  list(): object[] {
    return [...this.members.values()];
  }

  emit(): void {
    if (this.answered) this.updates.next(this.list());
  }
}

/**
 * The client's live collections: `watch` frames out, `snapshot` and `collectionChange` frames in, pushes of
 * members re-emitting the list. Instances are the client's own: an object it already has at that address
 * (from a call, a delegation, `live()`) is the one listed, so the list, `live()` and pushes all share it.
 * After a reconnect, every answered collection is watched again: the fresh snapshot replaces the list
 * (objects created or deleted while away come and go) once it is complete.
 */
export class Collections {
  readonly #registry: LiveRegistry;
  readonly #request: WatchRequest;
  readonly #byKey = new Map<string, Collection>();
  readonly #byWatch = new Map<number, Collection>();
  #closed: CapsyncError | true | undefined;

  constructor(registry: LiveRegistry, request: WatchRequest) {
    this.#registry = registry;
    this.#request = request;
  }

  observe<T extends object>(cap: Capability, options: CollectionOptions<T> = {}): Observable<T[]> {
    return new Observable<T[]>((subscriber) => {
      if (this.#closed !== undefined) {
        if (this.#closed === true) subscriber.complete();
        else subscriber.error(this.#closed);
        return;
      }
      let type: string | undefined;
      if (options.type !== undefined) {
        type = portableOfClass(options.type)?.name;
        if (type === undefined) return subscriber.error(fail('ERR_PORTABLE_UNKNOWN'));
      }
      const key = `${canonicalKey(cap.scope as JsonValue[])}\u0000${type ?? ''}`;
      let collection = this.#byKey.get(key);
      const fresh = collection === undefined;
      if (collection === undefined) this.#byKey.set(key, (collection = new Collection(key, cap, type)));
      const shared = collection;
      shared.subscribers++;
      const subscription = shared.updates.subscribe({
        next: (list) => subscriber.next(list as T[]),
        error: (e: unknown) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
      if (fresh) this.#watch(shared);
      else if (shared.answered) subscriber.next(shared.list() as T[]);
      return () => {
        subscription.unsubscribe();
        if (--shared.subscribers > 0 || this.#byKey.get(key) !== shared) return;
        this.#forget(shared);
        this.#request(shared.cap, { ...(shared.type !== undefined ? { type: shared.type } : {}), stop: true }, () => undefined).catch(() => undefined);
      };
    });
  }

  /** A `snapshot` frame: one page of a collection's members. */
  snapshot(watchId: number, entries: readonly unknown[]): void {
    const collection = this.#byWatch.get(watchId);
    if (collection === undefined) return;
    const into = collection.incoming ?? collection.members;
    for (const entry of entries) this.#admit(into, entry);
  }

  /** A `collectionChange` frame. */
  change(watchId: number, kind: 'add' | 'remove' | 'end', payload: unknown): void {
    const collection = this.#byWatch.get(watchId);
    if (collection === undefined) return;
    if (kind === 'end') {
      this.#forget(collection);
      collection.updates.error(new CapsyncError(isErrorCode(payload) ? payload : 'ERR_FUNCTION_FAILED'));
      return;
    }
    const into = collection.incoming ?? collection.members;
    if (kind === 'add') this.#admit(into, payload);
    else if (Array.isArray(payload)) into.delete(canonicalKey(payload as JsonValue[]));
    if (collection.incoming === undefined) collection.emit();
  }

  /** A push was applied (or was a deletion): a member's change re-emits its lists. */
  pushed(address: JsonValue[], deleted: boolean): void {
    const key = canonicalKey(address);
    for (const collection of this.#byKey.values()) {
      if (!collection.members.has(key)) continue;
      if (deleted) collection.members.delete(key);
      collection.emit();
    }
  }

  /** The session came back on a new connection: watch every answered collection again. */
  reconnected(): void {
    for (const collection of this.#byKey.values()) if (collection.answered) this.#watch(collection);
  }

  /** The client closed (error undefined) or ended otherwise: every collection completes or errors. */
  close(error?: CapsyncError): void {
    this.#closed = error ?? true;
    for (const collection of [...this.#byKey.values()]) {
      this.#forget(collection);
      if (error === undefined) collection.updates.complete();
      else collection.updates.error(error);
    }
  }

  #watch(collection: Collection): void {
    collection.incoming = new Map();
    const options = collection.type !== undefined ? { type: collection.type } : {};
    let watchId: number | undefined;
    // Only the answer to the collection's current watch counts: an earlier one it replaced says nothing now.
    const current = (): boolean => this.#byKey.get(collection.key) === collection && collection.watchId === watchId;
    this.#request(collection.cap, options, (id) => {
      if (collection.watchId !== undefined) this.#byWatch.delete(collection.watchId);
      collection.watchId = watchId = id;
      this.#byWatch.set(id, collection);
    }).then(
      () => {
        if (!current() || collection.incoming === undefined) return;
        collection.members = collection.incoming;
        collection.incoming = undefined;
        collection.answered = true;
        collection.emit();
      },
      (error: unknown) => {
        if (!current()) return;
        this.#forget(collection);
        collection.updates.error(error instanceof CapsyncError ? error : fail('ERR_FUNCTION_FAILED'));
      },
    );
  }

  /** Takes an entry as a member: the instance already known at its address if there is one, with a capability. */
  #admit(into: Map<string, object>, entry: unknown): void {
    if (typeof entry !== 'object' || entry === null) return;
    const address = addressOf(entry);
    if (address === undefined) return;
    const known = this.#registry.instanceAt(address) ?? entry;
    const cap = (entry as { cap?: unknown }).cap;
    if ((known as { cap?: unknown }).cap === undefined && cap !== undefined) Object.assign(known, { cap });
    into.set(canonicalKey(address), known);
  }

  #forget(collection: Collection): void {
    if (this.#byKey.get(collection.key) === collection) this.#byKey.delete(collection.key);
    if (collection.watchId !== undefined && this.#byWatch.get(collection.watchId) === collection) this.#byWatch.delete(collection.watchId);
  }
}
