import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { INestApplication, LoggerService } from '@nestjs/common';
import { AuthzenEndpoint, CheckEndpoint, isProtectedResourceMetadataPath, ProtectedResourceMetadata } from '#check';
import { CONFIG, type TollgateConfig } from '#config';
import { callerAddress, errorAnswer, type OAuthAnswer, OAuthError, unavailableAnswer, unexpectedAnswer } from '#credentials';
import { isJson, mediaType, requestBodies } from '#inbound';
import { IntrospectionEndpoint, TOKEN_ERROR } from '#oauth';
import { assignRequestId, httpMetrics, identifyRequest, Metrics, REQUEST_ID_HEADER, type Tracing } from '#operations';
import { isDependencyUnavailable } from '#persistence';
import { DECISION_ID_HEADER, isCheckPath, ROUTES } from '#protocol';

/**
 * The data plane: the check endpoint and introspection, served on Node's own HTTP server in
 * front of Nest, on the main port and at the same URLs, so every gateway configuration keeps
 * working. Each request takes one straight line — its endpoint's framework-free handler
 * (CheckEndpoint, IntrospectionEndpoint) and the one renderer — instead of Express's router,
 * Nest's pipes, guards and filters. Everything else goes to Nest as before.
 */
export function withDataPlane(app: INestApplication, nest: RequestListener, logger: LoggerService | false, tracing?: Tracing): RequestListener {
  const config = app.get<TollgateConfig>(CONFIG);
  const check = app.get(CheckEndpoint);
  const introspection = app.get(IntrospectionEndpoint);
  const authzen = app.get(AuthzenEndpoint);
  const resourceMetadata = app.get(ProtectedResourceMetadata);
  const timed = httpMetrics(app.get(Metrics));
  const forms = requestBodies();
  /** `headerId`: the request id when the response does not carry it yet (the check path). */
  const fail = (res: ServerResponse, error: unknown, usedBasic = false, requestId?: string, headerId?: string) => {
    if (error instanceof OAuthError) return write(res, errorAnswer(error, { usedBasic }), false, headerId);
    if (isDependencyUnavailable(error)) return write(res, unavailableAnswer(), false, headerId);
    if (logger) logger.error({ message: 'unhandled error', error: (error as Error)?.name, detail: (error as Error)?.message, request_id: requestId }, 'data-plane');
    write(res, unexpectedAnswer(), false, headerId);
  };

  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const checking = isCheckPath(path);
    // Every answer, whoever writes it, carries the request's id (docs/operations.md "Request ids"):
    // set on the response here, except on the check path, whose one writer puts it in its head.
    const requestId = checking ? identifyRequest(req) : assignRequestId(req, res);
    // OpenTelemetry (off unless TOLLGATE_OTLP_TRACES_ENDPOINT is set): a span per token or check request.
    if (tracing) tracing.request(req, res, requestId, () => ({ error: (res as ServerResponse & { [TOKEN_ERROR]?: string })[TOKEN_ERROR], decision: (res as Answered)[DECISION_ID] }));
    if (checking) {
      timed(req as never, res as never, () => undefined);
      // What a gateway forwards of the protected call's body is not ours to read (docs/gateways.md).
      req.resume();
      check.answer({ method: req.method ?? 'GET', path, headers: req.headers, ip: callerAddress(req, config.trustProxy), requestId }).then(
        (answer) => write(res, answer, false, requestId),
        (error: unknown) => fail(res, error, false, requestId, requestId),
      );
      return;
    }
    // AuthZEN 1.0: the same call assessment as /check, asked in JSON by a policy enforcement point.
    if ((path === ROUTES.accessEvaluation || path === ROUTES.accessEvaluations) && req.method === 'POST') {
      timed(req as never, res as never, () => undefined);
      forms(req as IncomingMessage & { body?: unknown }, res, () => {
        // Only a JSON body is an AuthZEN request (a form, parsed too, is not): none is a 415.
        const body = isJson(mediaType(req.headers['content-type'])?.essence ?? '') ? ((req as { body?: unknown }).body ?? {}) : undefined;
        authzen.answer({ path, headers: req.headers, body, ip: callerAddress(req, config.trustProxy), requestId }).then(
          (answer) => write(res, answer),
          (error: unknown) => fail(res, error, true, requestId),
        );
      });
      return;
    }
    if (path === ROUTES.authzenMetadata && (req.method === 'GET' || req.method === 'HEAD')) {
      write(res, authzen.metadata(), req.method === 'HEAD');
      return;
    }
    // RFC 9728: a protected API's metadata, routed here by its gateway.
    if (isProtectedResourceMetadataPath(path)) {
      req.resume();
      resourceMetadata.answer({ method: req.method ?? 'GET', path, headers: req.headers }).then(
        (answer) => write(res, answer, req.method === 'HEAD'),
        (error: unknown) => fail(res, error, false, requestId),
      );
      return;
    }
    if (path === ROUTES.introspection && req.method === 'POST') {
      timed(req as never, res as never, () => undefined);
      const authorization = req.headers.authorization;
      forms(req as IncomingMessage & { body?: unknown }, res, () => {
        const form = ((req as { body?: unknown }).body ?? {}) as Record<string, unknown>;
        introspection.answer({ form, authorization, accept: req.headers.accept, ip: callerAddress(req, config.trustProxy), requestId }).then(
          (answer) => write(res, answer),
          (error: unknown) => fail(res, error, /^basic /i.test(authorization ?? ''), requestId),
        );
      });
      return;
    }
    nest(req, res);
  };
}

/** The decision id of the answer written, for the trace span (writeHead's headers are not readable back). */
const DECISION_ID = Symbol('tollgate.decisionId');
type Answered = ServerResponse & { [DECISION_ID]?: string };

/** Writes one of the renderer's answers with Node's own response API (with `requestId`, its header too). */
function write(res: ServerResponse, answer: OAuthAnswer, headOnly = false, requestId?: string): void {
  if (res.headersSent) return;
  (res as Answered)[DECISION_ID] = answer.headers[DECISION_ID_HEADER];
  const text = answer.raw ?? JSON.stringify(answer.body);
  res.writeHead(answer.status, {
    'Content-Type': 'application/json; charset=utf-8',
    ...answer.headers,
    ...(requestId !== undefined ? { [REQUEST_ID_HEADER]: requestId } : {}),
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(headOnly ? undefined : text);
}
