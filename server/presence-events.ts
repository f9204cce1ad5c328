import type { Deadline, Deadlines } from './deadlines.js';
import type { Clock } from './options.js';

/** A user came online (first connection) or went offline (last connection closed, and the grace passed). */
export interface PresenceChange {
  readonly type: 'join' | 'leave';
  readonly user: string;
}

/** How long a user whose last connection closed still counts as online, by default: a reconnect within it is no leave and join. */
export const defaultPresenceGraceMs = 5_000;

/** Per user: open connections, and the pending leave while none is open. Nothing for a user who is gone. */
interface UserPresence {
  connections: number;
  leaving?: Deadline;
}

/**
 * Who is online on this node, with join and leave events. A user with several connections is online until
 * the last one closes; it then stays online for `graceMs` more, so a reconnect (a page reload, a dropped
 * network) is neither a leave nor a join. State is one small entry per user with an open connection or a
 * pending leave, removed when the leave happens: bounded by the connections, not by history.
 */
export class PresenceTracker {
  readonly #users = new Map<string, UserPresence>();
  readonly #deadlines: Deadlines;
  readonly #clock: Clock;
  readonly #graceMs: number;
  readonly #announce: (change: PresenceChange) => void;

  constructor(deadlines: Deadlines, clock: Clock, graceMs: number, announce: (change: PresenceChange) => void) {
    this.#deadlines = deadlines;
    this.#clock = clock;
    this.#graceMs = graceMs;
    this.#announce = announce;
  }

  /** A connection of `user` opened. */
  opened(user: string): void {
    const entry = this.#users.get(user);
    if (entry === undefined) {
      this.#users.set(user, { connections: 1 });
      this.#announce({ type: 'join', user });
      return;
    }
    entry.connections++;
    // Back within the grace: the leave never happens, and nobody hears a join either.
    this.#deadlines.cancel(entry.leaving);
    delete entry.leaving;
  }

  /** A connection of `user` closed. */
  closed(user: string): void {
    const entry = this.#users.get(user);
    if (entry === undefined || entry.connections === 0) return;
    if (--entry.connections > 0) return;
    if (this.#graceMs <= 0) return this.#leave(user, entry);
    entry.leaving = this.#deadlines.schedule(this.#clock.now() + this.#graceMs, () => this.#leave(user, entry));
  }

  /** Users online now: with an open connection, or within the grace after their last one. */
  online(): string[] {
    return [...this.#users.keys()];
  }

  isOnline(user: string): boolean {
    return this.#users.has(user);
  }

  /** Entries kept (for tests: a user who left leaves nothing behind). */
  get size(): number {
    return this.#users.size;
  }

  #leave(user: string, entry: UserPresence): void {
    if (this.#users.get(user) !== entry || entry.connections > 0) return;
    this.#users.delete(user);
    this.#announce({ type: 'leave', user });
  }
}
