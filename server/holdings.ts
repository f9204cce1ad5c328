import type { Capability } from '../protocol/capability/capability.js';
import { assertStillValid, statusOf, Verification } from '../protocol/capability/status.js';
import { CapsyncError, fail } from '../protocol/errors.js';
import type { JsonValue } from '../protocol/json-value.js';
import type { Deadline, Deadlines } from './deadlines.js';

/**
 * A capability this connection holds with more than the capability itself to record: an expiry, or a
 * principal other than the one the connection's plain holdings count against. An expiring holding is its own
 * entry on the server's deadline heap (a prototype `run`: no closure, no second record). Its verification is
 * the capability's own (`statusOf`), not a second reference to it.
 */
class Holding implements Deadline {
  /** Position on the deadline heap; -1 when not on it (no expiry, or released). */
  index = -1;
  constructor(
    /** When it expires (Infinity: never, and it is never put on the heap). */
    readonly at: number,
    readonly holdings: Holdings,
    readonly cap: Capability,
    /** The principal's count this holding takes part in (given back when it is released). */
    readonly budget: HoldingBudget,
    readonly owner: string,
    /** Sent to this connection (a capability in a frame it was sent), not only received from it. */
    readonly sent: boolean,
  ) {}

  run(): void {
    expire(this.holdings, this);
  }
}

/**
 * A plain holding (no expiry, the current principal's count) of a capability the connection presented but
 * was not sent on it (a resume's, a capability from elsewhere): the rarer case, so the one with a record.
 */
class Received {
  constructor(readonly cap: Capability) {}
}

/**
 * What a connection's map keeps per held capability: the capability alone when it never expires, counts
 * against the connection's current principal and was sent to the connection (nearly every holding: no record
 * of its own); a {@link Received} when it is all that but was only received; else a {@link Holding}. The
 * one entry is also the session's record that it was sent the capability (no second map keyed by its id).
 */
type Held = Capability | Holding | Received;

function capOf(held: Held): Capability {
  return held instanceof Holding || held instanceof Received ? held.cap : held;
}

/** True when the holding's capability was sent to the connection (what `revokeSession` revokes). */
function sentOf(held: Held): boolean {
  return held instanceof Holding ? held.sent : !(held instanceof Received);
}

function verificationOf(held: Held): Verification {
  return statusOf(capOf(held)) as Verification;
}

// Set by Holdings' static block: an expiry's way to the private #end.
let expire: (holdings: Holdings, holding: Holding) => void;

/** How many capabilities one principal holds over all its connections. */
interface HoldingBudget {
  count: number;
}

/**
 * The per-principal bound on held capabilities (`maxHoldingsPerUser`), shared by every connection of a
 * server: a user with many connections cannot hold `maxHoldings` on each. A principal's entry lives only
 * while it holds something.
 */
export class HoldingBudgets {
  readonly #max: number;
  readonly #byPrincipal = new Map<string, HoldingBudget>();

  constructor(max: number) {
    this.#max = max;
  }

