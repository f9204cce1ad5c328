import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CapsyncError } from '../../protocol/errors.js';
import type { Authenticator, User } from '../auth.js';
import { isLoopbackAddress, isLoopbackHost, sendJson } from './http.js';

/** What the plain HTTP routes need. */
export interface RouteOptions {
  readonly auth: Authenticator;
  readonly devUsers?: Readonly<Record<string, User>>;
  /** Serve the development login even when listening beyond loopback (the Host check still applies). */
  readonly devLoginBeyondLoopback?: boolean;
  readonly http?: (request: IncomingMessage, response: ServerResponse) => boolean;
  sessionCount(): number;
  /** The address the server listens on (undefined before `listen`). */
  address(): AddressInfo | undefined;
}

/**
 * Where the development login may answer. It hands out any demo user's token, admin included, to whoever
 * asks, so it must only answer this machine: the server must listen on loopback (unless forced), and the
 * request's Host must be a loopback name with the server's port, which refuses DNS rebinding (a page on
 * `evil.example`, re-resolved to 127.0.0.1, sends `Host: evil.example:<port>`).
 */
export function devLoginRefusal(options: Pick<RouteOptions, 'devLoginBeyondLoopback' | 'address'>, req: IncomingMessage): string | undefined {
  const address = options.address();
  if (address === undefined) return 'the server is not listening';
  if (!options.devLoginBeyondLoopback && !isLoopbackAddress(address.address)) return 'development login is off when the server listens beyond loopback';
  if (!isLoopbackHost(req.headers.host, address.port)) return 'development login answers only requests to localhost, 127.0.0.1 or [::1] on this port';
  return undefined;
}

function ownDevId(id: string, devUsers: Readonly<Record<string, User>>): boolean {
  return /^[A-Za-z0-9._-]{1,64}$/.test(id) && !Object.values(devUsers).some((u) => u.id === id);
}

/**
 * The server's few HTTP routes: `/healthz`, the development login (only when `devUsers` is given:
 * `GET /dev/login?user=<name>[&as=<id>]` answers `{token, user: {id, roles}}`), then the application's own
 * handler, else 404 with a typed body.
 */
export function handleRequest(options: RouteOptions, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/healthz') return sendJson(res, 200, { ok: true, sessions: options.sessionCount() });
  const devUsers = options.devUsers;
  if (url.pathname === '/dev/login' && devUsers && req.method === 'GET') {
    const refusal = devLoginRefusal(options, req);
    if (refusal !== undefined) return sendJson(res, 403, { code: 'ERR_FORBIDDEN', message: refusal });
    const name = url.searchParams.get('user') ?? '';
    const devUser = Object.prototype.hasOwnProperty.call(devUsers, name) ? devUsers[name] : undefined;
    if (devUser === undefined) return sendJson(res, 404, { code: 'ERR_NOT_FOUND', message: 'no such development user' });
    const as = url.searchParams.get('as');
    if (as !== null && !ownDevId(as, devUsers)) {
      return sendJson(res, 400, { code: 'ERR_BAD_ARGUMENTS', message: 'as: 1-64 letters, digits, ".", "_" or "-", and not a development user\'s id' });
    }
    // `as` gives a script a user id of its own with that user's roles, so it never touches a real user's sessions.
    const user = as === null ? devUser : { id: as, roles: devUser.roles };
    void options.auth.issue(user).then(
      (token) => sendJson(res, 200, { token, user }),
      (error: unknown) => sendJson(res, 500, { code: error instanceof CapsyncError ? error.code : 'ERR_FUNCTION_FAILED', message: 'cannot issue a token' }),
    );
    return;
  }
  if (options.http?.(req, res)) return;
  sendJson(res, 404, { code: 'ERR_NOT_FOUND', message: 'not found' });
}
