import type { IncomingHttpHeaders } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { CONFIG, type TollgateConfig } from '#config';
import { errorAnswer, GatewayAuthenticator, type OAuthAnswer, OAuthError } from '#credentials';
import { Metrics } from '#operations';
import { ROUTES } from '#protocol';
import { assessmentBody, CallAssessment, presentedToken } from './call-assessment.js';
import { GatewayRequestError, type OriginalCall, originalCall } from './gateway-request.js';

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
 * One gateway's question, as either face of the check reads it: HTTP forward auth (/check) or
 * Envoy ext_authz over gRPC (libs/check/grpc). Everything after reading is the same line.
 */
export interface GatewayQuestion {
  face: 'http' | 'grpc';
  /** `X-Gateway-Authorization`: the HTTP header, or the gRPC metadata entry of that name. */
  gatewayCredential: unknown;
  /** The gateway's own address, for its failure budget. */
  gatewayIp?: string;
  /** What the gateway's request was, for the failure log (the HTTP method and path, or the gRPC method). */
  gatewayRequest: { method: string; path: string };
  /** The protected call, read only once the gateway is authenticated (throws GatewayRequestError). */
  call(): OriginalCall;
  authorization: string | string[] | undefined;
  dpop: string | string[] | undefined;
  /** The request id (X-Request-Id, or Envoy's request id), kept with the decision. */
  requestId?: string;
}

/**
 * The gateway check (docs/gateways.md): NGINX auth_request, Traefik/Caddy forward_auth, HAProxy
 * and Envoy ext_authz (HTTP) call /check as they are; Envoy ext_authz over gRPC asks the same
 * question through libs/check/grpc. One straight line: the gateway's credential, the original
 * call (parsed once), the call assessment, the answer.
 */
@Injectable()
export class CheckEndpoint {
  private readonly scheme: string;

  constructor(
    @Inject(CONFIG) config: TollgateConfig,
    private readonly gateways: GatewayAuthenticator,
    private readonly assessment: CallAssessment,
    private readonly metrics: Metrics,
  ) {
    this.scheme = new URL(config.issuer).protocol.replace(':', '');
  }

  /** The scheme assumed when the gateway does not say (the issuer's). */
  get defaultScheme(): string {
    return this.scheme;
  }

  /** The HTTP face: /check and /check/<path>. */
  answer(req: CheckRequest): Promise<OAuthAnswer> {
    return this.decide({
      face: 'http',
      gatewayCredential: req.headers['x-gateway-authorization'],
      gatewayIp: req.ip,
      gatewayRequest: { method: req.method, path: ROUTES.check },
      call: () => originalCall(req.method, req.path, req.headers, this.scheme),
      authorization: req.headers.authorization,
      dpop: req.headers.dpop,
      requestId: req.requestId,
    });
  }

  /** Both faces: the answer a gateway passes on (status, headers, JSON body), counted by face and decision. */
  async decide(q: GatewayQuestion): Promise<OAuthAnswer> {
    try {
      const answer = await this.decision(q);
      this.metrics.check(q.face, String(answer.body.decision ?? 'invalid'));
      return answer;
    } catch (error) {
      this.metrics.check(q.face, 'error');
      throw error;
    }
  }

  private async decision(q: GatewayQuestion): Promise<OAuthAnswer> {
    // The gateway's own credential. A failure says nothing about the workload's token.
    try {
      await this.gateways.authenticate(q.gatewayCredential, { kind: 'check', ...q.gatewayRequest, requestId: q.requestId }, q.gatewayIp);
    } catch (error) {
      if (!(error instanceof OAuthError) || (error.error !== 'invalid_client' && error.error !== 'slow_down')) throw error;
      const refusal = errorAnswer(error);
      return { ...refusal, body: { decision: 'invalid', ...refusal.body } };
    }
    let call: OriginalCall;
    try {
      call = q.call();
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
      token: presentedToken(q.authorization),
      proof: q.dpop,
      requestId: q.requestId,
    });
    return { status: result.status, headers: { 'Cache-Control': 'no-store', ...result.headers }, body: assessmentBody(result) };
  }
}
