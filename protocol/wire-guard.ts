import { fail } from './errors.js';
import type { Limits } from './limits.js';

/** msgpack extension types capsync accepts; every other type (msgpackr's RegExp, Error, Set, ...) is refused. */
export const ExtensionType = {
  capability: 1,
  portable: 2,
  /** A capability this connection bound earlier: a 4-byte big-endian handle. Client to server only. */
  capabilityHandle: 5,
  /** A capability bound to a handle as it is sent: a 4-byte handle, then the token. Client to server only. */
  capabilityBind: 6,
} as const;

const PROTO = [0x5f, 0x5f, 0x70, 0x72, 0x6f, 0x74, 0x6f, 0x5f, 0x5f]; // "__proto__"

/**
 * Walks msgpack bytes without building anything and refuses them, with a typed error, if they break a limit.
 *
 * msgpackr trusts what a frame announces: `new Array(n)` for any n, recursion as deep as the data, and a
 * registry of built-in extensions. This walk runs first, iteratively (no stack overflow at any depth), and
 * checks every announced length against the bytes actually present, so the decoder never allocates for
 * data that is not there. Map keys must be strings and never `__proto__`.
 */
export function scanFrame(bytes: Uint8Array, limits: Limits, allowExtensions = true): void {
  if (bytes.length > limits.maxFrameBytes) throw fail('ERR_FRAME_TOO_LARGE');
  const state = { elements: 0 };
  stackTop = 0;
  const end = scanValue(bytes, 0, bytes.length, 0, limits, allowExtensions, state);
  if (end !== bytes.length) throw fail('ERR_FRAME_TRAILING_BYTES');
}

interface ScanState {
  elements: number;
}

// Each open container: how many values it still holds, and whether it is a map whose next value is a key.
// One stack for every scan (scans are synchronous; a portable object's payload is scanned above its
// parent's frames), read through the plain functions below rather than closures over `pos`, so the walk
// allocates nothing: it runs on every frame, in both directions.
const remaining: number[] = [];
const mapState: number[] = []; // 0: list, 1: map expecting a value, 2: map expecting a key
let stackTop = 0;

