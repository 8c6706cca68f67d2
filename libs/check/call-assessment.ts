import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DecisionLog } from '#audit';
import { CONFIG, type TollgateConfig } from '#config';
import { HOT_STATE, type HotState } from '#hot-state';
import {
  AccessTokenVerifier,
  CallAssessorSlot,
  CLIENT_SIGNING_ALGS,
  type ContextAssessment,
  type TokenVerdict,
  DPOP_NONCES,
  type DpopNonces,
  InvalidDpopProof,
  UseDpopNonce,
  verifyDpopProof,
} from '#oauth';
import { type Acr, countryOf, evaluate, normalizePath, RISK_STATE, RiskPolicies, type RiskStateStore } from '#risk';
import { audienceCovers, dpopChallenge } from './challenge.js';

export interface CallInput {
  method: string;
  url: string;
  /** Raw path and query as the client sent it. */
  target: string;
  ip?: string;
  authorization?: string | string[];
  proof?: string | string[];
  kind: 'check' | 'introspection';
  /** The token when the caller already verified it (introspection). */
  verdict?: TokenVerdict & { active: true };
}

export type Outcome = 'allow' | 'step_up' | 'deny' | 'invalid';

/** The answer about one call: what introspection needs (ContextAssessment) plus the HTTP status and identity. */
export interface Assessment extends ContextAssessment {
  status: 200 | 401 | 403;
  clientId?: string;
  scope?: string;
  acr?: string;
}

const KEY_ACR: Acr = 'urn:tollgate:acr:key';

/**
 * One call, judged: the token (RFC 9068, locally), the DPoP proof against the original method
 * and URL (RFC 9449 §4.3, §7.1), then the risk engine with the client's policy. Used by the
 * gateway check endpoint and by introspection with context.
 */
@Injectable()
export class CallAssessment implements OnModuleInit {
  private readonly logger = new Logger('check');

  constructor(
    @Inject(CONFIG) private readonly config: TollgateConfig,
    @Inject(HOT_STATE) private readonly hot: HotState,
    @Inject(RISK_STATE) private readonly state: RiskStateStore,
    @Inject(DPOP_NONCES) private readonly nonces: DpopNonces,
    private readonly tokens: AccessTokenVerifier,
    private readonly policies: RiskPolicies,
    private readonly decisions: DecisionLog,
    private readonly slot: CallAssessorSlot,
  ) {}

  /** Introspection with context uses this same assessment (libs/oauth CallAssessorSlot). */
  onModuleInit(): void {
    this.slot.assess = (input) => this.assess(input);
  }

