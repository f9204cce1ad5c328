import { chainOf, type Capability } from './capability.js';
import { fail } from './errors.js';

/** How many capabilities one connection may bind to handles. Past it, capabilities travel whole. */
export const MAX_HANDLES = 1024;

/**
 * The client's side of capability handles. The first time a connection sends a signed capability it sends
 * it whole with a handle (extension type 6: handle + token); after that it sends only the 4-byte handle
 * (type 5). Handles are numbered 0, 1, 2, ... in sending order, so the server needs no reply to agree.
 */
export class OutboundHandles {
  readonly #handles = new WeakMap<Capability, number>();
  #next = 0;

  /** The handle already bound for `cap`; or a new one to bind now (`bind: true`); or undefined: send it whole. */
  handleFor(cap: Capability): { handle: number; bind: boolean } | undefined {
    const known = this.#handles.get(cap);
    if (known !== undefined) return { handle: known, bind: false };
    const chain = cap[chainOf];
    if (chain === undefined || chain.tag.length === 0 || this.#next >= MAX_HANDLES) return undefined;
    const handle = this.#next++;
    this.#handles.set(cap, handle);
    return { handle, bind: true };
  }

  /** Forgets bindings made while encoding a frame that was then not sent (they must be the latest ones). */
  rollback(caps: readonly Capability[]): void {
    for (let i = caps.length - 1; i >= 0; i--) {
      const cap = caps[i]!;
      if (this.#handles.get(cap) === this.#next - 1) (this.#handles.delete(cap), this.#next--);
    }
  }
}

/**
 * The server's side: the capability each handle was bound to on this connection. A bound capability is the
 * verified object, so every use still re-checks revocation and expiry; audiences were checked at binding,
 * for the connection's own user.
 */
export class InboundHandles {
  readonly #caps: Capability[] = [];

  bind(handle: number, cap: Capability): void {
    if (handle !== this.#caps.length || handle >= MAX_HANDLES) throw fail('ERR_CAPABILITY_MALFORMED', 'capability handle out of sequence');
    this.#caps.push(cap);
  }

  lookup(handle: number): Capability {
    const cap = this.#caps[handle];
    if (cap === undefined) throw fail('ERR_CAPABILITY_MALFORMED', 'unknown capability handle');
    return cap;
  }
}
