import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { updateFields } from '../payload.js';
import { HEARTBEAT_MS, runServer } from './harness.js';

/** Socket.IO 4, WebSocket transport only: calls are events answered through their acknowledgement. */
await runServer(async () => {
  const http = createServer();
  const io = new Server(http, {
    transports: ['websocket'],
    serveClient: false,
    perMessageDeflate: false,
    pingInterval: HEARTBEAT_MS,
    pingTimeout: HEARTBEAT_MS,
  });
  io.on('connection', (socket) => {
    socket.on('echo', (value: unknown, ack: (value: unknown) => void) => ack(value));
  });
  await new Promise<void>((resolve, reject) => http.once('error', reject).listen(0, '127.0.0.1', resolve));
  return {
    port: (http.address() as AddressInfo).port,
    connections: () => io.engine.clientsCount,
    broadcast(seq) {
      io.emit('update', updateFields(seq));
    },
  };
});
