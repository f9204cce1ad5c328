import { canonicalKey, type JsonValue } from '../../protocol/json-value.js';
import { MemoryRevocationSet } from '../../protocol/revocation.js';
import type { DelegationRecord, IssuedRecord, ObjectStore, StoredObject } from './types.js';

/** One address's row: `state` null is a tombstone, kept so a re-created object continues its versions. */
interface Entry {
  readonly address: JsonValue[];
  type: string;
  state: Uint8Array | null;
  version: number;
}

/**
 * A store that keeps everything in the process and nothing across restarts: the server's store when
 * persistence is not wanted, with no native dependency. Same semantics as `SqliteStore` (both run
 * `test/contracts/object-store.contract.ts`).
 *
 * @example
 * ```ts
 * const server = await CapsyncServer.create({ auth: { secret }, store: new MemoryStore() });
 * ```
 */
export class MemoryStore implements ObjectStore {
  readonly revocations = new MemoryRevocationSet();
  // A Map iterates in first-insertion order, and tombstones keep their place: `list` orders as SQLite's
  // `created` column does, which a re-creation does not move either.
  readonly #objects = new Map<string, Entry>();
  readonly #issued = new Map<string, Map<string, IssuedRecord>>();
  readonly #delegations: DelegationRecord[] = [];
  readonly #settings = new Map<string, string>();

  async get(address: readonly JsonValue[]): Promise<StoredObject | undefined> {
    const entry = this.#objects.get(canonicalKey(address as JsonValue[]));
    return entry && entry.state !== null ? toObject(entry) : undefined;
  }

  async list(type: string): Promise<StoredObject[]> {
    const found: StoredObject[] = [];
    for (const entry of this.#objects.values()) if (entry.type === type && entry.state !== null) found.push(toObject(entry));
    return found;
  }

  async put(address: readonly JsonValue[], type: string, state: Uint8Array): Promise<number> {
    const key = canonicalKey(address as JsonValue[]);
    // A copy: the caller may reuse its bytes, and a codec's output is often a view of a much larger
    // buffer that keeping the view would keep alive.
    const bytes = state.slice();
    const entry = this.#objects.get(key);
    if (entry === undefined) {
      this.#objects.set(key, { address: structuredClone(address as JsonValue[]), type, state: bytes, version: 1 });
      return 1;
    }
    // As in SQLite, the address keeps the spelling of its first put (map key order may differ).
    entry.type = type;
    entry.state = bytes;
    return ++entry.version;
  }

  async delete(address: readonly JsonValue[]): Promise<number | undefined> {
    const entry = this.#objects.get(canonicalKey(address as JsonValue[]));
    if (entry === undefined || entry.state === null) return undefined;
    entry.state = null;
    return ++entry.version;
  }

  async recordIssued(user: string, entries: readonly IssuedRecord[]): Promise<void> {
    let issued = this.#issued.get(user);
    if (issued === undefined) this.#issued.set(user, (issued = new Map()));
    for (const e of entries) if (!issued.has(e.id)) issued.set(e.id, { id: e.id, expiresAt: e.expiresAt });
  }

  async issuedTo(user: string, now: number): Promise<IssuedRecord[]> {
    const live: IssuedRecord[] = [];
    for (const e of this.#issued.get(user)?.values() ?? []) if (e.expiresAt === null || e.expiresAt >= now) live.push({ ...e });
    return live;
  }

  async recordDelegation(record: DelegationRecord): Promise<void> {
    this.#delegations.push(structuredClone(record));
  }

  async delegations(filter: { from?: string; to?: string }): Promise<DelegationRecord[]> {
    return this.#delegations
      .filter((r) => (filter.from === undefined || r.from === filter.from) && (filter.to === undefined || r.to === filter.to))
      .map((r) => structuredClone(r));
  }

  async getSetting(name: string): Promise<string | undefined> {
    return this.#settings.get(name);
  }

  async setSetting(name: string, value: string): Promise<void> {
    this.#settings.set(name, value);
  }

  async close(): Promise<void> {}
}

/** A snapshot: what the caller gets never aliases what the store keeps. */
function toObject(entry: Entry): StoredObject {
  return { address: structuredClone(entry.address), type: entry.type, state: entry.state!.slice(), version: entry.version };
}
