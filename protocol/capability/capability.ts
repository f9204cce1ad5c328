import { CapsyncError, fail } from '../errors.js';
import { assertJsonValue, jsonEqual, type JsonValue } from '../json-value.js';
import { defaultLimits, resolveLimits, type Limits } from '../limits.js';
import { chainOf, chainToken, defaultSuite, extendChain, restrictionsOf, unsignedToken, type ChainSuite, type SignedChain } from './chain.js';
import { revocationId, type Verification } from './status.js';
import { isSlice } from './byte-arena.js';
import { TokenChain } from './token-chain.js';
import { blockOf, decodeBlocks, parseToken, type Block } from './token.js';

/** Restrictions a capability (or a narrowing step) may add. They only ever tighten. */
export interface Restrictions {
  /** Milliseconds since the epoch after which the capability no longer verifies. The earliest expiry in a chain wins. */
  readonly expiresAt?: number;
  /** The user id allowed to use the capability. Every audience in a chain must match the caller. */
  readonly audience?: string;
}

/** @internal What the server adds when it binds: the audience's revocation generation (SPEC section 3.9). */
export interface BindingRestrictions extends Restrictions {
  readonly generation?: number;
}
/** The local-origin brand, in a capability's status field until it is checked (see `Capability.#status`). */
const LOCAL: unique symbol = Symbol('capsync.local');

// Set by the static block below: the only way to reach the class-private fields from outside the class body.
let builtLocally: (value: object) => boolean;
let readStatus: (cap: Capability) => Verification | CapsyncError | undefined;
let writeStatus: (cap: Capability, status: Verification | CapsyncError) => void;
let fromParts: (scope: readonly JsonValue[], blocks: readonly Block[] | undefined, chain: SignedChain | undefined) => Capability;

/**
 * A capability: a hierarchical scope (`["youtube_videos", id, "update"]`) that grants whoever holds it
 * the right to act on what the scope names. The longer the scope, the narrower the capability.
 *
 * Any code may construct one, but only capabilities minted with the server's key verify: a capability
 * made by a client is refused by the server with `ERR_CAPABILITY_FORGED`. Narrowing appends to the
 * scope and extends the HMAC chain, so the holder of a narrowed capability can never recover the broader one.
 *
 * @example
 * ```ts
 * const cap = new Capability(['youtube_videos', 'dQw4w9WgXcQ']);       // server code
 * const update = cap.narrow(['update'], { expiresAt: Date.now() + 60_000 });
 * ```
 */
export class Capability {
  /**
   * How the server checked this capability (`setStatus`, internal). A class-private field: only the
   * verifier and narrowing set it, and nothing a peer sends, nor a copy of the object (a plain map, a
   * structured clone), can carry one. Cheaper than a WeakMap entry per capability, in time and memory.
   *
   * Until it is checked, it is also the local-origin brand: {@link LOCAL} only for a capability made by
   * `new Capability(...)` (or narrowed from one), undefined for one built by {@link capabilityFromParts}
   * (wire data), so a value a peer sent can never carry it. No code outside this class body can read or
   * write it. (One field for both: the brand matters only while there is no status.)
   */
  #status: Verification | CapsyncError | typeof LOCAL | undefined;

  /** Parts of the child that {@link narrow} has checked, for the constructor to take as they are (synchronous: one slot). */
  static #derived: { scope: readonly JsonValue[]; blocks: readonly Block[] } | undefined;
  /** Parts of a capability built from wire data or by the verifier, for the constructor (synchronous: one slot). */
  static #parts: { scope: readonly JsonValue[]; blocks: readonly Block[] | undefined; chain: SignedChain | undefined } | undefined;

