import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { connectRedis } from '../../server/redis/index.js';
import { TcpProxy } from '../chaos/tcp-proxy.js';
import { redisForFile } from './backend.js';
import { eventually } from './haproxy.js';

const redis = redisForFile();

describe('a turn script whose reply is lost with its connection', () => {
  it('is answered from its first run when ioredis sends it again on the new connection: the write happens once', async () => {
    const server = await redis.server();
    const proxy = await TcpProxy.start(server.port);
    const prefix = `{r${randomUUID().slice(0, 8)}}:`;
    // The writer reaches Redis through the proxy; the observer directly, on the same keys.
    const writer = await connectRedis({ url: `redis://127.0.0.1:${proxy.port}`, prefix });
    const observer = await connectRedis({ url: server.url, prefix });
    try {
      const address = ['notes', 'n1'];
      expect((await writer.store.put(address, 'Note', new Uint8Array([1]))).version).toBe(1);
      // Redis runs the next write, and its reply is held, then lost with the connection.
      proxy.stall('down');
      const written = writer.store.put(address, 'Note', new Uint8Array([2]));
      await eventually(async () => (await observer.store.get(address))?.version === 2, 'the write reached Redis');
      await proxy.cut();
      proxy.resume();
      expect((await written).version).toBe(2);
      const stored = await observer.store.get(address);
      expect(stored?.version).toBe(2);
      expect([...stored!.state]).toEqual([2]);
    } finally {
      await writer.store.close();
      await observer.store.close();
      await proxy.close();
    }
  });
});
