import { Observable, Subject } from 'rxjs';

/** A user this client may see (by the server's presence policy) came online or went offline. */
export interface PresenceChange {
  readonly type: 'join' | 'leave';
  readonly user: string;
}

/**
 * The client's side of presence events: the server's `presenceEvent` frames as an Observable, and what
 * makes them whole across a reconnect. The server sends events only while a connection is open, so after a
 * reconnect the client asks `presence()` again and emits the difference from what it knew (a join for each
 * user who came while it was away, a leave for each who went). What it knows starts with the first
 * `presence()` answer or event; until then there is nothing to compare, and nothing is made up.
 */
export class PresenceEvents {
  readonly #changes = new Subject<PresenceChange>();
  readonly changes: Observable<PresenceChange> = this.#changes.asObservable();
  /** Who this client believes is online, once it has heard anything; bounded by the users it may see. */
  #online: Set<string> | undefined;

  /** A `presenceEvent` frame. */
  event(type: 'join' | 'leave', user: string): void {
    if (this.#online !== undefined) {
      if (type === 'join' ? this.#online.has(user) : !this.#online.has(user)) return; // nothing new: no duplicate event
      if (type === 'join') this.#online.add(user);
      else this.#online.delete(user);
    } else if (type === 'join') this.#online = new Set([user]);
    else this.#online = new Set();
    this.#changes.next({ type, user });
  }

  /** A `presence()` answer: the whole list. Emits what differs from what was known (nothing the first time). */
  listed(users: readonly string[]): void {
    const known = this.#online;
    this.#online = new Set(users);
    if (known === undefined) return;
    for (const user of known) if (!this.#online.has(user)) this.#changes.next({ type: 'leave', user });
    for (const user of this.#online) if (!known.has(user)) this.#changes.next({ type: 'join', user });
  }

  close(): void {
    this.#changes.complete();
  }
}
