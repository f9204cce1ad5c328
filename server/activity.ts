import type { JsonValue } from '../protocol/json-value.js';
import type { Clock } from './options.js';

/** A delegation as the inspector shows it: who to whom, what scope, and the new capability's revocation id. */
export interface DelegationEvent {
  readonly kind: 'delegated';
  readonly at: number;
  readonly from: string;
  readonly to: string;
  readonly scope: readonly JsonValue[];
  readonly revocationId: string;
  readonly bearer: boolean;
  readonly expiresAt: number | null;
}

/** A revocation as the inspector shows it: who asked (a user id, or 'server') and what ended. */
export interface RevocationEvent {
  readonly kind: 'revoked';
  readonly at: number;
  readonly by: string;
  /** The capability's scope, or a description of a bulk revocation (`user:editor`, `session:12`). */
  readonly what: readonly JsonValue[] | string;
  /** Its revocation id, or how many entries a bulk revocation added. */
  readonly revocationId: string | null;
  readonly count: number;
}

export type ActivityEvent = DelegationEvent | RevocationEvent;

/** How much the activity record keeps: enough for a page to show, bounded so a busy server grows nothing. */
export const activityDefaults = Object.freeze({ events: 50, callWindowSeconds: 60 });

/**
 * What happened lately on one node, for the inspector: the last delegations and revocations, and calls
 * counted per second over the last minute. Counters and a bounded list only: never a token, never an argument.
 */
export class Activity {
  readonly #clock: Clock;
  readonly #events: ActivityEvent[] = [];
  /** Calls per second in a ring: slot `second % size` holds the count of that second. */
  readonly #calls = new Array<number>(activityDefaults.callWindowSeconds).fill(0);
  readonly #callSeconds = new Array<number>(activityDefaults.callWindowSeconds).fill(-1);
  #callsTotal = 0;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** A server function call arrived (counted before it runs, refused or not). */
  call(): void {
    const second = Math.floor(this.#clock.now() / 1000);
    const slot = second % this.#calls.length;
    if (this.#callSeconds[slot] !== second) {
      this.#callSeconds[slot] = second;
      this.#calls[slot] = 0;
    }
    this.#calls[slot]!++;
    this.#callsTotal++;
  }

  delegated(event: Omit<DelegationEvent, 'kind' | 'at'>): void {
    this.#add({ kind: 'delegated', at: this.#clock.now(), ...event });
  }

  revoked(event: Omit<RevocationEvent, 'kind' | 'at'>): void {
    this.#add({ kind: 'revoked', at: this.#clock.now(), ...event });
  }

  /** The recent events, newest first. */
  recent(): ActivityEvent[] {
    return [...this.#events].reverse();
  }

  /** Calls since the node started. */
  get callsTotal(): number {
    return this.#callsTotal;
  }

  /** The mean calls per second over the last `seconds` full seconds (the current, partial one left out). */
  callsPerSecond(seconds = 10): number {
    const now = Math.floor(this.#clock.now() / 1000);
    const window = Math.min(seconds, this.#calls.length - 1);
    let sum = 0;
    for (let s = now - window; s < now; s++) {
      const slot = ((s % this.#calls.length) + this.#calls.length) % this.#calls.length;
      if (this.#callSeconds[slot] === s) sum += this.#calls[slot]!;
    }
    return sum / window;
  }

  #add(event: ActivityEvent): void {
    this.#events.push(event);
    if (this.#events.length > activityDefaults.events) this.#events.shift();
  }
}
