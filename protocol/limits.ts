/**
 * The bounds every decoder enforces before it allocates. One object, documented defaults;
 * the server passes the same values to `ws` (`maxPayload`) so a frame is refused before it is buffered.
 */
export interface Limits {
  /** Largest frame, in bytes, accepted from a peer. */
  readonly maxFrameBytes: number;
  /** Deepest nesting of lists and maps (a frame's outer list counts as depth 1). */
  readonly maxDepth: number;
  /** Most values (scalars, lists, maps, map keys) in one frame. */
  readonly maxElements: number;
  /** Longest string, in UTF-8 bytes. */
  readonly maxStringBytes: number;
  /** Longest binary value, in bytes. */
  readonly maxBinaryBytes: number;
  /** Most elements in a capability's full scope. */
  readonly maxScopeLength: number;
  /** Most narrowing steps after the minted block. */
  readonly maxNarrowingSteps: number;
  /** Largest capability token, in bytes. */
  readonly maxTokenBytes: number;
  /**
   * Most ancestor revocation ids block 0 of a delegated capability may name (the ids of the capability it
   * was re-minted from, and of that one's ancestors). Each hop of a delegation adds the delegator's chain.
   */
  readonly maxAncestors: number;
}

/** Defaults chosen for interactive apps: generous for real payloads, small enough that no frame can exhaust memory. */
export const defaultLimits: Limits = Object.freeze({
  maxFrameBytes: 1024 * 1024,
  maxDepth: 32,
  maxElements: 100_000,
  maxStringBytes: 256 * 1024,
  maxBinaryBytes: 512 * 1024,
  maxScopeLength: 32,
  maxNarrowingSteps: 16,
  maxTokenBytes: 8 * 1024,
  // 16 steps per hop at most: 64 ids cover four fully narrowed hops, or about twenty typical ones
  // (minted, bound, narrowed once), in 1.2 KB of token.
  maxAncestors: 64,
});

/** Defaults overridden by `partial`. */
export function resolveLimits(partial?: Partial<Limits>): Limits {
  return Object.freeze({ ...defaultLimits, ...partial });
}
