import { Packr, Unpackr, addExtension } from 'msgpackr';
import { Capability, capabilityFromParts } from './capability.js';
import { CapsyncError, fail } from './errors.js';
import type { JsonValue } from './json-value.js';
import { resolveLimits, type Limits } from './limits.js';
import { fieldsOf, onPortableRegistered, portableOf, revive } from './portable.js';
import { decodeBlock, decodeToken } from './token.js';
import type { CapabilityVerifier } from './verifier.js';
import { ExtensionType, scanFrame } from './wire-guard.js';

/** What one side of a session tells the codec: how capabilities are signed and checked, and who is listening. */
export interface CodecContext {
  /** Server side: signs outgoing and verifies incoming capabilities. Client side: absent. */
  readonly verifier?: CapabilityVerifier;
  /** The authenticated user of the connection; checked against capability audiences. */
  readonly user?: string | null;
  /** Hears every capability that crosses the codec in either direction (the server tracks holders this way). */
  onCapability?(cap: Capability): void;
  /** Hears every portable object decoded (the client attaches its session this way). */
  onPortable?(object: object): void;
}

// msgpackr's extension registry is global to the process. The two handlers below are registered once
// and act for whichever codec call is running; encode and decode are synchronous, so one slot suffices.
let active: { codec: Codec; context: CodecContext } | null = null;

function current(): { codec: Codec; context: CodecContext } {
  if (active === null) throw fail('ERR_NOT_ENCODABLE', 'capsync extensions are only encoded by a capsync codec');
  return active;
}

addExtension({
  Class: Capability,
  type: ExtensionType.capability,
  pack(cap: Capability): Uint8Array {
    const { context } = current();
    const token = context.verifier ? context.verifier.sign(cap) : cap.toToken();
    context.onCapability?.(cap);
    return token;
  },
  unpack(token: Uint8Array): Capability {
    const { codec, context } = current();
    const cap = context.verifier ? context.verifier.decode(token, context.user ?? null) : decodeUnverified(token, codec.limits);
    context.onCapability?.(cap);
    return cap;
  },
});

onPortableRegistered((type) => {
  addExtension({
    Class: type.cls as new () => object,
    type: ExtensionType.portable,
    pack(object: object): Uint8Array {
      const { codec } = current();
      return codec.packr.pack([portableOf(object)!.name, fieldsOf(object)]);
    },
    unpack(payload: Uint8Array): object {
      const { codec, context } = current();
      const value: unknown = codec.unpackr.unpack(payload);
      if (!Array.isArray(value) || value.length !== 2) throw fail('ERR_PORTABLE_INVALID');
      const object = revive(value[0], value[1]);
      context.onPortable?.(object);
      return object;
    },
  });
});

/** A client cannot verify (it has no key): it keeps the chain as received so it can narrow and send it back. */
function decodeUnverified(token: Uint8Array, limits: Limits): Capability {
  const parts = decodeToken(token, limits);
  const blocks = parts.blocks.map((b) => decodeBlock(b, limits));
  const scope = blocks.flatMap((b) => b.segment as JsonValue[]);
  if (scope.length === 0 || scope.length > limits.maxScopeLength) throw fail('ERR_CAPABILITY_MALFORMED');
  return capabilityFromParts(scope, blocks, { kid: parts.kid, blockBytes: parts.blocks, tag: parts.tag, token });
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
  encode(value: unknown, context: CodecContext = {}): Uint8Array {
    const previous = active;
    active = { codec: this, context };
    try {
      return this.packr.pack(value);
    } catch (error) {
      throw error instanceof CapsyncError ? error : fail('ERR_NOT_ENCODABLE');
    } finally {
      active = previous;
    }
  }

  /** Decodes bytes from a peer: scans limits first, then builds the value. Throws a {@link CapsyncError}. */
  decode(bytes: Uint8Array, context: CodecContext = {}): unknown {
    scanFrame(bytes, this.limits);
    const previous = active;
    active = { codec: this, context };
    try {
      return this.unpackr.unpack(bytes);
    } catch (error) {
      throw error instanceof CapsyncError ? error : fail('ERR_FRAME_MALFORMED');
    } finally {
      active = previous;
    }
  }
}

