import { Packr, Unpackr, addExtension } from 'msgpackr';
import { Capability } from './capability.js';
import { capabilityFromToken } from './capability-token.js';
import { CapsyncError, fail } from './errors.js';
import { resolveLimits, type Limits } from './limits.js';
import type { InboundHandles, OutboundHandles } from './handles.js';
import { fieldsOf, onPortableRegistered, portableOf, revive } from './portable.js';
import type { CapabilityVerifier } from './verifier.js';
import { ExtensionType, scanFrame } from './wire-guard.js';

/** What one side of a session tells the codec: how capabilities are signed and checked, and who is listening. */
export interface CodecContext {
  /** Server side: signs outgoing and verifies incoming capabilities. Client side: absent. */
  readonly verifier?: CapabilityVerifier;
  /** The authenticated user of the connection; checked against capability audiences. */
  readonly user?: string | null;
  /**
   * Hears every capability that crosses the codec in either direction (the server tracks holders this way).
   * Called once the whole value has been encoded or decoded, never for a frame that is refused.
   */
  onCapability?(cap: Capability): void;
  /** Client side, encoding: bind capabilities to short handles instead of sending every token whole. */
  readonly outboundHandles?: OutboundHandles;
  /** Server side, decoding: the capabilities this connection bound to handles. */
  readonly inboundHandles?: InboundHandles;
  /** Hears every portable object decoded (the client attaches its session this way), once the frame is accepted. */
  onPortable?(object: object): void;
}

/** One encode or decode in progress. */
interface Run {
  readonly codec: Codec;
  readonly context: CodecContext;
  /** Extensions met by the decoder, resolved once msgpackr has returned. */
  pending: number;
  readonly capabilities: Capability[];
  readonly portables: object[];
  /** Capabilities bound to new handles by this encode (undone if the encode fails). */
  readonly bound: Capability[];
}

// msgpackr's extension registry is global to the process. The two handlers below are registered once
// and act for whichever codec call is running; encode and decode are synchronous, so one slot suffices.
let active: Run | null = null;

function current(): Run {
  if (active === null) throw fail('ERR_NOT_ENCODABLE', 'capsync extensions are only handled by a capsync codec');
  return active;
}

/**
 * What the decoder leaves where an extension was. msgpackr decodes a nested `unpack()` by copying the whole
 * outer frame first, so a frame packed with small extensions would cost time quadratic in its size. The
 * extension handlers therefore only note the bytes; {@link Codec.decode} builds capabilities and portable
 * objects after msgpackr returns, each payload decoded on its own.
 */
class Pending {
  constructor(
    readonly type: number,
    readonly bytes: Uint8Array,
  ) {}
}

function pending(type: number, bytes: Uint8Array): Pending {
  current().pending++;
  return new Pending(type, bytes);
}

// msgpackr passes pack() an allocator as its second argument (its typings omit it): with it, pack writes the
// whole extension itself and returns nothing, which lets one class use several extension types.
addExtension({
  Class: Capability,
  type: ExtensionType.capability,
  pack(cap: Capability, allocate: (size: number) => { target: Uint8Array; position: number }): Uint8Array | undefined {
    const run = current();
    const verifier = run.context.verifier;
    run.capabilities.push(cap);
    const handle = verifier ? undefined : run.context.outboundHandles?.handleFor(cap);
    if (handle === undefined) return verifier ? verifier.sign(cap) : cap.toToken();
    // A handle changes the extension type, so the whole extension is written here rather than by msgpackr.
    if (!handle.bind) {
      const { target, position } = allocate(6);
      target[position] = 0xd6; // fixext 4
      target[position + 1] = ExtensionType.capabilityHandle;
      writeU32(target, position + 2, handle.handle);
      return undefined;
    }
    run.bound.push(cap);
    const token = cap.toToken();
    const length = 4 + token.length;
    const header = length < 0x100 ? 3 : length < 0x10000 ? 4 : 6;
    const { target, position } = allocate(header + length);
    let at = position;
    if (header === 3) (target[at++] = 0xc7), (target[at++] = length);
    else if (header === 4) (target[at++] = 0xc8), (target[at++] = length >> 8), (target[at++] = length & 0xff);
    else (target[at++] = 0xc9), writeU32(target, at, length), (at += 4);
    target[at++] = ExtensionType.capabilityBind;
    writeU32(target, at, handle.handle);
    target.set(token, at + 4);
    return undefined;
  },
  unpack: (token: Uint8Array): Pending => pending(ExtensionType.capability, token),
} as unknown as Parameters<typeof addExtension>[0]);

for (const type of [ExtensionType.capabilityHandle, ExtensionType.capabilityBind]) {
  addExtension({ type, unpack: (payload: Uint8Array): Pending => pending(type, payload) });
}

function writeU32(target: Uint8Array, at: number, value: number): void {
  target[at] = value >>> 24;
  target[at + 1] = (value >>> 16) & 0xff;
  target[at + 2] = (value >>> 8) & 0xff;
  target[at + 3] = value & 0xff;
}

function readU32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

onPortableRegistered((type) => {
  addExtension({
    Class: type.cls as new () => object,
    type: ExtensionType.portable,
    pack(object: object): Uint8Array {
      const { codec } = current();
      return codec.packr.pack([portableOf(object)!.name, fieldsOf(object)]);
    },
    unpack: (payload: Uint8Array): Pending => pending(ExtensionType.portable, payload),
  });
});

