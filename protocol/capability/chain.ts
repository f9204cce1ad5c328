import { nobleCrypto, type CryptoProvider, type KeyedHmac } from '../crypto.js';
import { defaultLimits, type Limits } from '../limits.js';
import type { ByteArena } from './byte-arena.js';
import type { VerificationAuthority } from './status.js';
import { TokenChain } from './token-chain.js';
import { NONCE_BYTES, TAG_BYTES, encodeBlock, encodeToken, type Block } from './token.js';

/**
 * The HMAC chain of a capability (SPEC section 3.2), written once and used by minting, narrowing and
 * verification:
 *
 *   tag_0 = HMAC-SHA-256(root key, block_0 bytes),   tag_i = HMAC-SHA-256(tag_(i-1), block_i bytes)
 *
 * Only the last tag travels, so whoever holds a narrowed capability can extend its chain but never shorten it.
 */

/**
 * What a chain was made or decoded with, and so what narrowing it uses: the crypto provider and the limits
 * of the verifier or codec it came from. Shared by every capability of that verifier or codec.
 */
export interface ChainSuite {
  readonly crypto: CryptoProvider;
  readonly limits: Limits;
  /** Where the chains' token bytes are cut from (a verifier's); absent: a buffer each. */
  readonly arena?: ByteArena;
  /** The verifier whose chains these are (what re-checks their verifications): kept here, not in each one. */
  readonly authority?: VerificationAuthority;
}

/** The suite of capabilities made by nobody in particular: `@noble/hashes` and {@link defaultLimits}. */
export const defaultSuite: ChainSuite = Object.freeze({ crypto: nobleCrypto, limits: defaultLimits });

/** @internal Symbol under which a capability keeps its chain; not part of the public API. */
export const chainOf = Symbol('capsync.chain');

/**
 * The signed form of a capability: what travels on the wire. Internal to capsync. A verifier's chains are
 * {@link TokenChain}s (the token bytes alone, the rest viewed from them); a client's are plain objects.
 */
export interface SignedChain {
  readonly kid: string;
  readonly blockBytes: readonly Uint8Array[];
  /** The last tag; empty for an unsigned token (a client's), which narrowing keeps unsigned. */
  readonly tag: Uint8Array;
  /** The exact token bytes, kept so re-sending never re-encodes. */
  token?: Uint8Array;
  /** The provider and limits narrowing uses; {@link defaultSuite} when absent. */
  readonly suite?: ChainSuite;
}

/** One link of the chain: the tag after `previous` (the root key or the last tag) and the next block's bytes. */
function link(crypto: CryptoProvider, previous: Uint8Array, blockBytes: Uint8Array): Uint8Array {
  return crypto.hmacSha256(previous, blockBytes);
}

/**
 * Every tag of the chain over `blockBytes`, first to last. `root` is HMAC-SHA-256 under the root key
 * (precomputed by the verifier, {@link keyedHmac}): only block 0 is signed with it.
 */
export function walkChain(crypto: CryptoProvider, root: KeyedHmac, blockBytes: readonly Uint8Array[]): Uint8Array[] {
  const tags = new Array<Uint8Array>(blockBytes.length);
  let tag = (tags[0] = root(blockBytes[0]!));
  for (let i = 1; i < blockBytes.length; i++) tags[i] = tag = link(crypto, tag, blockBytes[i]!);
  return tags;
}

/**
 * Signs pending blocks (a capability made by local code) under `kid` with `root` (HMAC under its key): each
 * block gets a fresh nonce. Returns the chain and every tag (the verification the signer records).
 */
export function signChain(
  blocks: readonly Block[],
  kid: string,
  root: KeyedHmac,
  suite: ChainSuite,
  random: (length: number) => Uint8Array = randomNonce,
): { chain: SignedChain; tags: Uint8Array[] } {
  const blockBytes = blocks.map((block) => encodeBlock(block, random(NONCE_BYTES)));
  const tags = walkChain(suite.crypto, root, blockBytes);
  const tag = tags[tags.length - 1]!;
  return { chain: TokenChain.write(kid, blockBytes, tag, suite, suite.arena), tags };
}

/**
 * Recomputes a received chain from `root` and compares its last tag with the token's, in constant time.
 * Returns every tag when they match, undefined otherwise (bad signature).
 */
export function verifyChain(chain: SignedChain, root: KeyedHmac, crypto: CryptoProvider): Uint8Array[] | undefined {
  if (chain.tag.length !== TAG_BYTES) return undefined; // the length is public: nothing leaks by stopping early
  const tags = walkChain(crypto, root, chain.blockBytes);
  return crypto.timingSafeEqual(tags[tags.length - 1]!, chain.tag) ? tags : undefined;
}

