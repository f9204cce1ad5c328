import type { Capability } from '../protocol/capability/capability.js';
import type { RevocationEntry } from '../protocol/revocation.js';
import { ANY, unwrapCapability } from '../protocol/unwrap.js';
import type { Clock, Logger } from './options.js';
import type { ObjectStore } from './store/types.js';

/** What revocation needs of the sessions it reaches. */
export interface RevocableSession {
  revoked(ids: ReadonlySet<string>): void;
  /** A user's generation rose: holdings bound to them at a lower one end. Returns how many ended. */
  revokedGeneration(): number;
}

/**
 * Revocation on one node: records revoked ids in the store's revocation set and, whenever the set grows
 * (here or, with a shared store, on another node), drops the covered holdings of every local session.
 */
export class Revocations {
  readonly #store: ObjectStore;
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #unsubscribe: () => void;
  readonly #unsubscribeGenerations: () => void;
  /** Holdings the last generation raise ended on this node. */
  #ended = 0;

  constructor(store: ObjectStore, sessions: Iterable<RevocableSession>, logger: Logger, clock: Clock) {
    this.#store = store;
    this.#logger = logger;
    this.#clock = clock;
    this.#unsubscribe = store.revocations.subscribe((entries: readonly RevocationEntry[]) => {
      const ids = new Set(entries.map((e) => e.id));
      for (const session of sessions) session.revoked(ids);
    });
    this.#unsubscribeGenerations = store.revocations.subscribeGenerations(() => {
      this.#ended = 0;
      for (const session of sessions) this.#ended += session.revokedGeneration();
    });
  }

  /** Revokes `cap` and everything narrowed from it. `by` names who asked (a user id, or 'server'). */
  async revoke(cap: Capability, by: string | null): Promise<{ revocationId: string }> {
    // Only a valid capability can be revoked through: its holder proves it holds it (or could narrow to it).
    unwrapCapability(cap, cap.scope.map(() => ANY));
    const revocationId = cap.revocationId!;
    await this.#store.revocations.add([{ id: revocationId, expiresAt: cap.expiresAt }]);
    this.#logger.info({ event: 'revoked', revocationId, by });
    return { revocationId };
  }

  /**
   * Revokes every capability the server sent to `userId` and that has not expired: one bump of the user's
   * generation covers every capability bound to them (SPEC section 3.9); the few recorded one by one (bearer
   * capabilities sent to them, and any issued before generations existed) are revoked by id. Returns how
   * many were revoked by id plus how many capabilities held on this node's connections ended.
   */
  async revokeUser(userId: string): Promise<number> {
    this.#ended = 0;
    const generation = await this.#store.revocations.bumpGeneration(userId);
    const ended = this.#ended;
    const issued = await this.#store.issuedTo(userId, this.#clock.now());
    await this.#store.revocations.add(issued);
    this.#logger.info({ event: 'revoked_user', user: userId, generation, count: issued.length, ended });
    return issued.length + ended;
  }

  /** Drops entries and issued records whose capability has expired anyway (it no longer verifies). */
  async prune(toleranceMs: number): Promise<number> {
    const before = this.#clock.now() - toleranceMs;
    await this.#store.pruneIssued(before);
    return this.#store.revocations.prune(before);
  }

  close(): void {
    this.#unsubscribe();
    this.#unsubscribeGenerations();
  }
}
