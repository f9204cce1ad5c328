import '../capnweb-node.js';
import { RpcTarget, newWebSocketRpcSession, type RpcStub } from 'capnweb';
import { WebSocketServer, type WebSocket } from 'ws';
import { updateFields, type UpdateFields } from '../payload.js';
import { runServer } from './harness.js';

type Listener = RpcStub<(update: UpdateFields) => void>;

const listeners = new Set<Listener>();

/** The API each connection gets: a method that returns its argument, and a callback registration for updates. */
class BenchApi extends RpcTarget {
  #listener: Listener | undefined;

  echo(value: unknown): unknown {
    return value;
  }

  subscribe(listener: Listener): void {
    this.#release();
    // Stubs received as parameters are disposed when the call returns: keep a duplicate (capnweb README).
    this.#listener = listener.dup();
    listeners.add(this.#listener);
  }

  [Symbol.dispose](): void {
    this.#release();
  }

  #release(): void {
    if (this.#listener === undefined) return;
    listeners.delete(this.#listener);
    this.#listener[Symbol.dispose]();
    this.#listener = undefined;
  }
}

/** Cap'n Web over `ws`, set up as its README shows for Node: one RPC session per WebSocket. */
await runServer(async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => wss.once('listening', resolve).once('error', reject));
  wss.on('connection', (ws: WebSocket) => {
    newWebSocketRpcSession(ws as unknown as globalThis.WebSocket, new BenchApi());
  });
  return {
    port: (wss.address() as { port: number }).port,
    connections: () => wss.clients.size,
    broadcast(seq) {
      const fields = updateFields(seq);
      for (const listener of listeners) {
        // The result is not awaited: disposing the call's promise tells the peer nobody will pull it.
        listener(fields)[Symbol.dispose]();
      }
    },
  };
});
