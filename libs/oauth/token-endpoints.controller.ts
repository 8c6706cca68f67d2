import { Body, Controller, Headers, HttpCode, Inject, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { CONFIG, type TollgateConfig } from '#config';
import { AccessTokenVerifier, callerAddress, formParam, InvalidRequest, OAuthError, RevocationList, send, WorkloadAuthenticator } from '#credentials';
import { requestIdOf } from '#operations';
import { ROUTES } from '#protocol';
import { IntrospectionEndpoint } from './introspection.js';

type Form = Record<string, unknown>;

/** RFC 7662 introspection (IntrospectionEndpoint) and RFC 7009 revocation of Tollgate's RFC 9068 access tokens. */
@Controller()
export class TokenEndpointsController {
  constructor(
    @Inject(CONFIG) private readonly config: TollgateConfig,
    private readonly workloads: WorkloadAuthenticator,
    private readonly tokens: AccessTokenVerifier,
    private readonly revocations: RevocationList,
    private readonly introspection: IntrospectionEndpoint,
  ) {}

  @Post(ROUTES.introspection)
  @HttpCode(200)
  async introspect(@Body() form: Form, @Headers('authorization') authorization: string | undefined, @Req() req: Request, @Res() res: Response) {
    send(res, await this.introspection.answer({ form, authorization, accept: req.headers.accept, ip: callerAddress(req, this.config.trustProxy), requestId: requestIdOf(req) }));
  }

  /**
   * RFC 7009 §2. The token's owner authenticates with private_key_jwt (RFC 7523); an unknown,
   * malformed or already expired token still answers 200 (§2.2).
   */
  @Post(ROUTES.revocation)
  @HttpCode(200)
  async revoke(@Body() form: Form, @Req() req: Request, @Res() res: Response) {
    const endpoint = { kind: 'revocation' as const, path: ROUTES.revocation, url: `${this.config.issuer}${ROUTES.revocation}`, requestId: requestIdOf(req) };
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
}
