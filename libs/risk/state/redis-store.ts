import type { Redis } from 'ioredis';
import { type ConnectionLogger, type ConnectionWatch, watchRedis } from '#connection-watch';
import { createRedisClient, parseRedisUrl, redisAddress } from '#redis';
import type { ClientState, RiskContext } from '../core/types.js';
import { EWMA_ALPHA, minuteOf, readBaseline } from './baseline.js';
import { type Facts, factsOf, LEARNED_SHOWN, type LearnedMember, type LearnedState, RISK_STATE_LIMITS as L, type RiskStateStore, tokenTtlMs } from './store.js';

/**
 * Learned state in Redis, shared by every instance. Keys (all with a TTL):
 *   tollgate:risk:{client}:rate:<kind>:<minute>   calls in that minute (string, 2 min)
 *   tollgate:risk:{client}:fail:<minute>          failures in that minute (string, 6 min)
 *   tollgate:risk:{client}:tok:<jti>              networks the token came from (set, token life ≤ 1 h)
 *   tollgate:risk:{client}:state                  learned count, baseline per kind (hash, 30 days)
 *   tollgate:risk:{client}:route|net|key|scope|aud|sub  member → last seen ms (sorted set, 30 days, capped)
 * The client id is a hash tag ({…}) so one client's keys share a Redis Cluster slot, as a
 * script's keys must. observe and learn are one Lua script each (atomic, one round trip), and the
 * lessons of allows that finish in the same turn of the event loop with the same facts are
 * learned in one call (`count` of them): under load most allows of a client teach the same route,
 * network and key, so this saves a Redis command per check at no cost in what is learned.
 */
const PREFIX = 'tollgate:risk:';
const RATE_TTL_MS = 120_000;
const FAILURE_TTL_MS = (L.failureMinutes + 1) * 60_000;
const SETS = ['route', 'net', 'key', 'scope', 'aud', 'sub'] as const;
/** A failure minute's key after the client's prefix: built here (learned, recordFailure) and in OBSERVE. */
const FAILURES = 'fail:';
const N = SETS.length;

/**
 * The client's keys are built in the scripts from its prefix (`tollgate:risk:{client}:`), not
 * sent one by one: about twenty fewer arguments for the Redis client to encode on every check.
 * KEYS[1], the state hash, declares the slot; every other key the scripts touch carries the same
 * hash tag, so it is in that slot too, which is what Redis Cluster requires of a script's keys
 * (the rule Redis docs give for declaring keys is about routing, which the one declared key does).
 */
const SET_NAMES = `{${SETS.map((s) => `'${s}'`).join(', ')}}`;

/** KEYS: state. ARGV: prefix, kind, minute, token jti ('' for none), the N members, token ttl, now, member ttl, rate ttl, networks per token, failure minutes. */
const OBSERVE = `
local n = ${N}
local sets = ${SET_NAMES}
local p = ARGV[1]
local kind = ARGV[2]
local minute = tonumber(ARGV[3])
local rate = p .. 'rate:' .. kind .. ':' .. ARGV[3]
local calls = redis.call('INCR', rate)
if calls == 1 then redis.call('PEXPIRE', rate, ARGV[n + 8]) end
local h = redis.call('HMGET', KEYS[1], 'learned', 'bm:' .. kind, 'bc:' .. kind, 'avg:' .. kind, 'mins:' .. kind)
local fresh = tonumber(ARGV[n + 6]) - tonumber(ARGV[n + 7])
local out = { calls, h[1] or '0', h[2] or '-1', h[3] or '0', h[4] or '0', h[5] or '0' }
for i = 1, n do
  local member = ARGV[4 + i]
  local seen = 1
  if member ~= '' then
    local s = redis.call('ZSCORE', p .. sets[i], member)
    if not s or tonumber(s) < fresh then seen = 0 end
  end
  out[#out + 1] = seen
end
local tokenNetworks = 0
if ARGV[n + 5] ~= '0' then
  local tok = p .. 'tok:' .. ARGV[4]
  local network = ARGV[6]
  if network ~= '' and redis.call('SCARD', tok) < tonumber(ARGV[n + 9]) then redis.call('SADD', tok, network) end
  tokenNetworks = redis.call('SCARD', tok)
  if tokenNetworks > 0 then redis.call('PEXPIRE', tok, ARGV[n + 5]) end
end
out[#out + 1] = tokenNetworks
local failures = 0
for i = 0, tonumber(ARGV[n + 10]) - 1 do failures = failures + tonumber(redis.call('GET', p .. '${FAILURES}' .. string.format('%d', minute - i)) or '0') end
out[#out + 1] = failures
return out
`;

