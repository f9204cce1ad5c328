import { Capability } from '../../protocol/capability/capability.js';
import { fieldsOf, portableOf } from '../../protocol/portable.js';
import { ExtensionType } from '../../protocol/wire-guard.js';
import { JsonFormError, parseHex } from '../json-form.js';

/**
 * Encodes a script's `send: {frame: ...}` value as msgpack, as the protocol lays it out (protocol/SPEC.md), but
 * without any of the client's checks: hostile frames must reach the server as written. JSON forms map straight
 * to the wire: `{"$capability": "<base64url>"}` becomes extension 1 holding those bytes (valid token or not),
 * `{"$portable": "Name", ...fields}` extension 2 holding `[name, fields]` (any fields, `__proto__` included),
 * `{"$bytes": "<hex>"}` a binary. Saved capabilities and portable objects encode as the client would send them.
 */
export function encodeRawFrame(value: unknown): Uint8Array {
  const out: number[] = [];
  write(value, out, 'frame');
  return Uint8Array.from(out);
}

function write(value: unknown, out: number[], where: string): void {
  if (value === null || value === undefined) return void out.push(0xc0);
  switch (typeof value) {
    case 'boolean':
      return void out.push(value ? 0xc3 : 0xc2);
    case 'number':
      return writeNumber(value, out);
    case 'string':
      return writeString(value, out);
    case 'object':
      break;
    default:
      throw new JsonFormError(`${where}: a ${typeof value} cannot be sent`);
  }
  if (value instanceof Capability) return writeExtension(ExtensionType.capability, value.toToken(), out);
  if (value instanceof Uint8Array) return writeBinary(value, out);
  if (Array.isArray(value)) {
    writeHeader(value.length, out, 0x90, 16, 0xdc, 0xdd);
    value.forEach((item, i) => write(item, out, `${where}[${i}]`));
    return;
  }
  const portable = portableOf(value);
  if (portable !== undefined) return writeExtension(ExtensionType.portable, encodeRawFrame([portable.name, fieldsOf(value)]), out);
  const map = value as Record<string, unknown>;
  if (Object.hasOwn(map, '$capability')) {
    const token = map['$capability'];
    if (typeof token !== 'string' || !/^[A-Za-z0-9_-]*$/.test(token)) throw new JsonFormError(`${where}: "$capability" must be base64url`);
    return writeExtension(ExtensionType.capability, new Uint8Array(Buffer.from(token, 'base64url')), out);
  }
  if (Object.hasOwn(map, '$portable')) {
    const fields: Record<string, unknown> = {};
    for (const key of Object.keys(map)) {
      if (key !== '$portable') Object.defineProperty(fields, key, { value: map[key], enumerable: true, writable: true, configurable: true });
    }
    return writeExtension(ExtensionType.portable, encodeRawFrame([map['$portable'], fields]), out);
  }
  if (Object.hasOwn(map, '$bytes')) {
    if (typeof map['$bytes'] !== 'string') throw new JsonFormError(`${where}: "$bytes" must hold hex`);
    return writeBinary(parseHex(map['$bytes'], where), out);
  }
  const entries = Object.hasOwn(map, '$literal') && Object.keys(map).length === 1 ? (map['$literal'] as Record<string, unknown>) : map;
  const keys = Object.keys(entries);
  writeHeader(keys.length, out, 0x80, 16, 0xde, 0xdf);
  for (const key of keys) {
    writeString(key, out);
    write(entries[key], out, `${where}.${key}`);
  }
}

function writeNumber(n: number, out: number[]): void {
  if (Number.isSafeInteger(n)) {
    if (n >= 0) {
      if (n < 0x80) return void out.push(n);
      if (n < 0x100) return void out.push(0xcc, n);
      if (n < 0x10000) return void out.push(0xcd, ...be(n, 2));
      if (n < 0x100000000) return void out.push(0xce, ...be(n, 4));
      return void out.push(0xcf, ...be(n, 8));
    }
    if (n >= -32) return void out.push(n & 0xff);
    if (n >= -0x80) return void out.push(0xd0, n & 0xff);
    if (n >= -0x8000) return void out.push(0xd1, ...be(n & 0xffff, 2));
    if (n >= -0x80000000) return void out.push(0xd2, ...be(n >>> 0, 4));
  }
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setFloat64(0, n);
  out.push(0xcb);
  pushAll(out, bytes);
}

function writeString(s: string, out: number[]): void {
  const bytes = Buffer.from(s, 'utf8');
  if (bytes.length < 32) out.push(0xa0 | bytes.length);
  else if (bytes.length < 0x100) out.push(0xd9, bytes.length);
  else if (bytes.length < 0x10000) out.push(0xda, ...be(bytes.length, 2));
  else out.push(0xdb, ...be(bytes.length, 4));
  pushAll(out, bytes);
}

function writeBinary(bytes: Uint8Array, out: number[]): void {
  if (bytes.length < 0x100) out.push(0xc4, bytes.length);
  else if (bytes.length < 0x10000) out.push(0xc5, ...be(bytes.length, 2));
  else out.push(0xc6, ...be(bytes.length, 4));
  pushAll(out, bytes);
}

function writeExtension(type: number, data: Uint8Array, out: number[]): void {
  const fixed: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 };
  const code = fixed[data.length];
  if (code !== undefined) out.push(code, type);
  else if (data.length < 0x100) out.push(0xc7, data.length, type);
  else if (data.length < 0x10000) out.push(0xc8, ...be(data.length, 2), type);
  else out.push(0xc9, ...be(data.length, 4), type);
  pushAll(out, data);
}

function writeHeader(length: number, out: number[], fix: number, fixLimit: number, code16: number, code32: number): void {
  if (length < fixLimit) out.push(fix | length);
  else if (length < 0x10000) out.push(code16, ...be(length, 2));
  else out.push(code32, ...be(length, 4));
}

// A loop, not push(...bytes): spreading a large buffer into arguments overflows the stack.
function pushAll(out: number[], bytes: Uint8Array): void {
  for (const b of bytes) out.push(b);
}

/** `n` as `size` big-endian bytes. */
function be(n: number, size: number): number[] {
  const bytes: number[] = [];
  let rest = BigInt(n);
  for (let i = 0; i < size; i++) {
    bytes.unshift(Number(rest & 0xffn));
    rest >>= 8n;
  }
  return bytes;
}
