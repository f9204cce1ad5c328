import { Packr } from 'msgpackr';
import { WebSocketServer, type WebSocket } from 'ws';
import { updateFields } from '../payload.js';
import { runServer } from './harness.js';

/**
 * The transport floor: `ws` and msgpackr with nothing on top. A call is `[id, value]` and comes back as
 * `[id, value]`, decoded and re-encoded; an update is `[0, fields]`, encoded once and sent to every socket.
 */
await runServer(async () => {
  const packr = new Packr({ useRecords: false });
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => wss.once('listening', resolve).once('error', reject));
  wss.on('connection', (ws: WebSocket) => {
    ws.on('message', (data: Buffer) => {
      const [id, value] = packr.unpack(data) as [number, unknown];
      ws.send(packr.pack([id, value]));
    });
  });
  return {
    port: (wss.address() as { port: number }).port,
    connections: () => wss.clients.size,
    broadcast(seq) {
      const bytes = packr.pack([0, updateFields(seq)]);
      for (const ws of wss.clients) ws.send(bytes);
    },
  };
});