/** KEYS: state. ARGV: prefix, kind, minute, now, member ttl, N members, N caps, alpha, count. */
const LEARN = `
local n = ${N}
local sets = ${SET_NAMES}
local p = ARGV[1]
local kind = ARGV[2]
local m = tonumber(ARGV[3])
local alpha = tonumber(ARGV[6 + 2 * n])
local count = tonumber(ARGV[7 + 2 * n])
local h = redis.call('HMGET', KEYS[1], 'bm:' .. kind, 'bc:' .. kind, 'avg:' .. kind, 'mins:' .. kind)
local bm, bc = tonumber(h[1] or '-1'), tonumber(h[2] or '0')
if m > bm then
  if bm >= 0 then
    local avg, mins = tonumber(h[3] or '0'), tonumber(h[4] or '0')
    if mins == 0 then avg = bc else avg = alpha * bc + (1 - alpha) * avg end
    redis.call('HSET', KEYS[1], 'avg:' .. kind, string.format('%.17g', avg), 'mins:' .. kind, mins + 1)
  end
  redis.call('HSET', KEYS[1], 'bm:' .. kind, m, 'bc:' .. kind, count)
else
  redis.call('HINCRBY', KEYS[1], 'bc:' .. kind, count)
end
redis.call('HINCRBY', KEYS[1], 'learned', count)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local now = tonumber(ARGV[4])
local cutoff = now - tonumber(ARGV[5])
for i = 1, n do
  local member = ARGV[5 + i]
  if member ~= '' then
    local key = p .. sets[i]
    redis.call('ZADD', key, ARGV[4], member)
    redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. cutoff)
    local extra = redis.call('ZCARD', key) - tonumber(ARGV[5 + n + i])
    if extra > 0 then redis.call('ZREMRANGEBYRANK', key, 0, extra - 1) end
    redis.call('PEXPIRE', key, ARGV[5])
  end
end
return 1
`;

type Reply = [number, string, string, string, string, string, number, number, number, number, number, number, number, number];

interface ScriptedRedis extends Redis {
  riskObserve(...keysAndArgs: (string | number)[]): Promise<Reply>;
  riskLearn(...keysAndArgs: (string | number)[]): Promise<number>;
}

const keyOf = (clientId: string) => `${PREFIX}{${clientId}}:`;

/** Allows with the same client, kind, minute and facts, learned together; the latest time wins. */
interface Lesson {
  ctx: RiskContext;
  facts: Facts;
  count: number;
  done: Promise<void>;
  settle: (error?: unknown) => void;
}

export class RedisRiskStateStore implements RiskStateStore {
  readonly kind = 'redis' as const;

  /** Lessons of this turn of the event loop, by what they teach; flushed by setImmediate. */
  private lessons = new Map<string, Lesson>();

  constructor(
    private readonly redis: ScriptedRedis,
    private readonly watch?: ConnectionWatch,
  ) {}

  async observe(ctx: RiskContext): Promise<ClientState> {
    const k = keyOf(ctx.clientId);
    const minute = minuteOf(ctx.now);
    const facts = factsOf(ctx);
    const ttl = tokenTtlMs(ctx);
    const reply = await this.redis.riskObserve(
      `${k}state`,
      k,
      ctx.kind,
      minute,
      ttl ? ctx.token!.jti : '',
      facts.route,
      facts.network,
      facts.key,
      facts.scopes,
      facts.audience,
      facts.subject,
      ttl,
      ctx.now,
      L.memberTtlMs,
      RATE_TTL_MS,
      L.networksPerToken,
      L.failureMinutes,
    );
    const [calls, learned, bm, bc, avg, mins, route, net, key, scope, aud, sub, tokenNetworks, failures] = reply;
    const baseline = readBaseline({ minute: Number(bm), count: Number(bc), avg: Number(avg), minutes: Number(mins) }, minute);
    return {
      callsThisMinute: calls,
      baselinePerMinute: baseline.perMinute,
      baselineMinutes: baseline.minutes,
      routeSeen: route === 1,
      networkSeen: net === 1,
      keySeen: key === 1,
      scopesSeen: scope === 1,
      audienceSeen: aud === 1,
      subjectSeen: sub === 1,
      tokenNetworks,
      recentFailures: failures,
      learning: Number(learned) < L.learningCalls,
    };
  }

