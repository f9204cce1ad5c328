import { connect as netConnect } from 'node:net';

/** A raw HTTP answer: status code and parsed JSON body (or undefined). */
export interface RawAnswer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: any;
}

/**
 * Sends one request exactly as written (headers in order, any Host), as a browser or an attacker would, and
 * resolves with the answer once the server ends it (or, for a 101, once the head has arrived).
 */
export function rawRequest(port: number, head: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => socket.write(`${head}\r\n`));
    let text = '';
    const done = (): void => {
      const [head = '', body = ''] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      let parsed: unknown;
      try {
        parsed = body ? JSON.parse(body) : undefined;
      } catch {
        parsed = undefined;
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body: parsed });
    };
    socket.on('data', (chunk) => {
      text += chunk.toString();
      if (text.startsWith('HTTP/1.1 101') && text.includes('\r\n\r\n')) (socket.destroy(), done());
    });
    socket.on('end', done);
    socket.on('error', reject);
  });
}

/** The head of a WebSocket upgrade request with the given extra header lines. */
export function upgradeHead(host: string, extra: string[]): string {
  return [
    'GET / HTTP/1.1',
    `Host: ${host}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version: 13',
    ...extra,
    '',
  ].join('\r\n');
}

/** The head of a plain GET (with `Connection: close`, so the server ends the answer). */
export function getHead(host: string, path: string, extra: string[] = []): string {
  return [`GET ${path} HTTP/1.1`, `Host: ${host}`, 'Connection: close', ...extra, ''].join('\r\n');
}
