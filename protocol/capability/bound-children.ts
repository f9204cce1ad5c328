import type { Capability } from './capability.js';
import { statusOf, type Verification } from './status.js';

/** How many principals one capability keeps a bound child for; past it the oldest is forgotten (and re-made if sent again). */
export const MAX_BOUND_PER_CAPABILITY = 64;

/**
 * The bound child a verifier made of a capability for each principal it was sent to (SPEC section 3.8): the
 * same token and holding every time it is resent. Kept with the parent itself (a WeakMap entry), not in a
 * cache of its own keyed by a string: the children live while the parent does (the server's code holds it,
 * to send it again) and cost nothing once it is gone. A parent's first child is kept alone, more in a Map.
 * A child is the one for (principal, generation) when its last step names both (its verification records
 * them): nothing else is stored.
 */
export class BoundChildren {
  #byParent = new WeakMap<Capability, Capability | Map<string, Capability>>();

  /** The child of `parent` bound to `principal` at `generation`, if one is remembered. */
  get(parent: Capability, principal: string, generation: number): Capability | undefined {
    const known = this.#byParent.get(parent);
    const child = known instanceof Map ? known.get(principal) : known;
    if (child === undefined) return undefined;
    const step = statusOf(child) as Verification;
    return step.stepAudience === principal && step.stepGeneration === generation ? child : undefined;
  }

  /** Remembers `child`, bound to `principal`, as `parent`'s (replacing one bound at an older generation). */
  set(parent: Capability, principal: string, child: Capability): void {
    const known = this.#byParent.get(parent);
    if (known === undefined || (!(known instanceof Map) && audienceOf(known) === principal)) {
      this.#byParent.set(parent, child);
      return;
    }
    const map = known instanceof Map ? known : new Map([[audienceOf(known), known]]);
    map.delete(principal);
    if (map.size >= MAX_BOUND_PER_CAPABILITY) map.delete(map.keys().next().value!);
    map.set(principal, child);
    if (map !== known) this.#byParent.set(parent, map);
  }

  clear(): void {
    this.#byParent = new WeakMap();
  }
}

function audienceOf(child: Capability): string {
  return (statusOf(child) as Verification).stepAudience!;
}
