import { io } from 'socket.io-client';
import type { UpdateFields } from '../payload.js';
import { callPayload } from '../payload.js';
import { runLoad, type BenchClient } from './harness.js';

/** socket.io-client over the WebSocket transport only, one Manager (one connection) per client. */
async function connectSocketIo(url: string): Promise<BenchClient> {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 60_000 });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  return {
    prepareCalls: async () => {},
    call: () => socket.emitWithAck('echo', callPayload),
    subscribe: async (onUpdate) => {
      socket.on('update', (update: UpdateFields) => onUpdate(update.seq));
    },
    close: () => socket.disconnect(),
  };
}

runLoad(connectSocketIo);
