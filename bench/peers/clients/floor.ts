import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { callPayload, type UpdateFields } from '../payload.js';
import { runLoad, type BenchClient } from './harness.js';

const packr = new Packr({ useRecords: false });

/** The floor's client: `[id, value]` frames over a bare `ws` socket, answers matched by id. */
async function connectFloor(url: string): Promise<BenchClient> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let nextId = 1;
  let onUpdate: ((seq: number) => void) | undefined;
  ws.on('message', (data: Buffer) => {
    const [id, value] = packr.unpack(data) as [number, unknown];
    if (id === 0) return onUpdate?.((value as UpdateFields).seq);
    const call = pending.get(id);
    pending.delete(id);
    call?.resolve(value);
  });
  ws.on('close', () => {
    for (const call of pending.values()) call.reject(new Error('connection closed'));
    pending.clear();
  });
  return {
    prepareCalls: async () => {},
    call: () =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve, reject });
        ws.send(packr.pack([id, callPayload]));
      }),
    subscribe: async (listener) => {
      onUpdate = listener;
    },
    close: () => ws.terminate(),
  };
}

runLoad(connectFloor);
