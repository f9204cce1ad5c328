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

/**
 * The limits a server announces in `hello` (its `limits` map): every one it holds a client's frames to,
 * so a client checks what it sends against the server's values, not its own defaults (SPEC section 2).
 */
export const announcedLimitNames = Object.freeze([
  'maxFrameBytes', 'maxDepth', 'maxElements', 'maxStringBytes', 'maxBinaryBytes', 'maxScopeLength', 'maxNarrowingSteps', 'maxTokenBytes', 'maxAncestors',
] as const satisfies readonly (keyof Limits)[]);

/** What `hello` carries as `limits`: each of {@link announcedLimitNames}. */
export function announcedLimits(limits: Limits): Record<(typeof announcedLimitNames)[number], number> {
  const out = {} as Record<(typeof announcedLimitNames)[number], number>;
  for (const name of announcedLimitNames) out[name] = limits[name];
  return out;
}

/**
 * The limits a client holds what it sends to: the server's announced values (hello's `limits`, and its
 * top-level `maxFrameBytes`, which every server sends), and for any a server does not announce (an older
 * one), the client's own.
 */
export function sendLimits(own: Limits, hello: { readonly maxFrameBytes?: number; readonly limits?: Partial<Record<string, number>> }): Limits {
  const out: Record<string, number> = { ...own };
  // Each announced value is taken only if it is a positive integer: a malformed hello leaves the client's own.
  const take = (name: string, value: unknown): void => {
    if (typeof value === 'number' && Number.isInteger(value) && value > 0) out[name] = value;
  };
  take('maxFrameBytes', hello.maxFrameBytes);
  for (const name of announcedLimitNames) take(name, hello.limits?.[name]);
  return Object.freeze(out) as unknown as Limits;
}
