import type { KeyedHmac } from '../crypto.js';
import { fail, type CapsyncError } from '../errors.js';
import type { JsonValue } from '../json-value.js';
import type { Keyring, RootKey } from '../keyring.js';
import { Capability, capabilityFromParts, capabilityFromStep, setStatus } from './capability.js';
import { chainOf, restrictionsOf, verifyChain, verifyLastStep, type ChainSuite, type SignedChain } from './chain.js';
import { Verification, ancestorIds, marksOf, statusOf, type VerificationAuthority } from './status.js';
import { checkScopeLength, decodeBlock, decodeBlocks, type Block } from './token.js';

/**
 * The two ways a verifier checks a token's HMAC chain (SPEC section 3.2): from its root key (cold), or by
 * its last step from a verified chain it extends by one block. Each returns the capability, with its
 * {@link Verification} or the error it fails with recorded on it.
 */

/** What a verifier lends the chain checks. */
export interface ChainContext {
  readonly keyring: Keyring;
  readonly suite: ChainSuite;
  readonly authority: VerificationAuthority;
  /** HMAC under a root key, its state computed once. */
  root(key: RootKey): KeyedHmac;
}

/** Verifies a whole chain from its root key; `blockBytes` and `tag` are the verifier's own copies. */
export function verifyCold(ctx: ChainContext, kid: string, blockBytes: Uint8Array[], tag: Uint8Array): Capability {
  const { scope, decoded: blocks } = decodeBlocks(blockBytes, ctx.suite.limits);
  const chain: SignedChain = { kid, blockBytes, tag, suite: ctx.suite };
  if (kid === '' || tag.length === 0) return rejected(scope, blocks, chain, fail('ERR_CAPABILITY_FORGED'));
  const key = ctx.keyring.get(kid);
  if (key === undefined) return rejected(scope, blocks, chain, fail('ERR_CAPABILITY_UNKNOWN_KEY'));
  const tags = verifyChain(chain, ctx.root(key), ctx.suite.crypto);
  if (tags === undefined) return rejected(scope, blocks, chain, fail('ERR_CAPABILITY_BAD_SIGNATURE'));
  // The key id is the ring's string, shared by every capability it signed, not one read from each token.
  const cap = capabilityFromParts(scope, blocks, { kid: key.kid, blockBytes, tag: tags[tags.length - 1]!, suite: ctx.suite });
  const restrictions = restrictionsOf(blocks);
  setStatus(cap, Verification.ofChain(ctx.authority, tags, { ...restrictions, ancestors: ancestorIds(blocks[0]!.ancestors), marks: marksOf(blocks) }));
  return cap;
}

/**
 * Verifies a token that extends the verified `parent` by one block, `lastBytes` (the verifier's copy): that
 * block alone is decoded (the others are the parent's, byte for byte, and the child shares the parent's
 * copies, scope and decoded blocks) and one HMAC step from the parent's last tag checks the token's tag, the
 * bytes of `token` from `tagStart` on (read, not kept).
 */
export function verifyStep(ctx: ChainContext, parent: Capability, lastBytes: Uint8Array, token: Uint8Array, tagStart: number): Capability {
  const limits = ctx.suite.limits;
  const last = decodeBlock(lastBytes, limits);
  const added = last.segment.length;
  const scope = added === 0 ? (parent.scope as JsonValue[]) : appended(parent.scope, last.segment);
  checkScopeLength(scope.length, limits);
  const blocks = appendOne(parent.blocks, last);
  const head = parent[chainOf]!;
  const blockBytes = appendOne(head.blockBytes, lastBytes);
  const base = statusOf(parent) as Verification;
  const tag = verifyLastStep(base.step(), lastBytes, token, tagStart);
  if (tag === undefined) return rejected([...scope], blocks, { kid: head.kid, blockBytes, tag: new Uint8Array(token.subarray(tagStart)), suite: ctx.suite }, fail('ERR_CAPABILITY_BAD_SIGNATURE'));
  // The tag just computed equals the token's: the chain keeps it rather than a copy of the token's.
  const cap = capabilityFromStep(scope, blocks, { kid: head.kid, blockBytes, tag, suite: ctx.suite }, added);
  setStatus(cap, base.extend(tag, last));
  return cap;
}

/** A capability that failed verification: its use throws `error`. */
export function rejected(scope: JsonValue[], blocks: Block[], chain: SignedChain | undefined, error: CapsyncError): Capability {
  const cap = capabilityFromParts(scope, blocks, chain);
  setStatus(cap, error);
  return cap;
}

/** A new list of `head` then `tail` (frozen lists make `concat` and spreads slow). */
function appended<T>(head: readonly T[], tail: readonly T[]): T[] {
  const out = new Array<T>(head.length + tail.length);
  for (let i = 0; i < head.length; i++) out[i] = head[i]!;
  for (let i = 0; i < tail.length; i++) out[head.length + i] = tail[i]!;
  return out;
}

function appendOne<T>(head: readonly T[], item: T): T[] {
  const out = new Array<T>(head.length + 1);
  for (let i = 0; i < head.length; i++) out[i] = head[i]!;
  out[head.length] = item;
  return out;
}
