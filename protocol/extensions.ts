import { addExtension } from 'msgpackr';
import { Capability } from './capability/capability.js';
import { fail } from './errors.js';
import type { Allocate } from './handles.js';
import { ExtensionType } from './wire-guard.js';

/**
 * msgpackr's extension registry is global to the process: every Packr and Unpackr uses it. So all it holds
 * of capsync are the dispatchers in this file, which decide nothing themselves: each forwards to the
 * {@link ExtensionRun} of the capsync Codec whose encode or decode is running (calls are synchronous, so
 * one slot suffices) and refuses every other caller with a typed error. A plain msgpackr encoder (a
 * store's, a library's) can never write a capsync extension, nor a plain decoder build one.
 */

/** What the dispatchers forward to: one encode or decode of one Codec. */
export interface ExtensionRun {
  /** True for a decode. */
  readonly decoding: boolean;
  /** The only Packr whose calls an encode run serves (its codec's). */
  readonly packr: unknown;
  packCapability(cap: Capability, allocate: Allocate): Uint8Array | undefined;
  packPortable(object: object): Uint8Array;
  /** What the decoder leaves where an extension of `type` was (resolved after msgpackr returns). */
  noteExtension(type: number, payload: Uint8Array): unknown;
}

let active: ExtensionRun | null = null;

/** Runs `body` with `run` as the one run the dispatchers serve, restoring the previous one after. */
export function withRun<T>(run: ExtensionRun, body: () => T): T {
  const previous = active;
  active = run;
  try {
    return body();
  } finally {
    active = previous;
  }
}

/** The encode in progress if `packr` (msgpackr's `this`) is its codec's; refuses every other Packr. */
function encodingBy(packr: unknown): ExtensionRun {
  const run = active;
  if (run === null || run.decoding || run.packr !== packr) {
    throw fail('ERR_NOT_ENCODABLE', 'capsync capabilities and portable objects are only encoded by a capsync Codec');
  }
  return run;
}

/** The decode in progress; refuses a plain Unpackr that meets a capsync extension type. */
function noteExtension(type: number, payload: Uint8Array): unknown {
  const run = active;
  if (run === null || !run.decoding) throw fail('ERR_EXTENSION_UNKNOWN', 'capsync extensions are only decoded by a capsync Codec');
  return run.noteExtension(type, payload);
}

// msgpackr passes pack() its allocator as the second argument, which its typings omit.
addExtension({
  Class: Capability,
  type: ExtensionType.capability,
  pack(this: unknown, cap: Capability, allocate: Allocate): Uint8Array | undefined {
    return encodingBy(this).packCapability(cap, allocate);
  },
  unpack: (token: Uint8Array): unknown => noteExtension(ExtensionType.capability, token),
} as unknown as Parameters<typeof addExtension>[0]);

for (const type of [ExtensionType.capabilityHandle, ExtensionType.capabilityBind]) {
  addExtension({ type, unpack: (payload: Uint8Array): unknown => noteExtension(type, payload) });
}

// msgpackr matches extension classes with instanceof, so every portable class needs an entry of its own.
// The entry is the same inert dispatcher for every class, added once per class whichever registry holds
// it; what an instance encodes as, or whether it encodes at all, is the running codec's registry's answer.
const dispatched = new WeakSet<object>();

/**
 * @internal Gives msgpackr a dispatcher for a portable class (a {@link PortableRegistry} does this when a
 * class is registered), so that no msgpackr encoder writes its instances as plain maps behind capsync's back.
 */
export function dispatchPortableClass(cls: abstract new (...args: never[]) => object): void {
  if (dispatched.has(cls)) return;
  dispatched.add(cls);
  addExtension({
    Class: cls as unknown as new () => object,
    type: ExtensionType.portable,
    pack(this: unknown, object: object): Uint8Array {
      return encodingBy(this).packPortable(object);
    },
    unpack: (payload: Uint8Array): unknown => noteExtension(ExtensionType.portable, payload),
  } as unknown as Parameters<typeof addExtension>[0]);
}
