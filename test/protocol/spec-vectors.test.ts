/**
 * protocol/SPEC.md is the contract for implementations in other languages. This test reads it and checks
 * its test vectors byte for byte, and its tables of limits, frame types, error codes and close codes,
 * against the implementation, so the document can never drift from the code.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { base64url } from 'jose';
import { Unpackr } from 'msgpackr';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ANY,
  Capability,
  CapabilityVerifier,
  CapsyncError,
  CloseCode,
  Codec,
  closeCodeClass,
  closeCodeClasses,
  FrameType,
  Keyring,
  clientFrameTypes,
  defaultLimits,
  registerPortable,
  serverFrameTypes,
  unwrapCapability,
  validateFrame,
  type CapsyncErrorCode,
} from '../../protocol/index.js';
import { codeOf, toHex } from './helpers.js';

const root = new URL('../../', import.meta.url);
const spec = readFileSync(fileURLToPath(new URL('protocol/SPEC.md', root)), 'utf8');

/** The body of the section whose heading starts with `## <number>.` */
function section(number: number): string {
  const start = spec.indexOf(`\n## ${number}. `);
  expect(start, `SPEC.md has a section ${number}`).toBeGreaterThan(0);
  const end = spec.indexOf('\n## ', start + 1);
  return spec.slice(start, end < 0 ? undefined : end);
}

/** Rows of the markdown tables in `text`, as cells (the header and separator rows excluded). */
function rows(text: string): string[][] {
  return text
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| ---'))
    .map((line) => line.split(/(?<!\\)\|/).slice(1, -1).map((cell) => cell.trim()));
}

const unquote = (cell: string) => cell.replace(/^`|`$/g, '');

const vectors = new Map<string, string>();
for (const match of spec.matchAll(/```(vector|vector-text) ([\w.]+)\n([\s\S]*?)```/g)) {
  vectors.set(match[2]!, match[1] === 'vector' ? match[3]!.replace(/\s+/g, '') : match[3]!.trim());
}

function vector(name: string): Uint8Array {
  const text = vectors.get(name);
  expect(text, `SPEC.md has the vector ${name}`).toBeDefined();
  expect(text).toMatch(/^([0-9a-f]{2})+$/);
  return Uint8Array.from(Buffer.from(text!, 'hex'));
}

function textVector(name: string): string {
  const text = vectors.get(name);
  expect(text, `SPEC.md has the vector ${name}`).toBeDefined();
  return text!;
}

class Video {
  constructor(
    readonly id: string,
    readonly cap: Capability,
  ) {}
}
registerPortable(Video, { name: 'Video' });

const EXPIRES_AT = 1_893_456_000_000;
const NONCE_0 = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
const NONCE_1 = Uint8Array.from({ length: 16 }, (_, i) => 0xb0 + i);
const raw = new Unpackr({ useRecords: false, mapsAsObjects: true });

async function specVerifier(now = EXPIRES_AT - 1): Promise<CapabilityVerifier> {
  const key = vector('key');
  const keyring = await Keyring.fromJwks([{ kty: 'oct', k: base64url.encode(key), kid: 'k1' }]);
  return new CapabilityVerifier({ keyring, now: () => now, random: (n) => NONCE_0.slice(0, n), cacheSize: 0 });
}

/**
 * Narrows with a fixed nonce by fixing what the platform's random source returns. Nonces are cut from a
 * pool filled by one getRandomValues call; nothing else in this file narrows, so this narrowing fills it.
 */
