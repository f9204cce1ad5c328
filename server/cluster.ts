import type { PresenceChange } from './presence-events.js';

/**
 * The other nodes of a deployment, as one node's core sees them: who is online anywhere (for `presence()`
 * and delegation), and delivery of a delegation to a user whose sessions are on another node. A single node
 * has none; `server/redis/peers.ts` is the Redis implementation.
 */
export interface ClusterPeers {
  /** A user's first session opened on this node. */
  joined(userId: string): void;
  /** A user's last session on this node closed. */
  left(userId: string): void;
  /** Ids of users with a session on any node (this one included). */
  onlineUsers(): Promise<string[]>;
  /** Sends a delegation to the sessions of `to` on the other nodes; resolves with how many nodes took it. */
  deliver(to: string, delegation: RemoteDelegation): Promise<number>;
  /** Called with every delegation another node sent to a user with a session here. Returns an unsubscribe function. */
  onDelivery(listener: (to: string, delegation: RemoteDelegation) => void): () => void;
  /**
   * Called with users whose deliveries this node may have missed, once it listens for them (again): after a
   * user's first session opened (a delegation recorded before the node listened was published to no one) and
   * after the node's connection to the others came back (messages published meanwhile are gone). The node
   * then hands their sessions what their inbox (the recorded delegations) holds that they were not sent.
   */
  onListening?(listener: (users: readonly string[]) => void): () => void;
  /**
   * A join or leave of this node's own presence tracker (after its grace). The peers turn the nodes' changes
   * into the deployment's: a user joins when it is first online on any node and leaves when it is online on
   * none (a dead node's users leave when it expires), told through {@link ClusterPeers.onPresence}. Without
   * it, the node announces its own changes.
   */
  presence?(change: PresenceChange): void;
  /** Called with the deployment's joins and leaves (see {@link ClusterPeers.presence}). Returns an unsubscribe function. */
  onPresence?(listener: (change: PresenceChange) => void): () => void;
  /** Stops listening and leaves the cluster (this node's users are no longer listed). */
  close(): Promise<void>;
}

/** A delegation as it travels between nodes: the recipient's node decodes and verifies the token itself. */
export interface RemoteDelegation {
  /** The delegating user. */
  readonly from: string;
  /** The delegated capability's token bytes. */
  readonly token: Uint8Array;
}
