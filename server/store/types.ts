import type { JsonValue } from '../../protocol/json-value.js';
import type { RevocationSet } from '../../protocol/revocation.js';

/**
 * A live object as stored: its address, portable type name, state, version and change sequence number.
 *
 * `state` is opaque to the store: the bytes `LiveObjects` encoded with the server's capsync codec
 * (a map of the object's fields, no capabilities). The store never encodes or decodes it, so nested
 * portable objects and every other codec rule stay in one place, and a Redis or SQL store only moves bytes.
 */
export interface StoredObject {
  /** The object's address (a scope). */
  readonly address: JsonValue[];
  /** Its portable class name. */
  readonly type: string;
  /** The encoded state, as given to {@link ObjectStore.put}; a copy the caller may keep. */
  readonly state: Uint8Array;
  /** Increases with every change, deletion included. */
  readonly version: number;
  /** The change sequence number of its last change (see {@link ObjectStore.seq}). */
  readonly seq: number;
}

/** One change in the store's change sequence; `state` null means deleted (a tombstone). */
export interface StoredChange {
  /** The object's address (a scope). */
  readonly address: JsonValue[];
  /** Its portable class name. */
  readonly type: string;
  /** Its version after this change. */
  readonly version: number;
  /** The store-wide change sequence number of this change. */
  readonly seq: number;
  /** Its state as codec bytes, or null for a deletion (a tombstone). */
  readonly state: Uint8Array | null;
}

/** What {@link ObjectStore.put} and {@link ObjectStore.delete} report: the object's new version and the change's sequence number. */
export interface WriteResult {
  /** The object's new version. */
  readonly version: number;
  /** The store-wide sequence number the write got. */
  readonly seq: number;
}

/**
 * A precondition on a write: the object's current version must be `ifVersion` (0: no live object at the
 * address, never put or deleted). A store checks it and writes in one atomic step, or fails with
 * `VersionConflictError` (`ERR_VERSION_CONFLICT`, `current` the version now, 0 for none) and writes nothing.
 */
export interface WriteCondition {
  /** The version the stored object must have for the write to happen (0: none there). */
  readonly ifVersion?: number;
}

/** What an {@link ObjectStore.update} mutation returns: the new type and encoded state, or undefined to write nothing. */
export interface StoredUpdate {
  /** The portable type name of the new state. */
  readonly type: string;
  /** The new state, encoded with the server's codec. */
  readonly state: Uint8Array;
}

/** A delegation the server recorded: who gave which capability to whom, and the token delivered. */
export interface DelegationRecord {
  /** The delegating user (or anonymous identity). */
  readonly from: string;
  /** The recipient. */
  readonly to: string;
  /** The delegated capability's scope. */
  readonly scope: JsonValue[];
  /** The delivered capability's revocation id. */
  readonly revocationId: string;
  /** False for a bearer delegation (usable by whoever holds its bytes). */
  readonly bound: boolean;
  /** When it was delegated (ms since the epoch). */
  readonly at: number;
  /**
   * The capability token delivered, so the server can list "capabilities delegated to you" after a reload.
   * Empty for a record written before tokens were kept (a store migrated from an older schema).
   */
  readonly token: Uint8Array;
  /** When the delegated capability expires (ms since epoch), null if never. */
  readonly expiresAt: number | null;
}

/** Which delegations {@link ObjectStore.delegations} returns: those matching every given field. */
export interface DelegationFilter {
  /** Only delegations by this user. */
  readonly from?: string;
  /** Only delegations to this user. */
  readonly to?: string;
  /** Leaves out delegations expired at `now` (one expiring exactly at `now` is kept), as `issuedTo` does. */
  readonly now?: number;
}

/** A capability issued to a user, by revocation id, with its expiry (ms since epoch) if it has one. */
export interface IssuedRecord {
  /** The issued capability's revocation id. */
  readonly id: string;
  /** When it expires (ms since the epoch), or null. */
  readonly expiresAt: number | null;
}

/** The record of a call made with a client-generated key, so a call re-sent after a reconnect runs once. */
export interface CallRecord {
  /** Which server run claimed it: a run that finds another's unfinished claim knows that run may have died. */
  readonly owner: string;
  /** The encoded outcome, null while the call runs. */
  readonly outcome: Uint8Array | null;
  /** When the record may be dropped (ms since epoch). */
  readonly expiresAt: number;
}

