import type { JsonValue } from '../../protocol/json-value.js';
import type { RevocationSet } from '../../protocol/revocation.js';

/**
 * A live object as stored: its address, portable type name, state and version.
 *
 * `state` is opaque to the store: the bytes `LiveObjects` encoded with the server's capsync codec
 * (a map of the object's fields, no capabilities). The store never encodes or decodes it, so nested
 * portable objects and every other codec rule stay in one place, and a Redis or SQL store only moves bytes.
 */
export interface StoredObject {
  readonly address: JsonValue[];
  readonly type: string;
  /** The encoded state, as given to {@link ObjectStore.put}; a copy the caller may keep. */
  readonly state: Uint8Array;
  /** Increases with every change, deletion included. */
  readonly version: number;
}

/** A delegation the server recorded: who gave which capability to whom. */
export interface DelegationRecord {
  readonly from: string;
  readonly to: string;
  readonly scope: JsonValue[];
  readonly revocationId: string;
  readonly bound: boolean;
  readonly at: number;
}

/** A capability issued to a user, by revocation id, with its expiry (ms since epoch) if it has one. */
export interface IssuedRecord {
  readonly id: string;
  readonly expiresAt: number | null;
}

/**
 * Where live objects live. Small on purpose: in memory or an embedded SQLite file today, a shared Redis
 * later. Every method may be asynchronous. `test/contracts/object-store.contract.ts` is the executable
 * definition; every implementation runs it.
 *
 * Addresses are compared as JSON values with map key order ignored. An object's version starts at 1 and
 * increases by one with every put and every deletion; a deleted object leaves a tombstone, so one
 * re-created at the same address continues the sequence (a client never sees a version go backwards).
 */
export interface ObjectStore {
  /** The object at `address`, or undefined if there is none (never put, or deleted). */
  get(address: readonly JsonValue[]): Promise<StoredObject | undefined>;
  /** Every object of a portable type, in the order their addresses were first put. */
  list(type: string): Promise<StoredObject[]>;
  /** Creates or replaces the object at `address` with encoded `state`; returns the new version. */
  put(address: readonly JsonValue[], type: string, state: Uint8Array): Promise<number>;
  /** Deletes; returns the deletion's version, or undefined if there was nothing to delete. */
  delete(address: readonly JsonValue[]): Promise<number | undefined>;
  /**
   * Remembers that capabilities (by revocation id) were issued to a user, so they can be revoked per user.
   * Recording an id the user already has keeps the first record.
   */
  recordIssued(user: string, entries: readonly IssuedRecord[]): Promise<void>;
  /** Revocation ids issued to a user and not expired at `now` (an entry expiring exactly at `now` is kept). */
  issuedTo(user: string, now: number): Promise<IssuedRecord[]>;
  recordDelegation(record: DelegationRecord): Promise<void>;
  /** Recorded delegations matching every given field of `filter`, oldest first. */
  delegations(filter: { from?: string; to?: string }): Promise<DelegationRecord[]>;
  /** A small named value (the server's root key, settings). */
  getSetting(name: string): Promise<string | undefined>;
  setSetting(name: string, value: string): Promise<void>;
  /** The revocation set kept in this store. */
  readonly revocations: RevocationSet;
  /** Releases the store; closing twice is harmless. */
  close(): Promise<void>;
}
