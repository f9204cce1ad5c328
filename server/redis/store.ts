import { randomUUID } from 'node:crypto';
import { VersionConflictError } from '../../protocol/errors.js';
import { canonicalKey, type JsonValue } from '../../protocol/json-value.js';
import { prefixKeys } from '../store/prefix.js';
import type {
  CallCommit, CallRecord, DelegationFilter, DelegationRecord, IssuedRecord, ObjectStore, StoreOptions, StoredChange, StoredObject, WriteCondition,
  WriteResult,
} from '../store/types.js';
import { runScript, type RedisConnection } from './connection.js';
import { channelsOf } from './channels.js';
import type { RedisRevocationSet } from './revocations.js';
import { retrying, TurnWrites, type TurnWritesOptions } from './turn-writes.js';
import type { ReplicaWait } from './wait-replicas.js';

/**
 * The shared store of several capsync nodes: one Redis (see `scripts.ts` for the key layout). Every write is
 * one Lua script that stores the state, bumps the version and the store-wide change seq, records the change
 * (or tombstone) and publishes it on the bus channels of the address's prefixes (`channels.ts`), atomically.
 * Semantics are SQLite's and memory's: all three run `test/contracts/object-store.contract.ts`.
 * The puts, deletes and call commits of one event-loop turn go to Redis together, as one script
 * (`turn-writes.ts`), each still atomic on its own and acknowledged only once Redis has answered.
 *
 * Made by {@link connectRedis} (which also opens the revocation feed and the bus); not constructed directly.
 */
export class RedisStore implements ObjectStore {
  readonly revocations: RedisRevocationSet;
  readonly #redis: RedisConnection;
  readonly #p: string;
  readonly #clock: { now(): number };
  readonly #epoch: string;
  readonly #onClose: () => Promise<void>;
  /** @internal The turn's writes, grouped (its counters are what bench:cluster reports). */
  readonly turnWrites: TurnWrites;
  /** How long a read Redis did not answer is sent again (`RedisOptions.retryMs`). */
  readonly #retryMs: number;
  #closed = false;

  /** @internal */
  constructor(redis: RedisConnection, prefix: string, epoch: string, revocations: RedisRevocationSet, onClose: () => Promise<void>, options: StoreOptions = {}, writes: TurnWritesOptions = {}, wait?: ReplicaWait) {
    this.#redis = redis;
    this.#p = prefix;
    this.#epoch = epoch;
    this.revocations = revocations;
    this.#onClose = onClose;
    this.#clock = options.clock ?? Date;
    this.turnWrites = new TurnWrites(redis, prefix, writes, wait);
    this.#retryMs = writes.retryMs ?? 10_000;
  }

