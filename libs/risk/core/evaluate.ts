import { matchRoute } from './route-path.js';
import { SIGNALS } from './signals.js';
import { ACR } from '#protocol';
import { ACR_LEVELS, type Acr, type ClientState, type Decision, type Reason, type RiskContext, type RiskPolicy, type RouteRule, type SignalAction, type SignalCode } from './types.js';

/** Defaults for what a policy leaves out (the built-in default policy states them too). */
export const DEFAULT_THRESHOLDS: Readonly<{ step_up: number; deny: number }> = Object.freeze({ step_up: 40, deny: 80 });
export const DEFAULT_STEP_UP_ACR: Acr = ACR.live;
export const DEFAULT_STEP_UP_MAX_AGE = 300;
// A new DPoP key only scores by default: workloads make a fresh DPoP key at every start, and a
// `live` step-up proves little more than the token request that came with the key (docs/risk.md).
export const DEFAULT_ON_NEW_KEY: SignalAction = 'allow';
export const DEFAULT_ON_NEW_NETWORK: SignalAction = 'allow';

/** Signals that deny whatever the score: the policy says "never from there / never that fast". */
const HARD_RULES: ReadonlySet<string> = new Set<SignalCode>(['rate_limit_exceeded', 'network_not_allowed', 'country_not_allowed']);
const SIGNAL_LIST = Object.values(SIGNALS);
const RANK: ReadonlyMap<string, number> = new Map(ACR_LEVELS.map((acr, i) => [acr, i]));
const TOP = ACR_LEVELS.length - 1;

/** Position in ACR_LEVELS; a token without (or with an unknown) acr ranks below every level. */
export function acrRank(acr: string | undefined): number {
  return acr === undefined ? -1 : (RANK.get(acr) ?? -1);
}

interface StepUp {
  acr: Acr;
  maxAge?: number;
}

/** The level held and when it was proven: the presented token's (calls), or a step-up grant's (issuance). */
function held(ctx: RiskContext): { acr?: string; since: number } | undefined {
  if (ctx.token) return { acr: ctx.token.acr, since: ctx.token.authTime ?? ctx.token.iat };
  if (ctx.proven) return { acr: ctx.proven.acr, since: ctx.proven.authTime };
  return undefined;
}

/** Seconds since the held level was last proven: auth_time, else iat (RFC 9470 §3 max_age). */
function proofAge(ctx: RiskContext): number | undefined {
  const h = held(ctx);
  return h ? Math.floor(ctx.now / 1000) - h.since : undefined;
}

/** Whether the held level already answers this step-up: level high enough, proof fresh enough. */
function answers(ctx: RiskContext, s: StepUp): boolean {
  const h = held(ctx);
  if (!h || acrRank(h.acr) < acrRank(s.acr)) return false;
  return s.maxAge === undefined || (proofAge(ctx) ?? Infinity) <= s.maxAge;
}

interface Outcome {
  reasons: Reason[];
  stepUps: StepUp[];
  deny: boolean;
  scopeDeny: boolean;
}

/** RFC 6750 §3.1, RFC 9470 §3: what the matched route rule demands of this call. */
function applyRoute(rule: RouteRule, ctx: RiskContext, score: number, out: Outcome): void {
  const missing = rule.scopes?.filter((s) => !ctx.scopes.includes(s)) ?? [];
  if (missing.length) {
    out.scopeDeny = true;
    out.reasons.push({ code: 'route_requires_scope', score: 0, detail: missing.join(' ') });
  }
  const have = acrRank(ctx.token?.acr);
  const age = proofAge(ctx);
  if (rule.acr && have < acrRank(rule.acr)) {
    out.stepUps.push({ acr: rule.acr, maxAge: rule.max_age });
    out.reasons.push({ code: 'route_requires_acr', score: 0, detail: rule.acr });
  } else if (rule.max_age !== undefined && (age === undefined || age > rule.max_age)) {
    // The level is there but its proof is stale: prove it again (the rule's level, else the token's).
    out.stepUps.push({ acr: rule.acr ?? ctx.token?.acr ?? ACR_LEVELS[0], maxAge: rule.max_age });
    out.reasons.push({ code: 'route_max_age', score: 0, detail: `${age ?? 'unknown'} s > ${rule.max_age} s` });
  }
  if (rule.max_risk !== undefined && score > rule.max_risk) {
    // More risk than this route tolerates: ask for the next level up; at the top there is none.
    if (have >= TOP) out.deny = true;
    else out.stepUps.push({ acr: ACR_LEVELS[have + 1]! });
    out.reasons.push({ code: 'route_max_risk', score: 0, detail: `${score} > ${rule.max_risk}` });
  }
}

