import { randomUUID } from 'node:crypto';
import { connect, type CapsyncClient, type ConnectOptions } from '../../client/index.js';
import { demoUsers, installVideoApp, seedIfEmpty } from '../../examples/video/app.js';
import { CapsyncServer, silentLogger } from '../../server/index.js';
import { connectRedis, type RedisBackend, type RedisOptions } from '../../server/redis/index.js';
import { SECRET } from '../helpers.js';

/** One in-process node of a deployment: a demo server on its own port, sharing Redis with the others. */
export interface TestNode {
  readonly server: CapsyncServer;
  readonly backend: RedisBackend;
  connectAs(user: keyof typeof demoUsers, options?: ConnectOptions): Promise<CapsyncClient>;
}

/**
 * `count` demo servers (in this process, port 0 each) on one Redis under a fresh prefix, started one after
 * the other (the first seeds the videos); `urls` and `feeds` give node i its own Redis URL and feed options.
 * `close()` closes their clients and them.
 */
export async function startNodes(url: string, count: number, options: Partial<RedisOptions> & { urls?: string[]; feeds?: RedisOptions['feed'][]; presenceGraceMs?: number } = {}): Promise<{ nodes: TestNode[]; close(): Promise<void> }> {
  const prefix = `{n${randomUUID().slice(0, 8)}}:`;
  const nodes: TestNode[] = [];
  const clients: CapsyncClient[] = [];
  for (let i = 0; i < count; i++) {
    const { urls, feeds, presenceGraceMs, ...rest } = options;
    const feed = feeds?.[i] ?? rest.feed;
    const backend = await connectRedis({ url: urls?.[i] ?? url, prefix, node: `node${i}`, bus: { lingerMs: 200 }, ...rest, ...(feed !== undefined ? { feed } : {}) });
    const server = await CapsyncServer.create({
      auth: { secret: SECRET },
      store: backend.store,
      fanout: backend.fanout,
      cluster: backend.cluster,
      devUsers: demoUsers,
      logger: silentLogger,
      ...(presenceGraceMs !== undefined ? { presenceGraceMs } : {}),
    });
    installVideoApp(server);
    if (i === 0) await seedIfEmpty(server);
    await server.listen(0, '127.0.0.1');
    nodes.push({
      server,
      backend,
      async connectAs(user, connectOptions = {}) {
        const client = await connect(server.url, { token: await server.auth.issue(demoUsers[user]!), ...connectOptions });
        clients.push(client);
        return client;
      },
    });
  }
  return {
    nodes,
    async close() {
      await Promise.all(clients.map((c) => c.close()));
      await Promise.all(nodes.map((n) => n.server.close()));
    },
  };
}
