import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { parseRedisUrl, type RedisTarget } from './redis-url.js';

/** A connection to one Redis, a Redis Cluster or the master a Sentinel group names. */
export type RedisClient = Redis | Cluster;

export interface RedisClientOptions {
  lazyConnect?: boolean;
  enableOfflineQueue?: boolean;
  enableAutoPipelining?: boolean;
  maxRetriesPerRequest?: number | null;
  connectTimeout?: number;
}

/**
 * How often the cluster's slot map (which node serves which slot, and which replicas it has) is
 * read again besides on MOVED: a promoted replica or a failed node is seen within this time.
 */
export const CLUSTER_SLOTS_REFRESH_MS = 2000;

/**
 * The one place a Redis client is made from REDIS_URL (libs/redis/redis-url.ts for the forms).
 * Cluster: every node gets the same credentials and TLS; ioredis follows MOVED/ASK and finds a
 * promoted replica. Sentinel: ioredis asks the sentinels for the master, and again after losing it.
 */
export function createRedisClient(url: string, options: RedisClientOptions): RedisClient {
  const target = parseRedisUrl(url);
  return createClientFor(target, options);
}

export function createClientFor(target: RedisTarget, options: RedisClientOptions): RedisClient {
  switch (target.kind) {
    case 'single':
      return new Redis(target.url, options);
    case 'sentinel':
      return new Redis({
        ...options,
        sentinels: target.sentinels,
        name: target.masterName,
        ...credentials(target),
        ...(target.tls ? { tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      });
    case 'cluster': {
      const { lazyConnect, enableOfflineQueue, enableAutoPipelining, ...node } = options;
      const redisOptions: RedisOptions = { ...node, ...credentials(target), ...(target.tls ? { tls: {} } : {}) };
      return new Cluster(target.nodes, { lazyConnect, enableOfflineQueue, enableAutoPipelining, slotsRefreshInterval: CLUSTER_SLOTS_REFRESH_MS, redisOptions });
    }
  }
}

const credentials = (t: { username?: string; password?: string }) => ({
  ...(t.username ? { username: t.username } : {}),
  ...(t.password ? { password: t.password } : {}),
});

export const isCluster = (client: RedisClient): client is Cluster => client instanceof Cluster;

/**
 * The connections whose server identity (run_id, uptime) bounds what the store remembers: each
 * master of a cluster (as the slot map knows them now), else the one connection.
 */
export function masterConnections(client: RedisClient): Redis[] {
  return isCluster(client) ? client.nodes('master') : [client];
}

/**
 * The nodes serving `key` in the cluster's slot map now, `host:port`, master first, then its
 * replicas (CLUSTER SLOTS leaves failed ones out); undefined while the slot is not served.
 */
export function shardOf(cluster: Cluster, key: string): string[] | undefined {
  const nodes = cluster.slots[calculateSlot(key)];
  return nodes?.length ? nodes : undefined;
}
