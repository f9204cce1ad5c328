import { closeCodeClass, fail, type CapsyncError, type CloseCodeClass } from '../protocol/errors.js';

/**
 * What a client does after a connection ends (centrifuge-js's `codes.ts`): try again, try again with a fresh
 * token, or stop. The close codes' classes are the protocol's one table ({@link closeCodeClass}).
 */
export type CloseClass = CloseCodeClass;

/** The class of a WebSocket close code (a code outside capsync's table is retryable). */
export function closeClassOf(code: number): CloseClass {
  return closeCodeClass(code);
}

/**
 * The class of an upgrade the server refused with a typed error: an expired JWT needs a new one; a bad,
 * missing or forbidden one will not get better by retrying; anything else (an HTTP 5xx, a timeout) is retryable.
 */
export function refusalClassOf(error: CapsyncError): CloseClass {
  switch (error.code) {
    case 'ERR_AUTH_EXPIRED':
      return 'new-token';
    case 'ERR_AUTH_INVALID':
    case 'ERR_AUTH_REQUIRED':
    case 'ERR_FORBIDDEN':
      return 'terminal';
    default:
      return 'retryable';
  }
}

/** A call whose outcome the client cannot know (it may or may not have run). */
export function outcomeUnknown(message?: string): CapsyncError {
  return fail('ERR_CALL_OUTCOME_UNKNOWN', message);
}
