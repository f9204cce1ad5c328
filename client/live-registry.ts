import { Observable, Subject } from 'rxjs';
import { CapsyncError, fail } from '../protocol/errors.js';
import { canonicalKey, type JsonValue } from '../protocol/json-value.js';
import { addressOf, portableByName, portableOf } from '../protocol/portable.js';

/** A push frame's content: the new state of the live object at `address`, or null when it was deleted. */
export interface Push {
  readonly address: JsonValue[];
  readonly type: string;
  readonly version: number;
  readonly state: Record<string, unknown> | null;
}

/**
 * What became of a push: `applied` to the local instances (or their live streams completed, on deletion);
 * `untracked`, valid but no local instance has that address; `stale`, older than a state already seen;
 * `invalid`, refused (a field that would shadow the class, or the wrong class) and dropped.
 */
export type PushOutcome = 'applied' | 'untracked' | 'stale' | 'invalid';

interface Entry {
  readonly address: JsonValue[];
  /** The newest version seen for the address. */
  version: number;
  /**
   * The instances, held weakly: an instance the app dropped can no longer be read or observed, so updating
   * it is pointless and keeping it would leak every object a long session ever received. An instance that
   * is observed stays alive anyway: its {@link LiveRegistry.observe} subscriber holds it.
   */
  readonly refs: Set<WeakRef<object>>;
  readonly members: WeakSet<object>;
  /** Emits after every applied change; completes on deletion or close, errors when the rights to it end. */
  readonly updates: Subject<void>;
}

/**
 * The client's live objects: every instance with a live address that arrived on this session (or was given
 * to `live()`), by address, with the newest version seen. Pushes update those instances in place, so every
 * reference the app holds sees the new state, and `live()` emits the same instance again.
 */
export class LiveRegistry {
  readonly #entries = new Map<string, Entry>();
  // Drops an address's entry once its last instance is collected, unless someone still observes it.
  readonly #finalizer = new FinalizationRegistry<string>((key) => this.#prune(key));
  #closed: CapsyncError | true | undefined;

  /** Addresses currently tracked (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  /** Tracks `object` if its class declares a live address; a decoded portable object comes through here. */
  adopt(object: object): void {
    const address = addressOf(object);
    if (address !== undefined) this.#track(address, object);
  }

