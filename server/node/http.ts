import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { CapsyncError } from '../../protocol/errors.js';

/** The WebSocket subprotocol capsync speaks. Browsers pass their JWT as a second subprotocol `capsync.bearer.<jwt>`. */
export const SUBPROTOCOL = 'capsync.v1';
const BEARER_PROTOCOL = 'capsync.bearer.';

/** The bearer token of an upgrade request: `Authorization: Bearer`, else the `capsync.bearer.` subprotocol. */
export function bearerToken(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    return match?.[1];
  }
  const protocols = request.headers['sec-websocket-protocol'];
  if (protocols === undefined) return undefined;
  for (const p of protocols.split(',')) {
    const trimmed = p.trim();
    if (trimmed.startsWith(BEARER_PROTOCOL)) return trimmed.slice(BEARER_PROTOCOL.length);
  }
  return undefined;
}

/** True if the request's Origin may connect. Requests without Origin (non-browser clients) are allowed. */
export function originAllowed(request: IncomingMessage, allowed: readonly string[] | undefined): boolean {
  const origin = request.headers.origin;
  if (origin === undefined || allowed === undefined) return true;
  return allowed.includes('*') || allowed.includes(origin);
}

/** Refuses an upgrade with a plain HTTP status before any WebSocket exists. The error code travels in a header. */
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
