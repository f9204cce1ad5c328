import type { JsonValue } from '../../protocol/json-value.js';
import type { RevocationSet } from '../../protocol/revocation.js';

/** A live object as stored: its address, portable type name, state (no capabilities) and version. */
export interface StoredObject {
  readonly address: JsonValue[];
  readonly type: string;
  readonly state: Record<string, unknown>;
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

/**
 * Where live objects live. Small on purpose: an embedded SQLite file today, a shared Redis later.
 * Every method may be asynchronous.
 */
export interface ObjectStore {
  get(address: readonly JsonValue[]): Promise<StoredObject | undefined>;
  /** Every object of a portable type, in insertion order. */
  list(type: string): Promise<StoredObject[]>;
  /** Creates or replaces; returns the new version. */
  put(address: readonly JsonValue[], type: string, state: Record<string, unknown>): Promise<number>;
  /** Deletes; returns the deletion's version, or undefined if there was nothing to delete. */
  delete(address: readonly JsonValue[]): Promise<number | undefined>;
  /** Remembers that a capability (by revocation id) was issued to a user, so it can be revoked per user. */
  recordIssued(user: string, entries: readonly { id: string; expiresAt: number | null }[]): Promise<void>;
  /** Revocation ids issued to a user and not yet expired. */
  issuedTo(user: string, now: number): Promise<{ id: string; expiresAt: number | null }[]>;
  recordDelegation(record: DelegationRecord): Promise<void>;
  delegations(filter: { from?: string; to?: string }): Promise<DelegationRecord[]>;
  /** A small named value (the server's root key, settings). */
  getSetting(name: string): Promise<string | undefined>;
  setSetting(name: string, value: string): Promise<void>;
  /** The revocation set kept in this store. */
  readonly revocations: RevocationSet;
  close(): Promise<void>;
}
