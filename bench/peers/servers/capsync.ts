import { ANY, CapsyncServer, unwrapCapability } from '../../../server/index.js';
import { BenchItem } from '../bench-item.js';
import { updateFields } from '../payload.js';
import { HEARTBEAT_MS, runServer } from './harness.js';

/**
 * The real CapsyncServer. `grant` hands each connection a capability `["bench", user, "echo"]` once;
 * `echo` checks the capability passed with every call (verified, cache hit, revocation and expiry
 * re-checked, scope matched) and returns its argument. `subscribe` returns the live BenchItem with a
 * capability covering it, which makes the connection a holder that every `live.put` of the item reaches.
 * `hold` sends a connection the capabilities it holds besides (`--holdings`, default 100).
 */
await runServer(async () => {
  const secret = process.env['CAPSYNC_BENCH_SECRET'];
  if (secret === undefined) throw new Error('CAPSYNC_BENCH_SECRET is not set');
  const server = await CapsyncServer.create({ auth: { secret }, heartbeatMs: HEARTBEAT_MS });
  const item = new BenchItem(updateFields(0));
  await server.live.put(item);

  server.callable('grant', ({ user }) => server.mint(['bench', user?.id ?? 'anonymous', 'echo']));
  server.callable('echo', (_ctx, cap: unknown, value: unknown) => {
    unwrapCapability(cap, ['bench', ANY, 'echo']);
    return value;
  });
  // What each connection holds besides: `count` capabilities of its own, minted, bound to it and sent.
  server.callable('hold', ({ user }, count: unknown) => {
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > 10_000) throw new Error('hold: bad count');
    return Array.from({ length: count }, (_, i) => server.mint(['bench', user?.id ?? 'anonymous', 'doc', i]));
  });
  server.callable('subscribe', () => server.live.grantedBy(server.mint(['bench', item.id])));

  const { port } = await server.listen(0, '127.0.0.1');
  return {
    port,
    connections: () => server.sessionCount,
    async broadcast(seq) {
      item.seq = seq;
      await server.live.put(item);
    },
  };
});