/**
 * One decision for one issuance or call.
 *
 * 1. Every signal that fires adds its score and a reason.
 * 2. Deny: a hard rule fired (rate limit, network, country), on_new_key / on_new_network says
 *    deny, the score reached thresholds.deny, a route's scopes are missing, or a route's
 *    max_risk is exceeded by a token already at the top level.
 * 3. Step-up: on_new_* says step_up, the score reached thresholds.step_up (both ask for
 *    step_up_acr proven within step_up_max_age), or a route rule asks (its acr, max_age, or the
 *    next level for max_risk).
 * 4. Precedence deny > step_up > allow; several step-ups merge into the highest acr and the
 *    smallest max_age.
 *
 * A step-up the presented token already answers is dropped. A workload that has just stepped
 * up comes back with a token at the asked level and a fresh auth_time, while the signals that
 * sent it (a new key, a new network, a score in the step-up band) are still there, as they are
 * learned only after an allowed call: without this it would be sent round again and again.
 * Score-driven step-ups therefore carry max_age = step_up_max_age, so the answer holds only
 * while the proof is fresh, after which the workload proves it again. A deny is never answered
 * by a proof: thresholds.deny and the hard rules hold whatever the token's level.
 *
 * Route rules apply to calls only (kind 'call' with method and path); issuance has no route.
 */
export function evaluate(ctx: RiskContext, state: ClientState, policy: RiskPolicy): Decision {
  const rule = ctx.kind === 'call' && ctx.method && ctx.path ? (matchRoute(policy.routes, ctx.method, ctx.path) ?? null) : null;
  const out: Outcome = { reasons: [], stepUps: [], deny: false, scopeDeny: false };
  let score = 0;
  for (const signal of SIGNAL_LIST) {
    const r = signal(ctx, state, policy, rule);
    if (!r) continue;
    out.reasons.push(r);
    score += r.score;
    if (HARD_RULES.has(r.code)) out.deny = true;
  }

  const scoreStepUp: StepUp = { acr: policy.step_up_acr ?? DEFAULT_STEP_UP_ACR, maxAge: policy.step_up_max_age ?? DEFAULT_STEP_UP_MAX_AGE };
  const act = (code: SignalCode, action: SignalAction) => {
    if (!out.reasons.some((r) => r.code === code)) return;
    if (action === 'deny') out.deny = true;
    else if (action === 'step_up') out.stepUps.push(scoreStepUp);
  };
  act('new_dpop_key', policy.on_new_key ?? DEFAULT_ON_NEW_KEY);
  act('new_federated_subject', policy.on_new_key ?? DEFAULT_ON_NEW_KEY);
  act('new_network', policy.on_new_network ?? DEFAULT_ON_NEW_NETWORK);

  const thresholds = policy.thresholds ?? DEFAULT_THRESHOLDS;
  if (score >= thresholds.deny) out.deny = true;
  else if (score >= thresholds.step_up) out.stepUps.push(scoreStepUp);

  if (rule) applyRoute(rule, ctx, score, out);
  const route = rule ? { route: rule.path } : {};

  if (out.deny || out.scopeDeny) {
    // insufficient_scope only when a scope is all that is missing: more scope would not help otherwise.
    const error = out.scopeDeny && !out.deny ? { error: 'insufficient_scope' as const } : {};
    return { decision: 'deny', score, reasons: out.reasons, ...error, ...route };
  }
  const pending = out.stepUps.filter((s) => !answers(ctx, s));
  if (pending.length) return { decision: 'step_up', score, reasons: out.reasons, ...mergeStepUps(pending), ...route };
  return { decision: 'allow', score, reasons: out.reasons, ...route };
}

/** The strictest of several step-ups: the highest acr and the smallest max_age. */
function mergeStepUps(stepUps: StepUp[]): { acr: Acr; maxAge?: number } {
  let acr = stepUps[0]!.acr;
  let maxAge: number | undefined;
  for (const s of stepUps) {
    if (acrRank(s.acr) > acrRank(acr)) acr = s.acr;
    if (s.maxAge !== undefined && (maxAge === undefined || s.maxAge < maxAge)) maxAge = s.maxAge;
  }
  return maxAge === undefined ? { acr } : { acr, maxAge };
}
