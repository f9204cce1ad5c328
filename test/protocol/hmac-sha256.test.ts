import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hmacKeyState, hmacSha256, hmacWithState } from '../../protocol/hmac-sha256.js';
import { toHex } from './helpers.js';

const reference = (key: Uint8Array, message: Uint8Array): string => createHmac('sha256', key).update(message).digest('hex');
const bytes = (length: number, seed: number): Uint8Array => Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 17 + 5) & 0xff);

describe('HMAC-SHA-256 over the noble compression', () => {
  it('matches node:crypto for every message length up to three blocks, under short, block-sized and long keys', () => {
    for (const keyLength of [0, 1, 16, 32, 63, 64, 65, 100]) {
      const key = bytes(keyLength, keyLength);
      const state = hmacKeyState(key);
      for (let length = 0; length <= 200; length++) {
        const message = bytes(length, length + 1);
        expect(toHex(hmacSha256(key, message))).toBe(reference(key, message));
        expect(toHex(hmacWithState(state, message))).toBe(reference(key, message));
      }
    }
  });

  it('matches RFC 4231 test case 2', () => {
    const tag = hmacSha256(new TextEncoder().encode('Jefe'), new TextEncoder().encode('what do ya want for nothing?'));
    expect(toHex(tag)).toBe('5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it('matches node:crypto for any key and message, and a key state is not changed by use', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 130 }), fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 4 }), (key, messages) => {
        const state = hmacKeyState(key);
        const before = [...state];
        for (const message of messages) {
          expect(toHex(hmacWithState(state, message))).toBe(reference(key, message));
          expect(toHex(hmacSha256(key, message))).toBe(reference(key, message));
        }
        expect([...state]).toEqual(before);
      }),
    );
  });

  it('does not let one view alias another: a message that is a view into a larger buffer', () => {
    const buffer = bytes(300, 9);
    const key = buffer.subarray(10, 42);
    const message = buffer.subarray(50, 170);
    expect(toHex(hmacSha256(key, message))).toBe(reference(key, message));
  });
});