function scanValue(
  b: Uint8Array,
  start: number,
  end: number,
  baseDepth: number,
  limits: Limits,
  allowExtensions: boolean,
  state: ScanState,
): number {
  // A nested scan (a portable payload) pops back to its own base when it returns; a throw abandons the
  // whole scan, and scanFrame starts the next one from an empty stack.
  const base = stackTop;
  remaining[stackTop] = 1;
  mapState[stackTop] = 0;
  stackTop++;
  let pos = start;

  while (stackTop > base) {
    const top = stackTop - 1;
    if (remaining[top] === 0) {
      stackTop--;
      continue;
    }
    remaining[top]!--;
    const m = mapState[top]!;
    const expectingKey = m === 2;
    if (m !== 0) mapState[top] = 3 - m;

    if (++state.elements > limits.maxElements) throw fail('ERR_LIMIT_ELEMENTS');
    need(pos, 1, end);
    const t = b[pos++]!;

    let strLen = -1;
    if (t >= 0xa0 && t <= 0xbf) strLen = t - 0xa0;
    else if (t === 0xd9) (need(pos, 1, end), (strLen = b[pos++]!));
    else if (t === 0xda) (strLen = u16(b, pos, end)), (pos += 2);
    else if (t === 0xdb) (strLen = u32(b, pos, end)), (pos += 4);
    if (strLen >= 0) {
      if (strLen > limits.maxStringBytes) throw fail('ERR_LIMIT_STRING');
      need(pos, strLen, end);
      if (expectingKey && strLen === 9 && isProto(b, pos)) throw fail('ERR_FORBIDDEN_KEY');
      pos += strLen;
      continue;
    }
    if (expectingKey) throw fail('ERR_NON_STRING_KEY');

    if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) continue;
    let containerLen = -1;
    let mapContainer = false;
    if (t >= 0x90 && t <= 0x9f) containerLen = t - 0x90;
    else if (t === 0xdc) (containerLen = u16(b, pos, end)), (pos += 2);
    else if (t === 0xdd) (containerLen = u32(b, pos, end)), (pos += 4);
    else if (t >= 0x80 && t <= 0x8f) (containerLen = t - 0x80), (mapContainer = true);
    else if (t === 0xde) (containerLen = u16(b, pos, end)), (pos += 2), (mapContainer = true);
    else if (t === 0xdf) (containerLen = u32(b, pos, end)), (pos += 4), (mapContainer = true);
    if (containerLen >= 0) {
      const values = mapContainer ? containerLen * 2 : containerLen;
      // Every value takes at least one byte: an announced count larger than the bytes left is a lie.
      need(pos, values, end);
      if (state.elements + values > limits.maxElements) throw fail('ERR_LIMIT_ELEMENTS');
      if (values > 0) {
        if (baseDepth + stackTop - base > limits.maxDepth) throw fail('ERR_LIMIT_DEPTH');
        remaining[stackTop] = values;
        mapState[stackTop] = mapContainer ? 2 : 0;
        stackTop++;
      }
      continue;
    }
    switch (t) {
      case 0xcc: case 0xd0: need(pos, 1, end); pos += 1; continue;
      case 0xcd: case 0xd1: need(pos, 2, end); pos += 2; continue;
      case 0xca: case 0xce: case 0xd2: need(pos, 4, end); pos += 4; continue;
      case 0xcb: case 0xcf: case 0xd3: need(pos, 8, end); pos += 8; continue;
      case 0xc4: case 0xc5: case 0xc6: {
        let len: number;
        if (t === 0xc4) (need(pos, 1, end), (len = b[pos++]!));
        else if (t === 0xc5) (len = u16(b, pos, end)), (pos += 2);
        else (len = u32(b, pos, end)), (pos += 4);
        if (len > limits.maxBinaryBytes) throw fail('ERR_LIMIT_BINARY');
        need(pos, len, end);
        pos += len;
        continue;
      }
    }
    let extLen = -1;
    if (t === 0xd4) extLen = 1;
    else if (t === 0xd5) extLen = 2;
    else if (t === 0xd6) extLen = 4;
    else if (t === 0xd7) extLen = 8;
    else if (t === 0xd8) extLen = 16;
    else if (t === 0xc7) (need(pos, 1, end), (extLen = b[pos++]!));
    else if (t === 0xc8) (extLen = u16(b, pos, end)), (pos += 2);
    else if (t === 0xc9) (extLen = u32(b, pos, end)), (pos += 4);
    if (extLen < 0) throw fail('ERR_FRAME_MALFORMED'); // 0xc1, never used
    need(pos, 1 + extLen, end);
    const type = b[pos++]!;
    if (!allowExtensions || type < ExtensionType.capability || type > ExtensionType.capabilityBind || type === 3 || type === 4) {
      throw fail('ERR_EXTENSION_UNKNOWN');
    }
    if (type === ExtensionType.capability) {
      if (extLen > limits.maxTokenBytes) throw fail('ERR_CAPABILITY_MALFORMED', 'capability token is too large');
    } else if (type === ExtensionType.capabilityHandle) {
      if (extLen !== 4) throw fail('ERR_CAPABILITY_MALFORMED', 'a capability handle is 4 bytes');
    } else if (type === ExtensionType.capabilityBind) {
      if (extLen < 5 || extLen - 4 > limits.maxTokenBytes) throw fail('ERR_CAPABILITY_MALFORMED', 'capability binding has a bad length');
    } else {
      if (baseDepth + stackTop - base > limits.maxDepth) throw fail('ERR_LIMIT_DEPTH');
      const inner = scanValue(b, pos, pos + extLen, baseDepth + stackTop - base, limits, allowExtensions, state);
      // Valid msgpack, but not one portable object: a value the SPEC (section 4.2) refuses as ERR_PORTABLE_INVALID.
      if (inner !== pos + extLen) throw fail('ERR_PORTABLE_INVALID', 'portable object payload has bytes after its [name, fields] value');
    }
    pos += extLen;
  }
  return pos;
}

function need(pos: number, n: number, end: number): void {
  if (pos + n > end) throw fail('ERR_FRAME_TRUNCATED');
}

function u16(b: Uint8Array, pos: number, end: number): number {
  need(pos, 2, end);
  return ((b[pos]! << 8) | b[pos + 1]!) >>> 0;
}

function u32(b: Uint8Array, pos: number, end: number): number {
  need(pos, 4, end);
  return ((b[pos]! << 24) | (b[pos + 1]! << 16) | (b[pos + 2]! << 8) | b[pos + 3]!) >>> 0;
}

function isProto(b: Uint8Array, pos: number): boolean {
  for (let i = 0; i < PROTO.length; i++) if (b[pos + i] !== PROTO[i]) return false;
  return true;
}
