import { Packr, Unpackr } from 'msgpackr';
import { Capability, decodeCapability } from './capability/capability.js';
import { defaultSuite, type ChainSuite } from './capability/chain.js';
import { nobleCrypto } from './crypto.js';
import { CapsyncError, fail } from './errors.js';
import { resolveLimits, type Limits } from './limits.js';
import { readHandle, type Allocate, writeBinding, writeHandle, type InboundHandles, type OutboundHandles } from './handles.js';
import { withRun, type ExtensionRun } from './extensions.js';
import { defaultPortables, fieldsOf, type PortableRegistry } from './portable.js';
import type { CapabilityVerifier } from './verifier.js';
import { ExtensionType, scanFrame } from './wire-guard.js';

/** What one side of a session tells the codec: how capabilities are signed and checked, and who is listening. */
export interface CodecContext {
  /** Server side: signs outgoing and verifies incoming capabilities. Client side: absent. */
  readonly verifier?: CapabilityVerifier;
  /** The principal of the connection (its user id, or an anonymous identity); checked against capability audiences. */
  readonly user?: string | null;
  /**
   * Server side, encoding: the principal every capability sent is bound to (SPEC section 3.8). What is
   * encoded is then the bound child ({@link CapabilityVerifier.boundFor}), and `onCapability` hears that.
   */
  readonly bindTo?: string;
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

/** Options of a {@link Codec} beside its limits. */
export interface CodecOptions {
  /** The portable classes this codec encodes and revives. Default {@link defaultPortables} (what `registerPortable` fills). */
  readonly portables?: PortableRegistry;
}

/** How {@link Codec.encode} checks what it wrote. */
export interface EncodeOptions {
  /**
   * Scan the bytes as the peer will, so a value the peer refuses fails here, with a typed error, instead of
   * being dropped there. `true`: every refusal is `ERR_NOT_ENCODABLE` (its message names the scan's code).
   * `'limits'`: a broken limit keeps its own code (`ERR_FRAME_TOO_LARGE`, `ERR_LIMIT_STRING`, ...), so a
   * client's call over a limit fails at once with the code the server would have answered.
   */
  readonly check?: boolean | 'limits';
  /** The limits the check holds the bytes to (a client: what the server announced). Default the codec's own. */
  readonly limits?: Limits;
}

/** The scan's codes for a value that is well formed but over one of the {@link Limits}. */
const limitCodes: ReadonlySet<string> = new Set([
  'ERR_FRAME_TOO_LARGE', 'ERR_LIMIT_DEPTH', 'ERR_LIMIT_ELEMENTS', 'ERR_LIMIT_STRING', 'ERR_LIMIT_BINARY', 'ERR_CAPABILITY_MALFORMED',
]);

const NONE: readonly never[] = Object.freeze([]);

/**
 * One encode or decode of one codec: what msgpackr's global dispatchers (protocol/extensions.ts) forward to
 * while it runs, and what it met on the way.
 */
class Run implements ExtensionRun {
  /** Extensions met by the decoder, resolved once msgpackr has returned. */
  pending = 0;
  /**
   * The first extension that failed to build. The walk goes on past it, so that every handle binding of a
   * frame that decodes is made even when the frame is refused (SPEC section 3.7): the sender counts its
   * handles as bound once sent, and one refused frame must not shift the numbering of all later ones.
   */
  failed: CapsyncError | undefined;
  // The three lists below start as the shared empty NONE and get their own array at their first entry: most
  // frames hold no capability or portable object, and every frame is a run in each direction.
  capabilities: readonly Capability[] = NONE;
  portables: readonly object[] = NONE;
  /** Capabilities bound to new handles by this encode (undone if the encode fails). */
  bound: readonly Capability[] = NONE;
  /** Capabilities and portable objects this encode wrote: none, and its bytes are the same whatever the context. */
  extensions = 0;
  readonly packr: Packr;

  constructor(
    readonly codec: Codec,
    readonly context: CodecContext,
    readonly decoding: boolean,
  ) {
    this.packr = codec.packr;
  }

  noteCapability(cap: Capability): void {
    if (this.capabilities === NONE) this.capabilities = [cap];
    else (this.capabilities as Capability[]).push(cap);
  }

  notePortable(object: object): void {
    if (this.portables === NONE) this.portables = [object];
    else (this.portables as object[]).push(object);
  }

