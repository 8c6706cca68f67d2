import { Inject, Injectable } from '@nestjs/common';
import { type Assessment, CallAssessment } from '#check';
import { CONFIG, type TollgateConfig } from '#config';
import { type AccessTokenClaims, AccessTokenVerifier, formParam, GatewayAuthenticator, InvalidRequest, type OAuthAnswer, type TokenVerdict } from '#credentials';
import { KEY_RING, type KeyRing } from '#keys';
import { ROUTES } from '#protocol';

type Form = Record<string, unknown>;

const JWT_RESPONSE = 'application/token-introspection+jwt';

/** What the introspection endpoint reads of a request: no framework, so any listener can serve it. */
export interface IntrospectionRequest {
  form: Form;
  authorization?: string;
  accept?: string;
  /** The address the request came from (the gateway's), for its failure budget. */
  ip?: string;
  /** The request id (X-Request-Id), kept with the decision. */
  requestId?: string;
}

/**
 * RFC 7662 §2 introspection of Tollgate's RFC 9068 access tokens. Only gateway clients may
 * introspect (§4: the endpoint must be protected). A gateway may add the presentation context
 * (`dpop_proof`, `htm`, `htu`, `client_ip`): the answer then carries the same judgement as the
 * check endpoint, made by the same call assessment (RFC 9449 §7.1, Tollgate extension). With
 * `Accept: application/token-introspection+jwt` the answer is a signed JWT (RFC 9701 §4).
 */
@Injectable()
export class IntrospectionEndpoint {
  constructor(
    @Inject(CONFIG) private readonly config: TollgateConfig,
    @Inject(KEY_RING) private readonly keys: KeyRing,
    private readonly gateways: GatewayAuthenticator,
    private readonly tokens: AccessTokenVerifier,
    private readonly assessment: CallAssessment,
  ) {}

  async answer(req: IntrospectionRequest): Promise<OAuthAnswer> {
    const gateway = await this.gateways.authenticate(req.authorization, { kind: 'introspection', method: 'POST', path: ROUTES.introspection, requestId: req.requestId }, req.ip);
    const { form } = req;
    const token = formParam(form, 'token');
    if (!token) throw new InvalidRequest('token is required');
    formParam(form, 'token_type_hint');
    const proof = formParam(form, 'dpop_proof');
    const htm = formParam(form, 'htm');
    const htu = formParam(form, 'htu');
    const clientIp = formParam(form, 'client_ip');

    const verdict = await this.tokens.verify(token);
    let body: Record<string, unknown> = { active: false };
    if (verdict.active) {
      body = activeBody(verdict.claims);
      if (proof !== undefined || htm !== undefined || htu !== undefined || clientIp !== undefined) {
        body = await this.withContext(body, token, verdict, { proof, htm, htu, clientIp }, req.requestId);
      }
    }
    if (!String(req.accept ?? '').includes(JWT_RESPONSE)) return { status: 200, headers: { 'Cache-Control': 'no-store' }, body };
    const now = Math.floor(Date.now() / 1000);
    const jwt = await this.keys.sign({ iss: this.config.issuer, aud: gateway.clientId, iat: now, token_introspection: body }, 'token-introspection+jwt');
    return { status: 200, headers: { 'Cache-Control': 'no-store', 'Content-Type': JWT_RESPONSE }, body, raw: jwt };
  }

  /**
   * Introspection with the call's context: `active` says whether the token may be used for
   * this call at all; the decision members say what the gateway should do.
   */
  private async withContext(
    body: Record<string, unknown>,
    token: string,
    verdict: TokenVerdict & { active: true },
    context: { proof?: string; htm?: string; htu?: string; clientIp?: string },
    requestId?: string,
  ): Promise<Record<string, unknown>> {
    if (!context.htm || !context.htu) throw new InvalidRequest('htm and htu are required with dpop_proof or client_ip');
    const url = URL.parse(context.htu);
    if (!url || !/^https?:$/.test(url.protocol)) throw new InvalidRequest('htu must be an absolute http(s) URL');
    const a = await this.assessment.assess({
      kind: 'introspection',
      method: context.htm.toUpperCase(),
      url,
      target: `${url.pathname}${url.search}`,
      ip: context.clientIp,
      // As the gateway received it: the scheme the token's binding asks for (RFC 9449 §7.1).
      token: { scheme: verdict.claims.cnf?.jkt ? 'dpop' : 'bearer', token },
      proof: context.proof,
      verdict,
      requestId,
    });
    const members = decisionMembers(a);
    return a.decision === 'invalid' ? { active: false, ...members } : { ...body, ...members };
  }
}

/** The decision, as introspection members (RFC 7662 owns `error`, hence `decision_error`). */
function decisionMembers(a: Assessment): Record<string, unknown> {
  return {
    decision: a.decision,
    risk_score: a.score,
    reasons: a.reasons,
    decision_id: a.decisionId,
    ...(a.error ? { decision_error: a.error, decision_error_description: a.errorDescription } : {}),
    ...(a.acrValues ? { acr_values: a.acrValues } : {}),
    ...(a.maxAge !== undefined ? { max_age: a.maxAge } : {}),
    ...(a.headers['DPoP-Nonce'] ? { dpop_nonce: a.headers['DPoP-Nonce'] } : {}),
  };
}

/** RFC 7662 §2.2 members for an active RFC 9068 token. */
function activeBody(claims: AccessTokenClaims): Record<string, unknown> {
  return {
    active: true,
    iss: claims.iss,
    sub: claims.sub,
    client_id: claims.client_id,
    ...(claims.scope ? { scope: claims.scope } : {}),
    aud: claims.aud,
    exp: claims.exp,
    iat: claims.iat,
    jti: claims.jti,
    token_type: claims.cnf?.jkt ? 'DPoP' : 'Bearer',
    ...(claims.cnf?.jkt ? { cnf: { jkt: claims.cnf.jkt } } : {}),
    // What the workload proved (docs/step-up.md §1), for gateways that judge it themselves.
    ...(claims.acr ? { acr: claims.acr } : {}),
    ...(Array.isArray(claims.amr) ? { amr: claims.amr } : {}),
    ...(typeof claims.auth_time === 'number' ? { auth_time: claims.auth_time } : {}),
    // docs/federation.md: who the workload proved to be with its platform token.
    ...(isRecord(claims.federated_identity) ? { federated_identity: claims.federated_identity } : {}),
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
