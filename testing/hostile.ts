import { Capability, capabilityFromParts } from '../protocol/capability/capability.js';
import { decodeToken, encodeBlock, type Block } from '../protocol/capability/token.js';
import { frameIdOf } from '../protocol/frames.js';
import type { JsonValue } from '../protocol/json-value.js';
import { defaultLimits } from '../protocol/limits.js';

/**
 * What a hostile peer sends, for protocol tests: capabilities a client could make itself. The server must
 * refuse every one of them (`ERR_CAPABILITY_FORGED`, `ERR_CAPABILITY_BAD_SIGNATURE`); these are the tools
 * to prove it, kept here so tests and scripts need no capsync internals.
 */

/**
 * A capability of `scope` made by the client: unsigned, so the server refuses it with `ERR_CAPABILITY_FORGED`.
 * With `signatureOf`, it carries that (real) capability's key id and tag instead, over blocks it never
 * signed: the server refuses it with `ERR_CAPABILITY_BAD_SIGNATURE`.
 */
export function forgeCapability(scope: readonly JsonValue[], options: { signatureOf?: Capability } = {}): Capability {
  const donor = options.signatureOf;
  if (donor === undefined) return new Capability(scope);
  const parts = decodeToken(donor.toToken(), defaultLimits);
  const block: Block = { segment: [...scope], expiresAt: null, audience: null };
  return capabilityFromParts([...scope], [block], { kid: parts.kid, blockBytes: [encodeBlock(block)], tag: parts.tag });
}

/** The request id of a decoded frame a server would answer (call, delegate, revoke, ...), when it can be read. */
export function requestIdOf(value: unknown): number | null {
  return frameIdOf(value);
}