  static {
    builtLocally = (value) => #status in value && (value as Capability).#status === LOCAL;
    readStatus = (cap) => (#status in cap ? Capability.#checked(cap) : undefined);
    writeStatus = (cap, status) => {
      cap.#status = status;
      // A verification is the chain it verified, in a chain's place: the capability keeps one object, not two.
      // Its decoded blocks are then let go (read from the token when asked): the verification answers what a
      // holding asks (expiry, audiences, ids), and every held capability kept a block list of its own.
      if (status instanceof TokenChain) {
        cap[chainOf] = status;
        cap.#blocks = undefined;
      }
    };
    fromParts = (scope, blocks, chain) => {
      Capability.#parts = { scope, blocks, chain };
      return new Capability(scope);
    };
  }

  /** How the server checked this capability, if it did (the status without the local brand). */
  static #checked(cap: Capability): Verification | CapsyncError | undefined {
    // Static: an instance private accessor would give every capability a brand slot.
    const status = cap.#status;
    return status === LOCAL ? undefined : status;
  }

  /** The full scope, narrowing included. */
  readonly scope: readonly JsonValue[];
  /**
   * The decoded blocks, when kept: always for a capability that has no chain yet (local, pending), or that
   * the server has not verified; never for one it verified or signed (see {@link blocks}).
   */
  #blocks: readonly Block[] | undefined;
  /** @internal */
  [chainOf]: SignedChain | undefined;

  /**
   * @param scope a non-empty list of JSON-compatible values.
   * @param restrictions an optional expiry and audience.
   */
  constructor(scope: readonly JsonValue[], restrictions: Restrictions = {}) {
    const parts = Capability.#parts;
    if (parts !== undefined) {
      // capabilityFromParts: not local, whatever its parts (checked by the verifier or the codec).
      Capability.#parts = undefined;
      this.#status = undefined;
      this.scope = parts.scope;
      this.#blocks = parts.blocks;
      this[chainOf] = parts.chain;
      return;
    }
    this.#status = LOCAL;
    const derived = Capability.#derived;
    if (derived !== undefined) {
      // narrow() of a local capability: a local child, whose parts narrow() has already checked.
      Capability.#derived = undefined;
      this.scope = derived.scope;
      this.#blocks = derived.blocks;
      this[chainOf] = undefined;
      return;
    }
    assertScope(scope, true, defaultLimits);
    const block = makeBlock(scope, restrictions);
    this.#blocks = Object.freeze([block]);
    // One block: the scope is its segment (the same frozen copy), not a second copy.
    this.scope = block.segment;
    this[chainOf] = undefined;
  }

  /**
   * The blocks of the chain, decoded (frozen): the pending blocks of a capability not yet signed, the decoded
   * ones of a token. A capability the server verified or signed keeps only its token, so for it they are
   * decoded from the token's bytes at each read (a new list each time, equal to the last).
   */
  get blocks(): readonly Block[] {
    const kept = this.#blocks;
    if (kept !== undefined) return kept;
    const chain = this[chainOf]!;
    return deepFreeze(decodeBlocks(chain.blockBytes, (chain.suite ?? defaultSuite).limits).decoded);
  }

