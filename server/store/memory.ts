import { randomUUID } from 'node:crypto';
import { VersionConflictError } from '../../protocol/errors.js';
import { canonicalKey, type JsonValue } from '../../protocol/json-value.js';
import { MemoryRevocationSet } from '../../protocol/revocation.js';
import { isUnder, prefixKeys } from './prefix.js';
import type {
  CallCommit, CallRecord, DelegationFilter, DelegationRecord, IssuedRecord, ObjectStore, StoreOptions, StoredChange, StoredObject, StoredUpdate, WriteCondition,
  WriteResult,
} from './types.js';

/** One address's row: `state` null is a tombstone, kept so a re-created object continues its versions. */
interface Entry {
  readonly address: JsonValue[];
  type: string;
  state: Uint8Array | null;
  version: number;
  seq: number;
  /** When it last changed (ms since epoch): what `pruneTombstones` compares. */
  changedAt: number;
}

/**
 * A store that keeps everything in the process and nothing across restarts: the server's store when
 * persistence is not wanted, with no native dependency. Same semantics as `SqliteStore` (both run
 * `test/contracts/object-store.contract.ts`); its epoch is new with every instance, so a client that
 * resumes against a restarted server knows its seqs mean nothing here.
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
  // The same entries, re-inserted on every change, so this one iterates in seq order: `changes` needs no sort.
  readonly #bySeq = new Map<string, Entry>();
  readonly #issued = new Map<string, Map<string, IssuedRecord>>();
  readonly #delegations: DelegationRecord[] = [];
  /** Call records by principal, then key: one principal's keys never make another's lookups or acks slower. */
  readonly #calls = new Map<string, Map<string, CallEntry>>();
  #callCount = 0;
  /** Where small outcomes are copied ({@link #copyOutcome}). */
  #slab = new Uint8Array(0);
  #slabAt = SLAB_BYTES;
  readonly #settings = new Map<string, string>();
  readonly #epoch = randomUUID();
  readonly #clock: { now(): number };
  #seq = 0;
  #horizon = 0;

  constructor(options: StoreOptions = {}) {
    this.#clock = options.clock ?? Date;
  }

  async get(address: readonly JsonValue[]): Promise<StoredObject | undefined> {
    const entry = this.#objects.get(canonicalKey(address as JsonValue[]));
    return entry && entry.state !== null ? toObject(entry) : undefined;
  }

  async list(type: string): Promise<StoredObject[]> {
    const found: StoredObject[] = [];
    for (const entry of this.#objects.values()) if (entry.type === type && entry.state !== null) found.push(toObject(entry));
    return found;
  }

  async put(address: readonly JsonValue[], type: string, state: Uint8Array, condition?: WriteCondition): Promise<WriteResult> {
    const key = canonicalKey(address as JsonValue[]);
    if (condition?.ifVersion !== undefined) {
      const current = liveVersion(this.#objects.get(key));
      if (current !== condition.ifVersion) throw new VersionConflictError(current, condition.ifVersion);
    }
    return this.#write(key, address, type, state);
  }

  async update(address: readonly JsonValue[], mutate: (current: StoredObject | undefined) => StoredUpdate | undefined): Promise<WriteResult | undefined> {
    // Read, mutate and write with no await between them: nothing else in this process runs in between.
    const key = canonicalKey(address as JsonValue[]);
    const entry = this.#objects.get(key);
    const next = mutate(entry && entry.state !== null ? toObject(entry) : undefined);
    return next && this.#write(key, address, next.type, next.state);
  }

  #write(key: string, address: readonly JsonValue[], type: string, state: Uint8Array): WriteResult {
    // A copy: the caller may reuse its bytes, and a codec's output is often a view of a much larger
    // buffer that keeping the view would keep alive. Not `state.slice()`: on a Buffer (what msgpackr
    // returns) that is a view too.
    const bytes = new Uint8Array(state);
    let entry = this.#objects.get(key);
    if (entry === undefined) {
      entry = { address: structuredClone(address as JsonValue[]), type, state: bytes, version: 0, seq: 0, changedAt: 0 };
      this.#objects.set(key, entry);
    }
    // As in SQLite, the address keeps the spelling of its first put (map key order may differ).
    entry.type = type;
    entry.state = bytes;
    return this.#changed(key, entry);
  }

  async delete(address: readonly JsonValue[]): Promise<WriteResult | undefined> {
    const key = canonicalKey(address as JsonValue[]);
    const entry = this.#objects.get(key);
    if (entry === undefined || entry.state === null) return undefined;
    entry.state = null;
    return this.#changed(key, entry);
  }

  #changed(key: string, entry: Entry): WriteResult {
    entry.version++;
    entry.seq = ++this.#seq;
    entry.changedAt = this.#clock.now();
    this.#bySeq.delete(key);
    this.#bySeq.set(key, entry);
    return { version: entry.version, seq: entry.seq };
  }

  async epoch(): Promise<string> {
    return this.#epoch;
  }

  async seq(): Promise<number> {
    return this.#seq;
  }

  async changes(since: number, limit: number): Promise<StoredChange[]> {
    const found: StoredChange[] = [];
    for (const entry of this.#bySeq.values()) {
      if (found.length >= limit) break;
      if (entry.seq > since) {
        found.push({ address: structuredClone(entry.address), type: entry.type, version: entry.version, seq: entry.seq, state: entry.state && entry.state.slice() });
      }
    }
    return found;
  }

  async listUnder(prefix: readonly JsonValue[], limit: number): Promise<StoredObject[]> {
    const keys = prefixKeys(prefix);
    const found: StoredObject[] = [];
    for (const [key, entry] of this.#objects) {
      if (found.length >= limit) break;
      if (entry.state !== null && isUnder(key, keys)) found.push(toObject(entry));
    }
    return found;
  }

  async pruneTombstones(before: number): Promise<number> {
    let dropped = 0;
    for (const [key, entry] of this.#objects) {
      if (entry.state !== null || entry.changedAt >= before) continue;
      this.#objects.delete(key);
      this.#bySeq.delete(key);
      this.#horizon = Math.max(this.#horizon, entry.seq);
      dropped++;
    }
    return dropped;
  }

  async horizon(): Promise<number> {
    return this.#horizon;
  }

  async claimCall(principal: string, key: string, owner: string, expiresAt: number): Promise<CallRecord | undefined> {
    return this.#claim(principal, key, owner, expiresAt);
  }

  async finishCall(principal: string, key: string, outcome: Uint8Array): Promise<void> {
    this.#finish(principal, key, outcome);
  }

  async pruneCalls(now: number): Promise<number> {
    return this.#pruneCalls(now);
  }

  async commitCalls(commit: CallCommit): Promise<(CallRecord | undefined)[]> {
    // One synchronous step: nothing else runs between its parts.
    for (const o of commit.outcomes) this.#finish(o.principal, o.key, o.outcome);
    // A ledger the acknowledgements empty is dropped after the claims: a client's next call, claimed in the
    // same commit, usually refills it (no Map made and dropped per call).
    let emptied: string[] | undefined;
    for (const f of commit.forget) {
      const ledger = this.#calls.get(f.principal);
      if (ledger?.delete(f.key)) {
        this.#callCount--;
        if (ledger.size === 0) (emptied ??= []).push(f.principal);
      }
    }
    if (commit.pruneBefore !== undefined) this.#pruneCalls(commit.pruneBefore);
    const found: (CallRecord | undefined)[] = [];
    for (const c of commit.claims) found.push(this.#claim(c.principal, c.key, c.owner, c.expiresAt));
    if (emptied !== undefined) for (const principal of emptied) if (this.#calls.get(principal)?.size === 0) this.#calls.delete(principal);
    return found;
  }

  /** How many call records are kept (for tests and benchmarks). */
  get callRecords(): number {
    return this.#callCount;
  }

  #claim(principal: string, key: string, owner: string, expiresAt: number): CallRecord | undefined {
    let ledger = this.#calls.get(principal);
    const found = ledger?.get(key);
    if (found !== undefined) return { owner: found.owner, outcome: found.outcome && found.outcome.slice(), expiresAt: found.expiresAt };
    if (ledger === undefined) this.#calls.set(principal, (ledger = new Map()));
    ledger.set(key, { owner, outcome: null, expiresAt });
    this.#callCount++;
    return undefined;
  }

  #finish(principal: string, key: string, outcome: Uint8Array): void {
    const found = this.#calls.get(principal)?.get(key);
    if (found !== undefined) found.outcome = this.#copyOutcome(outcome);
  }

  /**
   * A copy of an outcome (the caller may reuse its bytes, and they are often a view of a larger buffer),
   * small ones cut from a shared slab: a typed array of its own costs an off-heap allocation (about 0.7 us,
   * more than the rest of the store's work per call), a slab's 1/40th of one. A record acknowledged at once
   * (the usual case) frees its part with the slab; {@link #pruneCalls} gives each record it keeps a copy of
   * its own, so a few records left unacknowledged do not keep whole slabs alive past the next prune.
   */
  #copyOutcome(outcome: Uint8Array): Uint8Array {
    const n = outcome.byteLength;
    if (n > SLAB_PIECE_MAX) return new Uint8Array(outcome);
    if (this.#slabAt + n > SLAB_BYTES) {
      this.#slab = new Uint8Array(SLAB_BYTES);
      this.#slabAt = 0;
    }
    const at = this.#slabAt;
    this.#slab.set(outcome, at);
    // 8-byte aligned, as msgpackr lays out its own buffer.
    this.#slabAt = (at + n + 7) & ~7;
    return this.#slab.subarray(at, at + n);
  }

  #pruneCalls(now: number): number {
    let dropped = 0;
    for (const [principal, ledger] of this.#calls) {
      for (const [key, record] of ledger) {
        if (record.expiresAt < now) {
          if (ledger.delete(key)) dropped++;
        } else if (record.outcome !== null && record.outcome.byteLength !== record.outcome.buffer.byteLength) {
          record.outcome = new Uint8Array(record.outcome);
        }
      }
      if (ledger.size === 0) this.#calls.delete(principal);
    }
    this.#callCount -= dropped;
    return dropped;
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

  async pruneIssued(now: number): Promise<number> {
    let dropped = 0;
    for (const [user, issued] of this.#issued) {
      for (const [id, e] of issued) if (e.expiresAt !== null && e.expiresAt < now && issued.delete(id)) dropped++;
      if (issued.size === 0) this.#issued.delete(user);
    }
    return dropped;
  }

  async recordDelegation(record: DelegationRecord): Promise<void> {
    this.#delegations.push(copyDelegation(record));
  }

  async delegations(filter: DelegationFilter): Promise<DelegationRecord[]> {
    return this.#delegations
      .filter((r) => (filter.from === undefined || r.from === filter.from) && (filter.to === undefined || r.to === filter.to))
      .filter((r) => filter.now === undefined || r.expiresAt === null || r.expiresAt >= filter.now)
      .map(copyDelegation);
  }

  async pruneDelegations(now: number): Promise<number> {
    const before = this.#delegations.length;
    const kept = this.#delegations.filter((r) => r.expiresAt === null || r.expiresAt >= now);
    this.#delegations.splice(0, before, ...kept);
    return before - kept.length;
  }

  async getSetting(name: string): Promise<string | undefined> {
    return this.#settings.get(name);
  }

  async setSetting(name: string, value: string): Promise<void> {
    this.#settings.set(name, value);
  }

  async close(): Promise<void> {}
}

/** The version a condition compares with: 0 for no live object (never put, or a tombstone). */
function liveVersion(entry: Entry | undefined): number {
  return entry === undefined || entry.state === null ? 0 : entry.version;
}

/** A snapshot: what the caller gets never aliases what the store keeps. */
function toObject(entry: Entry): StoredObject {
  return { address: structuredClone(entry.address), type: entry.type, state: entry.state!.slice(), version: entry.version, seq: entry.seq };
}

function copyDelegation(r: DelegationRecord): DelegationRecord {
  // Field by field: the caller's record may carry a Buffer or extra fields, which a store does not keep.
  return { from: r.from, to: r.to, scope: structuredClone(r.scope), revocationId: r.revocationId, bound: r.bound, at: r.at, token: new Uint8Array(r.token), expiresAt: r.expiresAt };
}

/** The slab small outcomes are copied into, and the largest outcome copied there (bytes). */
const SLAB_BYTES = 4096;
const SLAB_PIECE_MAX = 512;

interface CallEntry {
  readonly owner: string;
  outcome: Uint8Array | null;
  readonly expiresAt: number;
}
