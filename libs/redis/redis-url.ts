/**
 * The REDIS_URL forms Tollgate accepts (docs/configuration.md, "REDIS_URL"):
 *
 *   redis[s]://[user:password@]host:port[/db]                   one Redis (as ioredis reads it)
 *   redis[s]+cluster://[user:password@]host:port,host:port[/]   Redis Cluster, seed nodes
 *   redis[s]+sentinel://[user:password@]host:port,host:port/master   Sentinel, master name in the path
 *
 * `rediss` means TLS to every node (and to the sentinels). The user and password are the data
 * nodes' (AUTH, Redis 6 ACL user optional); sentinels are reached without a password.
 * Parsed once at start (libs/config) and again, identically, where the client is made.
 */
export interface RedisNode {
  host: string;
  port: number;
}

export type RedisTarget =
  | { kind: 'single'; url: string; tls: boolean }
  | { kind: 'cluster'; nodes: RedisNode[]; tls: boolean; username?: string; password?: string }
  | { kind: 'sentinel'; sentinels: RedisNode[]; masterName: string; tls: boolean; username?: string; password?: string };

const SCHEME = /^(rediss?)(\+cluster|\+sentinel)?:\/\/(.*)$/i;
const HOST_PORT = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i;

/** Throws an Error whose message says what is wrong (never repeating the password). */
export function parseRedisUrl(raw: string): RedisTarget {
  const scheme = SCHEME.exec(raw.trim());
  if (!scheme) throw new Error('must be a redis://, rediss://, redis+cluster://, rediss+cluster://, redis+sentinel:// or rediss+sentinel:// URL');
  const tls = scheme[1]!.toLowerCase() === 'rediss';
  const variant = scheme[2]?.toLowerCase();
  if (!variant) {
    let parsed: URL;
    try {
      parsed = new URL(raw.trim());
    } catch {
      throw new Error('must be a URL');
    }
    if (!parsed.hostname) throw new Error('must name a host');
    if (parsed.pathname !== '' && parsed.pathname !== '/' && !/^\/\d{1,2}$/.test(parsed.pathname)) {
      throw new Error('path must be empty or a database number (/0 to /99)');
    }
    return { kind: 'single', url: raw.trim(), tls };
  }
  const rest = scheme[3]!;
  const at = rest.lastIndexOf('@');
  const userinfo = at >= 0 ? rest.slice(0, at) : undefined;
  const afterUser = at >= 0 ? rest.slice(at + 1) : rest;
  if (/[?#]/.test(afterUser)) throw new Error('must not have a query or fragment');
  const slash = afterUser.indexOf('/');
  const hostList = slash >= 0 ? afterUser.slice(0, slash) : afterUser;
  const path = slash >= 0 ? afterUser.slice(slash + 1) : '';
  const defaultPort = variant === '+sentinel' ? 26379 : 6379;
  const nodes = hostList.split(',').map((entry) => {
    const m = HOST_PORT.exec(entry.trim());
    const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
    if (!m || port < 1 || port > 65535) throw new Error(`has a bad host:port "${entry.trim()}"`);
    return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
  });
  const credentials = userinfo === undefined ? {} : decodeUserinfo(userinfo);
  if (variant === '+cluster') {
    if (path !== '') throw new Error('must not name a database or path on a cluster (Redis Cluster serves database 0 only)');
    return { kind: 'cluster', nodes, tls, ...credentials };
  }
  const masterName = decodeURIComponent(path.replace(/\/$/, ''));
  if (!masterName || masterName.includes('/')) throw new Error('must name the master in the path: redis+sentinel://host:26379,host:26379/mymaster');
  return { kind: 'sentinel', sentinels: nodes, masterName, tls, ...credentials };
}

function decodeUserinfo(userinfo: string): { username?: string; password?: string } {
  const colon = userinfo.indexOf(':');
  const user = decodeURIComponent(colon >= 0 ? userinfo.slice(0, colon) : userinfo);
  const password = colon >= 0 ? decodeURIComponent(userinfo.slice(colon + 1)) : undefined;
  // As in redis://:password@host: an empty user means the default user.
  return { ...(user ? { username: user } : {}), ...(password ? { password } : {}) };
}

/**
 * The database number the target's keys live in: the path of a single Redis URL, else 0 (Redis
 * Cluster serves database 0 only; a Sentinel URL's path names the master).
 */
export function databaseOf(target: RedisTarget): number {
  if (target.kind !== 'single') return 0;
  const path = new URL(target.url).pathname;
  return /^\/\d+$/.test(path) ? Number(path.slice(1)) : 0;
}

/** For log lines: host:port of each node, never the password. */
export function redisAddress(target: RedisTarget): string {
  if (target.kind === 'single') {
    const u = new URL(target.url);
    return `${u.hostname}:${u.port || 6379}`;
  }
  const nodes = target.kind === 'cluster' ? target.nodes : target.sentinels;
  return nodes.map((n) => `${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`).join(',');
}