  /** A read script, sent again while Redis is out of reach or its slot changing hands (bounded). */
  #read(name: string, args: readonly (string | Buffer | number)[]): Promise<unknown> {
    return retrying(() => runScript(this.#redis, name, args, true), this.#retryMs, () => this.#closed);
  }

  /** @internal The store's epoch: made by the first node that finds none (HSETNX: first writer wins). */
  static async epochOf(redis: RedisConnection, prefix: string): Promise<string> {
    await redis.hsetnx(`${prefix}meta`, 'epoch', randomUUID());
    return (await redis.hget(`${prefix}meta`, 'epoch'))!;
  }

  async get(address: readonly JsonValue[]): Promise<StoredObject | undefined> {
    return objects(await this.#read('capsyncGet', [this.#p, key(address)]))[0];
  }

  async list(type: string): Promise<StoredObject[]> {
    return objects(await this.#read('capsyncList', [this.#p, type]));
  }

  async put(address: readonly JsonValue[], type: string, state: Uint8Array, condition?: WriteCondition): Promise<WriteResult> {
    const header = JSON.stringify([address, type]);
    const ifVersion = condition?.ifVersion === undefined ? '' : condition.ifVersion;
    const args = [key(address), JSON.stringify(address), type, asBuffer(state), this.#clock.now(), ifVersion, header, ...channelsOf(this.#p, address)];
    const [version, seq] = (await this.turnWrites.write('p', args)) as [number, number];
    // Checked in the script, with the write: no other node's write can come in between.
    if (version === 0) throw new VersionConflictError(seq, condition?.ifVersion);
    return { version, seq };
  }

  async delete(address: readonly JsonValue[]): Promise<WriteResult | undefined> {
    const written = (await this.turnWrites.write('d', [key(address), this.#clock.now(), ...channelsOf(this.#p, address)])) as [number, number] | 0;
    return written === 0 ? undefined : { version: written[0], seq: written[1] };
  }

  async epoch(): Promise<string> {
    return this.#epoch;
  }

  async seq(): Promise<number> {
    return Number((await this.#redis.hget(`${this.#p}meta`, 'seq')) ?? 0);
  }

  async horizon(): Promise<number> {
    return Number((await this.#redis.hget(`${this.#p}meta`, 'horizon')) ?? 0);
  }

  async changes(since: number, limit: number): Promise<StoredChange[]> {
    const rows = rowsOf(await this.#read('capsyncChanges', [this.#p, since, limit]));
    return rows.map((r) => ({ address: r.address, type: r.type, version: r.version, seq: r.seq, state: r.live ? r.state : null }));
  }

  async listUnder(prefix: readonly JsonValue[], limit: number): Promise<StoredObject[]> {
    const keys = prefixKeys(prefix);
    const args = [this.#p, keys?.whole ?? '', keys?.open ?? '', keys?.openEnd ?? '', limit];
    return objects(await this.#read('capsyncListUnder', args));
  }

  async pruneTombstones(before: number): Promise<number> {
    return (await runScript(this.#redis, 'capsyncPruneTombstones', [this.#p, before])) as number;
  }

  async claimCall(principal: string, callKey: string, owner: string, expiresAt: number): Promise<CallRecord | undefined> {
    const member = callId(principal, callKey);
    const found = (await runScript(this.#redis, 'capsyncClaimCall', [`${this.#p}call:${member}`, `${this.#p}calls`, owner, expiresAt, member], true)) as Buffer[] | null;
    return found === null ? undefined : callRecord(found);
  }

  async finishCall(principal: string, callKey: string, outcome: Uint8Array): Promise<void> {
    await runScript(this.#redis, 'capsyncFinishCall', [`${this.#p}call:${callId(principal, callKey)}`, asBuffer(outcome)]);
  }

  async pruneCalls(now: number): Promise<number> {
    return (await runScript(this.#redis, 'capsyncPruneCalls', [this.#p, now])) as number;
  }

  async commitCalls(commit: CallCommit): Promise<(CallRecord | undefined)[]> {
    const args: (string | number | Buffer)[] = [commit.pruneBefore ?? '', commit.outcomes.length, commit.forget.length, commit.claims.length];
    for (const o of commit.outcomes) args.push(callId(o.principal, o.key), asBuffer(o.outcome));
    for (const f of commit.forget) args.push(callId(f.principal, f.key));
    for (const c of commit.claims) args.push(callId(c.principal, c.key), c.owner, c.expiresAt);
    const found = (await this.turnWrites.write('c', args)) as (number | Buffer[])[];
    return found.map((r) => (typeof r === 'number' ? undefined : callRecord(r)));
  }

  async recordIssued(user: string, entries: readonly IssuedRecord[]): Promise<void> {
    if (entries.length === 0) return;
    const pipeline = this.#redis.pipeline();
    for (const e of entries) {
      pipeline.hsetnx(`${this.#p}issued:${user}`, e.id, e.expiresAt === null ? '' : String(e.expiresAt));
      // NX: the first record is kept, and so is its expiry.
      if (e.expiresAt !== null) pipeline.zadd(`${this.#p}issued:exp`, 'NX', e.expiresAt, `${user}\u0000${e.id}`);
    }
    await pipeline.exec();
  }

  async pruneIssued(now: number): Promise<number> {
    return (await runScript(this.#redis, 'capsyncPruneIssued', [this.#p, now])) as number;
  }

  async issuedTo(user: string, now: number): Promise<IssuedRecord[]> {
    const all = await this.#redis.hgetall(`${this.#p}issued:${user}`);
    return Object.entries(all)
      .map(([id, at]) => ({ id, expiresAt: at === '' ? null : Number(at) }))
      .filter((e) => e.expiresAt === null || e.expiresAt >= now);
  }

  async recordDelegation(r: DelegationRecord): Promise<void> {
    const id = await this.#redis.hincrby(`${this.#p}meta`, 'delegations', 1);
    const record = JSON.stringify({ ...copy(r), token: Buffer.from(r.token).toString('base64') });
    const pipeline = this.#redis.multi();
    pipeline.hset(`${this.#p}deleg`, String(id), record);
    pipeline.zadd(`${this.#p}deleg:to:${r.to}`, id, String(id));
    pipeline.zadd(`${this.#p}deleg:all`, id, String(id));
    if (r.expiresAt !== null) pipeline.zadd(`${this.#p}deleg:exp`, r.expiresAt, String(id));
    await pipeline.exec();
  }

  async delegations(filter: DelegationFilter): Promise<DelegationRecord[]> {
    const ids = filter.to !== undefined ? await this.#redis.zrange(`${this.#p}deleg:to:${filter.to}`, '0', '-1') : await this.#redis.zrange(`${this.#p}deleg:all`, '0', '-1');
    if (ids.length === 0) return [];
    const raw = await this.#redis.hmget(`${this.#p}deleg`, ...ids);
    return raw
      .filter((text): text is string => text !== null)
      .map((text) => {
        const r = JSON.parse(text) as Omit<DelegationRecord, 'token'> & { token: string };
        return { ...r, token: new Uint8Array(Buffer.from(r.token, 'base64')) };
      })
      .filter((r) => (filter.from === undefined || r.from === filter.from) && (filter.now === undefined || r.expiresAt === null || r.expiresAt >= filter.now));
  }

  async pruneDelegations(now: number): Promise<number> {
    const ids = await this.#redis.zrangebyscore(`${this.#p}deleg:exp`, '-inf', `(${now}`);
    if (ids.length === 0) return 0;
    const raw = await this.#redis.hmget(`${this.#p}deleg`, ...ids);
    const pipeline = this.#redis.multi();
    ids.forEach((id, i) => {
      const to = raw[i] === null ? undefined : (JSON.parse(raw[i]!) as { to: string }).to;
      if (to !== undefined) pipeline.zrem(`${this.#p}deleg:to:${to}`, id);
      pipeline.zrem(`${this.#p}deleg:all`, id).zrem(`${this.#p}deleg:exp`, id).hdel(`${this.#p}deleg`, id);
    });
    await pipeline.exec();
    return ids.length;
  }

  async getSetting(name: string): Promise<string | undefined> {
    return (await this.#redis.hget(`${this.#p}settings`, name)) ?? undefined;
  }

  async setSetting(name: string, value: string): Promise<void> {
    await this.#redis.hset(`${this.#p}settings`, name, value);
  }

  /** First writer wins: stores `value` only if `name` has none, and returns what is stored (this or the earlier one). */
  async setSettingIfAbsent(name: string, value: string): Promise<string> {
    await this.#redis.hsetnx(`${this.#p}settings`, name, value);
    return (await this.#redis.hget(`${this.#p}settings`, name))!;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.turnWrites.close();
    await this.#onClose();
  }
}

interface Row {
  address: JsonValue[];
  type: string;
  state: Uint8Array;
  version: number;
  seq: number;
  live: boolean;
}

/** The flat replies of the row scripts (6 fields per row) as rows. */
function rowsOf(reply: unknown): Row[] {
  const flat = reply as Buffer[];
  const rows: Row[] = [];
  for (let i = 0; i + 5 < flat.length; i += 6) {
    rows.push({
      address: JSON.parse(flat[i]!.toString()) as JsonValue[],
      type: flat[i + 1]!.toString(),
      state: new Uint8Array(flat[i + 2]!),
      version: Number(flat[i + 3]!.toString()),
      seq: Number(flat[i + 4]!.toString()),
      live: flat[i + 5]!.toString() === '1',
    });
  }
  return rows;
}

function objects(reply: unknown): StoredObject[] {
  return rowsOf(reply).map((r) => ({ address: r.address, type: r.type, state: r.state, version: r.version, seq: r.seq }));
}

function key(address: readonly JsonValue[]): string {
  return canonicalKey(address as JsonValue[]);
}

/** A call record from a script's `{owner, outcome, expiresAt, has outcome}` reply. */
function callRecord(found: Buffer[]): CallRecord {
  return { owner: found[0]!.toString(), outcome: found[3]!.toString() === '1' ? new Uint8Array(found[1]!) : null, expiresAt: Number(found[2]!.toString()) };
}

function callId(principal: string, callKey: string): string {
  return `${principal.length}:${principal}${callKey}`;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function copy(r: DelegationRecord): Omit<DelegationRecord, 'token'> {
  return { from: r.from, to: r.to, scope: r.scope, revocationId: r.revocationId, bound: r.bound, at: r.at, expiresAt: r.expiresAt };
}