/**
 * One step of a received chain whose prefix is already verified: `previous` (HMAC under the prefix's last
 * tag, {@link keyedHmac}) over `lastBlock`, compared in constant time with the token's tag, the 32 bytes of
 * `token` from `tagStart` to its end (read in place: no view made). The tag when they match, else undefined.
 */
export function verifyLastStep(previous: KeyedHmac, lastBlock: Uint8Array, token: Uint8Array, tagStart: number): Uint8Array | undefined {
  if (token.length - tagStart !== TAG_BYTES) return undefined; // the length is public: nothing leaks by stopping early
  const next = previous(lastBlock);
  let diff = 0;
  for (let i = 0; i < TAG_BYTES; i++) diff |= next[i]! ^ token[tagStart + i]!;
  return diff === 0 ? next : undefined;
}

/**
 * The chain one narrowing step longer: `block` with a fresh nonce, and the next tag. Every step carries its
 * own nonce, so two holders who narrow the same way still get distinct capabilities, each with its own
 * revocation id. An unsigned chain (received from a client) stays unsigned: server code that narrows a
 * forged capability and sends it back can never get it signed.
 */
export function extendChain(chain: SignedChain, block: Block): SignedChain {
  const bytes = encodeBlock(block, randomNonce());
  const suite = chain.suite;
  if (chain instanceof TokenChain) {
    // The new token is the old one's blocks, the new block and the new tag: written once, nothing else kept.
    return chain.extend(bytes, chain.signed ? link((suite ?? defaultSuite).crypto, chain.tag, bytes) : new Uint8Array(0), suite?.arena);
  }
  const blockBytes = [...chain.blockBytes, bytes];
  if (chain.tag.length === 0) return { kid: chain.kid, blockBytes, tag: chain.tag, suite };
  return { kid: chain.kid, blockBytes, tag: link((suite ?? defaultSuite).crypto, chain.tag, bytes), suite };
}

/**
 * The token bytes of a signed or received chain, encoded once. A verifier's chain is its token; those bytes
 * may be a slice of a shared buffer ({@link ByteArena}), for capsync's encoders only.
 */
export function chainToken(chain: SignedChain): Uint8Array {
  return chain instanceof TokenChain ? chain.token : (chain.token ??= encodeToken({ kid: chain.kid, blocks: chain.blockBytes, tag: chain.tag }));
}

/** The token of a capability made by local code and never signed: kid "", no nonces, an empty tag. */
export function unsignedToken(blocks: readonly Block[]): Uint8Array {
  return encodeToken({ kid: '', blocks: blocks.map((b) => encodeBlock(b)), tag: new Uint8Array(0) });
}

/** The effective restrictions of a chain: the earliest expiry and every audience. */
export function restrictionsOf(blocks: readonly Block[]): { expiresAt: number | null; audiences: string[] } {
  let expiresAt: number | null = null;
  const audiences: string[] = [];
  for (const b of blocks) {
    expiresAt = minExpiry(expiresAt, b.expiresAt);
    if (b.audience !== null) audiences.push(b.audience);
  }
  return { expiresAt, audiences };
}

/** The earlier of two expiries; null means none. */
export function minExpiry(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

/** @internal A chain tag as a map key (one UTF-16 unit per byte): cheap to build, well spread, never sent. */
export function tagKey(tag: Uint8Array): string {
  return String.fromCharCode.apply(null, tag as unknown as number[]);
}

// Nonces are cut from a pool filled by one CSPRNG call: getRandomValues costs microseconds per call in
// Node, more than the HMAC of a step. Nonces are public (they travel in every token), so a pool is safe,
// and it holds no state anyone can observe: it is a buffer of random bytes, not configuration.
const NONCE_POOL_BYTES = 4096;
let noncePool = new Uint8Array(0);
let noncePoolOffset = 0;

/** @internal A nonce for a chain block, from the platform's CSPRNG (Web Crypto, in browsers and Node). */
export function randomNonce(): Uint8Array {
  if (noncePoolOffset + NONCE_BYTES > noncePool.length) {
    noncePool = globalThis.crypto.getRandomValues(new Uint8Array(NONCE_POOL_BYTES));
    noncePoolOffset = 0;
  }
  return noncePool.slice(noncePoolOffset, (noncePoolOffset += NONCE_BYTES));
}
