import { fanoutContract } from '../contracts/fanout.contract.js';
import { objectStoreContract } from '../contracts/object-store.contract.js';
import { revocationSetContract } from '../contracts/revocation-set.contract.js';
import { closingFanout, redisClusterForFile } from './backend.js';

// The same contract suites as the single-server Redis backend, on a real 3-master Redis Cluster: every
// script routed to its prefix's slot by the Cluster client, the bus on sharded pub/sub, the feed's blocking
// XREAD on its own Cluster connection.
const redis = redisClusterForFile();
objectStoreContract('RedisStore on a Redis Cluster', async (clock) => (await redis.backend({ clock })).store);
fanoutContract('RedisFanout on a Redis Cluster', async () => closingFanout(await redis.backend()));
revocationSetContract('RedisStore revocations on a Redis Cluster', async () => {
  const { store } = await redis.backend();
  return { set: store.revocations, close: () => store.close() };
});