  async assess(input: CallInput): Promise<Assessment> {
    const decisionId = randomUUID();
    const invalid = async (error: string | undefined, description: string, code: string, clientId?: string, extra: Record<string, string> = {}): Promise<Assessment> => {
      const challenge = dpopChallenge(CLIENT_SIGNING_ALGS, error ? { error, error_description: description } : {});
      const result: Assessment = {
        status: 401,
        decision: 'invalid',
        decisionId,
        score: 0,
        reasons: [{ code, score: 0 }],
        headers: { 'WWW-Authenticate': challenge, ...extra },
        clientId,
        error,
        errorDescription: description,
      };
      const recorded = this.record(input, result);
      // A bad proof with a token that verified is a failure of that client (failed_auth_burst);
      // a nonce request is the protocol working (RFC 9449 §9), and a refusal of the token itself
      // says nothing about who sent it (docs/risk.md).
      if (clientId && code === 'dpop_proof') void this.state.recordFailure(clientId, Date.now()).catch(() => undefined);
      await recorded;
      return result;
    };

    // RFC 9449 §7.1: `Authorization: DPoP <token>`; RFC 6750 §3.1: no error code when none was sent.
    const authorization = Array.isArray(input.authorization) ? undefined : input.authorization;
    const match = authorization ? /^(DPoP|Bearer) ([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization.trim()) : null;
    if (!match) {
      return invalid(authorization ? 'invalid_request' : undefined, 'an access token is required (Authorization: DPoP <token>)', 'no_token');
    }
    const scheme = match[1]!.toLowerCase();
    const token = match[2]!;
    const verdict = input.verdict ?? (await this.tokens.verify(token));
    if (!verdict.active) return invalid('invalid_token', 'the access token is not active', `token_${verdict.reason}`);
    const { claims, client } = verdict;
    const jkt = claims.cnf?.jkt;
    if (jkt && scheme !== 'dpop') return invalid('invalid_token', 'a DPoP-bound token must be sent with the DPoP scheme', 'token_scheme', client.clientId);
    if (!audienceCovers(claims.aud, input.url)) {
      return invalid('invalid_token', 'the access token is not for this resource', 'token_audience', client.clientId);
    }

    let proofNonce: string | undefined;
    if (jkt) {
      try {
        await this.hot.replay.current();
        const verified = await verifyDpopProof(
          input.proof as string | undefined,
          {
            method: input.method,
            url: input.url,
            accessToken: token,
            boundJkt: jkt,
            notBefore: this.hot.replay.notBefore(),
            nonce: this.nonces.expectation(this.config.dpopRequireNonce || client.requireDpopNonce),
          },
          { algorithms: CLIENT_SIGNING_ALGS, maxAgeSeconds: this.config.dpopProofMaxAge, clockSkewSeconds: this.config.clockSkew },
          this.hot.replay,
        );
        proofNonce = verified.nonce;
      } catch (error) {
        if (error instanceof UseDpopNonce) {
          return invalid('use_dpop_nonce', error.error_description, 'dpop_nonce', client.clientId, { 'DPoP-Nonce': error.nonce ?? this.nonces.issue() });
        }
        if (error instanceof InvalidDpopProof) return invalid('invalid_dpop_proof', error.error_description, 'dpop_proof', client.clientId);
        throw error;
      }
    }
    void proofNonce;

    const acr = (claims.acr as Acr | undefined) ?? KEY_ACR;
    const scopes = (claims.scope ?? '').split(' ').filter(Boolean);
    const path = normalizePath(input.target);
    const now = Date.now();
    const base = { decisionId, clientId: client.clientId, scope: claims.scope ?? '', acr };
    if (path === undefined) {
      const denied: Assessment = {
        ...base,
        status: 403,
        decision: 'deny',
        score: 0,
        reasons: [{ code: 'path_not_canonical', score: 0 }],
        headers: {},
        error: 'access_denied',
        errorDescription: 'the request path cannot be normalised',
      };
      await this.record(input, denied);
      return denied;
    }

    const ctx = {
      kind: 'call' as const,
      now,
      clientId: client.clientId,
      ip: input.ip,
      country: input.ip ? countryOf(input.ip) : undefined,
      method: input.method,
      path,
      audience: Array.isArray(claims.aud) ? claims.aud[0] : claims.aud,
      scopes,
      dpopJkt: jkt,
      token: { jti: claims.jti!, iat: claims.iat!, exp: claims.exp, authTime: claims.auth_time as number | undefined, acr },
    };
    const [policy, state] = await Promise.all([this.policies.effective(client.clientId), this.state.observe(ctx)]);
    const decision = evaluate(ctx, state, policy);
    const reasons = decision.reasons.map((r) => ({ code: r.code, score: r.score, ...(r.detail ? { detail: r.detail } : {}) }));

    let result: Assessment;
    if (decision.decision === 'allow') {
      result = {
        ...base,
        status: 200,
        decision: 'allow',
        score: decision.score,
        reasons,
        headers: {
          'X-Tollgate-Client-Id': client.clientId,
          'X-Tollgate-Scope': claims.scope ?? '',
          'X-Tollgate-Acr': acr,
          'X-Tollgate-Risk': String(decision.score),
          'X-Tollgate-Decision-Id': decisionId,
        },
      };
      void this.state.learn(ctx).catch((error) => this.logger.warn({ message: 'risk state not updated', error: (error as Error).message }));
    } else if (decision.decision === 'step_up') {
      // RFC 9470 §3: the level (and freshness) to prove; a fresh DPoP nonce for the new proof.
      const description = `this call needs ${decision.acr}${decision.maxAge !== undefined ? ` proven within ${decision.maxAge} s` : ''}`;
      result = {
        ...base,
        status: 401,
        decision: 'step_up',
        score: decision.score,
        reasons,
        acrValues: decision.acr,
        maxAge: decision.maxAge,
        error: 'insufficient_user_authentication',
        errorDescription: description,
        headers: {
          'WWW-Authenticate': dpopChallenge(CLIENT_SIGNING_ALGS, {
            error: 'insufficient_user_authentication',
            error_description: description,
            acr_values: decision.acr,
            max_age: decision.maxAge,
          }),
          'DPoP-Nonce': this.nonces.issue(),
          'X-Tollgate-Decision-Id': decisionId,
        },
      };
    } else {
      const scopeFailed = decision.error === 'insufficient_scope';
      result = {
        ...base,
        status: 403,
        decision: 'deny',
        score: decision.score,
        reasons,
        error: scopeFailed ? 'insufficient_scope' : 'access_denied',
        errorDescription: scopeFailed ? 'the access token lacks a scope this route requires' : 'the call was denied by policy',
        headers: {
          // RFC 6750 §3.1: 403 insufficient_scope.
          ...(scopeFailed ? { 'WWW-Authenticate': dpopChallenge(CLIENT_SIGNING_ALGS, { error: 'insufficient_scope' }) } : {}),
          'X-Tollgate-Decision-Id': decisionId,
        },
      };
    }
    await this.record(input, result, path);
    return result;
  }

  /** Resolves when the decision is as durable as its outcome needs before it is answered (DecisionLog). */
  private record(input: CallInput, result: Assessment, route?: string): Promise<void> {
    return this.decisions.record({
      id: result.decisionId,
      at: new Date(),
      kind: input.kind,
      clientId: result.clientId,
      method: input.method,
      route: route ?? input.target.split('?')[0],
      decision: result.decision,
      score: result.score,
      reasons: result.reasons,
      ip: input.ip,
    });
  }
}

/** The JSON body every check response carries. */
export function assessmentBody(a: Assessment) {
  return {
    decision: a.decision,
    reasons: a.reasons,
    risk_score: a.score,
    decision_id: a.decisionId,
    ...(a.error ? { error: a.error, error_description: a.errorDescription } : {}),
    ...(a.acrValues ? { acr_values: a.acrValues } : {}),
    ...(a.maxAge !== undefined ? { max_age: a.maxAge } : {}),
  };
}
