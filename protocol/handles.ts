import type { Capability } from './capability/capability.js';
import { chainOf } from './capability/chain.js';
import { ExtensionType } from './wire-guard.js';
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

  /** Replaces every bound capability by `replace(cap)` (the connection's principal changed: re-verified for it). */
  remap(replace: (cap: Capability) => Capability): void {
    for (let i = 0; i < this.#caps.length; i++) this.#caps[i] = replace(this.#caps[i]!);
  }
}

/**
 * msgpackr's allocator, passed to an extension's pack() as its second argument (its typings omit it): with
 * it, pack writes the whole extension itself and returns nothing, which lets one class use several types.
 */
export type Allocate = (size: number) => { target: Uint8Array; position: number };

/** @internal Writes a handle extension (type 5): `d6 05` and the 4-byte handle. Returns nothing: msgpackr writes no more. */
export function writeHandle(allocate: Allocate, handle: number): undefined {
  const { target, position } = allocate(6);
  target[position] = 0xd6; // fixext 4
  target[position + 1] = ExtensionType.capabilityHandle;
  writeU32(target, position + 2, handle);
  return undefined;
}

/** @internal Writes a binding extension (type 6): the 4-byte handle, then the token, in the smallest ext header. */
export function writeBinding(allocate: Allocate, handle: number, token: Uint8Array): undefined {
  const length = 4 + token.length;
  const header = length < 0x100 ? 3 : length < 0x10000 ? 4 : 6;
  const { target, position } = allocate(header + length);
  let at = position;
  if (header === 3) (target[at++] = 0xc7), (target[at++] = length);
  else if (header === 4) (target[at++] = 0xc8), (target[at++] = length >> 8), (target[at++] = length & 0xff);
  else (target[at++] = 0xc9), writeU32(target, at, length), (at += 4);
  target[at++] = ExtensionType.capabilityBind;
  writeU32(target, at, handle);
  target.set(token, at + 4);
  return undefined;
}

/** @internal The handle at the start of a type 5 or 6 payload (the scan checked its length). */
export function readHandle(payload: Uint8Array): number {
  return ((payload[0]! << 24) | (payload[1]! << 16) | (payload[2]! << 8) | payload[3]!) >>> 0;
}

function writeU32(target: Uint8Array, at: number, value: number): void {
  target[at] = value >>> 24;
  target[at + 1] = (value >>> 16) & 0xff;
  target[at + 2] = (value >>> 8) & 0xff;
  target[at + 3] = value & 0xff;
}
