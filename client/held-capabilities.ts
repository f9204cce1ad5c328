import type { Capability } from '../protocol/capability/capability.js';
import { canonicalKey, type JsonValue } from '../protocol/json-value.js';

/** How many handed-on capability ids {@link HeldCapabilities.handedOn} keeps. */
const HANDED_ON_KEPT = 4096;

/**
 * The signed capabilities this client received from the server and the app still references: what a
 * resume presents again. Held weakly, like live instances: a capability the app dropped (a row it closed, a
 * delegation it ignored) is no right it still wants, and presenting it would rebuild holdings, and pushes,
 * for nothing.
 */
export class HeldCapabilities {
  /** Revocation ids of capabilities this client delegated or revoked (see {@link handedOn}). */
  readonly #handedOn = new Set<string>();
  readonly #refs = new Set<WeakRef<Capability>>();
  readonly #members = new WeakMap<Capability, WeakRef<Capability>>();
  readonly #finalizer = new FinalizationRegistry<WeakRef<Capability>>((ref) => this.#refs.delete(ref));

  /** Capabilities held (for tests and metrics); collected ones may still count until their finalizer runs. */
  get size(): number {
    return this.#refs.size;
  }

  /** Holds `cap` if it is signed (an unsigned one is the client's own and proves nothing to the server). */
  add(cap: Capability): void {
    if (!cap.signed || this.#members.has(cap)) return;
    const ref = new WeakRef(cap);
    this.#members.set(cap, ref);
    this.#refs.add(ref);
    this.#finalizer.register(cap, ref, ref);
  }

  /** Stops holding `cap` (it no longer works). */
  delete(cap: Capability): void {
    const ref = this.#members.get(cap);
    if (ref === undefined) return;
    this.#members.delete(cap);
    this.#refs.delete(ref);
    this.#finalizer.unregister(ref);
  }

  /** The capabilities still alive, oldest first. */
  list(): Capability[] {
    const alive: Capability[] = [];
    for (const ref of this.#refs) {
      const cap = ref.deref();
      if (cap === undefined) this.#refs.delete(ref);
      else alive.push(cap);
    }
    return alive;
  }

  /**
   * The capabilities a `revoked` notice ends: the one with that revocation id (a server names the
   * holding's own id, SPEC section 7), or, from a server that named another id of the chain (a client
   * cannot compute its chain's inner ids), those with the notice's scope.
   */
  revokedBy(revocationId: string, scope: readonly JsonValue[]): Capability[] {
    const held = this.list();
    const exact = held.filter((cap) => cap.revocationId === revocationId);
    if (exact.length > 0) return exact;
    // A capability this client narrowed and handed on: the notice is about it, not about a held one whose
    // scope it shares (narrowed by expiry only, it has the same scope as the capability it came from).
    if (this.#handedOn.has(revocationId)) return [];
    const key = canonicalKey(scope as JsonValue[]);
    return held.filter((cap) => canonicalKey(cap.scope as JsonValue[]) === key);
  }

  /**
   * `cap` (narrowed here, perhaps) went out in a delegation or a revocation: the server holds it for this
   * connection and names it by its own id when it is revoked. Remembered for {@link revokedBy}; the last
   * {@link HANDED_ON_KEPT} are kept.
   */
  handedOn(cap: Capability): void {
    const id = cap.revocationId;
    if (id === undefined || this.#handedOn.has(id)) return;
    this.#handedOn.add(id);
    if (this.#handedOn.size > HANDED_ON_KEPT) this.#handedOn.delete(this.#handedOn.values().next().value!);
  }

  /** Whether some held capability still covers the object at `address`. */
  covers(address: readonly JsonValue[]): boolean {
    return this.list().some((cap) => related(cap.scope, address));
  }
}

/**
 * Whether a capability with `scope` gives pushes for the object at `address`: the server pushes to holders
 * whose scope is a prefix of the address or extends it (protocol/SPEC.md section 7, push).
 */
export function related(scope: readonly JsonValue[], address: readonly JsonValue[]): boolean {
  const n = Math.min(scope.length, address.length);
  for (let i = 0; i < n; i++) if (canonicalKey(scope[i]!) !== canonicalKey(address[i]!)) return false;
  return true;
}
