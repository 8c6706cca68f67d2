import type { ClientState, RiskContext } from '../core/types.js';
import { type BaselineRecord, emptyBaseline, learnBaseline, minuteOf, readBaseline } from './baseline.js';
import { factsOf, type Facts, LEARNED_SHOWN, type LearnedMember, type LearnedState, RISK_STATE_LIMITS as L, type RiskStateStore, tokenTtlMs } from './store.js';

type Kind = RiskContext['kind'];

/** Members (route, network…) → when last seen (ms); Map order = least recently seen first. */
type Seen = Map<string, number>;

interface ClientRecord {
  lastSeen: number;
  rate: Record<Kind, { minute: number; count: number }>;
  baseline: Record<Kind, BaselineRecord>;
  learned: number;
  /** minute → failures in it; only the last few minutes are kept. */
  failures: Map<number, number>;
  sets: Record<keyof Facts, Seen>;
  tokens: Map<string, { networks: Set<string>; expires: number }>;
}

const CAPS: Record<keyof Facts, number> = { route: L.routes, network: L.networks, key: L.keys, scopes: L.scopeSets, audience: L.audiences, subject: L.subjects };

const newRecord = (now: number): ClientRecord => ({
  lastSeen: now,
  rate: { call: { minute: -1, count: 0 }, issuance: { minute: -1, count: 0 } },
  baseline: { call: emptyBaseline(), issuance: emptyBaseline() },
  learned: 0,
  failures: new Map(),
  sets: { route: new Map(), network: new Map(), key: new Map(), scopes: new Map(), audience: new Map(), subject: new Map() },
  tokens: new Map(),
});

/**
 * One instance's learned state, in process. Bounded: at most L.clients clients (the least
 * recently seen is dropped), capped sets per client, members and clients forgotten after
 * L.memberTtlMs unseen, token networks for the token's life. Time is the context's `now`.
 */
export class MemoryRiskStateStore implements RiskStateStore {
  readonly kind = 'memory' as const;
  private readonly clients = new Map<string, ClientRecord>();

  constructor(private readonly maxClients: number = L.clients) {}

  get size(): number {
    return this.clients.size;
  }

  /** The client's record, now the most recently used; a record idle past the TTL starts over. */
  private record(clientId: string, now: number): ClientRecord {
    let r = this.clients.get(clientId);
    if (r) this.clients.delete(clientId);
    if (!r || r.lastSeen < now - L.memberTtlMs) r = newRecord(now);
    r.lastSeen = Math.max(r.lastSeen, now);
    this.clients.set(clientId, r);
    if (this.clients.size > this.maxClients) this.clients.delete(this.clients.keys().next().value!);
    return r;
  }

  async observe(ctx: RiskContext): Promise<ClientState> {
    const r = this.record(ctx.clientId, ctx.now);
    const minute = minuteOf(ctx.now);
    const rate = r.rate[ctx.kind];
    if (rate.minute !== minute) Object.assign(rate, { minute, count: 0 });
    rate.count++;
    const facts = factsOf(ctx);
    const fresh = ctx.now - L.memberTtlMs;
    const seen = (set: keyof Facts) => facts[set] === '' || (r.sets[set].get(facts[set]) ?? -Infinity) >= fresh;
    const baseline = readBaseline(r.baseline[ctx.kind], minute);
    return {
      callsThisMinute: rate.count,
      baselinePerMinute: baseline.perMinute,
      baselineMinutes: baseline.minutes,
      routeSeen: seen('route'),
      networkSeen: seen('network'),
      keySeen: seen('key'),
      scopesSeen: seen('scopes'),
      audienceSeen: seen('audience'),
      subjectSeen: seen('subject'),
      tokenNetworks: this.noteTokenNetwork(r, ctx, facts.network),
      recentFailures: this.failuresOf(r, minute),
      learning: r.learned < L.learningCalls,
    };
  }

  /** Adds this call's network to its token's set; the number of networks, this one included. */
  private noteTokenNetwork(r: ClientRecord, ctx: RiskContext, network: string): number {
    const ttl = tokenTtlMs(ctx);
    if (!ttl) return 0;
    const jti = ctx.token!.jti;
    let t = r.tokens.get(jti);
    if (t && t.expires <= ctx.now) {
      r.tokens.delete(jti);
      t = undefined;
    }
    if (!t) {
      if (r.tokens.size >= L.tokensPerClient) this.pruneTokens(r, ctx.now);
      t = { networks: new Set(), expires: ctx.now + ttl };
      r.tokens.set(jti, t);
    }
    if (network && t.networks.size < L.networksPerToken) t.networks.add(network);
    return t.networks.size;
  }

  private pruneTokens(r: ClientRecord, now: number): void {
    for (const [jti, t] of r.tokens) if (t.expires <= now) r.tokens.delete(jti);
    if (r.tokens.size >= L.tokensPerClient) r.tokens.delete(r.tokens.keys().next().value!);
  }

  private failuresOf(r: ClientRecord, minute: number): number {
    let sum = 0;
    for (const [m, n] of r.failures) {
      if (m > minute - L.failureMinutes && m <= minute) sum += n;
      else if (m <= minute - L.failureMinutes) r.failures.delete(m);
    }
    return sum;
  }

  async learn(ctx: RiskContext): Promise<void> {
    const r = this.record(ctx.clientId, ctx.now);
    learnBaseline(r.baseline[ctx.kind], minuteOf(ctx.now));
    r.learned++;
    const facts = factsOf(ctx);
    for (const set of Object.keys(CAPS) as (keyof Facts)[]) {
      if (facts[set] !== '') remember(r.sets[set], facts[set], ctx.now, CAPS[set]);
    }
  }

  async recordFailure(clientId: string, nowMs: number): Promise<void> {
    const r = this.record(clientId, nowMs);
    const minute = minuteOf(nowMs);
    r.failures.set(minute, (r.failures.get(minute) ?? 0) + 1);
    this.failuresOf(r, minute); // drops minutes that left the window
  }

  async learned(clientId: string, nowMs: number): Promise<LearnedState> {
    // A read: the record is not touched (no recency, no new record).
    const r = this.clients.get(clientId);
    const fresh = nowMs - L.memberTtlMs;
    const live = r && r.lastSeen >= fresh ? r : newRecord(nowMs);
    const members = (set: keyof Facts): LearnedMember[] =>
      [...live.sets[set]]
        .filter(([, at]) => at >= fresh)
        .reverse()
        .slice(0, LEARNED_SHOWN)
        .map(([value, lastSeen]) => ({ value, lastSeen }));
    const minute = minuteOf(nowMs);
    let failures = 0;
    for (const [m, n] of live.failures) if (m > minute - L.failureMinutes && m <= minute) failures += n;
    return {
      learnedCalls: live.learned,
      learning: live.learned < L.learningCalls,
      baseline: { call: readBaseline(live.baseline.call, minute), issuance: readBaseline(live.baseline.issuance, minute) },
      routes: members('route'),
      networks: members('network'),
      keys: members('key'),
      scopeSets: members('scopes'),
      audiences: members('audience'),
      recentFailures: failures,
    };
  }

  async close(): Promise<void> {
    this.clients.clear();
  }
}

/** Marks a member seen now (moving it last); past the cap the least recently seen goes. */
function remember(set: Seen, member: string, now: number, cap: number): void {
  set.delete(member);
  set.set(member, now);
  while (set.size > cap) set.delete(set.keys().next().value!);
}
