/**
 * The risk engine's vocabulary. Everything in libs/risk/core is pure: data in, data out, no
 * NestJS, no I/O, no clock of its own (the time comes in the context), so it is tested and
 * benchmarked alone.
 */

import type { Acr } from '#protocol';

/** Assurance levels, lowest first (docs/step-up.md, defined in libs/protocol); a higher level satisfies a lower one. */
export { ACR_LEVELS, type Acr } from '#protocol';

export type SignalAction = 'allow' | 'step_up' | 'deny';

/** A route rule: first matching rule (client rules, then default rules) applies. */
export interface RouteRule {
  /** HTTP methods, upper case; absent or empty = every method. */
  methods?: string[];
  /** Glob (picomatch) over the normalised path, e.g. "/orders/**". */
  path: string;
  /** Assurance level a token must carry on this route (RFC 9470 acr_values). */
  acr?: Acr;
  /** Seconds since the workload last proved its level (auth_time, else token iat) (RFC 9470 max_age). */
  max_age?: number;
  /** Scopes the token must hold; missing → deny with insufficient_scope (RFC 6750 §3.1). */
  scopes?: string[];
  /** Highest risk score tolerated here; above → step_up (or deny when already at the top level). */
  max_risk?: number;
  /** Sensitive routes: the token-age signal applies. */
  sensitive?: boolean;
}

/** A risk policy document: the server default, or a client's own (its fields replace the default's). */
export interface RiskPolicy {
  /** CIDR ranges the client may call from; absent or empty = anywhere. */
  allowed_networks?: string[];
  /** ISO 3166-1 alpha-2 country codes; absent or empty = anywhere. */
  allowed_countries?: string[];
  /** When calls are expected: days 0 (Sunday)–6, "HH:MM" from/to in an IANA timezone (to < from wraps midnight). */
  allowed_hours?: { timezone: string; days?: number[]; from: string; to: string };
  /** Hard limit: more calls than this per minute → deny. */
  rate_limit_per_minute?: number;
  /** Learned baseline: a rate above factor × moving average (once min_minutes are learned) is a signal. */
  baseline?: { factor: number; min_minutes: number };
  /** Score thresholds: >= step_up → step_up, >= deny → deny. Defaults 40 and 80. */
  thresholds?: { step_up: number; deny: number };
  /** acr asked for when the score alone calls for step-up. Default urn:tollgate:acr:live. */
  step_up_acr?: Acr;
  /**
   * Seconds a proof of step_up_acr stays fresh for score- and on_new_*-driven step-ups (sent as
   * max_age, RFC 9470): a token at that level proven within it is not asked again. Default 300.
   */
  step_up_max_age?: number;
  /**
   * What a DPoP key or a network never seen for this client triggers (default step_up / allow + score).
   * on_new_key also applies to a federated identity (issuer and subject) never seen for it (docs/federation.md).
   */
  on_new_key?: SignalAction;
  on_new_network?: SignalAction;
  /** Per-signal score overrides. */
  weights?: Partial<Record<SignalCode, number>>;
  routes?: RouteRule[];
}

export type SignalCode =
  | 'network_not_allowed'
  | 'country_not_allowed'
  | 'outside_allowed_hours'
  | 'rate_limit_exceeded'
  | 'rate_above_baseline'
  | 'new_route'
  | 'new_network'
  | 'new_dpop_key'
  | 'new_federated_subject'
  | 'token_multiple_networks'
  | 'failed_auth_burst'
  | 'unusual_scope'
  | 'unusual_audience'
  | 'token_too_old';

/** Everything known about one issuance or one call, resolved at the edge (I/O) beforehand. */
export interface RiskContext {
  kind: 'issuance' | 'call';
  /** Epoch milliseconds. */
  now: number;
  clientId: string;
  ip?: string;
  /** Resolved from ip with the offline country data; undefined when unknown. */
  country?: string;
  /** The call (kind 'call'): upper-case method and normalised path. */
  method?: string;
  path?: string;
  /** Audience the token is for / is requested for (RFC 8707 resource). */
  audience?: string;
  /** Scopes the token carries (call) or requests (issuance). */
  scopes: string[];
  /** RFC 7638 thumbprint of the DPoP key in use. */
  dpopJkt?: string;
  /** The presented token (calls). */
  token?: {
    jti: string;
    iat: number;
    authTime?: number;
    acr?: Acr;
    /** Epoch seconds (added): bounds how long the token's networks are remembered (else 1 h). */
    exp?: number;
  };
  /** docs/federation.md: the platform identity the workload authenticated with, when it used one. */
  federated?: { issuer: string; subject: string; claims: Record<string, string> };
  /** Issuance by the step-up grant: the level just proven (epoch seconds), which answers step-ups up to it. */
  proven?: { acr: Acr; authTime: number };
}

/** What the learned-state store knows about this client at this moment (read before evaluation). */
export interface ClientState {
  /** Calls in the current minute, this one included. */
  callsThisMinute: number;
  /** Moving average of calls per minute, and how many minutes it has learned from. */
  baselinePerMinute: number;
  baselineMinutes: number;
  /** Whether this client was seen before with this route / network / DPoP key / scope set / audience. */
  routeSeen: boolean;
  networkSeen: boolean;
  keySeen: boolean;
  scopesSeen: boolean;
  audienceSeen: boolean;
  /** docs/federation.md: whether this client was seen before authenticating as this federated identity (true without one). */
  subjectSeen: boolean;
  /** Distinct networks this token has been presented from, this call included. */
  tokenNetworks: number;
  /** Failed authentications and proofs by this client in the last 5 minutes. */
  recentFailures: number;
  /** True while the client has no history at all: "never seen" signals stay quiet while it learns. */
  learning: boolean;
}

export interface Reason {
  code: SignalCode | 'route_requires_acr' | 'route_max_age' | 'route_requires_scope' | 'route_max_risk';
  score: number;
  detail?: string;
}

export interface Decision {
  decision: 'allow' | 'step_up' | 'deny';
  score: number;
  reasons: Reason[];
  /** step_up: the level to prove (acr_values) and, when the rule sets one, max_age. */
  acr?: Acr;
  maxAge?: number;
  /** deny because a scope rule failed → RFC 6750 insufficient_scope. */
  error?: 'insufficient_scope';
  /** The route rule that applied, if any (its path glob). */
  route?: string;
}
