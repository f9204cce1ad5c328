import { parseArgs } from 'node:util';
import { installVideoApp, seedIfEmpty } from '../../examples/video/app.js';
import { CapsyncServer, silentLogger, SqliteStore } from '../../server/index.js';
import { connectRedis } from '../../server/redis/index.js';
import { announceReady, serveRequests } from '../peers/ipc.js';
import { stallMeter } from '../stall.js';

/**
 * One node of bench:cluster, forked by the runner (`startNode` in calls.ts): the demo's functions on Redis
 * (`--redis URL`) or alone on SQLite in memory, pings rare (raw holders answer none), and a stall meter
 * the runner resets before a write and reads after it. `--presence none` turns presence off (the fan-out:
 * every connect would otherwise announce itself to every watching holder); `--one-script-per-write` sends
 * each store write as a script of its own instead of grouping a turn's (the grouping's baseline).
 */
const { values } = parseArgs({
  options: { redis: { type: 'string' }, secret: { type: 'string' }, node: { type: 'string' }, presence: { type: 'string' }, 'one-script-per-write': { type: 'boolean' } },
});
const shared = values.redis === undefined
  ? undefined
  : await connectRedis({ url: values.redis, durability: 'none', node: values.node ?? 'bench', ...(values['one-script-per-write'] ? { writes: { maxWrites: 1 } } : {}) });
const server = await CapsyncServer.create({
  auth: { secret: values.secret! },
  store: shared?.store ?? new SqliteStore(':memory:'),
  ...(shared ? { fanout: shared.fanout, cluster: shared.cluster } : {}),
  logger: silentLogger,
  heartbeatMs: 3_600_000,
  ...(values.presence === 'none' ? { presence: 'none' as const } : {}),
});
installVideoApp(server);
await seedIfEmpty(server);
await server.listen(0, '127.0.0.1');
const stall = stallMeter();
serveRequests({
  reset: () => (stall.reset(), null),
  stall: () => stall.longest(),
  /** The store's grouped writes so far: scripts sent and the writes they carried (0 without Redis). */
  writes: () => ({ scripts: shared?.store.turnWrites.scripts ?? 0, writes: shared?.store.turnWrites.writes ?? 0 }),
});
announceReady({ url: server.url });
