import { parseArgs } from 'node:util';
import { installVideoApp, seedIfEmpty } from '../../examples/video/app.js';
import { CapsyncServer, silentLogger, SqliteStore } from '../../server/index.js';
import { connectRedis } from '../../server/redis/index.js';
import { announceReady, serveRequests } from '../peers/ipc.js';
import { stallMeter } from './stall.js';

/**
 * One node of bench:cluster's fan-out, forked by the runner (`fanout.ts`): the demo's functions on Redis
 * (`--redis URL`) or alone on SQLite in memory, presence off (every connect would otherwise announce itself
 * to every watching holder), pings rare (raw holders answer none), and a stall meter the runner resets
 * before each write and reads after it.
 */
const { values } = parseArgs({ options: { redis: { type: 'string' }, secret: { type: 'string' }, node: { type: 'string' } } });
const shared = values.redis === undefined ? undefined : await connectRedis({ url: values.redis, durability: 'none', node: values.node ?? 'fanout' });
const server = await CapsyncServer.create({
  auth: { secret: values.secret! },
  store: shared?.store ?? new SqliteStore(':memory:'),
  ...(shared ? { fanout: shared.fanout, cluster: shared.cluster } : {}),
  logger: silentLogger,
  heartbeatMs: 3_600_000,
  presence: 'none',
});
installVideoApp(server);
await seedIfEmpty(server);
await server.listen(0, '127.0.0.1');
const stall = stallMeter();
serveRequests({
  reset: () => (stall.reset(), null),
  stall: () => stall.longest(),
  /** Bus channels this node listens on (0 without Redis). */
  channels: () => shared?.fanout.channels.length ?? 0,
});
announceReady({ url: server.url });
