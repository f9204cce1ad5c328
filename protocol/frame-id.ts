/**
 * The id of a frame read from its first bytes, without decoding (or even scanning) the rest: a frame that
 * is refused (over a limit, an unknown portable class, bad msgpack further on) can still be answered by id,
 * so the peer that sent it fails that one request at once instead of at its timeout.
 *
 * Readable means: a fixarray of at least two elements whose first element is a positive fixint in `types`
 * and whose second is an unsigned integer (fixint, uint8, uint16 or uint32) wholly present in `bytes`.
 * Anything else is null: the answer then carries id nil, as SPEC section 5 says.
 */
export function peekFrameId(bytes: Uint8Array, types: ReadonlySet<number>): number | null {
  const head = bytes[0];
  if (head === undefined || head < 0x92 || head > 0x9f) return null;
  const type = bytes[1];
  if (type === undefined || type > 0x7f || !types.has(type)) return null;
  const t = bytes[2];
  if (t === undefined) return null;
  if (t <= 0x7f) return t;
  if (t === 0xcc && bytes.length > 3) return bytes[3]!;
  if (t === 0xcd && bytes.length > 4) return (bytes[3]! << 8) | bytes[4]!;
  if (t === 0xce && bytes.length > 6) return ((bytes[3]! << 24) | (bytes[4]! << 16) | (bytes[5]! << 8) | bytes[6]!) >>> 0;
  return null;
}
