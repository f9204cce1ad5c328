import { Capability } from '../protocol/capability/capability.js';
import type { Codec } from '../protocol/codec.js';
import { fail, VersionConflictError } from '../protocol/errors.js';
import { FrameType } from '../protocol/frames.js';
import { canonicalKey, type JsonValue } from '../protocol/json-value.js';
import { portableByName, portableOf, portableOfClass, revive, type PortableClass } from '../protocol/portable.js';
import type { Fanout, ObjectUpdate } from './fanout.js';
import { KeyedQueue } from './keyed-queue.js';
import type { ObjectStore, StoredChange, StoredObject, WriteCondition, WriteResult } from './store/types.js';

/** How often {@link LiveObjects.update} tries again on a store without an atomic `update` before giving up. */
const UPDATE_ATTEMPTS = 100;

/**
 * A live object as a resume sends it: the push it would have had, state decoded (with `version` in it, as
 * pushes carry it), so {@link LiveObjects.encodePush} encodes it unchanged.
 */
export interface CurrentObject extends ObjectUpdate {
  /** The decoded fields, `version` included. */
  readonly state: Record<string, unknown>;
}

/**
 * Live objects: portable instances with an address, stored in the {@link ObjectStore} and pushed to every
 * connection holding a covering capability when they change.
 *
 * Conventions: `version` is owned by capsync (set on every put, starting at 1, increasing through deletion);
 * fields holding a {@link Capability} are never stored or pushed (each recipient keeps its own), and a live
 * object's own capability lives in its `cap` field.
 */
export class LiveObjects {
  readonly #store: ObjectStore;
  readonly #fanout: Fanout;
  readonly #codec: Codec;
  /** Updates of one object take turns in this process on a store without an atomic `update`. */
  readonly #turns = new KeyedQueue();

  constructor(store: ObjectStore, fanout: Fanout, codec: Codec) {
    this.#store = store;
    this.#fanout = fanout;
    this.#codec = codec;
  }

  /**
   * Stores `object`'s state and pushes it to its holders. Sets and returns its new version. With
   * `{ ifVersion }` it writes only if the stored object is at that version now (0: only if there is none),
   * else fails with `VersionConflictError` (`ERR_VERSION_CONFLICT`, carrying the current version).
   */
  async put(object: object, condition?: WriteCondition): Promise<number> {
    const { address, type } = describe(object);
    const state = stateOf(object);
    // Encoded once, by the codec that will push it: nested portable objects are written the capsync way,
    // and the check refuses a state no peer could decode before the store holds it.
    const bytes = this.#codec.encode(state, noCapabilities, { check: true });
    const written = await this.#store.put(address, type, bytes, condition);
    return this.#written(object, address, type, state, written);
  }