  /** The number of blocks (chain steps), read without decoding them. */
  static #countOf(cap: Capability): number {
    return cap.#blocks?.length ?? (cap[chainOf] instanceof TokenChain ? cap[chainOf].count : cap[chainOf]!.blockBytes.length);
  }

  /** The earliest expiry in the chain (ms since epoch), or null. */
  get expiresAt(): number | null {
    const status = Capability.#checked(this);
    return status instanceof TokenChain ? status.expiresAt : restrictionsOf(this.blocks).expiresAt;
  }

  /** Every audience in the chain; the caller must match all of them. */
  get audiences(): readonly string[] {
    const status = Capability.#checked(this);
    return status instanceof TokenChain ? status.audiences : restrictionsOf(this.blocks).audiences;
  }

  /** True once the capability carries a server signature (it may still fail verification). */
  get signed(): boolean {
    const chain = this[chainOf];
    return chain !== undefined && chain.tag.length > 0;
  }

  /**
   * The revocation id of this exact capability (its last chain step), or undefined if it is unsigned.
   * Revoking it revokes this capability and everything narrowed from it, never the broader one it came from.
   */
  get revocationId(): string | undefined {
    const chain = this[chainOf];
    return chain && chain.tag.length > 0 ? revocationId(chain.tag, (chain.suite ?? defaultSuite).crypto) : undefined;
  }

  /**
   * A new capability with `suffix` appended to the scope and `restrictions` added. Synchronous, offline,
   * on client or server: the chain's next tag is HMAC(previous tag, new block). The limits are those of
   * the verifier or codec this capability came from (the defaults for one made by local code).
   */
  narrow(suffix: readonly JsonValue[] = [], restrictions: Restrictions = {}): Capability {
    const chain = this[chainOf];
    const limits = (chain?.suite ?? defaultSuite).limits;
    assertScope(suffix, false, limits);
    if (this.scope.length + suffix.length > limits.maxScopeLength) throw fail('ERR_LIMIT_SCOPE');
    if (Capability.#countOf(this) > limits.maxNarrowingSteps) throw fail('ERR_LIMIT_STEPS');
    const block = makeBlock(suffix, restrictions);
    // A step that adds no scope (a restriction, the server's binding) shares its parent's frozen scope.
    const scope = suffix.length === 0 ? this.scope : deepFreeze(concatExact(this.scope, structuredCopy(suffix)));
    // Without kept blocks (a verified parent), the child's are read from its token too when asked.
    const kept = this.#blocks;
    const blocks = kept === undefined ? undefined : Object.freeze(concatExact(kept, [block]));
    const status = Capability.#checked(this);
    if (chain === undefined) {
      // Made by local code and not yet sent: the server signs every block at once. A local capability's
      // children are local too (built by the constructor); a chainless one that is not (a tool's) has
      // children that are not.
      if (this.#status !== LOCAL) {
        const child = fromParts(scope, blocks, undefined);
        if (status instanceof CapsyncError) child.#status = status; // narrowing never cures a rejected capability
        return child;
      }
      Capability.#derived = { scope, blocks: blocks! };
      return new Capability(scope);
    }
    const next = extendChain(chain, block);
    const child = fromParts(scope, blocks, next);
    if (status instanceof CapsyncError) child.#status = status; // narrowing never cures a rejected capability
    // The child's verification is its chain too (a verifier's chain: the token alone; a plain one is written as one).
    else if (status !== undefined && next.tag.length > 0) {
      writeStatus(child, status.extendedBy(next instanceof TokenChain ? next : TokenChain.write(next.kid, next.blockBytes, next.tag, next.suite, next.suite?.arena), block));
    }
    return child;
  }

  /** The token bytes carried in msgpack extension type 1. Unsigned capabilities travel with an empty tag. */
  toToken(): Uint8Array {
    const bytes = tokenBytes(this);
    // A verifier keeps tokens as slices of a shared buffer: what leaves capsync is a copy of its own.
    return isSlice(bytes) ? new Uint8Array(bytes) : bytes;
  }

  /** A readable form for logs and debugging; never includes the tag. */
  toString(): string {
    return `Capability(${JSON.stringify(this.scope)})`;
  }

  /** What `JSON.stringify` shows: the scope only, never the token (a log line must not leak the right). */
  toJSON(): { scope: readonly JsonValue[] } {
    return { scope: this.scope };
  }

  /**
   * True when `other` is a capability with an equal scope (deep JSON equality, map key order ignored), as
   * Anvil compares its capabilities. Restrictions, chains and signatures are not compared: two capabilities
   * may be equal and still differ in who may use them, or in whether they verify.
   */
  equals(other: unknown): boolean {
    if (!(other instanceof Capability) || other.scope.length !== this.scope.length) return false;
    return this.scope.every((element, i) => jsonEqual(element, other.scope[i]!));
  }
}

/**
 * @internal True for a capability made by `new Capability(...)` (or narrowed from one) in this process:
 * never for one decoded from token bytes, revived from a portable object, or bound to a handle.
 */
export function isLocalCapability(cap: Capability): boolean {
  return builtLocally(cap);
}

