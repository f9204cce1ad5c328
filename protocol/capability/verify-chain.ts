import type { KeyedHmac } from '../crypto.js';
import { fail, type CapsyncError } from '../errors.js';
import type { JsonValue } from '../json-value.js';
import type { Keyring, RootKey } from '../keyring.js';
import { Capability, capabilityFromParts, capabilityFromStep, setStatus } from './capability.js';
import { restrictionsOf, walkChain, type ChainSuite, type SignedChain } from './chain.js';
import { Verification, ancestorIds, marksOf, statusOf, type VerificationAuthority } from './status.js';
import { payloadAt, type TokenChain } from './token-chain.js';
import { TAG_BYTES, checkScopeLength, decodeBlock, decodeBlocks, type Block } from './token.js';

/**
 * The two ways a verifier checks a token's HMAC chain (SPEC section 3.2): from its root key (cold), or by
 * its last step from a verified chain it extends by one block. Both read the verifier's own canonical copy
 * of the token (a {@link TokenChain}), which the capability then keeps as its only bytes. Each returns the
 * capability, with its {@link Verification} or the error it fails with recorded on it.
 */

/** What a verifier lends the chain checks. */
export interface ChainContext {
  readonly keyring: Keyring;
  readonly suite: ChainSuite;
  readonly authority: VerificationAuthority;
  /** HMAC under a root key, its state computed once. */
  root(key: RootKey): KeyedHmac;
  /** The verifier's kept list equal to a verified scope (protocol/capability/scope-intern.ts). */
  intern(scope: readonly JsonValue[]): readonly JsonValue[];
}

/** Verifies a whole chain from its root key. */
export function verifyCold(ctx: ChainContext, chain: TokenChain): Capability {
  const blockBytes = chain.blockBytes;
  const { scope, decoded: blocks } = decodeBlocks(blockBytes, ctx.suite.limits);
  if (chain.kid === '' || !chain.signed) return rejected(scope, blocks, chain, fail('ERR_CAPABILITY_FORGED'));
  const key = ctx.keyring.get(chain.kid);
  if (key === undefined) return rejected(scope, blocks, chain, fail('ERR_CAPABILITY_UNKNOWN_KEY'));
  const token = chain.token;
  if (chain.tagLength !== TAG_BYTES) return rejected(scope, blocks, chain, fail('ERR_CAPABILITY_BAD_SIGNATURE')); // the length is public
  const tags = walkChain(ctx.suite.crypto, ctx.root(key), blockBytes);
  if (!tagIs(tags[tags.length - 1]!, token)) return rejected(scope, blocks, chain, fail('ERR_CAPABILITY_BAD_SIGNATURE'));
  // Its blocks are not kept: the verification records what they say (see Capability.blocks). Its scope, once
  // its signature is checked, is the one kept for an equal scope.
  const cap = capabilityFromParts(ctx.intern(scope) as JsonValue[], undefined, chain);
  const facts = { ...restrictionsOf(blocks), ancestors: ancestorIds(blocks[0]!.ancestors), marks: marksOf(blocks) };
  const arena = ctx.suite.arena;
  setStatus(cap, Verification.ofChain(ctx.authority, tags, chain, facts, arena === undefined ? undefined : (n) => arena.take(n)));
  return cap;
}

/**
 * Verifies `chain`, which extends the verified `parent` by one block (every other block is the parent's,
 * byte for byte): that block alone is decoded (the child shares the parent's scope; its blocks are read from
 * its token when asked, as every verified capability's are) and
 * one HMAC step from the parent's last tag checks the token's tag, both read where they lie in the token
 * (`token`, the chain's token as the caller viewed it; `lastAt`, where its last block starts).
 */
export function verifyStep(ctx: ChainContext, parent: Capability, chain: TokenChain, token: Uint8Array, lastAt: number): Capability {
  const limits = ctx.suite.limits;
  const lastBytes = token.subarray(payloadAt(token, lastAt), chain.blocksEnd);
  const last = decodeBlock(lastBytes, limits);
  const added = last.segment.length;
  const scope = added === 0 ? (parent.scope as JsonValue[]) : appended(parent.scope, last.segment);
  checkScopeLength(scope.length, limits);
  const base = statusOf(parent) as Verification;
  if (chain.tagLength !== TAG_BYTES || !tagIs(base.step()(lastBytes), token)) return rejected([...scope], undefined, chain, fail('ERR_CAPABILITY_BAD_SIGNATURE'));
  const cap = capabilityFromStep(scope, chain, added);
  setStatus(cap, base.extendedBy(chain, last));
  return cap;
}

/** True when `tag` is the last 32 bytes of `token`, compared in constant time. */
function tagIs(tag: Uint8Array, token: Uint8Array): boolean {
  const at = token.length - TAG_BYTES;
  let diff = 0;
  for (let i = 0; i < TAG_BYTES; i++) diff |= tag[i]! ^ token[at + i]!;
  return diff === 0;
}

/** A capability that failed verification: its use throws `error`. Without `blocks`, they are read from `chain`. */
export function rejected(scope: JsonValue[], blocks: Block[] | undefined, chain: SignedChain | undefined, error: CapsyncError): Capability {
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
