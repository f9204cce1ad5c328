import { capabilityFromParts, type Capability } from './capability.js';
import { fail } from './errors.js';
import type { JsonValue } from './json-value.js';
import { resolveLimits, type Limits } from './limits.js';
import { decodeBlock, decodeToken } from './token.js';

/**
 * Rebuilds a {@link Capability} from its token bytes (what {@link Capability.toToken} returns and what travels
 * in msgpack extension type 1), without verifying it: only the server that minted it holds the key.
 *
 * The result is what a client holds after receiving the capability: it can be narrowed offline and sent
 * back, and the server verifies it then. Tools use this to keep capabilities as text (base64url) between runs.
 * Throws `ERR_CAPABILITY_MALFORMED` (or a limit code) when the bytes are not a token.
 *
 * @example
 * ```ts
 * const copy = capabilityFromToken(cap.toToken()); // same scope and chain, narrowable, not verified
 * ```
 */
export function capabilityFromToken(bytes: Uint8Array, limits?: Partial<Limits>): Capability {
  const resolved = resolveLimits(limits);
  const token = new Uint8Array(bytes); // the capability keeps its token: a copy, so the caller may reuse its buffer
  const parts = decodeToken(token, resolved);
  const blocks = parts.blocks.map((b) => decodeBlock(b, resolved));
  const scope = blocks.flatMap((b) => b.segment as JsonValue[]);
  if (scope.length === 0) throw fail('ERR_CAPABILITY_MALFORMED', 'capability scope is empty');
  if (scope.length > resolved.maxScopeLength) throw fail('ERR_LIMIT_SCOPE');
  return capabilityFromParts(scope, blocks, { kid: parts.kid, blockBytes: parts.blocks, tag: parts.tag, token });
}