/** Freezes a scope and everything in it: verified capabilities are shared (by the verifier's cache), so no holder may edit one. */
function deepFreeze<T>(value: T): T {
  // A typed array (an ancestor id) cannot be frozen; nothing hands it out, so it needs no freezing.
  if (typeof value !== 'object' || value === null || Object.isFrozen(value) || ArrayBuffer.isView(value)) return value;
  Object.freeze(value);
  if (Array.isArray(value)) for (let i = 0; i < value.length; i++) deepFreeze(value[i]);
  else for (const key in value) deepFreeze((value as Record<string, unknown>)[key]);
  return value;
}

function structuredCopy(values: readonly JsonValue[]): JsonValue[] {
  return values.map((v) => (v !== null && typeof v === 'object' ? (JSON.parse(JSON.stringify(v)) as JsonValue) : v));
}

function assertScope(scope: unknown, nonEmpty: boolean, limits: Limits): asserts scope is JsonValue[] {
  if (!Array.isArray(scope) || (nonEmpty && scope.length === 0)) throw fail('ERR_INVALID_SCOPE');
  if (scope.length > limits.maxScopeLength) throw fail('ERR_LIMIT_SCOPE');
  try {
    // An element travels at depth 3 of its block (block list, segment list, element), and blocks obey the depth limit.
    for (const element of scope) assertJsonValue(element, limits.maxDepth - 2);
  } catch {
    throw fail('ERR_INVALID_SCOPE');
  }
}

function makeBlock(segment: readonly JsonValue[], r: BindingRestrictions, ancestors?: readonly Uint8Array[]): Block {
  if (r.expiresAt !== undefined && !(Number.isSafeInteger(r.expiresAt) && r.expiresAt >= 0)) {
    throw fail('ERR_INVALID_VALUE', 'expiresAt must be a non-negative integer (ms since epoch)');
  }
  if (r.audience !== undefined && typeof r.audience !== 'string') throw fail('ERR_INVALID_VALUE', 'audience must be a string');
  const bound = r.generation !== undefined && r.audience !== undefined;
  if (bound && !(Number.isSafeInteger(r.generation) && r.generation! >= 0)) throw fail('ERR_INVALID_VALUE', 'generation must be a non-negative integer');
  if (bound && segment.length === 0 && r.expiresAt === undefined && ancestors === undefined) return bindingBlock(r.audience!, r.generation!);
  const copy = segment.length === 0 ? noSegment : deepFreeze(structuredCopy(segment));
  return Object.freeze(blockOf(copy, r.expiresAt ?? null, r.audience ?? null, ancestors, bound ? r.generation : undefined));
}

/**
 * `head` then `tail` in a list of exactly their length. A spread of a frozen list (`[...blocks, block]`) grows
 * its list as it pushes, to 17 slots or more: kept by every held capability, about 140 bytes of empty slots.
 */
function concatExact<T>(head: readonly T[], tail: readonly T[]): T[] {
  const out = new Array<T>(head.length + tail.length);
  for (let i = 0; i < head.length; i++) out[i] = head[i]!;
  for (let i = 0; i < tail.length; i++) out[head.length + i] = tail[i]!;
  return out;
}

/**
 * The server's binding steps, one frozen block per audience at its latest generation: a decoded block holds
 * no nonce (that is in the bytes), so every capability bound to one principal at one generation has the same
 * last block, and a held bound child keeps no block of its own. Bounded: emptied when it grows past its size.
 */
const bindingBlocks = new Map<string, Block>();
const MAX_BINDING_BLOCKS = 4096;

function bindingBlock(audience: string, generation: number): Block {
  const known = bindingBlocks.get(audience);
  if (known !== undefined && known.generation === generation) return known;
  if (known === undefined && bindingBlocks.size >= MAX_BINDING_BLOCKS) bindingBlocks.clear();
  const block = Object.freeze(blockOf(noSegment, null, audience, undefined, generation));
  bindingBlocks.set(audience, block);
  return block;
}

/** The segment of every step that adds no scope (a restriction, the server's binding): one frozen list for all. */
const noSegment: readonly JsonValue[] = Object.freeze([]);

