import type { IncomingMessage, ServerResponse } from 'node:http';
import { CapsyncError } from '../../protocol/errors.js';
import type { Authenticator, User } from '../auth.js';
import { sendJson } from './http.js';

/** What the plain HTTP routes need. */
export interface RouteOptions {
  readonly auth: Authenticator;
  readonly devUsers?: Readonly<Record<string, User>>;
  readonly http?: (request: IncomingMessage, response: ServerResponse) => boolean;
  sessionCount(): number;
}

/**
 * The server's few HTTP routes: `/healthz`, the development login (only when `devUsers` is given), then
 * the application's own handler, else 404 with a typed body.
 */
export function handleRequest(options: RouteOptions, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/healthz') return sendJson(res, 200, { ok: true, sessions: options.sessionCount() });
  const devUsers = options.devUsers;
  if (url.pathname === '/dev/login' && devUsers && req.method === 'GET') {
    const name = url.searchParams.get('user') ?? '';
    const user = Object.prototype.hasOwnProperty.call(devUsers, name) ? devUsers[name] : undefined;
    if (user === undefined) return sendJson(res, 404, { code: 'ERR_NOT_FOUND', message: 'no such development user' });
    void options.auth.issue(user).then(
      (token) => sendJson(res, 200, { token, user }),
      (error: unknown) => sendJson(res, 500, { code: error instanceof CapsyncError ? error.code : 'ERR_FUNCTION_FAILED', message: 'cannot issue a token' }),
    );
    return;
  }
  if (options.http?.(req, res)) return;
  sendJson(res, 404, { code: 'ERR_NOT_FOUND', message: 'not found' });
}
