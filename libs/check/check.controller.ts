import { All, Controller, Inject, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { CONFIG, type TollgateConfig } from '#config';
import { callerAddress, GatewayAuthenticator, InvalidClient, SlowDown } from '#oauth';
import { assessmentBody, CallAssessment } from './call-assessment.js';
import { GatewayRequestError, originalCall } from './gateway-request.js';

/**
 * The gateway check endpoint (docs/gateways.md): NGINX auth_request, Traefik/Caddy
 * forward_auth and Envoy ext_authz call it as they are. Any method; the original call is
 * described by headers or by the path after /check.
 */
@Controller()
export class CheckController {
  constructor(
    @Inject(CONFIG) private readonly config: TollgateConfig,
    private readonly gateways: GatewayAuthenticator,
    private readonly assessment: CallAssessment,
  ) {}

  @All(['check', 'check/*path'])
  async check(@Req() req: Request, @Res() res: Response) {
    res.setHeader('Cache-Control', 'no-store');
    // The gateway's own credential. A failure says nothing about the workload's token.
    try {
      await this.gateways.authenticate(req.headers['x-gateway-authorization'], { kind: 'check', method: req.method, path: '/check' }, callerAddress(req, this.config.trustProxy));
    } catch (error) {
      if (error instanceof SlowDown) {
        res.setHeader('Retry-After', String(error.retryAfter));
        res.setHeader('Connection', 'close');
        res.status(429).json({ decision: 'invalid', error: error.error, error_description: error.error_description });
        return;
      }
      if (!(error instanceof InvalidClient)) throw error;
      res.status(401).json({ decision: 'invalid', error: 'invalid_client', error_description: 'gateway authentication failed' });
      return;
    }
    let call;
    try {
      call = originalCall(req.method, req.path, req.headers, new URL(this.config.issuer).protocol.replace(':', ''));
    } catch (error) {
      if (!(error instanceof GatewayRequestError)) throw error;
      res.status(400).json({ decision: 'invalid', error: 'invalid_request', error_description: error.message });
      return;
    }
    const result = await this.assessment.assess({
      kind: 'check',
      method: call.method,
      url: call.url,
      target: call.target,
      ip: call.ip,
      authorization: req.headers.authorization,
      proof: req.headers.dpop,
    });
    for (const [name, value] of Object.entries(result.headers)) res.setHeader(name, value);
    res.status(result.status).json(assessmentBody(result));
  }
}