/**
 * @internal An unsigned capability checked against `limits` rather than the defaults: what a verifier
 * mints before it signs it. Built without the constructor, like every capability not made by local code.
 */
export function pendingCapability(scope: readonly JsonValue[], restrictions: BindingRestrictions, limits: Limits, ancestors?: readonly Uint8Array[]): Capability {
  assertScope(scope, true, limits);
  const named = ancestors === undefined || ancestors.length === 0 ? undefined : Object.freeze([...ancestors]);
  const block = makeBlock(scope, restrictions, named);
  return capabilityFromParts(block.segment as JsonValue[], [block], undefined);
}

/**
 * @internal Builds a capability from verified or decoded parts (used by the verifier and the client codec).
 * `blocks` may be left out when `chain` is given: they are then decoded from its bytes when asked.
 */
export function capabilityFromParts(scope: JsonValue[], blocks: Block[] | undefined, chain: SignedChain | undefined): Capability {
  return fromParts(deepFreeze(scope), blocks === undefined ? undefined : deepFreeze(blocks), chain);
}

/**
 * @internal {@link capabilityFromParts} for a scope already frozen but for what the last block adds to it (a
 * chain one step longer than a verified one: the rest is the parent's). Its blocks are read from `chain` when asked.
 */
export function capabilityFromStep(scope: JsonValue[], chain: SignedChain, added: number): Capability {
  if (added > 0) {
    Object.freeze(scope);
    for (let i = scope.length - added; i < scope.length; i++) deepFreeze(scope[i]);
  }
  return fromParts(scope, undefined, chain);
}

/**
 * @internal The token bytes of `cap` as kept (what capsync's encoders write into a frame): for a verifier's
 * capability, a slice of a buffer shared with others, so never handed out ({@link Capability.toToken} copies).
 */
export function tokenBytes(cap: Capability): Uint8Array {
  const chain = cap[chainOf];
  return chain === undefined ? unsignedToken(cap.blocks) : chainToken(chain);
}

/**
 * @internal Gives `cap` an equal scope list in place of its own (a verifier's interned one: see
 * protocol/capability/scope-intern.ts). Both are frozen lists of the same values, so nothing can tell.
 */
export function shareScope(cap: Capability, scope: readonly JsonValue[]): void {
  if (scope !== cap.scope) (cap as { scope: readonly JsonValue[] }).scope = scope;
}

/** @internal Records how the server checked `cap` (a capability this process built). */
export function setStatus(cap: Capability, status: Verification | CapsyncError): void {
  writeStatus(cap, status);
}

/** @internal How the server checked `cap`, if it did. */
export function statusOf(cap: Capability): Verification | CapsyncError | undefined {
  return readStatus(cap);
}

/** @internal Decodes token bytes into an unverified capability that narrows with `suite` (the client codec's). */
export function decodeCapability(bytes: Uint8Array, suite: ChainSuite): Capability {
  const parsed = parseToken(bytes, suite.limits);
  return capabilityFromParts(parsed.scope, parsed.decoded, { kid: parsed.kid, blockBytes: parsed.blocks, tag: parsed.tag, token: parsed.token, suite });
}

/**
 * Rebuilds a {@link Capability} from its token bytes (what {@link Capability.toToken} returns and what travels
 * in msgpack extension type 1), without verifying it: only the server that minted it holds the key.
 *
 * The result is what a client holds after receiving the capability: it can be narrowed offline (with
 * `@noble/hashes` and `limits`) and sent back, and the server verifies it then. Tools use this to keep
 * capabilities as text (base64url) between runs. Throws `ERR_CAPABILITY_MALFORMED` (or a limit code) when
 * the bytes are not a token.
 *
 * @example
 * ```ts
 * const copy = capabilityFromToken(cap.toToken()); // same scope and chain, narrowable, not verified
 * ```
 */
export function capabilityFromToken(bytes: Uint8Array, limits?: Partial<Limits>): Capability {
  return decodeCapability(bytes, limits === undefined ? defaultSuite : { crypto: defaultSuite.crypto, limits: resolveLimits(limits) });
}