/** Which call record: a key, scoped to the principal that made the call. */
export interface CallRef {
  /** Who made the call: a user id or an anonymous client's principal. */
  readonly principal: string;
  /** The client's key for the call. */
  readonly key: string;
}

/** A key to claim for the server run `owner`, kept until `expiresAt` unless forgotten earlier. */
export interface CallClaim extends CallRef {
  /** The server run that claims it (see {@link CallRecord.owner}). */
  readonly owner: string;
  /** When the record may be dropped if no acknowledgement came (ms since epoch). */
  readonly expiresAt: number;
}

/** The encoded outcome of a claimed call. */
export interface CallOutcome extends CallRef {
  /** The outcome's bytes; the store keeps its own copy. */
  readonly outcome: Uint8Array;
}

/**
 * One group commit of keyed-call bookkeeping ({@link ObjectStore.commitCalls}): every claim, outcome and
 * acknowledgement a server gathered in one event-loop turn, written as one transaction.
 */
export interface CallCommit {
  /** Outcomes to store, each as {@link ObjectStore.finishCall} stores one. Applied first. */
  readonly outcomes: readonly CallOutcome[];
  /** Records whose outcome the caller has received: dropped (a record that does not exist is ignored). Applied second. */
  readonly forget: readonly CallRef[];
  /** If set, records that expired before it are dropped, as {@link ObjectStore.pruneCalls} does. Applied third. */
  readonly pruneBefore?: number;
  /** Keys to claim, each as {@link ObjectStore.claimCall} claims one. Applied last. */
  readonly claims: readonly CallClaim[];
}

/**
 * Where live objects live. Small on purpose: in memory or an embedded SQLite file today, a shared Redis
 * later. Every method may be asynchronous. `test/contracts/object-store.contract.ts` is the executable
 * definition; every implementation runs it.
 *
 * Addresses are compared as JSON values with map key order ignored. An object's version starts at 1 and
 * increases by one with every put and every deletion; a deleted object leaves a tombstone, so one
 * re-created at the same address continues the sequence (a client never sees a version go backwards)
 * until {@link ObjectStore.pruneTombstones} drops the tombstone: a later re-creation starts again at 1,
 * which a client that saw the deletion (its seq is at or above the horizon) takes for a new object.
 *
 * Every put and delete also takes the next number of one store-wide change sequence, so a client that
 * remembers the last seq it saw can ask for exactly what changed since (see {@link ObjectStore.changes}).
 */
