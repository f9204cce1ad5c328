import { _SHA256, sha256 } from '@noble/hashes/sha2.js';

/**
 * HMAC-SHA-256 (RFC 2104) over `@noble/hashes`' SHA-256 compression function, with no object made per call.
 *
 * A capability's chain runs one HMAC per block over a few dozen bytes, so what an HMAC costs is not the
 * compressions (two per block under a precomputed key, four under a fresh one) but everything around them:
 * `hmac()` builds two hash objects, and `node:crypto` pays a native call, a Buffer and an object per digest,
 * more than the compressions themselves. Here one noble engine is driven directly: the key's inner and outer
 * pad blocks are compressed once ({@link hmacKeyState}), and each message is its padded blocks run from that
 * state, into one scratch block. The compression is noble's, unchanged (`@noble/hashes` is pinned: its
 * internal `process` is what this reaches); only RFC 2104's padding and composition are written here, and
 * test/protocol/hmac-sha256.test.ts checks them against `node:crypto` over every message length up to three blocks.
 *
 * Synchronous and single-threaded: the scratch block is reused by every call, and key material is wiped
 * from it (and from noble's message schedule) before a call returns.
 */

/** A key's HMAC state: the 8 SHA-256 words after its inner pad block, then the 8 after its outer pad block. */
export type HmacKeyState = Int32Array;

class Engine extends _SHA256 {
  /** The block being compressed. */
  readonly pad = new Uint8Array(64);
  readonly padView = new DataView(this.pad.buffer);
  /** SHA-256's initial state, read once from a fresh instance. */
  readonly iv: Int32Array;

  constructor() {
    super();
    this.iv = Int32Array.from(this.get());
  }

  /** Compresses {@link pad} from the 8 words of `state` at `offset`; the result is left in A..H. */
  compress(state: Int32Array, offset: number): void {
    this.set(state[offset]!, state[offset + 1]!, state[offset + 2]!, state[offset + 3]!, state[offset + 4]!, state[offset + 5]!, state[offset + 6]!, state[offset + 7]!);
    this.process(this.padView, 0);
  }

  /** Compresses {@link pad} again, from the state the last compression left. */
  next(): void {
    this.process(this.padView, 0);
  }

  /** Writes A..H into `to` at `offset`. */
  store(to: Int32Array, offset: number): void {
    to[offset] = this.A;
    to[offset + 1] = this.B;
    to[offset + 2] = this.C;
    to[offset + 3] = this.D;
    to[offset + 4] = this.E;
    to[offset + 5] = this.F;
    to[offset + 6] = this.G;
    to[offset + 7] = this.H;
  }

  /** A..H as the first 32 bytes of {@link pad}, big-endian: the inner digest, as the outer block's message. */
  digestToPad(): void {
    const v = this.padView;
    v.setInt32(0, this.A);
    v.setInt32(4, this.B);
    v.setInt32(8, this.C);
    v.setInt32(12, this.D);
    v.setInt32(16, this.E);
    v.setInt32(20, this.F);
    v.setInt32(24, this.G);
    v.setInt32(28, this.H);
  }

  /** A..H as a new 32-byte digest (32 bytes stay on the JS heap: no backing store to allocate and free). */
  digest32(): Uint8Array {
    const out = new Uint8Array(32);
    word(out, 0, this.A);
    word(out, 4, this.B);
    word(out, 8, this.C);
    word(out, 12, this.D);
    word(out, 16, this.E);
    word(out, 20, this.F);
    word(out, 24, this.G);
    word(out, 28, this.H);
    return out;
  }

  /** Zeroes the scratch block and noble's message schedule (they held key material). */
  wipe(): void {
    this.pad.fill(0);
    this.roundClean();
  }
}

function word(out: Uint8Array, offset: number, w: number): void {
  out[offset] = w >>> 24;
  out[offset + 1] = (w >>> 16) & 0xff;
  out[offset + 2] = (w >>> 8) & 0xff;
  out[offset + 3] = w & 0xff;
}

const engine = new Engine();
/** The state of a one-shot {@link hmacSha256} call's key, reused: calls are synchronous. */
const oneShotState: HmacKeyState = new Int32Array(16);

/** Fills `into` with the HMAC state of `key`: its pad blocks compressed from SHA-256's initial state. */
function keyStateInto(key: Uint8Array, into: HmacKeyState): HmacKeyState {
  const k = key.length > 64 ? sha256(key) : key;
  const pad = engine.pad;
  for (let i = 0; i < 64; i++) pad[i] = (k[i] ?? 0) ^ 0x36;
  engine.compress(engine.iv, 0);
  engine.store(into, 0);
  for (let i = 0; i < 64; i++) pad[i] = (k[i] ?? 0) ^ 0x5c;
  engine.compress(engine.iv, 0);
  engine.store(into, 8);
  engine.wipe();
  return into;
}

/** The HMAC-SHA-256 state of `key`, computed once for a key that signs many messages (a root key, a cached tag). */
export function hmacKeyState(key: Uint8Array): HmacKeyState {
  return keyStateInto(key, new Int32Array(16));
}

/** HMAC-SHA-256 of `message` under the key whose state is `state` ({@link hmacKeyState}). */
export function hmacWithState(state: HmacKeyState, message: Uint8Array): Uint8Array {
  const pad = engine.pad;
  const length = message.length;
  let offset = 0;
  let first = true;
  // Inner hash: H(K ^ ipad || message), resumed after the key's block, so the message starts at byte 64.
  for (; offset + 64 <= length; offset += 64) {
    for (let i = 0; i < 64; i++) pad[i] = message[offset + i]!;
    if (first) engine.compress(state, 0);
    else engine.next();
    first = false;
  }
  const rest = length - offset;
  for (let i = 0; i < rest; i++) pad[i] = message[offset + i]!;
  pad[rest] = 0x80;
  pad.fill(0, rest + 1);
  if (rest >= 56) {
    if (first) engine.compress(state, 0);
    else engine.next();
    first = false;
    pad.fill(0, 0, 56);
  }
  const bits = (64 + length) * 8;
  engine.padView.setUint32(56, Math.floor(bits / 0x1_0000_0000));
  engine.padView.setUint32(60, bits >>> 0);
  if (first) engine.compress(state, 0);
  else engine.next();
  // Outer hash: H(K ^ opad || inner digest), one block: 32 bytes, the 0x80 marker, the length (96 bytes).
  engine.digestToPad();
  pad[32] = 0x80;
  pad.fill(0, 33, 62);
  pad[62] = 0x03; // (64 + 32) * 8 = 768 = 0x0300
  pad[63] = 0x00;
  engine.compress(state, 8);
  const tag = engine.digest32();
  pad.fill(0, 0, 32);
  return tag;
}

/** HMAC-SHA-256 of `message` under `key`: four compressions for a key of up to 64 bytes and a message under 56. */
export function hmacSha256(key: Uint8Array, message: Uint8Array): Uint8Array {
  const tag = hmacWithState(keyStateInto(key, oneShotState), message);
  oneShotState.fill(0);
  return tag;
}
