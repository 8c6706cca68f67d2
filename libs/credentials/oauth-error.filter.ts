import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { requestIdOf } from '#operations';
import { isDependencyUnavailable } from '#persistence';
import { errorAnswer, type OAuthAnswer, unavailableAnswer, unexpectedAnswer } from './oauth-answer.js';
import { OAuthError } from './oauth-error.js';

/**
 * Nest's side of the one renderer (oauth-answer.ts): OAuth errors as RFC 6749 §5.2 answers,
 * Nest's HTTP exceptions as JSON bodies, dependency outages as 503 with Retry-After, anything
 * unexpected as a bare 500 without a stack trace.
 */
@Catch()
export class OAuthErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('errors');

  catch(exception: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (res.headersSent) return;
    if (exception instanceof OAuthError) {
      const usedBasic = /^basic /i.test(String(host.switchToHttp().getRequest<Request>().headers?.authorization ?? ''));
      return send(res, errorAnswer(exception, { usedBasic }));
    }
    if (exception instanceof HttpException) {
      const body = exception.getResponse();
      const status = exception.getStatus();
      const own = typeof body === 'object' && 'error_description' in (body as object);
      return send(res, {
        status,
        headers: { 'Cache-Control': 'no-store' },
        body: own
          ? (body as Record<string, unknown>)
          : {
              error: status === 404 ? 'not_found' : status >= 500 ? 'server_error' : 'invalid_request',
              error_description: typeof body === 'string' ? body : (body as { message?: unknown }).message ?? exception.message,
            },
      });
    }
    if (isDependencyUnavailable(exception)) return send(res, unavailableAnswer());
    this.logger.error({ message: 'unhandled error', error: (exception as Error)?.name, detail: (exception as Error)?.message, request_id: requestIdOf(host.switchToHttp().getRequest()) });
    send(res, unexpectedAnswer());
  }
}

/** Writes an answer with Express. */
export function send(res: Response, answer: OAuthAnswer): void {
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  if (answer.raw !== undefined) res.status(answer.status).send(answer.raw);
  else res.status(answer.status).json(answer.body);
}
