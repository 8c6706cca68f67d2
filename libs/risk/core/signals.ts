import { withinHours } from './hours.js';
import { inNetworks, networkOf } from './network.js';
import { matchRoute, routeKey, scopeSetKey } from './route-path.js';
import type { ClientState, Reason, RiskContext, RiskPolicy, RouteRule, SignalCode } from './types.js';

/**
 * The risk signals: one pure function per code, `(ctx, state, policy) => Reason | undefined`.
 * Each adds its weight (policy.weights, else DEFAULT_WEIGHTS) when it fires. Details are short
 * and never carry secrets: networks as /24 or /48, routes with ids as '*', counts.
 */
export const DEFAULT_WEIGHTS: Readonly<Record<SignalCode, number>> = Object.freeze({
  network_not_allowed: 100,
  country_not_allowed: 100,
  rate_limit_exceeded: 100,
  outside_allowed_hours: 50,
  token_multiple_networks: 60,
  failed_auth_burst: 40,
  rate_above_baseline: 30,
  token_too_old: 30,
  new_network: 25,
  new_dpop_key: 25,
  new_federated_subject: 25,
  unusual_scope: 15,
  unusual_audience: 15,
  new_route: 10,
});

/** failed_auth_burst: this many failed authentications or proofs within the store's 5-minute window. */
export const FAILED_AUTH_BURST = 5;
/** token_too_old: on a sensitive route, a token issued more than this long ago (seconds). */
export const TOKEN_TOO_OLD_SECONDS = 120;
/** rate_above_baseline stays quiet below this many calls in the minute (a jump from 1 to 6 is noise). */
export const BASELINE_MIN_CALLS = 10;
const MAX_DETAIL = 120;

/**
 * A signal. `route` is the rule matching the call when the caller already knows it (evaluate
 * does); null = known to match none; omitted = looked up here.
 */
export type Signal = (ctx: RiskContext, state: ClientState, policy: RiskPolicy, route?: RouteRule | null) => Reason | undefined;

export function weightOf(code: SignalCode, policy: RiskPolicy): number {
  return policy.weights?.[code] ?? DEFAULT_WEIGHTS[code];
}

const reason = (code: SignalCode, policy: RiskPolicy, detail?: string): Reason =>
  detail === undefined ? { code, score: weightOf(code, policy) } : { code, score: weightOf(code, policy), detail: detail.slice(0, MAX_DETAIL) };

/** Hard rule: the caller is outside allowed_networks; an unknown or unparsable ip fails closed. */
export const networkNotAllowed: Signal = (ctx, _state, policy) => {
  const nets = policy.allowed_networks;
  if (!nets?.length) return undefined;
  if (ctx.ip !== undefined && inNetworks(ctx.ip, nets)) return undefined;
  return reason('network_not_allowed', policy, (ctx.ip !== undefined && networkOf(ctx.ip)) || 'unknown');
};

/** Hard rule: the caller's country is outside allowed_countries; an unknown country fails closed. */
export const countryNotAllowed: Signal = (ctx, _state, policy) => {
  const countries = policy.allowed_countries;
  if (!countries?.length) return undefined;
  if (ctx.country !== undefined && countries.includes(ctx.country)) return undefined;
  return reason('country_not_allowed', policy, ctx.country ?? 'unknown');
};

export const outsideAllowedHours: Signal = (ctx, _state, policy) => {
  const hours = policy.allowed_hours;
  if (!hours || withinHours(hours, ctx.now)) return undefined;
  return reason('outside_allowed_hours', policy, hours.timezone);
};

/** Hard rule: more calls this minute (this one included) than rate_limit_per_minute. */
export const rateLimitExceeded: Signal = (_ctx, state, policy) => {
  const limit = policy.rate_limit_per_minute;
  if (limit === undefined || state.callsThisMinute <= limit) return undefined;
  return reason('rate_limit_exceeded', policy, `${state.callsThisMinute}/min > ${limit}`);
};

