import WebSocket from 'ws';
import { CapsyncError, fail, isErrorCode } from '../protocol/errors.js';
import { CapsyncClient, type ConnectOptions, type SocketLike, type TypedClient } from './client.js';

const SUBPROTOCOL = 'capsync.v1';

/**
 * Connects to a capsync server from Node (through `ws`). The JWT travels in the `Authorization` header.
 *
 * @example
 * ```ts
 * const client = await connect('ws://127.0.0.1:8080', { token });
 * const videos = await client.call<Video[]>('get_my_videos');
 * ```
 */
export function connect(url: string, options?: ConnectOptions): Promise<CapsyncClient>;
/** Connects with calls typed against `Api` (`typeof functions` on the server, or an interface of call signatures). */
export function connect<Api>(url: string, options?: ConnectOptions): Promise<TypedClient<Api>>;
export function connect(url: string, options: ConnectOptions = {}): Promise<CapsyncClient> {
  return CapsyncClient.connect(url, options, (target, token) => {
    let refusal: CapsyncError | undefined;
    const ws = new WebSocket(target, [SUBPROTOCOL], {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      perMessageDeflate: false,
    });
    ws.on('unexpected-response', (_req, res) => {
      const code = res.headers['x-capsync-error'];
      refusal = isErrorCode(code) ? new CapsyncError(code) : fail(res.statusCode === 403 ? 'ERR_FORBIDDEN' : 'ERR_NOT_CONNECTED', `upgrade refused with HTTP ${res.statusCode}`);
      res.resume();
      ws.terminate();
    });
    // Buffers as they arrive: 'arraybuffer' would make ws copy every message into a fresh ArrayBuffer.
    ws.binaryType = 'nodebuffer';
    return { socket: ws as unknown as SocketLike, failure: () => refusal };
  });
}

export {
  CapsyncClient, type ConnectOptions, type FunctionArgs, type FunctionName, type FunctionResult, type TypedClient, type ConnectionState, type Change, type CloseInfo, type Delegation, type Grant, type ReconnectOptions,
  type Revocation, type SocketFactory, type SocketLike, type StateObservable, type TokenProvider,
} from './client.js';
export * from '../protocol/index.js';
