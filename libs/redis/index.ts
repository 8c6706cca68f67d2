export { databaseOf, parseRedisUrl, redisAddress, type RedisTarget, type RedisNode } from './redis-url.js';
export { createRedisClient, createClientFor, isCluster, masterConnections, shardOf, CLUSTER_SLOTS_REFRESH_MS, type RedisClient, type RedisClientOptions } from './redis-client.js';
