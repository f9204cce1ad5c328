import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { CapsyncError, isErrorCode } from '../protocol/errors.js';
import { UsageError } from './usage.js';

/** The WebSocket URL of a server given as `ws(s)://` or `http(s)://`. */
export function socketUrl(url: string): string {
  const parsed = parseServerUrl(url);
  if (parsed.protocol === 'http:') parsed.protocol = 'ws:';
  if (parsed.protocol === 'https:') parsed.protocol = 'wss:';
  return parsed.toString().replace(/\/$/, '');
}

/** The HTTP origin of a server given as `ws(s)://` or `http(s)://` (where `/dev/login` lives). */
export function httpOrigin(url: string): string {
  const parsed = parseServerUrl(url);
  const scheme = parsed.protocol === 'wss:' || parsed.protocol === 'https:' ? 'https:' : 'http:';
  return `${scheme}//${parsed.host}`;
}

function parseServerUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`${JSON.stringify(url)} is not a URL (expected ws://host:port or http://host:port)`);
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(parsed.protocol)) {
    throw new UsageError(`${JSON.stringify(url)}: the server URL must start with ws://, wss://, http:// or https://`);
  }
  return parsed;
}

/** What a development login answers. */
export interface DevLogin {
  readonly token: string;
  readonly user: { readonly id: string; readonly roles: readonly string[] };
}

/**
 * Gets a development JWT from a server's `GET /dev/login?user=<name>` (the demo serves it unless started with
 * `--no-dev-login`); with `as`, for a user id of the caller's own that has `user`'s roles. Rejects with a {@link CapsyncError}: `ERR_NOT_FOUND` for an unknown user or a server
 * without a development login, `ERR_NOT_CONNECTED` when the server cannot be reached.
 */
export function devLogin(url: string, user: string, timeoutMs = 10_000, as?: string): Promise<DevLogin> {
  const target = new URL(`${httpOrigin(url)}/dev/login`);
  target.searchParams.set('user', user);
  if (as !== undefined) target.searchParams.set('as', as);
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<DevLogin>((resolve, reject) => {
    // A plain request with no keep-alive agent: a command must not stay alive for an idle pooled socket.
    const req = request(target, { method: 'GET', agent: false, timeout: timeoutMs, headers: { accept: 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > 64 * 1024) req.destroy(new Error('response too large'));
        else chunks.push(chunk);
      });
      res.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = undefined;
        }
        const b = (body ?? {}) as { token?: unknown; user?: unknown; code?: unknown; message?: unknown };
        if (res.statusCode === 200 && typeof b.token === 'string') {
          resolve({ token: b.token, user: b.user as DevLogin['user'] });
          return;
        }
        const message = typeof b.message === 'string' ? b.message : `HTTP ${res.statusCode}`;
        if (res.statusCode === 404 && message === 'not found') {
          reject(new CapsyncError('ERR_NOT_FOUND', `${target.origin} has no development login (a demo server started without --no-dev-login has one)`));
          return;
        }
        reject(new CapsyncError(isErrorCode(b.code) ? b.code : 'ERR_NOT_FOUND', `dev login for ${JSON.stringify(user)} at ${target.origin}: ${message}`));
      });
      res.on('error', () => reject(new CapsyncError('ERR_NOT_CONNECTED', `dev login at ${target.origin}: response interrupted`)));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'ECONNREFUSED' ? 'connection refused (is the server running?)' : error.message;
      reject(new CapsyncError('ERR_NOT_CONNECTED', `cannot reach ${target.origin}: ${why}`));
    });
    req.end();
  });
}
