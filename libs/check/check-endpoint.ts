import type { IncomingHttpHeaders } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { CONFIG, type TollgateConfig } from '#config';
import { errorAnswer, GatewayAuthenticator, type OAuthAnswer, OAuthError } from '#credentials';
import { ROUTES } from '#protocol';
import { assessmentBody, CallAssessment, presentedToken } from './call-assessment.js';
import { GatewayRequestError, originalCall } from './gateway-request.js';

/** What the check endpoint reads of a request: no framework, so any listener can serve it. */
export interface CheckRequest {
  method: string;
  /** The path of the request to /check itself (Envoy appends the original path). */
  path: string;
  headers: IncomingHttpHeaders;
  /** The address the request came from (the gateway's), for its failure budget. */
  ip?: string;
  /** The request id (X-Request-Id), kept with the decision. */
  requestId?: string;
}

/**
 * The gateway check endpoint (docs/gateways.md): NGINX auth_request, Traefik/Caddy
 * forward_auth and Envoy ext_authz call it as they are. Any method; the original call is
 * described by headers or by the path after /check. One straight line: the gateway's
 * credential, the original call (parsed once), the call assessment, the answer.
 */
@Injectable()
export class CheckEndpoint {
  private readonly scheme: string;

  constructor(
    @Inject(CONFIG) config: TollgateConfig,
    private readonly gateways: GatewayAuthenticator,
    private readonly assessment: CallAssessment,
  ) {
    this.scheme = new URL(config.issuer).protocol.replace(':', '');
  }

  async answer(req: CheckRequest): Promise<OAuthAnswer> {
    // The gateway's own credential. A failure says nothing about the workload's token.
    try {
      await this.gateways.authenticate(req.headers['x-gateway-authorization'], { kind: 'check', method: req.method, path: ROUTES.check, requestId: req.requestId }, req.ip);
    } catch (error) {
      if (!(error instanceof OAuthError) || (error.error !== 'invalid_client' && error.error !== 'slow_down')) throw error;
      const refusal = errorAnswer(error);
      return { ...refusal, body: { decision: 'invalid', ...refusal.body } };
    }
    let call;
    try {
      call = originalCall(req.method, req.path, req.headers, this.scheme);
    } catch (error) {
      if (!(error instanceof GatewayRequestError)) throw error;
      return { status: 400, headers: { 'Cache-Control': 'no-store' }, body: { decision: 'invalid', error: 'invalid_request', error_description: error.message } };
    }
    const result = await this.assessment.assess({
      kind: 'check',
      method: call.method,
      url: call.url,
      target: call.target,
      ip: call.ip,
      token: presentedToken(req.headers.authorization),
      proof: req.headers.dpop,
      requestId: req.requestId,
    });
    return { status: result.status, headers: { 'Cache-Control': 'no-store', ...result.headers }, body: assessmentBody(result) };
  }
}
