import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DecisionLog } from '#audit';
import { CONFIG, type TollgateConfig } from '#config';
import {
  AccessTokenVerifier,
  DPOP_NONCES,
  type DpopNonces,
  dpopChallenge,
  InvalidDpopProof,
  type TokenVerdict,
  UseDpopNonce,
  verifyDpopProof,
} from '#credentials';
import { HOT_STATE, type HotState } from '#hot-state';
import { ResourceCatalog } from '#clients';
import { ACR, type Acr, CLIENT_SIGNING_ALGS, DECISION_ID_HEADER } from '#protocol';
import { normalizePath, type RiskContext, RiskJudge } from '#risk';
import { audienceCovers } from './audience.js';

/** An access token as presented with a call (RFC 9449 §7.1 `DPoP`, RFC 6750 §2.1 `Bearer`). */
export interface PresentedToken {
  scheme: 'dpop' | 'bearer';
  token: string;
}

const AUTHORIZATION = /^(DPoP|Bearer) ([A-Za-z0-9\-._~+/]+=*)$/i;

/**
 * The token in an `Authorization` header: undefined when none was sent, 'malformed' for anything
 * else than one DPoP or Bearer credential (RFC 6750 §3.1: no error code when none was sent).
 */
export function presentedToken(authorization: string | string[] | undefined): PresentedToken | 'malformed' | undefined {
  if (authorization === undefined || authorization === '') return undefined;
  if (Array.isArray(authorization)) return 'malformed';
  const match = AUTHORIZATION.exec(authorization.trim());
  if (!match) return 'malformed';
  return { scheme: match[1]!.toLowerCase() === 'dpop' ? 'dpop' : 'bearer', token: match[2]! };
}

export interface CallInput {
  kind: 'check' | 'introspection';
  method: string;
  /** The called URL, parsed once by whoever read the call (the DPoP htu is checked against it). */
  url: URL;
  /** Raw path and query as the client sent it. */
  target: string;
  ip?: string;
  token: PresentedToken | 'malformed' | undefined;
  proof?: string | string[];
  /** The token when the caller already verified it (introspection). */
  verdict?: TokenVerdict & { active: true };
  /** The client the caller says presents the token (AuthZEN `subject.id`): another client's token is refused. */
  expectedClientId?: string;
  /** The request being handled (X-Request-Id), kept with the decision. */
  requestId?: string;
}

export type Outcome = 'allow' | 'step_up' | 'deny' | 'invalid';

/** The answer about one call, for the check endpoint, introspection with context and (later) ext_authz. */
export interface Assessment {
  decision: Outcome;
  decisionId: string;
  score: number;
  reasons: { code: string; score: number; detail?: string }[];
  headers: Record<string, string>;
  error?: string;
  errorDescription?: string;
  acrValues?: string;
  maxAge?: number;
  status: 200 | 401 | 403;
  clientId?: string;
  scope?: string;
  acr?: string;
}

/**
 * One call, judged: the token (RFC 9068, locally), the DPoP proof against the original method
 * and URL (RFC 9449 §4.3, §7.1), then the risk judge with the client's policy. One line through
 * the code for the gateway check endpoint and introspection with context.
 */
@Injectable()
export class CallAssessment {
  constructor(
    @Inject(CONFIG) private readonly config: TollgateConfig,
    @Inject(HOT_STATE) private readonly hot: HotState,
    @Inject(DPOP_NONCES) private readonly nonces: DpopNonces,
    private readonly tokens: AccessTokenVerifier,
    private readonly judge: RiskJudge,
    private readonly decisions: DecisionLog,
    private readonly resources: ResourceCatalog,
  ) {}

