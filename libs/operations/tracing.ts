import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Span } from '@opentelemetry/api';
import { DECISION_ID_HEADER, type Endpoint, endpointOf, ROUTES } from '#protocol';
import { BUILD } from './metrics.js';

/** What a traced request says about itself when its answer is sent (filled by whoever knows it). */
export interface TraceNotes {
  /** The token endpoint's OAuth error code, when it refused. */
  error?: string;
  /**
   * The decision id of the answer, when its writer put it in writeHead's own headers (the check
   * path does: Node keeps those out of getHeader()); otherwise read from the response.
   */
  decision?: string;
}

/**
 * OpenTelemetry traces of the token and check paths (and introspection and AuthZEN, which are
 * check paths too): one server span per request, from arrival to the last byte of the answer,
 * parented to the caller's W3C `traceparent` when it sends one. Off unless
 * TOLLGATE_OTLP_TRACES_ENDPOINT is set; then the SDK is loaded (dynamic import) and spans are
 * batched to the collector over OTLP/HTTP. Off costs one `undefined` check per request: the
 * OpenTelemetry modules are never imported.
 */
export interface Tracing {
  /** Starts the span of a request on a traced path (no-op for the others). */
  request(req: IncomingMessage, res: ServerResponse, requestId: string, notes?: () => TraceNotes): void;
  /** Sends what is buffered and stops (on shutdown). */
  shutdown(): Promise<void>;
}

const TRACED: ReadonlySet<Endpoint> = new Set(['token', 'check', 'introspection', 'authzen']);
/** Span names are route templates, never raw paths (bounded, and no client data in names). */
const ROUTE_OF: Record<string, string> = { token: ROUTES.token, check: ROUTES.check, introspection: ROUTES.introspection };

export async function startTracing(endpoint: string | undefined): Promise<Tracing | undefined> {
  if (!endpoint) return undefined;
  const [api, sdk, otlp, resources, core] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/core'),
  ]);
  const provider = new sdk.TracerProvider({
    resource: resources.resourceFromAttributes({ 'service.name': 'tollgate', 'service.version': BUILD.version }),
    spanProcessors: [new sdk.BatchSpanProcessor({ exporter: new otlp.OTLPTraceExporter({ url: endpoint }) })],
  });
  const tracer = provider.getTracer('tollgate', BUILD.version);
  const propagator = new core.W3CTraceContextPropagator();
  return {
    request(req, res, requestId, notes) {
      const url = req.url ?? '/';
      const endpoint = endpointOf(url);
      if (!TRACED.has(endpoint)) return;
      const method = req.method ?? 'GET';
      const route = ROUTE_OF[endpoint] ?? url.split('?', 1)[0]!;
      const parent = propagator.extract(api.ROOT_CONTEXT, req.headers, api.defaultTextMapGetter);
      const span: Span = tracer.startSpan(
        `${method} ${route}`,
        { kind: api.SpanKind.SERVER, attributes: { 'http.request.method': method, 'http.route': route, 'tollgate.request_id': requestId } },
        parent,
      );
      let ended = false;
      const end = (status: number | undefined) => {
        if (ended) return;
        ended = true;
        if (status === undefined) {
          span.setStatus({ code: api.SpanStatusCode.ERROR, message: 'client went away' });
        } else {
          span.setAttribute('http.response.status_code', status);
          if (status >= 500) span.setStatus({ code: api.SpanStatusCode.ERROR });
        }
        const noted = notes?.();
        const decision = noted?.decision ?? res.getHeader(DECISION_ID_HEADER);
        if (typeof decision === 'string') span.setAttribute('tollgate.decision_id', decision);
        const error = noted?.error;
        if (error) span.setAttribute('tollgate.oauth_error', error);
        span.end();
      };
      res.once('finish', () => end(res.statusCode));
      res.once('close', () => end(res.writableFinished ? res.statusCode : undefined));
    },
    shutdown: () => provider.shutdown(),
  };
}
