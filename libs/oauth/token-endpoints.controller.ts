import { Body, Controller, Headers, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { CONFIG, type TollgateConfig } from '#config';
import { AccessTokenVerifier, type AccessTokenClaims, type TokenVerdict } from './access-token.js';
import { CallAssessorSlot } from './call-assessor.js';
import { callerAddress } from './failure-budget.js';
import { GatewayAuthenticator } from './gateway-client.js';
import { InvalidRequest, OAuthError } from './oauth-error.js';
import { OAUTH_ROUTES } from './provider.js';
import { formParam, WorkloadAuthenticator } from './workload-auth.js';
import { RevocationList } from './revocation-list.js';
import { KEY_RING, type KeyRing } from '#keys';

type Form = Record<string, unknown>;

const JWT_RESPONSE = 'application/token-introspection+jwt';

/** RFC 7662 introspection and RFC 7009 revocation of Tollgate's RFC 9068 access tokens. */
@Controller()
export class TokenEndpointsController {
  constructor(
    @Inject(CONFIG) private readonly config: TollgateConfig,
    @Inject(KEY_RING) private readonly keys: KeyRing,
    private readonly workloads: WorkloadAuthenticator,
    private readonly gateways: GatewayAuthenticator,
    private readonly tokens: AccessTokenVerifier,
    private readonly revocations: RevocationList,
    private readonly slot: CallAssessorSlot,
  ) {}

  /**
   * RFC 7662 §2. Only gateway clients may introspect (§4: the endpoint must be protected);
   * a gateway may add the presentation context (`dpop_proof`, `htm`, `htu`) to have the DPoP
   * proof checked against the token's binding too (RFC 9449 §7.1, Tollgate extension).
   */
  @Post(OAUTH_ROUTES.introspection)
  @HttpCode(200)
  async introspect(@Body() form: Form, @Headers('authorization') authorization: string | undefined, @Req() req: Request, @Res() res: Response) {
    const gateway = await this.gateways.authenticate(
      authorization,
      { kind: 'introspection', method: 'POST', path: OAUTH_ROUTES.introspection },
      callerAddress(req, this.config.trustProxy),
    );
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
        body = await this.withContext(body, token, verdict, { proof, htm, htu, clientIp });
      }
    }
    res.setHeader('Cache-Control', 'no-store');
    // RFC 9701 §4: a signed JWT response when the gateway asks for one.
    if (String(req.headers.accept ?? '').includes(JWT_RESPONSE)) {
      const now = Math.floor(Date.now() / 1000);
      const jwt = await this.keys.sign(
        { iss: this.config.issuer, aud: gateway.clientId, iat: now, token_introspection: body },
        'token-introspection+jwt',
      );
      res.type(JWT_RESPONSE).send(jwt);
      return;
    }
    res.json(body);
  }

  /**
   * RFC 7009 §2. The token's owner authenticates with private_key_jwt (RFC 7523); an unknown,
   * malformed or already expired token still answers 200 (§2.2).
   */
  @Post(OAUTH_ROUTES.revocation)
  @HttpCode(200)
  async revoke(@Body() form: Form, @Req() req: Request, @Res() res: Response) {
    const endpoint = { kind: 'revocation' as const, path: OAUTH_ROUTES.revocation, url: `${this.config.issuer}${OAUTH_ROUTES.revocation}` };
    const { client } = await this.workloads.authenticate(form, endpoint, callerAddress(req, this.config.trustProxy));
    const clientId = client.clientId;
    const token = formParam(form, 'token');
    if (!token) throw new InvalidRequest('token is required');
    formParam(form, 'token_type_hint'); // §2.1: a hint we may ignore; we only issue access tokens
    const verdict = await this.tokens.verify(token, { ignoreExpiry: true });
    if (verdict.active) {
      if (verdict.claims.client_id !== clientId) {
        // §2.1: the token was not issued to the requesting client.
        throw new OAuthError('unauthorized_client', 400, 'the token was not issued to this client');
      }
      await this.revocations.revoke(verdict.claims.jti!, clientId, verdict.claims.exp!);
    }
    res.setHeader('Cache-Control', 'no-store');
    res.status(200).end();
  }

  /**
   * Introspection with the call's context (Tollgate extension, issue 3 §5): the same judgement as
   * the check endpoint. `active` says whether the token may be used for this call at all; the
   * decision members say what the gateway should do.
   */
  private async withContext(
    body: Record<string, unknown>,
    token: string,
    verdict: TokenVerdict & { active: true },
    context: { proof?: string; htm?: string; htu?: string; clientIp?: string },
  ): Promise<Record<string, unknown>> {
    if (!context.htm || !context.htu) throw new InvalidRequest('htm and htu are required with dpop_proof or client_ip');
    const url = URL.parse(context.htu);
    if (!url || !/^https?:$/.test(url.protocol)) throw new InvalidRequest('htu must be an absolute http(s) URL');
    // libs/check fills the slot at start-up; without it there is no judgement to give (fail closed).
    if (!this.slot.assess) throw new Error('the call assessment is not wired');
    const a = await this.slot.assess({
      kind: 'introspection',
      method: context.htm.toUpperCase(),
      url: url.href,
      target: `${url.pathname}${url.search}`,
      ip: context.clientIp,
      authorization: `${verdict.claims.cnf?.jkt ? 'DPoP' : 'Bearer'} ${token}`,
      proof: context.proof,
      verdict,
    });
    const members = {
      decision: a.decision,
      risk_score: a.score,
      reasons: a.reasons,
      decision_id: a.decisionId,
      ...(a.error ? { decision_error: a.error, decision_error_description: a.errorDescription } : {}),
      ...(a.acrValues ? { acr_values: a.acrValues } : {}),
      ...(a.maxAge !== undefined ? { max_age: a.maxAge } : {}),
      ...(a.headers['DPoP-Nonce'] ? { dpop_nonce: a.headers['DPoP-Nonce'] } : {}),
    };
    return a.decision === 'invalid' ? { active: false, ...members } : { ...body, ...members };
  }
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
  };
}
