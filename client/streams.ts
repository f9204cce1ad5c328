import { BehaviorSubject, Observable, Subject, filter } from 'rxjs';
import type { Capability } from '../protocol/capability/capability.js';
import type { JsonValue } from '../protocol/json-value.js';

/** A live object's change as the client sees it. */
export interface Change {
  /** The object's address (a scope). */
  readonly address: JsonValue[];
  /** Its portable class name. */
  readonly type: string;
  /** Its version after the change. */
  readonly version: number;
  /** True when the object was deleted. */
  readonly deleted: boolean;
  /** Its new fields, or null when deleted. */
  readonly state: Record<string, unknown> | null;
}

/** A capability another user delegated to this one. */
export interface Delegation<T = unknown> {
  /** Who delegated it. */
  readonly from: string;
  /** The capability, re-minted for (and bound to) this user unless it is a bearer one. */
  readonly cap: Capability;
  /** The live object the capability grants (e.g. a `Video`), or null. */
  readonly object: T | null;
}

/** A capability this connection held that stopped working. */
export interface Revocation {
  /**
   * The revocation id of the capability this client held (`cap.revocationId` of the one that stopped
   * working: the server names the holding's own id, never an ancestor's).
   */
  readonly revocationId: string;
  /**
   * The revoked id that ended it, when that is another one: the capability it was narrowed or delegated
   * from was revoked. Absent when the capability itself was revoked, when it expired, and when server code
   * revoked everything sent to this user (`revokeUser`).
   */
  readonly cause?: string;
  /** The scope of the capability this client held. */
  readonly scope: JsonValue[];
  /** Whether it was revoked or expired. */
  readonly reason: 'revoked' | 'expired';
}

/**
 * A stream of events that must not vanish just because nobody was subscribed at the instant they arrived:
 * while it has no subscriber it keeps them (at most `limit`, oldest dropped first) and hands them to the next
 * subscriber before anything newer. With subscribers it is an ordinary hot stream.
 */
export class HeldStream<T> {
  /** The events, as an Observable. */
  readonly observable: Observable<T>;
  readonly #subject = new Subject<T>();
  readonly #held: T[] = [];
  readonly #limit: number;

  /** `limit`: how many events to keep while unobserved. */
  constructor(limit: number) {
    this.#limit = limit;
    this.observable = new Observable<T>((subscriber) => {
      // One at a time, so a subscriber that stops early (`take(1)`) leaves the rest for the next one.
      while (this.#held.length > 0 && !subscriber.closed) subscriber.next(this.#held.shift()!);
      if (subscriber.closed) return;
      return this.#subject.subscribe(subscriber);
    });
  }

  /** Delivers `value` to the subscribers, or keeps it for the next one. */
  next(value: T): void {
    if (this.#subject.observed) {
      this.#subject.next(value);
      return;
    }
    this.#held.push(value);
    if (this.#held.length > this.#limit) this.#held.shift();
  }

  /** Ends the stream; events still held are delivered to the next subscriber, then it completes. */
  complete(): void {
    this.#subject.complete();
  }
}

/**
 * The session's long-lived streams, fed by the frames the client receives: changes to live objects,
 * delegations, revocations and the session token's expiry. They outlive any one call, and a reconnecting
 * client would keep them across sockets.
 *
 * What a late subscriber gets differs by kind, because the kinds differ:
 * - `tokenExpiring` is state (is a refresh due?): a late subscriber gets the latest notice still pending.
 * - `delegations` and `revocations` are events that happen once (a delegation is the only way the app learns
 *   of a capability it now holds): kept while nobody listens, see {@link HeldStream}.
 * - `changes` is hot: pushes already update the instances in place and `live()` reports them, so a change
 *   nobody listened to is not lost information.
 */
export class SessionStreams {
  /** Every change pushed to this connection and accepted. */
  readonly changes: Observable<Change>;
  /** Capabilities delegated to this user. */
  readonly delegations: Observable<Delegation>;
  /** Capabilities this connection held that were revoked or expired. */
  readonly revocations: Observable<Revocation>;
  /** The server's notices that the session JWT expires soon (ms since epoch); replays a pending one. */
  readonly tokenExpiring: Observable<number>;
  readonly #changes = new Subject<Change>();
  readonly #delegations: HeldStream<Delegation>;
  readonly #revocations: HeldStream<Revocation>;
  /** The expiry of the latest notice not yet answered by a refresh past it, or null. */
  readonly #notice = new BehaviorSubject<number | null>(null);
  #tokenExpiresAt: number | null = null;

  /** `heldEvents`: see {@link HeldStream}. */
  constructor(heldEvents: number) {
    this.#delegations = new HeldStream(heldEvents);
    this.#revocations = new HeldStream(heldEvents);
    this.changes = this.#changes.asObservable();
    this.delegations = this.#delegations.observable;
    this.revocations = this.#revocations.observable;
    this.tokenExpiring = this.#notice.pipe(filter((at): at is number => at !== null));
  }

  /** When the session's JWT expires (ms since epoch), or null if it does not (anonymous, or no `exp`). */
  get tokenExpiresAt(): number | null {
    return this.#tokenExpiresAt;
  }

  /** The hello said when the session's token expires. */
  opened(tokenExpiresAt: number | null): void {
    this.#tokenExpiresAt = tokenExpiresAt;
  }

  /** A push was accepted. */
  change(change: Change): void {
    this.#changes.next(change);
  }

  /** A `delegation` frame arrived. */
  delegation(delegation: Delegation): void {
    this.#delegations.next(delegation);
  }

  /** A `revoked` frame arrived. */
  revoked(revocation: Revocation): void {
    this.#revocations.next(revocation);
  }

  /** A `tokenExpiring` frame arrived: the session ends at `expiresAt` unless refreshed. */
  tokenExpiringAt(expiresAt: number): void {
    this.#tokenExpiresAt = expiresAt;
    this.#notice.next(expiresAt);
  }

  /** A `refresh` succeeded: the session now ends at `expiresAt` (null: never). */
  refreshed(expiresAt: number | null): void {
    this.#tokenExpiresAt = expiresAt;
    const notice = this.#notice.value;
    // A notice is answered once the expiry it warned of no longer holds; a refresh to a token that expires
    // no later leaves it pending (the server will close the session then all the same).
    if (notice !== null && (expiresAt === null || expiresAt > notice)) this.#notice.next(null);
  }

  /** The session closed: every stream completes. */
  close(): void {
    this.#changes.complete();
    this.#delegations.complete();
    this.#revocations.complete();
    this.#notice.complete();
  }
}