  /**
   * An atomic read-modify-write of the object of class `cls` at `address`: `mutate` gets it as an instance
   * (without capabilities) and changes it in place, synchronously; returning `false` writes nothing. Two
   * concurrent updates never lose one another's change. On a store with an atomic `update` (SQLite: one
   * transaction; memory) it runs once; otherwise it is a read and a conditional put, retried on conflict.
   * Resolves to the updated instance (its `version` set), or undefined when there is no such object or
   * `mutate` returned false. `mutate` may throw (a `VersionConflictError` when the caller's own version check
   * fails, say): nothing is written and the error propagates.
   */
  async update<T extends object>(cls: PortableClass<T>, address: readonly JsonValue[], mutate: (object: T) => void | boolean): Promise<T | undefined> {
    const type = nameOf(cls);
    let changed: { object: T; state: Record<string, unknown> } | undefined;
    // Everything between the read and the write is synchronous, so a store can run it inside one transaction.
    const apply = (stored: StoredObject | undefined): { type: string; state: Uint8Array } | undefined => {
      changed = undefined;
      if (stored === undefined || stored.type !== type) return undefined;
      const object = this.#instantiate(stored) as T;
      const outcome: unknown = mutate(object);
      if (outcome instanceof Promise) throw new TypeError('live.update: mutate must be synchronous');
      if (outcome === false) return undefined;
      if (canonicalKey(describe(object).address) !== canonicalKey(address as JsonValue[])) throw fail('ERR_PORTABLE_INVALID', 'an update must not change the address');
      const state = stateOf(object);
      changed = { object, state };
      return { type, state: this.#codec.encode(state, noCapabilities, { check: true }) };
    };
    const store = this.#store;
    let written: WriteResult | undefined;
    if (store.update !== undefined) written = await store.update(address, apply);
    else written = await this.#turns.run(canonicalKey(address as JsonValue[]), () => retryOnConflict(async () => {
      const stored = await store.get(address);
      const next = apply(stored);
      // Only the store's own conflict is retried: one that `mutate` raised is the caller's answer.
      return next && store.put(address, type, next.state, { ifVersion: stored!.version }).catch((error: unknown) => {
        throw error instanceof VersionConflictError ? new StoreConflict(error) : error;
      });
    }));
    if (written === undefined || changed === undefined) return undefined;
    const { object, state } = changed as { object: T; state: Record<string, unknown> };
    await this.#written(object, address as JsonValue[], type, state, written);
    return object;
  }

  async #written(object: object, address: JsonValue[], type: string, state: Record<string, unknown>, { version, seq }: WriteResult): Promise<number> {
    (object as { version?: number }).version = version;
    await this.#fanout.publish({ address, type, version, seq, state: { ...state, version } });
    return version;
  }

  /** Deletes the object at `object`'s address and pushes the deletion. Returns the deletion's version, or undefined. */
  async delete(object: object): Promise<number | undefined> {
    const { address, type } = describe(object);
    const written = await this.#store.delete(address);
    if (written !== undefined) await this.#fanout.publish({ address, type, version: written.version, seq: written.seq, state: null });
    return written?.version;
  }

  /** The object at `address` rebuilt as an instance of `cls` (without capabilities), or undefined. */
  async get<T extends object>(cls: PortableClass<T>, address: readonly JsonValue[]): Promise<T | undefined> {
    const stored = await this.#store.get(address);
    return stored && stored.type === nameOf(cls) ? (this.#instantiate(stored) as T) : undefined;
  }

  /** Every stored object of class `cls`, as instances (without capabilities). */
  async list<T extends object>(cls: PortableClass<T>): Promise<T[]> {
    return (await this.#store.list(nameOf(cls))).map((s) => this.#instantiate(s) as T);
  }

  /**
   * What changed after seq `since`, oldest first, at most `limit`: each object once, with its latest state,
   * a deleted one with state null. Deletions at or below {@link LiveObjects.horizon} may be missing.
   */
  async changesSince(since: number, limit: number, wanted: (address: readonly JsonValue[]) => boolean = () => true): Promise<{ changes: ObjectUpdate[]; read: number; last: number }> {
    // Filtered before decoding: a resume reads every change since the client's seq but decodes only its own.
    const rows = await this.#store.changes(since, limit);
    const changes = rows.filter((c) => wanted(c.address)).map((c) => (isLive(c) ? this.#current(c) : { ...c, state: null }));
    return { changes, read: rows.length, last: rows.length > 0 ? rows[rows.length - 1]!.seq : since };
  }

  /** The object at `address` as a push would carry it, whatever its class, or undefined. */
  async at(address: readonly JsonValue[]): Promise<CurrentObject | undefined> {
    const stored = await this.#store.get(address);
    return stored && this.#current(stored);
  }

  /** Every live object whose address starts with `prefix`, in the order they were first put, at most `limit`. */
  async under(prefix: readonly JsonValue[], limit: number): Promise<CurrentObject[]> {
    return (await this.#store.listUnder(prefix, limit)).map((o) => this.#current(o));
  }

  /** The store's identity: seqs from a store with another epoch mean nothing here. */
  epoch(): Promise<string> {
    return this.#store.epoch();
  }

  /** The latest change's seq (0 if none): what a client that is sent everything has seen. */
  seq(): Promise<number> {
    return this.#store.seq();
  }

  /** The highest seq of a forgotten deletion: a client that saw less needs a full snapshot. */
  horizon(): Promise<number> {
    return this.#store.horizon();
  }

  /**
   * The live object a capability grants: the object at the longest prefix of its scope, with `cap` set to
   * that capability. Undefined when no object lives there.
   */
  async grantedBy(cap: Capability): Promise<object | undefined> {
    for (let n = cap.scope.length; n > 0; n--) {
      const stored = await this.#store.get(cap.scope.slice(0, n));
      if (stored && portableByName(stored.type)) return Object.assign(this.#instantiate(stored), { cap });
    }
    return undefined;
  }

  /**
   * Rebuilds a stored object. Its state is decoded by the same codec and limits as a peer's frame, refusing
   * capabilities as encoding did, so a store holding foreign or damaged bytes yields a typed error.
   */
  #instantiate(stored: Stored): object {
    return revive(stored.type, { ...this.#decode(stored), version: stored.version });
  }

  #current(stored: Stored): CurrentObject {
    const { address, type, version, seq } = stored;
    return { address, type, version, seq, state: { ...this.#decode(stored), version } };
  }

  #decode(stored: Stored): Record<string, unknown> {
    const state = this.#codec.decode(stored.state, noCapabilities);
    if (state === null || typeof state !== 'object' || Array.isArray(state) || state instanceof Uint8Array || portableOf(state) !== undefined) {
      throw fail('ERR_PORTABLE_INVALID', `stored state of ${stored.type} is not a map`);
    }
    return state as Record<string, unknown>;
  }

  /** Encodes the push frame for an update, once for all its recipients. */
  encodePush(update: ObjectUpdate): Uint8Array {
    // The change's seq travels with it, so a client resumes from the last change it actually saw; but never
    // past what this node has delivered (several nodes: see Fanout.deliveredThrough), so a client moving to
    // another node does not resume past a change it has not received.
    const through = this.#fanout.deliveredThrough?.();
    const seq = through !== undefined && through < update.seq ? through : update.seq;
    return this.#codec.encode([FrameType.push, update.address, update.type, update.version, update.state, seq], noCapabilities, { check: true });
  }
}

/** A conditional put that lost to another writer. */
class StoreConflict {
  constructor(readonly error: VersionConflictError) {}
}

/** Runs `attempt` again while another writer got in first (a conflict on the version it read). */
async function retryOnConflict<R>(attempt: () => Promise<R>): Promise<R> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof StoreConflict)) throw error;
      if (n >= UPDATE_ATTEMPTS) throw error.error;
    }
  }
}

/** A stored object or a change that is not a deletion. */
type Stored = StoredChange & { readonly state: Uint8Array };

function isLive(change: StoredChange): change is Stored {
  return change.state !== null;
}

// A push is encoded once for every recipient, so it may carry no one's capability; a stored state is what
// pushes are made of, so it may carry none either, in either direction.
const noCapabilities = {
  onCapability(): never {
    throw fail('ERR_NOT_ENCODABLE', 'live object state must not contain capabilities');
  },
};

function nameOf(cls: PortableClass): string {
  const name = portableOfClass(cls)?.name;
  if (name === undefined) throw fail('ERR_PORTABLE_UNKNOWN');
  return name;
}

function describe(object: object): { address: JsonValue[]; type: string } {
  const type = portableOf(object);
  if (type === undefined) throw fail('ERR_PORTABLE_UNKNOWN');
  if (type.address === undefined) throw fail('ERR_PORTABLE_INVALID', `portable class ${type.name} has no address`);
  return { address: type.address(object), type: type.name };
}

/**
 * The stored, pushed state of an object: its fields but capabilities, unset fields and the version.
 * Unset fields are left out so a push never clears a recipient's own capability field.
 */
function stateOf(object: object): Record<string, unknown> {
  const state: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(object)) {
    if (key !== 'version' && value !== undefined && !(value instanceof Capability)) state[key] = value;
  }
  return state;
}
