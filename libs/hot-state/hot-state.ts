import type { Redis } from 'ioredis';
import { type ConnectionLogger, watchRedis } from '#connection-watch';
import { DependencyUnavailable } from '#persistence';
import { createClientFor, databaseOf, isCluster, masterConnections, parseRedisUrl, redisAddress, shardOf } from '#redis';

/**
 * Shared hot state: what every instance must agree on within milliseconds and that is too
 * hot for the database. In-process memory for one instance; Redis when REDIS_URL is set.
 */
export interface ReplayStore {
  /**
   * Records `key` for `ttlSeconds`; false when it was already recorded (a replay). Atomic.
   * `issuedAt` (epoch seconds), when the credential carries one: the claim is refused (503) when
   * the store cannot have remembered since then. Without it, since notBefore() as it is now.
   */
  claim(key: string, ttlSeconds: number, issuedAt?: number): Promise<boolean>;
  /**
   * Epoch seconds since which this store remembers everything. Proofs and assertions created
   * before it cannot be checked for replay and are refused (a Redis without persistence that
   * restarted forgot them; a new process has an empty memory).
   */
  notBefore(): number;
  /** Resolves once notBefore() is known to describe the store as it is now (after a reconnect). */
  current(): Promise<void>;
}

/**
 * Short-lived single-use records (step-up challenges, enrolment challenges): written once, read,
 * and taken atomically so that two instances can never both accept the same answer.
 */
export interface ChallengeStore {
  put(key: string, value: string, ttlSeconds: number): Promise<void>;
  get(key: string): Promise<string | null>;
  /** Returns the value and deletes it in one step; null when absent, expired or already taken. */
  take(key: string): Promise<string | null>;
  /** Adds one to a counter that lives ttlSeconds from its first count (a fixed window); returns the new count. */
  count(key: string, ttlSeconds: number): Promise<number>;
}

/**
 * Fixed-window counters shared by every instance (failed authentications per source). Unlike
 * challenges they are never refused for lack of room: past the bound the oldest are forgotten.
 */
export interface CounterStore {
  /** Adds one to `key`, which lives ttlSeconds from its first count; returns the new count. */
  add(key: string, ttlSeconds: number): Promise<number>;
}

/** Fan-out of change notices (client changed, token revoked, keys rotated) to every instance. */
export interface EventBus {
  publish(topic: string, message: string): Promise<void>;
  subscribe(topic: string, handler: (message: string) => void): void;
  /** Called after the bus lost messages (reconnect): subscribers must reload what they cache. */
  onResync(handler: () => void): void;
}

