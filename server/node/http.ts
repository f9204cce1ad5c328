import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { fail, type CapsyncError } from '../../protocol/errors.js';

/** The WebSocket subprotocol capsync speaks. Browsers pass their JWT as a second subprotocol `capsync.bearer.<jwt>`. */
export const SUBPROTOCOL = 'capsync.v1';
const BEARER_PROTOCOL = 'capsync.bearer.';

/**
 * The bearer token of an upgrade request: `Authorization: Bearer`, else the `capsync.bearer.` subprotocol.
 * An `Authorization` header of another scheme (`Basic ...`) throws `ERR_AUTH_INVALID`: the client meant to
 * authenticate, and quietly treating it as anonymous would hide the mistake (or grant anonymous access).
 */
export function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (match === null) throw fail('ERR_AUTH_INVALID', 'the Authorization header must be "Bearer <jwt>"');
    return match[1];
  }
  const protocols = request.headers['sec-websocket-protocol'];
  if (protocols === undefined) return undefined;
  for (const p of protocols.split(',')) {
    const trimmed = p.trim();
    if (trimmed.startsWith(BEARER_PROTOCOL)) return trimmed.slice(BEARER_PROTOCOL.length);
  }
  return undefined;
}

/**
 * Which browser origins may open a WebSocket: a list of exact origins (`https://app.example`), or `'*'`
 * (or a list holding `'*'`) for any. Undefined means the server's own origin only (see {@link originAllowed}).
 */
export type OriginPolicy = readonly string[] | '*' | undefined;

/**
 * True if the request's Origin may connect. Requests without Origin (non-browser clients) are allowed.
 * Without a configured list only the server's own origin is: the Origin's host (with its port) must equal
 * the request's Host header, as Phoenix's `check_origin` does, so a page on another site cannot ride on a
 * user's browser to open a connection.
 */
export function originAllowed(request: IncomingMessage, allowed: OriginPolicy): boolean {
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  if (allowed === '*' || (allowed !== undefined && allowed.includes('*'))) return true;
  if (allowed !== undefined) return allowed.includes(origin);
  return sameHost(origin, request.headers.host);
}

function sameHost(origin: string, hostHeader: string | undefined): boolean {
  if (hostHeader === undefined || hostHeader === '') return false;
  let originUrl: URL;
  let hostUrl: URL;
  try {
    originUrl = new URL(origin); // "null" (sandboxed frames, file: pages) throws: refused
    // The Host header parsed under the Origin's scheme, so a default port (":443" for https) compares equal.
    hostUrl = new URL(`${originUrl.protocol}//${hostHeader}`);
  } catch {
    return false;
  }
  if (originUrl.protocol !== 'http:' && originUrl.protocol !== 'https:') return false;
  return originUrl.host === hostUrl.host && hostUrl.pathname === '/' && hostUrl.username === '' && hostUrl.password === '';
}

const LOOPBACK_HOSTNAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * True if a request's Host header names this server by a loopback name or address (`localhost`,
 * `127.0.0.1`, `[::1]`) and its own port. A page on a rebinding domain (`evil.example` resolving to
 * 127.0.0.1) sends `Host: evil.example:<port>`, so this refuses it even though it reached the socket.
 */
export function isLoopbackHost(hostHeader: string | undefined, port: number): boolean {
  if (hostHeader === undefined) return false;
  let url: URL;
  try {
    url = new URL(`http://${hostHeader}`);
  } catch {
    return false;
  }
  if (url.pathname !== '/' || url.username !== '' || url.password !== '') return false;
  const actualPort = url.port === '' ? 80 : Number(url.port);
  return LOOPBACK_HOSTNAMES.has(url.hostname.toLowerCase()) && actualPort === port;
}

/** True if a listening address is reachable only from this machine (127.0.0.0/8, ::1, or a name for them). */
export function isLoopbackAddress(address: string): boolean {
  const a = address.toLowerCase();
  return a === 'localhost' || a === '::1' || a === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a) || /^::ffff:127\./.test(a);
}

/** Refuses an upgrade with a plain HTTP status before any WebSocket exists. The error code travels in a header and in a JSON body. */
export function refuseUpgrade(socket: Duplex, status: 401 | 403 | 400, error: CapsyncError): void {
  const reason = status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Bad Request';
  const body = JSON.stringify({ code: error.code, message: error.message });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\n` +
      `X-Capsync-Error: ${error.code}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Writes a JSON response. */
export function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  response.end(text);
}
