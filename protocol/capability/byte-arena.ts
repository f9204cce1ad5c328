/** Bytes of one chunk a {@link ByteArena} cuts its slices from. */
export const ARENA_CHUNK_BYTES = 16384;

/**
 * Where a verifier keeps the token bytes of the capabilities it verified or signed: slices of shared 16 KiB
 * chunks instead of one buffer each (a token of more than 1 KiB gets a buffer of its own). A `Uint8Array` of more than 64 bytes has its own off-heap backing store,
 * which costs more to allocate and free than a chain step (about 600 ns against 60 for a slice) and, held,
 * an ArrayBuffer object and a backing-store record beside the bytes; a token is 100 to 200 bytes.
 *
 * A chunk lives while any slice of it does: at worst (one live token per chunk) a held token keeps 16 KiB.
 * Tokens made together (one answer's capabilities, one connection's) mostly die together.
 *
 * A slice is a view of a shared buffer, so its `.buffer` reaches other capabilities' tokens: slices never
 * leave capsync's internals (`Capability.toToken` hands out a copy; the codec writes the bytes into frames).
 */
export class ByteArena {
  #chunk = new ArrayBuffer(0);
  /** Past the end: the first take allocates the first chunk (an idle verifier holds none). */
  #offset = ARENA_CHUNK_BYTES;

  /** `length` fresh bytes (zeroed) that are this caller's alone. */
  take(length: number): Uint8Array {
    if (length > ARENA_CHUNK_BYTES / 16) return new Uint8Array(length);
    if (this.#offset + length > ARENA_CHUNK_BYTES) {
      // A 16 KiB chunk costs about as much to allocate as 20 slices of a 4 KiB one cost together.
      this.#chunk = new ArrayBuffer(ARENA_CHUNK_BYTES);
      this.#offset = 0;
    }
    const slice = new Uint8Array(this.#chunk, this.#offset, length);
    // Slices start 8-byte aligned: two tokens' equal ranges can then be compared a word at a time.
    this.#offset += (length + 7) & ~7;
    return slice;
  }
}

/** True when `bytes` is a view of a larger buffer (a slice of an arena, or of a frame). */
export function isSlice(bytes: Uint8Array): boolean {
  return bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength;
}
