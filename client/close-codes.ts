import { CapsyncError, fail, type CapsyncErrorCode } from '../protocol/errors.js';

/**
 * What a client does after a connection ends (centrifuge-js's `codes.ts`): try again, try again with a fresh
 * token, or stop.
 */
export type CloseClass = 'retryable' | 'newToken' | 'terminal';

// LOCAL TABLE, TO BE REPLACED by `closeCodeClass` from protocol/errors.ts once that change is merged.
const closeClasses: Readonly<Record<number, CloseClass>> = {
  1000: 'terminal',
  1001: 'retryable',
  1002: 'terminal',
  1006: 'retryable',
  1007: 'terminal',
  1008: 'terminal',
  1009: 'terminal',
  1011: 'terminal',
  4000: 'retryable',
  4001: 'retryable',
  4002: 'newToken',
  4003: 'terminal',
};

/**
 * The class of a WebSocket close code. A code outside the table (1005 no status, 1012 service restart, 1013
 * try again later, a proxy's own code) is retryable: a client that stops on a code it does not know would
 * leave a dashboard dead after any intermediary's hiccup, while one that retries only costs backed-off attempts.
 */
export function closeClassOf(code: number): CloseClass {
  return closeClasses[code] ?? 'retryable';
}

/**
 * The class of an upgrade the server refused with a typed error: an expired JWT needs a new one; a bad,
 * missing or forbidden one will not get better by retrying; anything else (an HTTP 5xx, a timeout) is retryable.
 */
export function refusalClassOf(error: CapsyncError): CloseClass {
  switch (error.code) {
    case 'ERR_AUTH_EXPIRED':
      return 'newToken';
    case 'ERR_AUTH_INVALID':
    case 'ERR_AUTH_REQUIRED':
    case 'ERR_FORBIDDEN':
      return 'terminal';
    default:
      return 'retryable';
  }
}

/** The code of a call whose outcome the client cannot know (it may or may not have run). */
export const OUTCOME_UNKNOWN = 'ERR_CALL_OUTCOME_UNKNOWN';

/**
 * A typed `ERR_CALL_OUTCOME_UNKNOWN` error. TO BE REPLACED by `fail('ERR_CALL_OUTCOME_UNKNOWN')` once the
 * lead's change adds the code to protocol/errors.ts: until then the code is set on an error of the nearest
 * existing kind, so `err.code === 'ERR_CALL_OUTCOME_UNKNOWN'` already holds for apps and tests.
 */
export function outcomeUnknown(message = 'the call may or may not have run'): CapsyncError {
  const error = fail('ERR_CONNECTION_CLOSED', message);
  Object.defineProperty(error, 'code', { value: OUTCOME_UNKNOWN as CapsyncErrorCode, enumerable: true });
  return error;
}