  /** A capability: signed (server side), as a handle (client side), or whole. */
  packCapability(cap: Capability, allocate: Allocate): Uint8Array | undefined {
    this.extensions++;
    const verifier = this.context.verifier;
    if (verifier) {
      const bindTo = this.context.bindTo;
      const sent = bindTo === undefined ? cap : verifier.boundFor(cap, bindTo);
      this.noteCapability(sent);
      return verifier.signedToken(sent);
    }
    this.noteCapability(cap);
    const handle = this.context.outboundHandles?.handleFor(cap);
    if (handle === undefined) return cap.toToken();
    // A handle changes the extension type, so the whole extension is written here rather than by msgpackr.
    if (!handle.bind) return writeHandle(allocate, handle.handle);
    if (this.bound === NONE) this.bound = [cap];
    else (this.bound as Capability[]).push(cap);
    return writeBinding(allocate, handle.handle, cap.toToken());
  }

  /** The payload of a portable object, if this codec's registry holds its class. */
  packPortable(object: object): Uint8Array {
    this.extensions++;
    const type = this.codec.portables.of(object);
    if (type === undefined) throw fail('ERR_NOT_ENCODABLE', 'this codec has no portable class for the object');
    return this.packr.pack([type.name, fieldsOf(object)]);
  }

  noteExtension(type: number, payload: Uint8Array): Pending {
    this.pending++;
    return new Pending(type, payload);
  }
}

/**
 * What the decoder leaves where an extension was. msgpackr decodes a nested `unpack()` by copying the whole
 * outer frame first, so a frame packed with small extensions would cost time quadratic in its size. The
 * extension dispatchers therefore only note the bytes; {@link Codec.decode} builds capabilities and portable
 * objects after msgpackr returns, each payload decoded on its own.
 */
class Pending {
  constructor(
    readonly type: number,
    readonly bytes: Uint8Array,
  ) {}
}

/**
 * Replaces every {@link Pending} in a freshly decoded value, in document order. Only lists and plain maps
 * can hold one (portable objects are built here, after their fields), and the scan bounded their depth.
 */
function resolve(value: unknown, run: Run): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Pending) {
    run.pending--;
    try {
      switch (value.type) {
        case ExtensionType.capability:
          return resolveCapability(value.bytes, run);
        case ExtensionType.portable:
          return resolvePortable(value.bytes, run);
        default:
          return resolveHandle(value.type, value.bytes, run);
      }
    } catch (error) {
      run.failed ??= error instanceof CapsyncError ? error : fail('ERR_FRAME_MALFORMED');
      return undefined;
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
  const cap = verifier ? verifier.decode(token, user ?? null) : decodeCapability(token, run.codec.suite);
  run.noteCapability(cap);
  return cap;
}

/** A handle (type 5) or a binding (type 6): only a connection that keeps a handle table accepts them. */
function resolveHandle(type: number, payload: Uint8Array, run: Run): Capability {
  const handles = run.context.inboundHandles;
  if (handles === undefined) throw fail('ERR_EXTENSION_UNKNOWN', 'capability handles are not accepted here');
  const handle = readHandle(payload);
  if (type === ExtensionType.capabilityHandle) {
    const { verifier, user } = run.context;
    const bound = handles.lookup(handle);
    const cap = verifier ? verifier.readmit(bound, user ?? null) : bound;
    run.noteCapability(cap);
    return cap;
  }
  const cap = resolveCapability(payload.subarray(4), run);
  handles.bind(handle, cap);
  return cap;
}

function resolvePortable(payload: Uint8Array, run: Run): object {
  const value: unknown = run.codec.unpackr.unpack(payload);
  if (!Array.isArray(value) || value.length !== 2) {
    resolve(value, run); // for the handle bindings inside
    throw fail('ERR_PORTABLE_INVALID');
  }
  const [name, fields] = value as [unknown, unknown];
  if (fields === null || typeof fields !== 'object' || Array.isArray(fields) || fields instanceof Pending || fields instanceof Uint8Array) {
    resolve(fields, run);
    throw fail('ERR_PORTABLE_INVALID');
  }
  const object = run.codec.portables.revive(name, resolve(fields, run));
  run.notePortable(object);
  return object;
}

/**
 * The one msgpack codec of capsync. Values are JSON-like data plus two extension types: capabilities
 * (type 1, the token bytes) and portable objects (type 2, `[className, fields]`). Every frame is scanned
 * against the {@link Limits} before msgpackr reads it; nothing else can be built from wire data.
 *
 * A codec owns its extension behaviour: which portable classes it knows (its {@link PortableRegistry}) and,
 * client side, the limits and crypto provider the capabilities it decodes narrow with.
 */
export class Codec {
  /** The limits every frame this codec reads or writes is held to. */
  readonly limits: Limits;
  /** The portable classes this codec encodes and revives. */
  readonly portables: PortableRegistry;
  /** @internal What capabilities decoded without a verifier (client side) narrow with. */
  readonly suite: ChainSuite;
  /** @internal */
  readonly packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, moreTypes: false, structuredClone: false });
  /** @internal */
  readonly unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number', structuredClone: false });

  constructor(limits?: Partial<Limits>, options: CodecOptions = {}) {
    this.limits = resolveLimits(limits);
    this.suite = limits === undefined ? defaultSuite : Object.freeze({ crypto: nobleCrypto, limits: this.limits });
    this.portables = options.portables ?? defaultPortables;
  }

  /** Encodes a value. Unsigned capabilities are signed when the context has a verifier (server side). */
  encode(value: unknown, context: CodecContext = {}, options: EncodeOptions = {}): Uint8Array {
    const run = new Run(this, context, false);
    const bytes = this.#pack(run, value);
    if (options.check) {
      try {
        this.checkSendable(bytes, options.check, options.limits);
      } catch (error) {
        context.outboundHandles?.rollback(run.bound);
        throw error;
      }
    }
    if (context.onCapability) for (const cap of run.capabilities) context.onCapability(cap);
    return bytes;
  }

  /**
   * @internal The check {@link encode} makes with `options.check`, for bytes encoded without it (a keyed call's
   * answer framed around its stored outcome). msgpackr can write what a capsync peer refuses (a Date, a Map with
   * number keys, a frame past the limits): the sender finds out here, with a typed error, instead of the peer
   * dropping the frame. `'limits'` keeps a limit's own code; otherwise every refusal is `ERR_NOT_ENCODABLE`.
   */
  checkSendable(bytes: Uint8Array, check: true | 'limits' = true, limits: Limits = this.limits): void {
    try {
      scanFrame(bytes, limits);
    } catch (error) {
      const code = (error as CapsyncError).code;
      if (check === 'limits' && limitCodes.has(code)) throw error;
      throw fail('ERR_NOT_ENCODABLE', `value cannot be sent: ${code}`);
    }
  }

  /**
   * @internal Encodes `value` as {@link encode} does (no check) and tells whether the bytes are `plain`: no
   * capability or portable object in them, so they read the same for every context (every connection,
   * signed or bound or not). A keyed call's outcome is packed once this way and, when plain, its bytes are
   * also the answer's.
   */
  encodeDetached(value: unknown, context: CodecContext = {}): { bytes: Uint8Array; plain: boolean } {
    const run = new Run(this, context, false);
    const bytes = this.#pack(run, value);
    if (context.onCapability) for (const cap of run.capabilities) context.onCapability(cap);
    return { bytes, plain: run.extensions === 0 };
  }

  #pack(run: Run, value: unknown): Uint8Array {
    try {
      return withRun(run, () => this.packr.pack(value));
    } catch (error) {
      run.context.outboundHandles?.rollback(run.bound);
      throw error instanceof CapsyncError ? error : fail('ERR_NOT_ENCODABLE');
    }
  }

  /**
   * @internal For a frame {@link Codec.decode} refused after its scan passed (an unknown portable class, a
   * capability that does not decode): msgpackr's value with every extension left unbuilt, as undefined, so
   * that plain parts (a push's address) can still be read. Undefined if the bytes do not scan or decode.
   */
  outline(bytes: Uint8Array): unknown {
    const run: ExtensionRun = { decoding: true, packr: this.packr, packCapability: () => undefined, packPortable: () => new Uint8Array(0), noteExtension: () => undefined };
    try {
      scanFrame(bytes, this.limits);
      return withRun(run, () => this.unpackr.unpack(bytes) as unknown);
    } catch {
      return undefined;
    }
  }

  /** Decodes bytes from a peer: scans limits first, then builds the value. Throws a {@link CapsyncError}. */
  decode(bytes: Uint8Array, context: CodecContext = {}): unknown {
    scanFrame(bytes, this.limits);
    const run = new Run(this, context, true);
    let value: unknown;
    try {
      value = withRun(run, () => {
        const decoded: unknown = this.unpackr.unpack(bytes);
        const built = run.pending > 0 ? resolve(decoded, run) : decoded;
        if (run.failed !== undefined) throw run.failed;
        return built;
      });
    } catch (error) {
      throw error instanceof CapsyncError ? error : fail('ERR_FRAME_MALFORMED');
    }
    if (context.onCapability) for (const cap of run.capabilities) context.onCapability(cap);
    if (context.onPortable) for (const object of run.portables) context.onPortable(object);
    return value;
  }
}
