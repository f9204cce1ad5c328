// What the dashboard tells a person instead of a raw error or close code.
import { CloseCode, type CapsyncErrorCode, type CloseInfo } from '../../../client/browser.js';

/** The codes a dashboard user can meet, in words; any other code falls back to the error's own safe message. */
const errorMessages: Partial<Record<CapsyncErrorCode, string>> = {
  ERR_CAPABILITY_REVOKED: 'your access to it was revoked',
  ERR_CAPABILITY_EXPIRED: 'your access to it expired',
  ERR_CAPABILITY_AUDIENCE: 'this access was given to someone else',
  ERR_CAPABILITY_MISMATCH: 'your access does not allow that',
  ERR_CAPABILITY_TOO_NARROW: 'your access does not allow that',
  ERR_RECIPIENT_OFFLINE: 'that person is not online: they must have the page open to receive it',
  ERR_NOT_FOUND: 'the video no longer exists',
  ERR_BAD_ARGUMENTS: 'the server refused the value (a description is at most 5,000 characters)',
  ERR_CALL_TIMEOUT: 'the server did not answer in time',
  ERR_CALL_OUTCOME_UNKNOWN: 'the connection dropped: it may or may not have been saved',
  ERR_CONNECTION_CLOSED: 'the connection is closed',
  ERR_NOT_CONNECTED: 'the server cannot be reached',
  ERR_AUTH_REQUIRED: 'you need to log in',
  ERR_AUTH_INVALID: 'your session is not valid: log in again',
  ERR_AUTH_EXPIRED: 'your session expired: log in again',
  ERR_SESSION_EXPIRED: 'your session expired: log in again',
  ERR_FORBIDDEN: 'you are not allowed to do that',
  ERR_RATE_LIMITED: 'too many requests at once: try again',
};

/** A sentence fragment for `error`: a capsync code in words, or the error's message. */
export function describeError(error: unknown): string {
  const { code, message } = (error ?? {}) as { code?: string; message?: string };
  const known = code === undefined ? undefined : errorMessages[code as CapsyncErrorCode];
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