  /**
   * The states of one live object over time: emits `object` itself now and after every change (it is
   * updated in place), completes when the object is deleted or the app closes the session, errors when
   * {@link fail} says the rights to it ended or the session ended otherwise. Errors with
   * `ERR_PORTABLE_INVALID` if the object has no live address. `keep(address)` is called at subscription and
   * its result referenced until unsubscription.
   */
  observe<T extends object>(object: T, keep?: (address: JsonValue[]) => unknown): Observable<T> {
    return new Observable<T>((subscriber) => {
      const address = addressOf(object);
      if (address === undefined) {
        subscriber.error(fail('ERR_PORTABLE_INVALID', 'object has no live address'));
        return;
      }
      // Held strongly for as long as this subscription lives (what `keep` returns: the capabilities that
      // cover the object, which the client otherwise holds weakly), and let go with it.
      const kept = { value: keep?.(address) };
      subscriber.add(() => (kept.value = undefined));
      const entry = this.#track(address, object);
      subscriber.next(object);
      if (this.#closed !== undefined) {
        // Nothing can change it any more: say so rather than leave the stream open forever.
        if (this.#closed === true) subscriber.complete();
        else subscriber.error(this.#closed);
        return;
      }
      return entry.updates.subscribe({ next: () => subscriber.next(object), complete: () => subscriber.complete(), error: (e: unknown) => subscriber.error(e) });
    });
  }

  /**
   * Applies a push to every local instance at its address. The state passes the same field checks as
   * decoding a portable object (`revive` in protocol/portable.ts): a field may not shadow anything on the
   * class's prototype chain, so wire data never replaces a method. A refused push changes nothing.
   */
  apply(push: Push): PushOutcome {
    const key = canonicalKey(push.address);
    const entry = this.#entries.get(key);
    if (entry !== undefined && push.version <= entry.version) return 'stale';
    const instances = entry === undefined ? [] : this.#instances(entry);
    if (push.state !== null && !acceptable(push, instances)) return 'invalid';
    if (entry === undefined) return 'untracked';
    entry.version = push.version;
    if (push.state === null) {
      this.#entries.delete(key);
      entry.updates.complete();
      return 'applied';
    }
    for (const instance of instances) assignFields(instance, push.state);
    entry.updates.next();
    return 'applied';
  }

  /**
   * The session ended for good: completes every live stream (the app closed it) or errors it with `error`
   * (it ended otherwise, so the app can tell a lost session from a deletion); later `observe()` streams do
   * the same at once.
   */
  close(error?: CapsyncError): void {
    this.#closed = error ?? true;
    for (const entry of this.#entries.values()) {
      if (error === undefined) entry.updates.complete();
      else entry.updates.error(error);
    }
  }

  /** The first instance still alive at `address` (the one the client had first), or undefined. */
  instanceAt(address: JsonValue[]): object | undefined {
    const entry = this.#entries.get(canonicalKey(address));
    return entry === undefined ? undefined : this.#instances(entry)[0];
  }

  /** `[address, version]` of every tracked object: what a resume tells the server this client has seen. */
  seen(): [JsonValue[], number][] {
    return [...this.#entries.values()].map((entry) => [entry.address, entry.version]);
  }

  /**
   * Forgets every version: the store was replaced (its epoch changed), so versions from before are not
   * comparable with the new ones, and a stale check against them would drop fresh state.
   */
  resetVersions(): void {
    for (const entry of this.#entries.values()) entry.version = 0;
  }

  /** The tracked addresses a capability with this scope gives pushes for (a prefix of it, or extending it). */
  addresses(related: (address: JsonValue[]) => boolean): JsonValue[][] {
    return [...this.#entries.values()].filter((entry) => related(entry.address)).map((entry) => entry.address);
  }

  /** The rights to the object at `address` ended: its live streams error with `error`, and it is forgotten. */
  fail(address: JsonValue[], error: CapsyncError): void {
    const key = canonicalKey(address);
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    entry.updates.error(error);
  }

  #track(address: JsonValue[], object: object): Entry {
    const key = canonicalKey(address);
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = { address, version: 0, refs: new Set(), members: new WeakSet(), updates: new Subject() };
      this.#entries.set(key, entry);
    }
    if (!entry.members.has(object)) {
      entry.members.add(object);
      entry.refs.add(new WeakRef(object));
      this.#finalizer.register(object, key);
    }
    const version = (object as { version?: unknown }).version;
    if (typeof version === 'number' && version > entry.version) entry.version = version;
    return entry;
  }

  /** The instances still alive, forgetting the collected ones. */
  #instances(entry: Entry): object[] {
    const alive: object[] = [];
    for (const ref of entry.refs) {
      const instance = ref.deref();
      if (instance === undefined) entry.refs.delete(ref);
      else alive.push(instance);
    }
    return alive;
  }

  #prune(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    if (this.#instances(entry).length === 0 && !entry.updates.observed) this.#entries.delete(key);
  }
}

/**
 * Whether a push's state may be applied: its class must be the one registered under `type` (when this side
 * registered it) and the class of every instance it updates, and no field may name anything on their
 * prototype chains (`constructor`, `__proto__`, a method, an accessor).
 */
function acceptable(push: Push, instances: readonly object[]): boolean {
  const state = push.state!;
  const registered = portableByName(push.type);
  const prototypes = new Set<object>();
  if (registered !== undefined) prototypes.add(registered.cls.prototype as object);
  for (const instance of instances) {
    if (portableOf(instance)?.name !== push.type) return false;
    prototypes.add(Object.getPrototypeOf(instance) as object);
  }
  for (const key of Object.keys(state)) {
    for (const proto of prototypes) if (key in proto) return false;
  }
  for (const instance of instances) {
    if (!Object.keys(state).every((key) => writable(instance, key))) return false;
  }
  return true;
}

/** Whether `key` can be set as an own data field of `object` (a frozen or sealed instance refuses new state). */
function writable(object: object, key: string): boolean {
  const own = Object.getOwnPropertyDescriptor(object, key);
  if (own === undefined) return Object.isExtensible(object);
  return own.configurable === true || own.writable === true;
}

/** Sets each field as an own data property, as `revive` does: never through a setter. */
function assignFields(object: object, state: Record<string, unknown>): void {
  for (const key of Object.keys(state)) {
    const own = Object.getOwnPropertyDescriptor(object, key);
    if (own !== undefined && own.configurable !== true) (object as Record<string, unknown>)[key] = state[key];
    else Object.defineProperty(object, key, { value: state[key], writable: true, enumerable: true, configurable: true });
  }
}
