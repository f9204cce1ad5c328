import '../capnweb-node.js';
import { newWebSocketRpcSession } from 'capnweb';
import WebSocket from 'ws';
import { callPayload, type CallPayload, type UpdateFields } from '../payload.js';
import { runLoad, type BenchClient } from './harness.js';

/** The server's API as the client sees it (bench/peers/servers/capnweb.ts). */
interface BenchApi {
  echo(value: CallPayload): CallPayload;
  subscribe(listener: (update: UpdateFields) => void): void;
}

/** A Cap'n Web session over a `ws` socket; calls are method calls on the server's RpcTarget. */
async function connectCapnWeb(url: string): Promise<BenchClient> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const api = newWebSocketRpcSession<BenchApi>(ws as unknown as globalThis.WebSocket);
  return {
    prepareCalls: async () => {},
    call: () => api.echo(callPayload),
    subscribe: async (onUpdate) => {
      await api.subscribe((update: UpdateFields) => onUpdate(update.seq));
    },
    close: () => ws.terminate(),
  };
}

runLoad(connectCapnWeb);