function narrowWithNonce(cap: Capability, nonce: Uint8Array): Capability {
  const spy = vi.spyOn(globalThis.crypto, 'getRandomValues').mockImplementation(<T extends ArrayBufferView | null>(array: T): T => {
    const bytes = array as unknown as Uint8Array;
    for (let i = 0; i < bytes.length; i += nonce.length) bytes.set(nonce.subarray(0, bytes.length - i), i);
    return array;
  });
  try {
    const narrowed = cap.narrow(['update'], { audience: 'alice' });
    expect(spy, 'the narrowing drew its nonce from a fresh pool').toHaveBeenCalledOnce();
    return narrowed;
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

describe('SPEC.md test vectors', () => {
  it('the key is 00 01 .. 1f, as the JWK shown', () => {
    expect(toHex(vector('key'))).toBe(toHex(Uint8Array.from({ length: 32 }, (_, i) => i)));
    expect(spec).toContain(`"k":"${base64url.encode(vector('key'))}"`);
  });

  it('block 0, tag 0 and the minted token are what the server mints', async () => {
    const verifier = await specVerifier();
    const minted = verifier.mint(['youtube_videos', 'dQw4w9WgXcQ'], { expiresAt: EXPIRES_AT });
    expect(toHex(minted.toToken())).toBe(toHex(vector('token.minted')));
    const [version, kid, blocks, tag] = raw.unpack(vector('token.minted')) as [number, string, Uint8Array[], Uint8Array];
    expect([version, kid, blocks.length]).toEqual([1, 'k1', 1]);
    expect(toHex(blocks[0]!)).toBe(toHex(vector('block0')));
    expect(toHex(tag)).toBe(toHex(vector('tag0')));
    expect(toHex(createHmac('sha256', vector('key')).update(vector('block0')).digest())).toBe(toHex(vector('tag0')));
    expect(raw.unpack(vector('block0'))).toEqual([['youtube_videos', 'dQw4w9WgXcQ'], EXPIRES_AT, null, NONCE_0]);
  });

  it('block 1, tag 1 and the narrowed token are what a client produces when it narrows', async () => {
    const verifier = await specVerifier();
    const onClient = new Codec().decode(new Codec().encode([verifier.mint(['youtube_videos', 'dQw4w9WgXcQ'], { expiresAt: EXPIRES_AT })], { verifier })) as [Capability];
    const narrowed = narrowWithNonce(onClient[0], NONCE_1);
    expect(toHex(narrowed.toToken())).toBe(toHex(vector('token.narrowed')));
    const [, , blocks, tag] = raw.unpack(vector('token.narrowed')) as [number, string, Uint8Array[], Uint8Array];
    expect(blocks.map(toHex)).toEqual([toHex(vector('block0')), toHex(vector('block1'))]);
    expect(toHex(tag)).toBe(toHex(vector('tag1')));
    expect(toHex(createHmac('sha256', vector('tag0')).update(vector('block1')).digest())).toBe(toHex(vector('tag1')));
    expect(raw.unpack(vector('block1'))).toEqual([['update'], null, 'alice', NONCE_1]);
  });

  it('the revocation ids are base64url(SHA-256(tag)[0..16]) of each step', async () => {
    const verifier = await specVerifier();
    const id = (tag: Uint8Array) => base64url.encode(createHash('sha256').update(tag).digest().subarray(0, 16));
    expect(id(vector('tag0'))).toBe(textVector('revocationId.minted'));
    expect(id(vector('tag1'))).toBe(textVector('revocationId.narrowed'));
    const minted = verifier.decode(vector('token.minted'), null);
    const narrowed = verifier.decode(vector('token.narrowed'), 'alice');
    expect(minted.revocationId).toBe(textVector('revocationId.minted'));
    expect(narrowed.revocationId).toBe(textVector('revocationId.narrowed'));
  });

  it('the call frame is what the client encodes, and the server accepts its capability for alice only, until it expires', async () => {
    const codec = new Codec();
    const held = new Codec().decode(Uint8Array.from([0x91, 0xc7, vector('token.narrowed').length, 0x01, ...vector('token.narrowed')])) as [Capability];
    const frame = codec.encode([FrameType.call, 7, 'set_video_description', [held[0], 'Never gonna give you up']]);
    expect(toHex(frame)).toBe(toHex(vector('frame.call')));

    const verifier = await specVerifier();
    const call = validateFrame(codec.decode(vector('frame.call'), { verifier, user: 'alice' }), clientFrameTypes);
    expect(call[0]).toBe(FrameType.call);
    const [, id, name, args] = call as [number, number, string, [Capability, string]];
    expect([id, name, args[1]]).toEqual([7, 'set_video_description', 'Never gonna give you up']);
    expect(unwrapCapability(args[0], ['youtube_videos', ANY, 'update'])).toEqual(['youtube_videos', 'dQw4w9WgXcQ', 'update']);

    const asBob = codec.decode(vector('frame.call'), { verifier, user: 'bob' }) as [number, number, string, [Capability]];
    expect(codeOf(() => unwrapCapability(asBob[3][0], ['youtube_videos', ANY, 'update']))).toBe('ERR_CAPABILITY_AUDIENCE');
    const late = await specVerifier(EXPIRES_AT + 1);
    const expired = codec.decode(vector('frame.call'), { verifier: late, user: 'alice' }) as [number, number, string, [Capability]];
    expect(codeOf(() => unwrapCapability(expired[3][0], ['youtube_videos', ANY, 'update']))).toBe('ERR_CAPABILITY_EXPIRED');
  });

  it('the result frame is what the server encodes, and arrives as a Video holding the capability', async () => {
    const verifier = await specVerifier();
    const codec = new Codec();
    const cap = verifier.decode(vector('token.narrowed'), 'alice');
    expect(toHex(codec.encode([FrameType.result, 7, new Video('dQw4w9WgXcQ', cap)], { verifier }))).toBe(toHex(vector('frame.result')));
    const [type, id, video] = validateFrame(codec.decode(vector('frame.result')), serverFrameTypes) as [number, number, Video];
    expect([type, id]).toEqual([FrameType.result, 7]);
    expect(video).toBeInstanceOf(Video);
    expect(video.id).toBe('dQw4w9WgXcQ');
    expect(video.cap.scope).toEqual(['youtube_videos', 'dQw4w9WgXcQ', 'update']);
    expect(toHex(video.cap.toToken())).toBe(toHex(vector('token.narrowed')));
  });
});

describe('SPEC.md test vectors: a delegation re-minted for bob', () => {
  it('block 0 names the ancestors, the token is what the server mints, and revoking an ancestor revokes it', async () => {
    const verifier = await specVerifier();
    const ancestors = [textVector('revocationId.minted'), textVector('revocationId.narrowed')];
    const delegated = verifier.mint(['youtube_videos', 'dQw4w9WgXcQ', 'update'], { expiresAt: EXPIRES_AT, audience: 'bob', ancestors });
    expect(toHex(delegated.toToken())).toBe(toHex(vector('token.delegated')));
    expect(toHex(raw.unpack(vector('token.delegated'))[2][0])).toBe(toHex(vector('block0.delegated')));
    expect(raw.unpack(vector('block0.delegated'))[4].map((id: Uint8Array) => base64url.encode(id))).toEqual(ancestors);
    expect(delegated.revocationId).toBe(textVector('revocationId.delegated'));

    const asBob = verifier.decode(vector('token.delegated'), 'bob');
    expect(unwrapCapability(asBob, ['youtube_videos', ANY, 'update'])).toEqual(['youtube_videos', 'dQw4w9WgXcQ', 'update']);
    expect(codeOf(() => unwrapCapability(verifier.decode(vector('token.delegated'), 'alice'), [ANY, ANY, ANY]))).toBe('ERR_CAPABILITY_AUDIENCE');
    for (const ancestor of ancestors) {
      const revoking = await specVerifier();
      await revoking.revocations.add([{ id: ancestor, expiresAt: null }]);
      expect(codeOf(() => unwrapCapability(revoking.decode(vector('token.delegated'), 'bob'), [ANY, ANY, ANY]))).toBe('ERR_CAPABILITY_REVOKED');
    }
  });

  it('refuses ancestors anywhere but block 0, and more of them than maxAncestors', async () => {
    const verifier = await specVerifier();
    const { Packr } = await import('msgpackr');
    const packr = new Packr({ useRecords: false });
    const block0 = vector('block0.delegated');
    const tooMany = raw.unpack(block0);
    tooMany[4] = Array.from({ length: defaultLimits.maxAncestors + 1 }, () => new Uint8Array(16));
    const token = (blocks: Uint8Array[]) => packr.pack([1, 'k1', blocks, new Uint8Array(32)]);
    expect(codeOf(() => verifier.decode(token([packr.pack(tooMany)]), 'bob'))).toBe('ERR_LIMIT_ANCESTORS');
    expect(codeOf(() => verifier.decode(token([vector('block0'), block0]), 'bob'))).toBe('ERR_CAPABILITY_MALFORMED');
  });
});

describe('SPEC.md tables', () => {
  it('lists every limit with its default and code', () => {
    const table = rows(section(2)).filter((r) => r[0]!.startsWith('`max'));
    const codes: Record<string, string> = {
      maxFrameBytes: 'ERR_FRAME_TOO_LARGE',
      maxDepth: 'ERR_LIMIT_DEPTH',
      maxElements: 'ERR_LIMIT_ELEMENTS',
      maxStringBytes: 'ERR_LIMIT_STRING',
      maxBinaryBytes: 'ERR_LIMIT_BINARY',
      maxScopeLength: 'ERR_LIMIT_SCOPE',
      maxNarrowingSteps: 'ERR_LIMIT_STEPS',
      maxTokenBytes: 'ERR_CAPABILITY_MALFORMED',
      maxAncestors: 'ERR_LIMIT_ANCESTORS',
    };
    expect(Object.keys(codes).sort()).toEqual(Object.keys(defaultLimits).sort());
    expect(Object.fromEntries(table.map((r) => [unquote(r[0]!), [Number(r[1]), unquote(r[2]!)]]))).toEqual(
      Object.fromEntries(Object.entries(defaultLimits).map(([k, v]) => [k, [v, codes[k]]])),
    );
  });

  it('lists every frame type with its number and direction', () => {
    const table = rows(section(5)).filter((r) => /^\d+$/.test(r[0]!));
    const direction = (type: number) =>
      clientFrameTypes.has(type) && serverFrameTypes.has(type) ? 'both' : clientFrameTypes.has(type) ? 'c→s' : 's→c';
    expect(table.map((r) => [Number(r[0]), r[1], r[2]])).toEqual(
      Object.entries(FrameType).map(([name, type]) => [type, name, direction(type)]),
    );
  });

  it('lists every error code with its close code and default message, and nothing else', () => {
    const source = readFileSync(fileURLToPath(new URL('protocol/errors.ts', root)), 'utf8');
    const defined = [...source.matchAll(/^\s+(ERR_[A-Z_]+): \[/gm)].map((m) => m[1] as CapsyncErrorCode);
    expect(defined.length).toBeGreaterThan(30);
    const table = rows(section(6)).filter((r) => r[0]!.startsWith('`ERR_'));
    expect(table.map((r) => unquote(r[0]!))).toEqual(defined);
    for (const [code, close, meaning] of table) {
      const error = new CapsyncError(unquote(code!) as CapsyncErrorCode);
      expect(close === '' ? undefined : Number(close), code).toBe(error.closeCode);
      expect(meaning!.startsWith(error.message), code).toBe(true);
    }
  });

  it('lists every close code', () => {
    const table = rows(section(6)).filter((r) => /^`[a-z]\w*`$/.test(r[0]!) && /^\d{4}$/.test(r[1]!));
    expect(table.map((r) => [unquote(r[0]!), Number(r[1])])).toEqual(Object.entries(CloseCode));
  });

  it('gives every close code the class closeCodeClass returns, and nothing else', () => {
    const table = rows(section(6)).filter((r) => /^`[a-z]\w*`$/.test(r[0]!) && /^\d{4}$/.test(r[1]!));
    expect(Object.fromEntries(table.map((r) => [Number(r[1]), r[2]]))).toEqual(
      Object.fromEntries(Object.values(CloseCode).map((code) => [code, closeCodeClass(code)])),
    );
    expect(Object.keys(closeCodeClasses).map(Number).sort()).toEqual(Object.values(CloseCode).sort());
    expect(section(6)).toMatch(/not in this table[^.]*is\s+`retryable`/);
    expect([1005, 1012, 1013, 4999].map(closeCodeClass)).toEqual(['retryable', 'retryable', 'retryable', 'retryable']);
  });

  it('keeps a section for session frames', () => {
    expect(spec).toMatch(/\n## \d+\. Session frames\n/);
  });
});
