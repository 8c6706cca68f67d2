import { evaluate } from './evaluate.js';
import { ACR_LEVELS, type Acr, type ClientState, type Decision, type RiskContext, type RiskPolicy } from './types.js';

/**
 * What a judged decision keeps of its call (the `context` column of the decision log), so that
 * another policy can be evaluated against it later (the policy dry run, docs/risk.md): the facts
 * the pure core reads and the learned-state answers it was given. The client id and the time are
 * the decision's own columns. Left out on purpose: the token's id and expiry and a federated
 * identity's claims (the core does not read them), and anything secret: there is no token, proof
 * or assertion here, only a DPoP key thumbprint (public, RFC 7638) and the token's iat, auth_time
 * and acr.
 */
export interface RecordedContext extends Pick<RiskContext, 'kind' | 'ip' | 'country' | 'method' | 'path' | 'audience' | 'scopes' | 'dpopJkt' | 'proven'> {
  v: 1;
  token?: Pick<NonNullable<RiskContext['token']>, 'iat' | 'authTime' | 'acr'>;
  federated?: Pick<NonNullable<RiskContext['federated']>, 'issuer' | 'subject'>;
  /** The learned-state answers at the time (ClientState, as the store returned them). */
  state: ClientState;
}

/**
 * The context to record with a decision. Cheap on purpose (it runs on every judged request):
 * it only assembles what is already computed — a few property reads into one new object, the
 * state object shared as it is (the store returns a fresh one per call). Serialising it happens
 * in the decision log's batch writer, off the request.
 */
export function recordedContext(ctx: RiskContext, state: ClientState): RecordedContext {
  const t = ctx.token;
  const f = ctx.federated;
  return {
    v: 1,
    kind: ctx.kind,
    ip: ctx.ip,
    country: ctx.country,
    method: ctx.method,
    path: ctx.path,
    audience: ctx.audience,
    scopes: ctx.scopes,
    dpopJkt: ctx.dpopJkt,
    token: t && { iat: t.iat, authTime: t.authTime, acr: t.acr },
    federated: f && { issuer: f.issuer, subject: f.subject },
    proven: ctx.proven,
    state,
  };
}

const STATE_NUMBERS = ['callsThisMinute', 'baselinePerMinute', 'baselineMinutes', 'tokenNetworks', 'recentFailures'] as const;
const STATE_FLAGS = ['routeSeen', 'networkSeen', 'keySeen', 'scopesSeen', 'audienceSeen', 'subjectSeen', 'learning'] as const;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const optString = (v: unknown): v is string | undefined => v === undefined || typeof v === 'string';
const optNumber = (v: unknown): v is number | undefined => v === undefined || (typeof v === 'number' && Number.isFinite(v));
const isAcr = (v: unknown): v is Acr => typeof v === 'string' && (ACR_LEVELS as readonly string[]).includes(v);

/**
 * The evaluation inputs a recorded context stands for, or null when it is not one this version
 * can evaluate (absent, another version, or malformed): such a decision is reported as not
 * re-evaluable rather than evaluated on guesses.
 */
export function replayedInputs(recorded: unknown, clientId: string, at: Date): { ctx: RiskContext; state: ClientState } | null {
  if (!isObject(recorded) || recorded.v !== 1) return null;
  const r = recorded;
  if (r.kind !== 'call' && r.kind !== 'issuance') return null;
  for (const name of ['ip', 'country', 'method', 'path', 'audience', 'dpopJkt'] as const) if (!optString(r[name])) return null;
  if (!Array.isArray(r.scopes) || !r.scopes.every((s) => typeof s === 'string')) return null;
  const s = r.state;
  if (!isObject(s) || !STATE_NUMBERS.every((n) => typeof s[n] === 'number') || !STATE_FLAGS.every((n) => typeof s[n] === 'boolean')) return null;
  const t = r.token;
  if (t !== undefined && !(isObject(t) && typeof t.iat === 'number' && optNumber(t.authTime) && (t.acr === undefined || isAcr(t.acr)))) return null;
  const f = r.federated;
  if (f !== undefined && !(isObject(f) && typeof f.issuer === 'string' && typeof f.subject === 'string')) return null;
  const p = r.proven;
  if (p !== undefined && !(isObject(p) && isAcr(p.acr) && typeof p.authTime === 'number')) return null;
  const now = at.getTime();
  if (!Number.isFinite(now)) return null;

  const ctx: RiskContext = {
    kind: r.kind,
    now,
    clientId,
    ip: r.ip as string | undefined,
    country: r.country as string | undefined,
    method: r.method as string | undefined,
    path: r.path as string | undefined,
    audience: r.audience as string | undefined,
    scopes: r.scopes as string[],
    dpopJkt: r.dpopJkt as string | undefined,
    token: t && { jti: '', iat: t.iat as number, authTime: t.authTime as number | undefined, acr: t.acr as Acr | undefined },
    federated: f && { issuer: f.issuer as string, subject: f.subject as string, claims: {} },
    proven: p && { acr: p.acr as Acr, authTime: p.authTime as number },
  };
  const state = Object.fromEntries([...STATE_NUMBERS, ...STATE_FLAGS].map((n) => [n, s[n]])) as unknown as ClientState;
  return { ctx, state };
}

/**
 * The decision a recorded call would get under `policy` (an effective policy), by the same
 * evaluate() the risk judge calls: one rule in one place. Null when the context is not re-evaluable.
 */
export function reevaluate(recorded: unknown, clientId: string, at: Date, policy: RiskPolicy): Decision | null {
  const inputs = replayedInputs(recorded, clientId, at);
  return inputs ? evaluate(inputs.ctx, inputs.state, policy) : null;
}