export interface HotState {
  readonly kind: 'memory' | 'redis';
  readonly replay: ReplayStore;
  readonly challenges: ChallengeStore;
  readonly counters: CounterStore;
  readonly events: EventBus;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface HotStateOptions {
  /** Where lost and restored Redis connections are logged; nothing is logged without one. */
  logger?: ConnectionLogger;
}

export async function openHotState(redisUrl?: string, options: HotStateOptions = {}): Promise<HotState> {
  return redisUrl ? openRedis(redisUrl, options) : openMemory();
}

const now = () => Math.floor(Date.now() / 1000);

/** Without eviction: a replay store that forgets under load accepts replays. Past the bound it refuses. */
const MEMORY_REPLAY_LIMIT = 2_000_000;
/** Challenges live two minutes; past this bound new ones are refused rather than old ones dropped. */
const MEMORY_CHALLENGE_LIMIT = 100_000;
/** Failure counters: one per source and per source + client id seen failing within a window. */
const MEMORY_COUNTER_LIMIT = 200_000;

function memoryChallenges(): ChallengeStore & { sweep(now: number): void } {
  const records = new Map<string, { value: string; expires: number }>();
  const live = (key: string) => {
    const r = records.get(key);
    if (!r) return null;
    if (r.expires <= Date.now()) {
      records.delete(key);
      return null;
    }
    return r;
  };
  return {
    async put(key, value, ttlSeconds) {
      if (records.size >= MEMORY_CHALLENGE_LIMIT) throw new Error('challenge store is full');
      records.set(key, { value, expires: Date.now() + ttlSeconds * 1000 });
    },
    async get(key) {
      return live(key)?.value ?? null;
    },
    async take(key) {
      const r = live(key);
      records.delete(key);
      return r?.value ?? null;
    },
    async count(key, ttlSeconds) {
      const r = live(key);
      if (r) {
        r.value = String(Number(r.value) + 1);
        return Number(r.value);
      }
      if (records.size >= MEMORY_CHALLENGE_LIMIT) throw new Error('challenge store is full');
      records.set(key, { value: '1', expires: Date.now() + ttlSeconds * 1000 });
      return 1;
    },
    sweep(now) {
      for (const [key, r] of records) if (r.expires <= now) records.delete(key);
    },
  };
}

/** Counters for one process: a bounded map, expired entries swept, the oldest dropped when full. */
function memoryCounters(): CounterStore & { sweep(now: number): void } {
  const counts = new Map<string, { n: number; expires: number }>();
  return {
    async add(key, ttlSeconds) {
      const t = Date.now();
      const c = counts.get(key);
      if (c && c.expires > t) return ++c.n;
      if (counts.size >= MEMORY_COUNTER_LIMIT) counts.delete(counts.keys().next().value!);
      counts.set(key, { n: 1, expires: t + ttlSeconds * 1000 });
      return 1;
    },
    sweep(now) {
      for (const [key, c] of counts) if (c.expires <= now) counts.delete(key);
    },
  };
}

function openMemory(): HotState {
  const startedAt = now();
  const seen = new Map<string, number>();
  const challenges = memoryChallenges();
  const counters = memoryCounters();
  const sweep = setInterval(() => {
    const t = Date.now();
    for (const [key, expires] of seen) if (expires <= t) seen.delete(key);
    challenges.sweep(t);
    counters.sweep(t);
  }, 10_000);
  sweep.unref();
  const handlers = new Map<string, ((m: string) => void)[]>();
  return {
    kind: 'memory',
    replay: {
      async claim(key, ttlSeconds) {
        const t = Date.now();
        const expires = seen.get(key);
        if (expires !== undefined && expires > t) return false;
        if (seen.size >= MEMORY_REPLAY_LIMIT) throw new Error('replay store is full');
        seen.set(key, t + ttlSeconds * 1000);
        return true;
      },
      notBefore: () => startedAt,
      current: async () => undefined,
    },
    challenges,
    counters,
    events: {
      async publish(topic, message) {
        for (const handler of handlers.get(topic) ?? []) handler(message);
      },
      subscribe(topic, handler) {
        handlers.set(topic, [...(handlers.get(topic) ?? []), handler]);
      },
      onResync() {},
    },
    ping: async () => undefined,
    close: async () => clearInterval(sweep),
  };
}

/**
 * How long a replay claim waits for a replica to acknowledge it (WAIT, on a Cluster shard or a
 * Sentinel master that has replicas). Past it the claim is not acknowledged: 503, fail closed.
 */
export const REPLICA_ACK_TIMEOUT_MS = 100;
/** How often a Sentinel master's replica count is read again (the cluster's slot map has its own). */
const REPLICA_COUNT_REFRESH_MS = 2000;

/**
 * A claim that cannot be made safely now: no replica acknowledged the record (a failover could
 * lose it), or the master that would hold it cannot be reached. Answered 503, fail closed.
 */
export class ReplayStoreUnavailable extends DependencyUnavailable {
  override readonly name = 'ReplayStoreUnavailable';
}

/**
 * Replay records are spread over this many hash tags ({r0}…{r255}: slots on every Cluster
 * master). Each tag has a memory marker, `tollgate:memory:{rN}`, holding the epoch second since
 * which the node that holds the tag remembers: the time it was first written (SET NX, whenever
 * the masters are read), never a time read elsewhere. A claim takes its record only where the
 * marker is there and no later than the bound the proof was judged against — in the same script,
 * on the same node. A master that restarted empty, or was flushed, has lost its markers with its
 * records: the claim refuses (503) instead of taking a record a replay would also get, however
 * soon after the restart it comes.
 */
const MEMORY_BUCKETS = 256;
const memoryBucket = (key: string): number => {
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (Math.imul(h, 31) + key.charCodeAt(i)) | 0;
  return (h >>> 0) % MEMORY_BUCKETS;
};
const memoryMarker = (bucket: number) => `tollgate:memory:{r${bucket}}`;
/** KEYS: record, marker. ARGV: ttl, bound. 1 taken, 0 a replay, -1 the node forgot (no marker, or a later one). */
const CLAIM_SCRIPT = `local since = redis.call('GET', KEYS[2])
if not since or tonumber(since) > tonumber(ARGV[2]) then return -1 end
if redis.call('SET', KEYS[1], '1', 'EX', ARGV[1], 'NX') then return 1 end
return 0`;
/** KEYS: marker. ARGV: since. Writes the marker unless it is there; answers the marker. */
const MARK_SCRIPT = `redis.call('SET', KEYS[1], ARGV[1], 'NX')
return redis.call('GET', KEYS[1])`;
interface MemoryScripts {
  tollgateClaim(record: string, marker: string, ttl: number, bound: number): Promise<number>;
  tollgateMark(marker: string, since: number): Promise<string>;
}

async function openRedis(url: string, { logger }: HotStateOptions): Promise<HotState> {
  const target = parseRedisUrl(url);
  const options = { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 3000 };
  const command = createClientFor(target, { ...options, enableAutoPipelining: true });
  const subscriber = createClientFor(target, { ...options, maxRetriesPerRequest: null });
  const address = target.kind === 'single' ? undefined : redisAddress(target);
  // Pub/sub channels are one namespace for the whole server, whatever database a client selected:
  // deployments kept apart by database number must not hear each other's notices (client changes,
  // revocations, keys, decisions). Database 0 keeps the plain names.
  const database = databaseOf(target);
  const channelOf = (topic: string) => (database === 0 ? `tollgate:${topic}` : `tollgate:db${database}:${topic}`);
  // Errors surface on the calls that fail; the client reconnects by itself (the watches log it).
  command.on('error', () => undefined);
  subscriber.on('error', () => undefined);
  command.defineCommand('tollgateClaim', { numberOfKeys: 2, lua: CLAIM_SCRIPT });
  command.defineCommand('tollgateMark', { numberOfKeys: 1, lua: MARK_SCRIPT });
  const scripts = command as unknown as MemoryScripts;

  let runIds = new Set<string>();
  let startedAt = now();
  let replicas = 0;
  /** Cluster masters (host:port) whose run_id was read since their connection opened. */
  const verified = new Set<string>();
  /**
   * How often each master's connection has closed. A read of a master's INFO counts only when no
   * close came between its start and its answer: an answer sent before a kill and read after it
   * would otherwise mark a master verified that restarts empty a moment later.
   */
  const closes = new Map<string, number>();
  const nodeName = (node: Redis) => `${node.options.host}:${node.options.port}`;
  const resyncHandlers: (() => void)[] = [];
  const resync = () => {
    for (const handler of resyncHandlers) handler();
  };
  // Redis here keeps nothing on disk: when it restarts, every replay record is gone. Its run_id
  // changes on restart; from its uptime we know since when it remembers. On a cluster every
  // master counts, and the store remembers since the latest of them started. A replica promoted
  // by a failover brings its own run_id and an older start: it holds every record a claim saw
  // acknowledged, because claims wait for a replica (WAIT, see claim) — so the bound stays.
  // A cluster master that cannot be reached is left out (claims on its slots wait for it, see
  // claim), so that one lost shard does not stop the others.
  let first = true;
  const readServerInfo = async () => {
    const masters = masterConnections(command);
    if (masters.length === 0) throw new ReplayStoreUnavailable('no Redis master is known');
    const closesBefore = masters.map((m) => closes.get(nodeName(m)) ?? 0);
    const settled = await Promise.allSettled(masters.map((m) => m.info('server')));
    const read = settled.flatMap((r, i) =>
      r.status === 'fulfilled' && (closes.get(nodeName(masters[i]!)) ?? 0) === closesBefore[i] ? [{ node: masters[i]!, info: r.value }] : [],
    );
    if (read.length === 0) throw settled[0]!.status === 'rejected' ? settled[0]!.reason : new ReplayStoreUnavailable('every Redis master closed while it was read');
    const ids = new Set<string>();
    let latest = 0;
    verified.clear();
    for (const { node, info } of read) {
      ids.add(/run_id:(\w+)/.exec(info)?.[1] ?? '');
      latest = Math.max(latest, now() - Number(/uptime_in_seconds:(\d+)/.exec(info)?.[1] ?? 0));
      verified.add(nodeName(node));
    }
    const changed = runIds.size > 0 && [...ids].some((id) => !runIds.has(id));
    runIds = ids;
    // Never earlier than known before: a master missing from this read may be the latest.
    let since = first || !isCluster(command) ? latest : Math.max(startedAt, latest);
    // A marker written now says "remembers since now", which is true of any node; one already
    // there keeps its older time. Written after the first read, a marker replaces one a node
    // lost, maybe within this very second: it says the next second, because a proof of this
    // second may have been claimed before the loss (iat has whole seconds). The bound is the
    // latest marker (another instance's clock may be a second ahead), so that a claim here is
    // not refused for it. A master that cannot be reached keeps its markers unwritten: claims
    // there refuse until it is back.
    const writtenAt = now() + (first ? 0 : 1);
    const marks = await Promise.allSettled(Array.from({ length: MEMORY_BUCKETS }, (_, b) => scripts.tollgateMark(memoryMarker(b), writtenAt)));
    for (const mark of marks) if (mark.status === 'fulfilled') since = Math.max(since, Number(mark.value));
    startedAt = since;
    first = false;
    if (target.kind === 'sentinel') replicas = await countReplicas();
    if (changed) resync();
  };
  const countReplicas = async () => Number(/connected_slaves:(\d+)/.exec(await (command as Redis).info('replication'))?.[1] ?? 0);
  // Between a lost connection and reading the servers' identity again we do not know whether
  // Redis restarted: callers wait for current() before trusting notBefore().
  let known: Promise<void> | undefined;
  const forget = () => {
    known = undefined;
  };
  const reread = () => {
    known = readServerInfo();
    known.catch(forget);
  };
  command.on('close', forget);
  command.on('ready', reread);
  if (isCluster(command)) {
    // A node gone or added (failover, restart, slot map refresh): read every master again.
    command.on('-node', forget);
    command.on('+node', (node: Redis) => {
      forget();
      node.on('close', () => {
        closes.set(nodeName(node), (closes.get(nodeName(node)) ?? 0) + 1);
        verified.delete(nodeName(node));
        forget();
      });
    });
  }
  // The subscriber moved to another node, or a node failed: notices may have been missed.
  if (isCluster(subscriber)) subscriber.on('-node', resync);
  const current = () => (known ??= readServerInfo());
  await command.connect();
  await subscriber.connect();
  await current();
  let replicaTimer: NodeJS.Timeout | undefined;
  if (target.kind === 'sentinel') {
    replicaTimer = setInterval(() => void countReplicas().then((n) => (replicas = n), () => undefined), REPLICA_COUNT_REFRESH_MS);
    replicaTimer.unref();
  }
  /**
   * Whether the record under `key` must reach a replica before it counts (its master has one).
   * On a cluster, first makes sure the master that holds it was read since it (re)connected: a
   * master that restarted empty must move notBefore() before it takes a claim.
   */
  const prepareClaim = async (key: string): Promise<boolean> => {
    if (!isCluster(command)) return target.kind === 'sentinel' && replicas > 0;
    let shard = shardOf(command, key);
    if (!shard || !verified.has(shard[0]!)) {
      const before = startedAt;
      forget();
      await current();
      shard = shardOf(command, key);
      if (!shard || !verified.has(shard[0]!)) throw new ReplayStoreUnavailable('the Redis master for this replay record cannot be reached');
      // The caller judged its proof against the earlier bound: that master restarted empty.
      if (startedAt > before) throw new ReplayStoreUnavailable('a Redis master restarted; the replay record cannot be trusted');
    }
    return shard.length > 1;
  };
  // Watched from here: a failure to connect at start stops the server instead.
  const watches = [watchRedis(command, 'hot-state', logger, address), watchRedis(subscriber, 'hot-state-subscriber', logger, address)];

  /** INCR with the window's TTL set by the first count (EXPIRE NX), in one transaction. */
  const countWithin = async (key: string, ttlSeconds: number): Promise<number> => {
    const replies = await command.multi().incr(key).expire(key, Math.max(1, Math.ceil(ttlSeconds)), 'NX').exec();
    const [error, count] = replies?.[0] ?? [new Error('Redis transaction was discarded'), 0];
    if (error) throw error;
    return Number(count);
  };

  const handlers = new Map<string, ((m: string) => void)[]>();
  subscriber.on('message', (channel: string, message: string) => {
    for (const handler of handlers.get(channel) ?? []) handler(message);
  });
  // Registered after the first connect: every later 'ready' is a reconnect, and notices may
  // have been missed while we were away.
  subscriber.on('ready', resync);

  /** A claim script's answer: 1 taken, 0 a replay, -1 the node forgot (see CLAIM_SCRIPT). */
  const taken = async (outcome: number): Promise<boolean> => {
    if (outcome >= 0) return outcome === 1;
    // The node forgot since the bound the caller judged against: read the masters again (which
    // moves notBefore() and writes the markers anew) and refuse this one claim.
    forget();
    await current().catch(() => undefined);
    throw new ReplayStoreUnavailable('a Redis node lost its replay records (restarted or flushed); this request cannot be checked for replay');
  };

  return {
    kind: 'redis',
    replay: {
      async claim(key, ttlSeconds, issuedAt) {
        const bucket = memoryBucket(key);
        const k = `tollgate:replay:{r${bucket}}:${key}`;
        const marker = memoryMarker(bucket);
        const ttl = Math.max(1, Math.ceil(ttlSeconds));
        const bound = issuedAt ?? startedAt;
        if (!(await prepareClaim(k))) return taken(await scripts.tollgateClaim(k, marker, ttl, bound));
        // Redis replicates asynchronously: a master that fails before its replica has the record
        // loses it in the failover. WAIT on the same connection returns once a replica has
        // every write before it; the promoted replica then holds the record (Redis docs, WAIT,
        // "Consistency and WAIT": Cluster and Sentinel promote the replica that received most).
        const pipeline = command.pipeline() as unknown as MemoryScripts & { wait(n: number, ms: number): { exec(): Promise<[Error | null, unknown][] | null> } };
        pipeline.tollgateClaim(k, marker, ttl, bound);
        const replies = await pipeline.wait(1, REPLICA_ACK_TIMEOUT_MS).exec();
        const [[setError, set], [waitError, acks]] = replies ?? [[new Error('Redis pipeline was discarded'), null], [null, 0]];
        if (setError) throw setError;
        if (Number(set) !== 1) return taken(Number(set)); // a replay, or a node that forgot
        if (waitError) throw waitError;
        if (Number(acks) < 1) throw new ReplayStoreUnavailable('no Redis replica acknowledged the replay record in time');
        return true;
      },
      notBefore: () => startedAt,
      current: () => current(),
    },
    challenges: {
      async put(key, value, ttlSeconds) {
        await command.set(`tollgate:challenge:${key}`, value, 'EX', Math.max(1, Math.ceil(ttlSeconds)));
      },
      get: (key) => command.get(`tollgate:challenge:${key}`),
      take: (key) => command.getdel(`tollgate:challenge:${key}`),
      count: (key, ttlSeconds) => countWithin(`tollgate:challenge:${key}`, ttlSeconds),
    },
    counters: {
      add: (key, ttlSeconds) => countWithin(`tollgate:count:${key}`, ttlSeconds),
    },
    events: {
      async publish(topic, message) {
        await command.publish(channelOf(topic), message);
      },
      subscribe(topic, handler) {
        const channel = channelOf(topic);
        if (!handlers.has(channel)) void subscriber.subscribe(channel);
        handlers.set(channel, [...(handlers.get(channel) ?? []), handler]);
      },
      onResync(handler) {
        resyncHandlers.push(handler);
      },
    },
    ping: async () => void (await command.ping()),
    close: async () => {
      clearInterval(replicaTimer);
      for (const watch of watches) watch.stop();
      command.disconnect();
      subscriber.disconnect();
    },
  };
}
