import { CapsyncClient, type ConnectOptions, type SocketLike, type TypedClient } from './client.js';

const SUBPROTOCOL = 'capsync.v1';

/**
 * Connects to a capsync server from a browser (the platform's WebSocket). Browsers cannot set headers on a
 * WebSocket, so the JWT travels as a second subprotocol, `capsync.bearer.<jwt>`; the server answers with
 * `capsync.v1` only.
 */
export function connect(url: string, options?: ConnectOptions): Promise<CapsyncClient>;
/** Connects with calls typed against `Api` (`typeof functions` on the server, or an interface of call signatures). */
export function connect<Api>(url: string, options?: ConnectOptions): Promise<TypedClient<Api>>;
export function connect(url: string, options: ConnectOptions = {}): Promise<CapsyncClient> {
  return CapsyncClient.connect(url, options, (target, token) => {
    const protocols = token ? [SUBPROTOCOL, `capsync.bearer.${token}`] : [SUBPROTOCOL];
    const socket = new WebSocket(target, protocols);
    socket.binaryType = 'arraybuffer';
    return { socket: socket as unknown as SocketLike };
  });
}

export {
  CapsyncClient, type ConnectOptions, type FunctionArgs, type FunctionName, type FunctionResult, type TypedClient, type ConnectionState, type Change, type CloseInfo, type Delegation, type Grant, type ReconnectOptions,
  type Revocation, type StateObservable, type TokenProvider,
} from './client.js';
export * from '../protocol/index.js';
