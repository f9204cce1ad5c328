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
  /** Events heard so far (numbers them). */
  #heard = 0;
  /** `presence()` requests in flight, and the events heard while any is (what their answers may not include). */
  #asking = 0;
  #during: { n: number; type: 'join' | 'leave'; user: string }[] = [];

  /** A `presence()` request goes out: returns the mark to give its answer to {@link listed} (or {@link unanswered}). */
  asked(): number {
    this.#asking++;
    return this.#heard;
  }

  /** A `presence()` request failed: nothing to compare. */
  unanswered(): void {
    if (--this.#asking === 0) this.#during = [];
  }

  /** A `presenceEvent` frame. */
  event(type: 'join' | 'leave', user: string): void {
    this.#heard++;
    if (this.#asking > 0) this.#during.push({ n: this.#heard, type, user });
    if (this.#online !== undefined) {
      if (type === 'join' ? this.#online.has(user) : !this.#online.has(user)) return; // nothing new: no duplicate event
      if (type === 'join') this.#online.add(user);
      else this.#online.delete(user);
    } else if (type === 'join') this.#online = new Set([user]);
    else this.#online = new Set();
    this.#changes.next({ type, user });
  }

  /**
   * A `presence()` answer (the whole list) to the request marked `mark`: emits what differs from what was known
   * (nothing the first time). The list may be older than events heard while the request was out (with several
   * nodes the server reads it from the shared store, while other nodes' events arrive on their own path):
   * those events are applied on top of it, so an answer never takes back a join or leave already told.
   */
  listed(users: readonly string[], mark: number): void {
    const known = this.#online;
    const now = new Set(users);
    for (const e of this.#during) {
      if (e.n <= mark) continue;
      if (e.type === 'join') now.add(e.user);
      else now.delete(e.user);
    }
    if (--this.#asking === 0) this.#during = [];
    this.#online = now;
    if (known === undefined) return;
    for (const user of known) if (!now.has(user)) this.#changes.next({ type: 'leave', user });
    for (const user of now) if (!known.has(user)) this.#changes.next({ type: 'join', user });
  }

  close(): void {
    this.#changes.complete();
  }
}
