import { describe, expect, it } from 'vitest';
import { errorCodes } from '../../protocol/errors.js';
import { CapsyncError } from '../../protocol/errors.js';
import { describeError, errorMessages } from '../../examples/video/dashboard/messages.js';

describe("the dashboard's error messages", () => {
  it('has words for every error code in protocol/errors.ts, and no code it does not know', () => {
    const missing = errorCodes.filter((code) => typeof errorMessages[code] !== 'string' || errorMessages[code].trim() === '');
    expect(missing).toEqual([]);
    expect(Object.keys(errorMessages).sort()).toEqual([...errorCodes].sort());
  });

  it('never shows a raw code: each message is words, not the code or its default message', () => {
    for (const code of errorCodes) {
      const words = describeError(new CapsyncError(code));
      expect(words).not.toMatch(/ERR_/);
      expect(words).toBe(errorMessages[code]);
    }
  });

  it("falls back to the error's own message for an error without a code, and ignores prototype names as codes", () => {
    expect(describeError(new Error('socket hang up'))).toBe('socket hang up');
    expect(describeError({ code: 'constructor', message: 'odd' })).toBe('odd');
    expect(describeError(undefined)).toBe('undefined');
  });
});