/**
 * Replaces every {@link Pending} in a freshly decoded value, in document order. Only lists and plain maps
 * can hold one (portable objects are built here, after their fields), and the scan bounded their depth.
 */
function resolve(value: unknown, run: Run): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Pending) {
    run.pending--;
    switch (value.type) {
      case ExtensionType.capability:
        return resolveCapability(value.bytes, run);
      case ExtensionType.portable:
        return resolvePortable(value.bytes, run);
      default:
        return resolveHandle(value.type, value.bytes, run);
    }
  }
  // Once every extension met by the decoder is resolved, the rest of the value holds none: stop walking.
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length && run.pending > 0; i++) {
      const item: unknown = value[i];
      if (item !== null && typeof item === 'object') value[i] = resolve(item, run);
    }
    return value;
  }
  if (value instanceof Uint8Array) return value;
  const map = value as Record<string, unknown>;
  for (const key of Object.keys(map)) {
    if (run.pending === 0) break;
    const item = map[key];
    if (item !== null && typeof item === 'object') map[key] = resolve(item, run);
  }
  return map;
}

function resolveCapability(token: Uint8Array, run: Run): Capability {
  const { verifier, user } = run.context;
  const cap = verifier ? verifier.decode(token, user ?? null) : capabilityFromToken(token, run.codec.limits);
  run.capabilities.push(cap);
  return cap;
}

/** A handle (type 5) or a binding (type 6): only a connection that keeps a handle table accepts them. */
function resolveHandle(type: number, payload: Uint8Array, run: Run): Capability {
  const handles = run.context.inboundHandles;
  if (handles === undefined) throw fail('ERR_EXTENSION_UNKNOWN', 'capability handles are not accepted here');
  const handle = readU32(payload, 0);
  if (type === ExtensionType.capabilityHandle) {
    const { verifier, user } = run.context;
    const bound = handles.lookup(handle);
    const cap = verifier ? verifier.readmit(bound, user ?? null) : bound;
    run.capabilities.push(cap);
    return cap;
  }
  const cap = resolveCapability(payload.subarray(4), run);
  handles.bind(handle, cap);
  return cap;
}

function resolvePortable(payload: Uint8Array, run: Run): object {
  const value: unknown = run.codec.unpackr.unpack(payload);
  if (!Array.isArray(value) || value.length !== 2) throw fail('ERR_PORTABLE_INVALID');
  const [name, fields] = value as [unknown, unknown];
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields) || fields instanceof Pending || fields instanceof Uint8Array) {
    throw fail('ERR_PORTABLE_INVALID');
  }
  const object = revive(name, resolve(fields, run));
  run.portables.push(object);
  return object;
}

/**
 * The one msgpack codec of capsync. Values are JSON-like data plus two extension types: capabilities
 * (type 1, the token bytes) and portable objects (type 2, `[className, fields]`). Every frame is scanned
 * against the {@link Limits} before msgpackr reads it; nothing else can be built from wire data.
 */
export class Codec {
  readonly limits: Limits;
  /** @internal */
  readonly packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, moreTypes: false, structuredClone: false });
  /** @internal */
  readonly unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', structuredClone: false });

  constructor(limits?: Partial<Limits>) {
    this.limits = resolveLimits(limits);
  }

  /** Encodes a value. Unsigned capabilities are signed when the context has a verifier (server side). */
  encode(value: unknown, context: CodecContext = {}, options: { check?: boolean } = {}): Uint8Array {
    const run: Run = { codec: this, context, pending: 0, capabilities: [], portables: [], bound: [] };
    const previous = active;
    active = run;
    let bytes: Uint8Array;
    try {
      bytes = this.packr.pack(value);
    } catch (error) {
      context.outboundHandles?.rollback(run.bound);
      throw error instanceof CapsyncError ? error : fail('ERR_NOT_ENCODABLE');
    } finally {
      active = previous;
    }
    if (options.check) {
      // msgpackr can write what a capsync peer refuses (a Date, a Map with number keys, a frame past the
      // limits): the sender finds out here, with a typed error, instead of the peer dropping the frame.
      try {
        scanFrame(bytes, this.limits);
      } catch (error) {
        context.outboundHandles?.rollback(run.bound);
        throw fail('ERR_NOT_ENCODABLE', `value cannot be sent: ${(error as CapsyncError).code}`);
      }
    }
    if (context.onCapability) for (const cap of run.capabilities) context.onCapability(cap);
    return bytes;
  }

  /** Decodes bytes from a peer: scans limits first, then builds the value. Throws a {@link CapsyncError}. */
  decode(bytes: Uint8Array, context: CodecContext = {}): unknown {
    scanFrame(bytes, this.limits);
    const run: Run = { codec: this, context, pending: 0, capabilities: [], portables: [], bound: [] };
    const previous = active;
    active = run;
    let value: unknown;
    try {
      value = this.unpackr.unpack(bytes);
      if (run.pending > 0) value = resolve(value, run);
    } catch (error) {
      throw error instanceof CapsyncError ? error : fail('ERR_FRAME_MALFORMED');
    } finally {
      active = previous;
    }
    if (context.onCapability) for (const cap of run.capabilities) context.onCapability(cap);
    if (context.onPortable) for (const object of run.portables) context.onPortable(object);
    return value;
  }
}
