/** The Redis Cluster launcher lives with `bench:cluster`, which needs it outside the tests too. */
export * from '../../bench/cluster/redis-cluster.js';