  /** Counts one more holding of `principal`, or returns undefined if it holds its maximum already. */
  take(principal: string): HoldingBudget | undefined {
    let budget = this.#byPrincipal.get(principal);
    if (budget === undefined) this.#byPrincipal.set(principal, (budget = { count: 0 }));
    if (budget.count >= this.#max) return undefined;
    budget.count++;
    return budget;
  }

  give(principal: string, budget: HoldingBudget): void {
    if (--budget.count <= 0 && this.#byPrincipal.get(principal) === budget) this.#byPrincipal.delete(principal);
  }

  /** Capabilities `principal` holds over all its connections. */
  held(principal: string): number {
    return this.#byPrincipal.get(principal)?.count ?? 0;
  }
}

/** One held capability as {@link Holdings.list} shows it (what the inspector may see). */
export interface HeldCapability {
  readonly scope: readonly JsonValue[];
  /** Its own revocation id (what revoking exactly this capability adds). */
  readonly revocationId: string;
  /** Every id that revokes it: each chain step's, minted first, then the ancestors a delegation named. */
  readonly revocationIds: readonly string[];
  readonly expiresAt: number | null;
  /** Bound to the connection's principal (false: a bearer capability). */
  readonly bound: boolean;
}

/** What the holdings of one connection report to their owner. */
export interface HoldingEvents {
  /** A capability of this scope now covers the connection (pushes for it reach it). */
  held(scope: readonly JsonValue[]): void;
  /** One fewer capability of this scope covers it. */
  released(scope: readonly JsonValue[]): void;
  /**
   * A holding ended by itself: the client is told which capability stopped working. `revocationId` is the
   * holding's own (its last step's, the id the client's copy of the capability has); `cause` is the revoked
   * id that ended it when that is another one (an ancestor's, or a step it was narrowed from).
   */
  ended(revocationId: string, scope: readonly JsonValue[], reason: 'revoked' | 'expired', cause?: string): void;
  /** A capability was not held: its principal holds `maxHoldingsPerUser` on other connections. */
  refused(error: CapsyncError): void;
}

/**
 * The capabilities one connection holds, keyed by their own revocation id (their last chain step's: equal
 * ids mean the same chain, and the string is the one the capability's verification keeps, and the session's
 * record of what it sent), bounded (the oldest is released past `max`), each with its expiry on the server's
 * deadline heap.
 */
export class Holdings {
  // Made at the first holding: an idle connection holds nothing and should cost nothing here.
  #holdingsMap: Map<string, Held> | undefined;
  /** The principal (and its count) that every holding kept as a bare capability counts against. */
  #owner = '';
  #budget: HoldingBudget | undefined = undefined;
  /** How many holdings are kept as a bare capability or a {@link Received} (they count against {@link #owner}). */
  #bare = 0;
  /**
   * The capabilities sent to this connection that it no longer holds (released, ended, or the connection
   * closed), by revocation id, with their expiry: with the sent holdings, every capability it was sent. Made
   * at the first such release: while a connection holds what it was sent, its holdings are the whole record.
   */
  #sentBefore: Map<string, number | null> | undefined;
  readonly #max: number;
  readonly #deadlines: Deadlines;
  readonly #events: HoldingEvents;
  readonly #budgets: HoldingBudgets;

  static {
    expire = (holdings, holding) => {
      // The key is the capability's own revocation id, the id the client is told.
      const id = verificationOf(holding).ownId;
      holdings.#end(id, holding, 'expired', id);
    };
  }

  constructor(max: number, deadlines: Deadlines, events: HoldingEvents, budgets: HoldingBudgets = new HoldingBudgets(Infinity)) {
    this.#max = max;
    this.#deadlines = deadlines;
    this.#events = events;
    this.#budgets = budgets;
  }

  get size(): number {
    return this.#holdingsMap?.size ?? 0;
  }

  get #holdings(): Map<string, Held> {
    return (this.#holdingsMap ??= new Map());
  }

  /** True if a capability with revocation id `id` is held. */
  hasId(id: string): boolean {
    return this.#holdingsMap?.has(id) === true;
  }

  /** True if a capability with revocation id `id` was sent to this connection (held now or not). */
  wasSent(id: string): boolean {
    const held = this.#holdingsMap?.get(id);
    return held !== undefined ? sentOf(held) : this.#sentBefore?.has(id) === true;
  }

  /** The revocation ids (and expiries) of every capability sent to this connection as cover (held now or not). */
  sentEntries(): { id: string; expiresAt: number | null }[] {
    const out: { id: string; expiresAt: number | null }[] = [];
    for (const [id, expiresAt] of this.#sentBefore ?? noSent) out.push({ id, expiresAt });
    for (const [id, held] of this.#holdingsMap ?? noHoldings) if (sentOf(held)) out.push({ id, expiresAt: verificationOf(held).expiresAt });
    return out;
  }

  /** True if `cap` is held. */
  has(cap: Capability): boolean {
    const status = statusOf(cap);
    return status instanceof Verification && this.#holdingsMap !== undefined && this.#holdingsMap.has(status.ownId);
  }

  /**
   * Holds a capability that crossed the connection, if it is cover for `userId` (the connection's principal): verified by this server,
   * valid now, and bound to no one else. Returns the revocation id of a new holding, else undefined. `sent`:
   * the capability is in a frame sent to the connection (recorded as sent: {@link sentEntries}); else received from it.
   */
  add(cap: Capability, userId: string | undefined, sent = false): { id: string; expiresAt: number | null; byGeneration: boolean } | undefined {
    const status = statusOf(cap);
    if (!(status instanceof Verification)) return undefined;
    // Held already (a capability sent with every call: the verifier's cache hands back the same object).
    if (this.#holdingsMap?.has(status.ownId) === true) return undefined;
    // Only a capability valid now is cover: a revoked or expired one never starts (or restarts) pushes.
    try {
      assertStillValid(status);
    } catch (error) {
      // A node whose revocation feed is behind (several nodes on Redis) cannot tell yet; holding it anyway is
      // what its existing holdings do meanwhile: the feed's catch-up applies every revocation it missed, which
      // ends this holding too if the capability was revoked. Dropping it instead left the client without pushes.
      if (!(error instanceof CapsyncError && error.code === 'ERR_REVOCATION_FEED_STALE')) return undefined;
    }
    // A capability bound to someone else is no cover for this connection, even if it passes through it.
    if (!status.boundOnlyTo(userId)) return undefined;
    const key = status.ownId;
    if (this.#holdings.size >= this.#max) this.#releaseOldest();
    // Bounded per principal too, over all its connections: past it this connection releases its own oldest;
    // with none to release, the capability still arrives but is no cover (no pushes), and the client is told.
    const owner = userId ?? '';
    let budget = this.#budgets.take(owner);
    if (budget === undefined && this.#holdings.size > 0) {
      this.#releaseOldest();
      budget = this.#budgets.take(owner);
    }
    if (budget === undefined) {
      this.#events.refused(fail('ERR_LIMIT_HOLDINGS'));
      return undefined;
    }
    const id = key;
    const expiresAt = status.expiresAt;
    if (expiresAt === null && (this.#bare === 0 || (owner === this.#owner && budget === this.#budget))) {
      // Nothing to record beside the capability: its principal's count is the one the bare holdings share.
      this.#owner = owner;
      this.#budget = budget;
      this.#bare++;
      this.#holdings.set(key, sent ? cap : new Received(cap));
    } else {
      // Due one millisecond after the last moment the verifier still accepts it.
      const at = expiresAt === null ? Infinity : expiresAt + status.authority.clockToleranceMs + 1;
      const holding = new Holding(at, this, cap, budget, owner, sent);
      this.#holdings.set(key, holding);
      if (expiresAt !== null) this.#deadlines.add(holding);
    }
    // Held (and sent) again after it was released: the holding is its record again.
    if (sent) this.#sentBefore?.delete(key);
    this.#events.held(cap.scope);
    // Bound to this principal with its generation: revokeUser reaches it without a record of its id.
    const byGeneration = userId !== undefined && status.markedFor(userId);
    return { id, expiresAt, byGeneration };
  }

  /**
   * A read-only view of what is held, for the inspector: scope, revocation ids (the capability's and its
   * ancestors'), expiry and binding. Never the capability or its token.
   */
  list(): HeldCapability[] {
    return Array.from(this.#holdingsMap?.values() ?? [], (held) => {
      const v = verificationOf(held);
      return { scope: capOf(held).scope, revocationId: v.ownId, revocationIds: v.ids, expiresAt: v.expiresAt, bound: v.isBound() };
    });
  }

  /** Ends every holding that a revoked id covers. */
  revoked(ids: ReadonlySet<string>): void {
    for (const [key, holding] of this.#holdingsMap ?? noHoldings) {
      const hit = verificationOf(holding).findId((id) => ids.has(id));
      if (hit !== undefined) this.#end(key, holding, 'revoked', key, hit);
    }
  }

  /** Ends every holding bound at a generation below its audience's current one (revokeUser); returns how many. */
  stale(): number {
    let ended = 0;
    for (const [key, holding] of this.#holdingsMap ?? noHoldings) {
      if (!verificationOf(holding).isStale()) continue;
      ended++;
      this.#end(key, holding, 'revoked', key);
    }
    return ended;
  }

  /** The connection is now `principal`: holdings bound to anyone else stop being cover. */
  rebind(principal: string): void {
    for (const [key, holding] of this.#holdingsMap ?? noHoldings) {
      if (!verificationOf(holding).boundOnlyTo(principal)) this.#release(key, holding);
    }
  }

  /** Releases everything (the connection closed). */
  clear(): void {
    if (this.#holdingsMap === undefined) return;
    for (const [key, holding] of this.#holdingsMap) {
      if (holding instanceof Holding) this.#deadlines.cancel(holding);
      this.#keepSent(key, holding);
      this.#giveBack(holding);
      this.#events.released(capOf(holding).scope);
    }
    this.#holdingsMap = undefined;
    this.#budget = undefined;
  }

  // Bounded memory per connection: a client that keeps asking for fresh capabilities releases its oldest.
  #releaseOldest(): void {
    const [oldestKey, oldest] = this.#holdings.entries().next().value as [string, Held];
    this.#release(oldestKey, oldest);
  }

  #giveBack(holding: Held): void {
    if (holding instanceof Holding) this.#budgets.give(holding.owner, holding.budget);
    else {
      this.#bare--;
      this.#budgets.give(this.#owner, this.#budget!);
    }
  }

  /** A sent holding that ends still counts as sent (`revokeSession` revokes it, a delegation is not re-sent). */
  #keepSent(key: string, holding: Held): void {
    if (sentOf(holding)) (this.#sentBefore ??= new Map()).set(key, verificationOf(holding).expiresAt);
  }

  #release(key: string, holding: Held): boolean {
    if (!this.#holdings.delete(key)) return false;
    this.#keepSent(key, holding);
    this.#giveBack(holding);
    if (holding instanceof Holding) this.#deadlines.cancel(holding);
    this.#events.released(capOf(holding).scope);
    return true;
  }

  #end(key: string, holding: Held, reason: 'revoked' | 'expired', id: string, cause?: string): void {
    if (this.#release(key, holding)) this.#events.ended(id, capOf(holding).scope, reason, cause !== undefined && cause !== id ? cause : undefined);
  }
}

/** What an idle connection's holdings iterate. */
const noHoldings: ReadonlyMap<string, Held> = new Map();
const noSent: ReadonlyMap<string, number | null> = new Map();