  learn(ctx: RiskContext): Promise<void> {
    const facts = factsOf(ctx);
    const minute = minuteOf(ctx.now);
    const id = [ctx.clientId, ctx.kind, minute, facts.route, facts.network, facts.key, facts.scopes, facts.audience, facts.subject].join('\n');
    const same = this.lessons.get(id);
    if (same) {
      same.count += 1;
      if (ctx.now > same.ctx.now) same.ctx = ctx;
      return same.done;
    }
    if (this.lessons.size === 0) setImmediate(() => this.flush());
    let settle!: (error?: unknown) => void;
    const done = new Promise<void>((resolve, reject) => {
      settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    this.lessons.set(id, { ctx, facts, count: 1, done, settle });
    return done;
  }

  /** One script call per distinct lesson of the turn that just ended. */
  private flush(): void {
    const lessons = this.lessons;
    this.lessons = new Map();
    for (const lesson of lessons.values()) {
      this.teach(lesson).then(
        () => lesson.settle(),
        (error: unknown) => lesson.settle(error ?? new Error('risk state not updated')),
      );
    }
  }

  private async teach({ ctx, facts, count }: Lesson): Promise<void> {
    const k = keyOf(ctx.clientId);
    await this.redis.riskLearn(
      `${k}state`,
      k,
      ctx.kind,
      minuteOf(ctx.now),
      ctx.now,
      L.memberTtlMs,
      facts.route,
      facts.network,
      facts.key,
      facts.scopes,
      facts.audience,
      facts.subject,
      L.routes,
      L.networks,
      L.keys,
      L.scopeSets,
      L.audiences,
      L.subjects,
      EWMA_ALPHA,
      count,
    );
  }

  /** One pipelined round trip: the state hash, the newest members of each set, the failure minutes. */
  async learned(clientId: string, nowMs: number): Promise<LearnedState> {
    const k = keyOf(clientId);
    const minute = minuteOf(nowMs);
    const fresh = nowMs - L.memberTtlMs;
    const pipeline = this.redis.pipeline().hgetall(`${k}state`);
    for (const set of SETS) pipeline.zrevrangebyscore(`${k}${set}`, '+inf', fresh, 'WITHSCORES', 'LIMIT', 0, LEARNED_SHOWN);
    for (let i = 0; i < L.failureMinutes; i++) pipeline.get(`${k}${FAILURES}${minute - i}`);
    const replies = (await pipeline.exec()) ?? [];
    const failed = replies.find(([error]) => error);
    if (failed) throw failed[0];
    const state = (replies[0]![1] ?? {}) as Record<string, string>;
    const members = (i: number): LearnedMember[] => {
      const flat = (replies[1 + i]![1] ?? []) as string[];
      const out: LearnedMember[] = [];
      for (let j = 0; j + 1 < flat.length; j += 2) out.push({ value: flat[j]!, lastSeen: Number(flat[j + 1]) });
      return out;
    };
    const baseline = (kind: 'call' | 'issuance') =>
      readBaseline(
        { minute: Number(state[`bm:${kind}`] ?? -1), count: Number(state[`bc:${kind}`] ?? 0), avg: Number(state[`avg:${kind}`] ?? 0), minutes: Number(state[`mins:${kind}`] ?? 0) },
        minute,
      );
    const learnedCalls = Number(state.learned ?? 0);
    return {
      learnedCalls,
      learning: learnedCalls < L.learningCalls,
      baseline: { call: baseline('call'), issuance: baseline('issuance') },
      routes: members(0),
      networks: members(1),
      keys: members(2),
      scopeSets: members(3),
      audiences: members(4),
      recentFailures: replies.slice(1 + SETS.length).reduce((sum, [, v]) => sum + Number(v ?? 0), 0),
    };
  }

  async recordFailure(clientId: string, nowMs: number): Promise<void> {
    const key = `${keyOf(clientId)}${FAILURES}${minuteOf(nowMs)}`;
    await this.redis.multi().incr(key).pexpire(key, FAILURE_TTL_MS).exec();
  }

  async close(): Promise<void> {
    this.watch?.stop();
    this.redis.disconnect();
  }
}

/** Connects (failing fast like the hot state: no offline queue) and defines the two scripts. */
export async function openRedisRiskStateStore(url: string, options: { logger?: ConnectionLogger } = {}): Promise<RedisRiskStateStore> {
  // On a cluster every key of one call names the client id as its hash tag: one slot per script.
  const redis = createRedisClient(url, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 3000, enableAutoPipelining: true });
  // Errors surface on the calls that fail; the client reconnects by itself (the watch logs it).
  redis.on('error', () => undefined);
  redis.defineCommand('riskObserve', { numberOfKeys: 1, lua: OBSERVE });
  redis.defineCommand('riskLearn', { numberOfKeys: 1, lua: LEARN });
  await redis.connect();
  const target = parseRedisUrl(url);
  const address = target.kind === 'single' ? undefined : redisAddress(target);
  return new RedisRiskStateStore(redis as unknown as ScriptedRedis, watchRedis(redis, 'risk-state', options.logger, address));
}
