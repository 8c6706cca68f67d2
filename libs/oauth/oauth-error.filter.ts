import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { isDependencyUnavailable } from '#persistence';
import { OAuthError, SlowDown, toOAuthBody, UseDpopNonce } from './oauth-error.js';
import { CLIENT_SIGNING_ALGS } from './provider.js';

/**
 * Renders every error once (style: oidc-provider's error classes): OAuth errors as RFC 6749 §5.2
 * bodies with `WWW-Authenticate` on 401 (RFC 6750 §3, RFC 9449 §7.1), dependency outages as 503
 * with Retry-After, anything unexpected as a bare 500 without a stack trace.
 */
@Catch()
export class OAuthErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (res.headersSent) return;
    res.setHeader('Cache-Control', 'no-store');
    if (exception instanceof OAuthError) {
      if (exception instanceof UseDpopNonce && exception.nonce) res.setHeader('DPoP-Nonce', exception.nonce);
      if (exception.retryAfter !== undefined) res.setHeader('Retry-After', String(exception.retryAfter));
      // A source over its failure budget reconnects for its next try (docs/risk.md).
      if (exception instanceof SlowDown) res.setHeader('Connection', 'close');
      // RFC 6749 §5.2: a client that authenticated with an HTTP scheme (gateways: Basic) gets that
      // scheme's challenge; one that authenticated in the form (private_key_jwt) gets none.
      const usedBasic = /^basic /i.test(String(host.switchToHttp().getRequest<Request>().headers?.authorization ?? ''));
      if (exception.status === 401 && (exception.error !== 'invalid_client' || usedBasic)) {
        const scheme = exception.error === 'invalid_client' ? 'Basic realm="tollgate"' : `DPoP algs="${CLIENT_SIGNING_ALGS.join(' ')}"`;
        res.setHeader('WWW-Authenticate', `${scheme}, error="${exception.error}", error_description="${exception.error_description.replace(/"/g, "'")}"`);
      }
      res.status(exception.status).json(toOAuthBody(exception));
      return;
    }
    if (exception instanceof HttpException) {
      const body = exception.getResponse();
      const status = exception.getStatus();
      const own = typeof body === 'object' && 'error_description' in (body as object);
      res.status(status).json(own ? body : {
        error: status === 404 ? 'not_found' : status >= 500 ? 'server_error' : 'invalid_request',
        error_description: typeof body === 'string' ? body : (body as { message?: unknown }).message ?? exception.message,
      });
      return;
    }
    if (isDependencyUnavailable(exception)) {
      res.setHeader('Retry-After', '5');
      res.status(503).json({ error: 'temporarily_unavailable', error_description: 'a dependency is unavailable; retry later' });
      return;
    }
    this.logger.error({ message: 'unhandled error', error: (exception as Error)?.name, detail: (exception as Error)?.message });
    res.status(500).json({ error: 'server_error', error_description: 'unexpected error' });
  }
}
