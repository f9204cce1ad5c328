import type { JsonValue } from '../protocol/json-value.js';

/** A change to a live object, as every server node hears it. `state` null means deleted. */
export interface ObjectUpdate {
  /** The object's address (a scope). */
  readonly address: JsonValue[];
  /** Its portable class name. */
  readonly type: string;
  /** Its version after the change. */
  readonly version: number;
  /** The change's number in the store's change sequence: what a resuming client says it has seen. */
  readonly seq: number;
  /** Its new state, or null when deleted. */
  readonly state: Record<string, unknown> | null;
}

/**
 * Carries object updates to every server node (each node then pushes to its own holders).
 * In-process today; a Redis pub/sub implementation slots in for several nodes.
 */
export interface Fanout {
  /** Sends an update to every node (this one included). */
  publish(update: ObjectUpdate): Promise<void>;
  /** Hears every update; returns the unsubscribe function. */
  subscribe(listener: (update: ObjectUpdate) => void): () => void;
  /**
   * Optional, for a fan-out that listens only for what is held on this node (Redis): a local capability of
   * `scope` started being tracked for pushes, or stopped (each hold is released once).
   */
  hold?(scope: readonly JsonValue[]): void;
  /** The holding of `scope` that {@link Fanout.hold} announced ended. */
  release?(scope: readonly JsonValue[]): void;
  /**
   * Optional, for a fan-out that can deliver changes out of seq order (several nodes: this node's own write
   * before another node's earlier one still on the bus, or a catch-up after a bus drop running behind live
   * messages): every change up to the returned seq to an object held on this node has been delivered. A push
   * carries at most this as its seq, the cookie a client resumes from, so a client that moves to another node
   * never resumes past a change it has not received (SPEC section 6). Absent: changes arrive in seq order.
   */
  deliveredThrough?(): number;
  /** Stops delivering and releases connections. */
  close(): Promise<void>;
}

/** The single-node fan-out: listeners run synchronously in the publishing process. */
export class LocalFanout implements Fanout {
  readonly #listeners = new Set<(update: ObjectUpdate) => void>();

  async publish(update: ObjectUpdate): Promise<void> {
    for (const listener of this.#listeners) listener(update);
  }

  subscribe(listener: (update: ObjectUpdate) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