export interface ObjectStore {
  /** The object at `address`, or undefined if there is none (never put, or deleted). */
  get(address: readonly JsonValue[]): Promise<StoredObject | undefined>;
  /** Every object of a portable type, in the order their addresses were first put. */
  list(type: string): Promise<StoredObject[]>;
  /**
   * Creates or replaces the object at `address` with encoded `state`; returns its new version and the change's seq.
   * With `condition.ifVersion`, writes only if the object is at that version now (see {@link WriteCondition}).
   */
  put(address: readonly JsonValue[], type: string, state: Uint8Array, condition?: WriteCondition): Promise<WriteResult>;
  /**
   * Optional: a read-modify-write of one object as one atomic step (SQLite: one transaction). `mutate` is
   * synchronous; it gets the live object (undefined if none) and returns what to write, or undefined to write
   * nothing (the result is then undefined). If it throws, nothing is written and the error propagates. A store
   * without `update` (one across the network) gets `LiveObjects.update`'s fallback: read, then a conditional
   * {@link ObjectStore.put} with `ifVersion`, retried on conflict.
   */
  update?(address: readonly JsonValue[], mutate: (current: StoredObject | undefined) => StoredUpdate | undefined): Promise<WriteResult | undefined>;
  /** Deletes; returns the deletion's version and seq, or undefined (taking no seq) if there was nothing to delete. */
  delete(address: readonly JsonValue[]): Promise<WriteResult | undefined>;
  /**
   * The store's identity, random, made once when the store is first created and kept with its data: a store
   * that was replaced (a `:memory:` store after a restart, a restore from backup, a new file) has another,
   * so versions and seqs from one are never compared with another's.
   */
  epoch(): Promise<string>;
  /**
   * The latest change sequence number, 0 for an empty store. Every put and delete takes the next one
   * (store-wide, strictly increasing, never reused, even after pruning).
   */
  seq(): Promise<number>;
  /**
   * Changes with seq greater than `since`, in seq order, at most `limit`; each object appears at most once
   * (its latest change), a deleted one as a tombstone. Deletions older than {@link ObjectStore.horizon} may
   * be missing.
   */
  changes(since: number, limit: number): Promise<readonly StoredChange[]>;
  /**
   * Every live object whose address starts with `prefix` (element by element, elements compared as JSON
   * values with map key order ignored; the whole address counts as a prefix of itself), in the order their
   * addresses were first put, at most `limit`.
   */
  listUnder(prefix: readonly JsonValue[], limit: number): Promise<StoredObject[]>;
  /** Drops tombstones whose deletion is older than `before` (ms since epoch); returns how many. Raises the horizon to the highest seq dropped. */
  pruneTombstones(before: number): Promise<number>;
  /**
   * The highest seq of a dropped tombstone (0 if none): a client that saw only the changes up to a seq below
   * it may have missed a deletion, and needs a full snapshot.
   */
  horizon(): Promise<number>;
  /**
   * Claims a call key for `principal` (a user id or an anonymous client id): if a record exists, returns it
   * untouched; else records `{ owner, outcome: null, expiresAt }` and returns undefined. Atomic: of two
   * claims of the same key, exactly one gets undefined.
   */
  claimCall(principal: string, key: string, owner: string, expiresAt: number): Promise<CallRecord | undefined>;
  /** Stores the outcome of a claimed call (replacing any); does nothing if there is no record (it was pruned). */
  finishCall(principal: string, key: string, outcome: Uint8Array): Promise<void>;
  /** Drops call records that expired before `now`; returns how many. */
  pruneCalls(now: number): Promise<number>;
  /**
   * Applies a {@link CallCommit} atomically (all of it is durable when the promise resolves, or none of it
   * after a crash) and returns, for each claim in order, what {@link claimCall} would: undefined for a key
   * now claimed, or the existing record, untouched. A key claimed twice in one commit is won by the first.
   * This is what keyed calls use: one write per event-loop turn, not two per call.
   */
  commitCalls(commit: CallCommit): Promise<(CallRecord | undefined)[]>;
  /**
   * Remembers that capabilities (by revocation id) were issued to a user, so they can be revoked per user.
   * Recording an id the user already has keeps the first record. Only capabilities `revokeUser` cannot reach
   * through the user's generation (see `RevocationSet.generation`) are recorded: bearer capabilities sent to
   * the user. A capability bound to the user is never recorded, so this stays small.
   */
  recordIssued(user: string, entries: readonly IssuedRecord[]): Promise<void>;
  /** Revocation ids issued to a user and not expired at `now` (an entry expiring exactly at `now` is kept). */
  issuedTo(user: string, now: number): Promise<IssuedRecord[]>;
  /** Drops issued records whose capability expired before `now`; returns how many. */
  pruneIssued(now: number): Promise<number>;
  /** Records who delegated what to whom (with the delivered token). */
  recordDelegation(record: DelegationRecord): Promise<void>;
  /** Recorded delegations matching every given field of `filter`, oldest first. */
  delegations(filter: DelegationFilter): Promise<DelegationRecord[]>;
  /** Drops delegations whose capability expired before `now`; returns how many. */
  pruneDelegations(now: number): Promise<number>;
  /** A small named value (the server's root key, settings). Names starting with `store.` are the store's own. */
  getSetting(name: string): Promise<string | undefined>;
  /** Stores a named setting (keys, the JWT secret, the epoch). */
  setSetting(name: string, value: string): Promise<void>;
  /**
   * Optional, for a store several nodes share: stores `value` only if `name` has none, atomically, and
   * returns the stored value (this one, or the one another node wrote first). See `settingOnce`.
   */
  setSettingIfAbsent?(name: string, value: string): Promise<string>;
  /** The revocation set kept in this store. */
  readonly revocations: RevocationSet;
  /** Releases the store; closing twice is harmless. */
  close(): Promise<void>;
}

/** What a store may be given: the clock that stamps deletions (for {@link ObjectStore.pruneTombstones}). */
export interface StoreOptions {
  /** Milliseconds since the epoch (a server's `Clock` fits); default the wall clock. */
  readonly clock?: {
    /** Milliseconds since the epoch. */
    now(): number;
  };
}