  async assess(input: CallInput): Promise<Assessment> {
    // RFC 9728 §5.1: every 401 names the metadata of the protected resource the call was for.
    const resourceMetadata = () => this.resources.metadataUrlFor(input.url);
    const invalid = async (error: string | undefined, description: string, code: string, clientId?: string, extra: Record<string, string> = {}): Promise<Assessment> => {
      const result: Assessment = {
        status: 401,
        decision: 'invalid',
        decisionId: randomUUID(),
        score: 0,
        reasons: [{ code, score: 0 }],
        headers: { 'WWW-Authenticate': dpopChallenge({ ...(error ? { error, error_description: description } : {}), resource_metadata: resourceMetadata() }), ...extra },
        clientId,
        error,
        errorDescription: description,
      };
      const recorded = this.record(input, result);
      // A bad proof with a token that verified is a failure of that client (failed_auth_burst);
      // a nonce request is the protocol working (RFC 9449 §9), and a refusal of the token itself
      // says nothing about who sent it (docs/risk.md).
      if (clientId && code === 'dpop_proof') this.judge.failed(clientId);
      await recorded;
      return result;
    };

    const presented = input.token;
    if (presented === undefined || presented === 'malformed') {
      return invalid(presented ? 'invalid_request' : undefined, 'an access token is required (Authorization: DPoP <token>)', 'no_token');
    }
    const verdict = input.verdict ?? (await this.tokens.verify(presented.token));
    if (!verdict.active) return invalid('invalid_token', 'the access token is not active', `token_${verdict.reason}`);
    const { claims, client } = verdict;
    if (input.expectedClientId !== undefined && input.expectedClientId !== client.clientId) {
      return invalid('invalid_token', 'the access token was not issued to the subject', 'subject_mismatch', client.clientId);
    }
    const jkt = claims.cnf?.jkt;
    if (jkt && presented.scheme !== 'dpop') return invalid('invalid_token', 'a DPoP-bound token must be sent with the DPoP scheme', 'token_scheme', client.clientId);
    if (!audienceCovers(claims.aud, input.url)) {
      return invalid('invalid_token', 'the access token is not for this resource', 'token_audience', client.clientId);
    }

    if (jkt) {
      try {
        await this.hot.replay.current();
        await verifyDpopProof(
          input.proof as string | undefined,
          {
            method: input.method,
            url: input.url,
            accessToken: presented.token,
            accessTokenHash: verdict.tokenHash,
            boundJkt: jkt,
            notBefore: this.hot.replay.notBefore(),
            nonce: this.nonces.expectation(this.config.dpopRequireNonce || client.requireDpopNonce),
          },
          { algorithms: CLIENT_SIGNING_ALGS, maxAgeSeconds: this.config.dpopProofMaxAge, clockSkewSeconds: this.config.clockSkew },
          this.hot.replay,
        );
      } catch (error) {
        if (error instanceof UseDpopNonce) {
          return invalid('use_dpop_nonce', error.error_description, 'dpop_nonce', client.clientId, { 'DPoP-Nonce': error.nonce ?? this.nonces.issue() });
        }
        if (error instanceof InvalidDpopProof) return invalid('invalid_dpop_proof', error.error_description, 'dpop_proof', client.clientId);
        throw error;
      }
    }

    const acr = (claims.acr as Acr | undefined) ?? ACR.key;
    const path = normalizePath(input.target);
    const base = { clientId: client.clientId, scope: claims.scope ?? '', acr };
    if (path === undefined) {
      const denied: Assessment = {
        ...base,
        decisionId: randomUUID(),
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

    const ctx: RiskContext = {
      kind: 'call',
      now: Date.now(),
      clientId: client.clientId,
      ip: input.ip,
      method: input.method,
      path,
      audience: Array.isArray(claims.aud) ? claims.aud[0] : claims.aud,
      scopes: (claims.scope ?? '').split(' ').filter(Boolean),
      dpopJkt: jkt,
      token: { jti: claims.jti!, iat: claims.iat!, exp: claims.exp, authTime: claims.auth_time as number | undefined, acr },
    };
    const decision = await this.judge.judge(ctx, { kind: input.kind, method: input.method, route: path, requestId: input.requestId });
    const decisionId = decision.decisionId;
    const reasons = decision.reasons.map((r) => ({ code: r.code, score: r.score, ...(r.detail ? { detail: r.detail } : {}) }));

    if (decision.decision === 'allow') {
      return {
        ...base,
        decisionId,
        status: 200,
        decision: 'allow',
        score: decision.score,
        reasons,
        headers: {
          'X-Tollgate-Client-Id': client.clientId,
          'X-Tollgate-Scope': claims.scope ?? '',
          'X-Tollgate-Acr': acr,
          'X-Tollgate-Risk': String(decision.score),
          [DECISION_ID_HEADER]: decisionId,
        },
      };
    }
    if (decision.decision === 'step_up') {
      // RFC 9470 §3: the level (and freshness) to prove; a fresh DPoP nonce for the new proof.
      const description = `this call needs ${decision.acr}${decision.maxAge !== undefined ? ` proven within ${decision.maxAge} s` : ''}`;
      return {
        ...base,
        decisionId,
        status: 401,
        decision: 'step_up',
        score: decision.score,
        reasons,
        acrValues: decision.acr,
        maxAge: decision.maxAge,
        error: 'insufficient_user_authentication',
        errorDescription: description,
        headers: {
          'WWW-Authenticate': dpopChallenge({ error: 'insufficient_user_authentication', error_description: description, acr_values: decision.acr, max_age: decision.maxAge, resource_metadata: resourceMetadata() }),
          'DPoP-Nonce': this.nonces.issue(),
          [DECISION_ID_HEADER]: decisionId,
        },
      };
    }
    const scopeFailed = decision.error === 'insufficient_scope';
    return {
      ...base,
      decisionId,
      status: 403,
      decision: 'deny',
      score: decision.score,
      reasons,
      error: scopeFailed ? 'insufficient_scope' : 'access_denied',
      errorDescription: scopeFailed ? 'the access token lacks a scope this route requires' : 'the call was denied by policy',
      headers: {
        // RFC 6750 §3.1: 403 insufficient_scope.
        ...(scopeFailed ? { 'WWW-Authenticate': dpopChallenge({ error: 'insufficient_scope' }) } : {}),
        [DECISION_ID_HEADER]: decisionId,
      },
    };
  }

  /** Decisions the judge did not make (invalid presentations, a path that cannot be normalised). */
  private record(input: CallInput, result: Assessment): Promise<void> {
    return this.decisions.record({
      id: result.decisionId,
      at: new Date(),
      kind: input.kind,
      clientId: result.clientId,
      method: input.method,
      route: input.target.split('?')[0],
      decision: result.decision,
      score: result.score,
      reasons: result.reasons,
      ip: input.ip,
      requestId: input.requestId,
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
