// Node socket errors; PostgreSQL SQLSTATEs for "cannot serve you now" (class 08 connection
// exceptions, 53300 too many connections, 55000 not accepting connections, 57P0x shutdown);
// Prisma's connection error codes.
const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND',
  '08000', '08001', '08003', '08004', '08006', '53300', '55000', '57P01', '57P02', '57P03',
  'P1001', 'P1002', 'P1017',
]);

/** Error replies of a Redis that cannot serve this key now, but will after the failover. */
const REDIS_FAILOVER_REPLY = /^(CLUSTERDOWN|MOVED|ASK|TRYAGAIN|MASTERDOWN|READONLY|LOADING|NOREPLICAS)\b/;

/**
 * A store that did not take a write within its bound (it is down or stalled), raised by the
 * writer that waited; rendered like any outage: 503 temporarily_unavailable with Retry-After.
 */
export class DependencyUnavailable extends Error {
  override readonly name: string = 'DependencyUnavailable';
}

/** True for errors that mean "the database or Redis is down" (answer 503 and retry), as opposed to a bad query. */
export function isDependencyUnavailable(error: unknown): boolean {
  for (let e: any = error, depth = 0; e && depth < 6; e = e.cause, depth++) {
    if (e instanceof DependencyUnavailable) return true;
    if (CONNECTION_CODES.has(e.code) || CONNECTION_CODES.has(e.errorCode)) return true;
    // Prisma reports driver errors as P2039/P2010 with the SQLSTATE only in its message.
    const sqlState = typeof e.message === 'string' ? /Code: `(\w+)`/.exec(e.message)?.[1] : undefined;
    if (sqlState && CONNECTION_CODES.has(sqlState)) return true;
    // ioredis: no connection / retries exhausted / offline queue disabled.
    if (e.name === 'MaxRetriesPerRequestError' || /Connection is closed|Stream isn't writeable|enableOfflineQueue/i.test(String(e.message))) return true;
    // Redis Cluster or Sentinel in a failover: the slot's master is gone or moving (a MOVED/ASK
    // that could not be followed), the cluster is down, or the node we reached was demoted.
    if (e.name === 'ReplyError' && REDIS_FAILOVER_REPLY.test(String(e.message))) return true;
    if (e.name === 'ClusterAllFailedError' || /Too many Cluster redirections|Cluster isn't ready|Failed to refresh slots cache/i.test(String(e.message))) return true;
    if (e.name === 'DriverAdapterError' && /connect|terminat|closed|ECONN/i.test(String(e.cause?.message ?? e.message))) return true;
    if (typeof e.message === 'string' && /Connection terminated|connect ECONNREFUSED|Can't reach database|Client has encountered a connection error/i.test(e.message)) return true;
  }
  return false;
}
