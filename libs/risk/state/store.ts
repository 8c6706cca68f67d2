import type { ConnectionLogger } from '#connection-watch';
import { networkOf } from '../core/network.js';
import { routeKey, scopeSetKey } from '../core/route-path.js';
import type { ClientState, RiskContext } from '../core/types.js';

/**
 * What Tollgate learns about each client, and the rate counters. One instance: memory; several:
 * Redis (REDIS_URL), so that every instance counts and learns the same (a second instance must
 * never accept what the first refused).
 */
export interface RiskStateStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Counts this issuance or call for the rate (every one, allowed or not), notes the token's
   * network, and reads everything else the signals need: one round trip.
   */
  observe(ctx: RiskContext): Promise<ClientState>;
  /**
   * Called only after an allow, so that a refused caller cannot teach the engine its network or
   * key: remembers the route, network, DPoP key, scope set and audience, and the rate baseline.
   */
  learn(ctx: RiskContext): Promise<void>;
  /** A failed authentication or proof by this client (failed_auth_burst). */
  recordFailure(clientId: string, nowMs: number): Promise<void>;
  /** What has been learned about a client, for people (the admin API); not on any hot path. */
  learned(clientId: string, nowMs: number): Promise<LearnedState>;
  close(): Promise<void>;
}

/** A learned member (a route, network, DPoP key thumbprint, scope set or audience) and when it was last seen (epoch ms). */
export interface LearnedMember {
  value: string;
  lastSeen: number;
}

/** Members shown per set, most recently seen first. */
export const LEARNED_SHOWN = 50;

export interface LearnedState {
  /** Allowed calls and issuances learned from; "never seen" signals stay quiet below RISK_STATE_LIMITS.learningCalls. */
  learnedCalls: number;
  learning: boolean;
  /** The learned rate per kind: moving average of allowed per minute, over how many active minutes. */
  baseline: { call: { perMinute: number; minutes: number }; issuance: { perMinute: number; minutes: number } };
  routes: LearnedMember[];
  networks: LearnedMember[];
  keys: LearnedMember[];
  scopeSets: LearnedMember[];
  audiences: LearnedMember[];
  /** Failed authentications and proofs by the client in the last RISK_STATE_LIMITS.failureMinutes minutes. */
  recentFailures: number;
}

/** Nest injection token for the opened RiskStateStore. */
export const RISK_STATE = Symbol('RiskStateStore');

/** Bounds and lifetimes shared by both stores. */
export const RISK_STATE_LIMITS = Object.freeze({
  /** A client is "learning" until this many allowed calls were learned. */
  learningCalls: 20,
  /** A learned route / network / key / scope set / audience is forgotten after 30 days unseen. */
  memberTtlMs: 30 * 24 * 3600_000,
  /** Most recently seen members kept per client (least recently seen dropped first). */
  routes: 1000,
  networks: 1000,
  keys: 100,
  /** Federated identities (issuer and subject) a client authenticated as. */
  subjects: 100,
  scopeSets: 200,
  audiences: 200,
  /** Networks remembered per token (the signal needs "more than one"). */
  networksPerToken: 16,
  /** Per-token networks live as long as the token, at most 1 h. */
  tokenTtlMs: 3600_000,
  /** Failed authentications count over the current minute and the 4 before it. */
  failureMinutes: 5,
  /** Memory store only: clients held (least recently seen dropped first), tokens per client. */
  clients: 100_000,
  tokensPerClient: 10_000,
});

/** What one context teaches: each value '' when the context has none (nothing to learn or look up). */
export interface Facts {
  route: string;
  network: string;
  key: string;
  scopes: string;
  audience: string;
  /** The federated identity, `issuer subject` (docs/federation.md). */
  subject: string;
}

export function factsOf(ctx: RiskContext): Facts {
  return {
    route: ctx.kind === 'call' && ctx.method && ctx.path ? routeKey(ctx.method, ctx.path) : '',
    network: (ctx.ip !== undefined && networkOf(ctx.ip)) || '',
    key: ctx.dpopJkt ?? '',
    scopes: scopeSetKey(ctx.scopes),
    audience: ctx.audience ?? '',
    subject: ctx.federated ? `${ctx.federated.issuer} ${ctx.federated.subject}` : '',
  };
}

/** How long to remember the networks of the presented token: its remaining life, capped; 0 = no token. */
export function tokenTtlMs(ctx: RiskContext): number {
  if (ctx.kind !== 'call' || !ctx.token) return 0;
  const cap = RISK_STATE_LIMITS.tokenTtlMs;
  const left = ctx.token.exp !== undefined ? ctx.token.exp * 1000 - ctx.now : cap;
  return Math.max(1000, Math.min(cap, left));
}

/** Memory when no Redis URL is given (one instance), else Redis (its connection logged to `logger`). */
export async function openRiskStateStore(redisUrl?: string, options: { logger?: ConnectionLogger } = {}): Promise<RiskStateStore> {
  if (!redisUrl) {
    const { MemoryRiskStateStore } = await import('./memory-store.js');
    return new MemoryRiskStateStore();
  }
  const { openRedisRiskStateStore } = await import('./redis-store.js');
  return openRedisRiskStateStore(redisUrl, options);
}
