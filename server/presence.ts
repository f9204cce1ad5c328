import type { User } from './auth.js';

/** Who may see whom in the presence list: everyone, no one, or a function of the viewer. */
export type PresencePolicy = 'all' | 'none' | ((viewer: User, online: string[]) => string[]);

/** Applies a {@link PresencePolicy}: which online users a viewer may see (and so delegate to). */
export class Presence {
  readonly #policy: PresencePolicy;

  constructor(policy: PresencePolicy = 'all') {
    this.#policy = policy;
  }

  /** True when no one may see anyone (`'none'`): a join or leave has no one to tell. */
  get hidesAll(): boolean {
    return this.#policy === 'none';
  }

  /** True if `viewer` may see `other`. */
  visible(viewer: User, other: string): boolean {
    const policy = this.#policy;
    if (policy === 'all') return true;
    if (policy === 'none') return false;
    return policy(viewer, [other]).includes(other);
  }

  /** The users of `online` that `viewer` may see, without the viewer. */
  list(viewer: User, online: readonly string[]): string[] {
    const others = online.filter((u) => u !== viewer.id);
    const policy = this.#policy;
    if (policy === 'all') return others;
    if (policy === 'none') return [];
    const allowed = new Set(policy(viewer, others));
    return others.filter((u) => allowed.has(u));
  }
}
