// What the dashboard tells a person instead of a raw error or close code.
import { CloseCode, type CapsyncErrorCode, type CloseInfo } from '../../../client/browser.js';

/**
 * Every error code in words, as the end of "could not save X: ...". A `Record` over the whole union, so a
 * code added to protocol/errors.ts without a message here is a compile error (and test/browser/messages.test.ts
 * checks the table at run time).
 */
export const errorMessages: Readonly<Record<CapsyncErrorCode, string>> = {
  ERR_INVALID_VALUE: 'the value cannot be stored (it is not plain data)',
  ERR_INVALID_SCOPE: 'the access it names is not valid',
  ERR_INVALID_PATTERN: 'the server asked for a kind of access that is not valid',
  ERR_CAPABILITY_NOT_VERIFIED: 'this access was not checked by the server',
  ERR_CAPABILITY_FORGED: 'this access was made up in the page, not given by the server',
  ERR_CAPABILITY_BAD_SIGNATURE: 'this access has been tampered with',
  ERR_CAPABILITY_MALFORMED: 'this access is damaged',
  ERR_CAPABILITY_UNKNOWN_KEY: 'this access was signed with a key the server no longer has: reload the page',
  ERR_CAPABILITY_REVOKED: 'your access to it was revoked',
  ERR_CAPABILITY_EXPIRED: 'your access to it expired',
  ERR_CAPABILITY_AUDIENCE: 'this access was given to someone else',
  ERR_CAPABILITY_TOO_NARROW: 'your access does not allow that',
  ERR_CAPABILITY_MISMATCH: 'your access does not allow that',
  ERR_REVOCATION_FEED_STALE: 'the server cannot check right now whether your access was revoked: try again in a moment',
  ERR_LIMIT_HOLDINGS: 'you hold too many shares at once: this one will not update live',
  ERR_OVER_BUDGET: 'this page sent too many requests too fast, so the server paused it',
  ERR_LIMIT_CONNECTIONS: 'you have too many tabs or devices connected: close one',
  ERR_KEY_INVALID: 'the server’s capability keys are not usable (a setup problem on the server)',
  ERR_FRAME_TOO_LARGE: 'that is too large to send',
  ERR_FRAME_TRUNCATED: 'a message arrived incomplete',
  ERR_FRAME_TRAILING_BYTES: 'a message arrived damaged',
  ERR_FRAME_MALFORMED: 'a message arrived damaged',
  ERR_FRAME_INVALID: 'a message had an unexpected shape',
  ERR_LIMIT_DEPTH: 'that value is nested too deeply',
  ERR_LIMIT_ELEMENTS: 'that value has too many parts',
  ERR_LIMIT_STRING: 'that text is too long',
  ERR_LIMIT_BINARY: 'that file is too large',
  ERR_LIMIT_SCOPE: 'that access would be too narrow to describe',
  ERR_LIMIT_STEPS: 'this access has been narrowed too many times to pass on again',
  ERR_LIMIT_ANCESTORS: 'this access has been passed on too many times to pass on again',
  ERR_EXTENSION_UNKNOWN: 'a message held a kind of value the server does not accept',
  ERR_FORBIDDEN_KEY: 'a message held a field name that is not allowed',
  ERR_NON_STRING_KEY: 'a message held a field name that is not text',
  ERR_PORTABLE_UNKNOWN: 'the page and the server disagree about a kind of object: reload the page',
  ERR_PORTABLE_INVALID: 'an object arrived with fields it may not have',
  ERR_NOT_ENCODABLE: 'that value cannot be sent',
  ERR_FUNCTION_UNKNOWN: 'the server does not offer that action (is the page older than the server? reload)',
  ERR_BAD_ARGUMENTS: 'the server refused the value (a description is at most 5,000 characters)',
  ERR_FUNCTION_FAILED: 'the server failed to do it (its log says why)',
  ERR_CALL_TIMEOUT: 'the server did not answer in time',
  ERR_NOT_CONNECTED: 'the server cannot be reached',
  ERR_CONNECTION_CLOSED: 'the connection is closed',
  ERR_RATE_LIMITED: 'too many requests at once: try again',
  ERR_CALL_OUTCOME_UNKNOWN: 'the connection dropped: it may or may not have been saved',
  ERR_AUTH_REQUIRED: 'you need to log in',
  ERR_AUTH_INVALID: 'your session is not valid: log in again',
  ERR_AUTH_EXPIRED: 'your session expired: log in again',
  ERR_FORBIDDEN: 'you are not allowed to do that',
  ERR_NOT_FOUND: 'the video no longer exists',
  ERR_VERSION_CONFLICT: 'someone else changed it since you started editing: take their text or keep yours, then save again',
  ERR_COLLECTION_TOO_LARGE: 'there are more videos than the server sends in one list',
  ERR_TOO_MANY_WATCHES: 'this page watches too many lists at once: reload it',
  ERR_RECIPIENT_OFFLINE: 'that person is not online: they must have the page open to receive it',
  ERR_NOT_ATTACHED: 'the page lost track of this object: reload the page',
  ERR_SERVER_CLOSING: 'the server is restarting',
  ERR_HEARTBEAT_TIMEOUT: 'the connection went silent',
  ERR_SLOW_CONSUMER: 'the page fell behind the server',
  ERR_SESSION_EXPIRED: 'your session expired: log in again',
  ERR_TOO_MANY_BAD_FRAMES: 'the server stopped listening to this page after damaged messages',
  ERR_STORE_UNAVAILABLE: 'the server’s storage is unavailable (a setup problem on the server)',
};

/** A sentence fragment for `error`: a capsync code in words, or the error's message. */
export function describeError(error: unknown): string {
  const { code, message } = (error ?? {}) as { code?: string; message?: string };
  const known = code !== undefined && Object.prototype.hasOwnProperty.call(errorMessages, code) ? errorMessages[code as CapsyncErrorCode] : undefined;
  return known ?? message ?? String(error);
}

/** Why a connection ended, with its close code (`1001: the server is restarting`). */
export function describeClose(info: CloseInfo | null): string {
  if (info === null) return 'no close seen';
  const words: Record<number, string> = {
    [CloseCode.normal]: 'closed',
    [CloseCode.goingAway]: 'the server is restarting or going away',
    [CloseCode.abnormal]: 'the connection was lost',
    [CloseCode.heartbeatTimeout]: 'the server stopped answering',
    [CloseCode.slowConsumer]: 'the page fell behind',
    [CloseCode.sessionExpired]: 'the session expired',
  };
  return `${info.code}: ${words[info.code] ?? (info.reason || 'closed')}`;
}