/** Rate above factor × the learned moving average, once min_minutes are learned. */
export const rateAboveBaseline: Signal = (_ctx, state, policy) => {
  const b = policy.baseline;
  if (!b || state.baselineMinutes < b.min_minutes || state.callsThisMinute < BASELINE_MIN_CALLS) return undefined;
  if (state.callsThisMinute <= b.factor * state.baselinePerMinute) return undefined;
  return reason('rate_above_baseline', policy, `${state.callsThisMinute}/min, usual ${Math.round(state.baselinePerMinute * 10) / 10}`);
};

/** "Never seen" signals below stay quiet while the client is learning what is usual. */
export const newRoute: Signal = (ctx, state, policy) => {
  if (ctx.kind !== 'call' || state.learning || state.routeSeen || !ctx.method || !ctx.path) return undefined;
  return reason('new_route', policy, routeKey(ctx.method, ctx.path));
};

export const newNetwork: Signal = (ctx, state, policy) => {
  if (state.learning || state.networkSeen || ctx.ip === undefined) return undefined;
  return reason('new_network', policy, networkOf(ctx.ip) ?? 'unknown');
};

export const newDpopKey: Signal = (ctx, state, policy) => {
  if (state.learning || state.keySeen || !ctx.dpopJkt) return undefined;
  return reason('new_dpop_key', policy, ctx.dpopJkt); // an RFC 7638 thumbprint: public
};

/** docs/federation.md: a platform identity (issuer and subject) this client never authenticated as: like a new key. */
export const newFederatedSubject: Signal = (ctx, state, policy) => {
  if (state.learning || state.subjectSeen || !ctx.federated) return undefined;
  return reason('new_federated_subject', policy, `${ctx.federated.issuer} ${ctx.federated.subject}`);
};

export const unusualScope: Signal = (ctx, state, policy) => {
  if (state.learning || state.scopesSeen || ctx.scopes.length === 0) return undefined;
  return reason('unusual_scope', policy, scopeSetKey(ctx.scopes));
};

export const unusualAudience: Signal = (ctx, state, policy) => {
  if (state.learning || state.audienceSeen || !ctx.audience) return undefined;
  return reason('unusual_audience', policy, ctx.audience);
};

/** The same token presented from more than one network: likely copied (with its DPoP key). */
export const tokenMultipleNetworks: Signal = (ctx, state, policy) => {
  if (ctx.kind !== 'call' || !ctx.token || state.tokenNetworks <= 1) return undefined;
  return reason('token_multiple_networks', policy, `${state.tokenNetworks} networks`);
};

export const failedAuthBurst: Signal = (_ctx, state, policy) => {
  if (state.recentFailures < FAILED_AUTH_BURST) return undefined;
  return reason('failed_auth_burst', policy, `${state.recentFailures} in 5 min`);
};

/** On a sensitive route, a token issued more than TOKEN_TOO_OLD_SECONDS ago. */
export const tokenTooOld: Signal = (ctx, _state, policy, route) => {
  if (ctx.kind !== 'call' || !ctx.token || !ctx.method || !ctx.path) return undefined;
  const rule = route === undefined ? matchRoute(policy.routes, ctx.method, ctx.path) : route;
  if (!rule?.sensitive) return undefined;
  const age = Math.floor(ctx.now / 1000) - ctx.token.iat;
  if (age <= TOKEN_TOO_OLD_SECONDS) return undefined;
  return reason('token_too_old', policy, `${age} s`);
};

/** Every signal, in the order reasons are reported. */
export const SIGNALS: Readonly<Record<SignalCode, Signal>> = Object.freeze({
  network_not_allowed: networkNotAllowed,
  country_not_allowed: countryNotAllowed,
  rate_limit_exceeded: rateLimitExceeded,
  outside_allowed_hours: outsideAllowedHours,
  token_multiple_networks: tokenMultipleNetworks,
  failed_auth_burst: failedAuthBurst,
  rate_above_baseline: rateAboveBaseline,
  token_too_old: tokenTooOld,
  new_network: newNetwork,
  new_dpop_key: newDpopKey,
  new_federated_subject: newFederatedSubject,
  unusual_scope: unusualScope,
  unusual_audience: unusualAudience,
  new_route: newRoute,
});
