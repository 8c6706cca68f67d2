import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** The response header (and request header) carrying the request id (AuthZEN 1.0 HTTPS binding, "Request Identification", uses the same name). */
export const REQUEST_ID_HEADER = 'X-Request-Id';

/**
 * What a caller may choose as its request id: up to 128 visible characters from a safe set (UUIDs,
 * W3C trace ids, ULIDs, `host-1234.5`). Anything else — too long, spaces, quotes, control
 * characters — is replaced by a fresh id, so the value is safe in a header, a log line and a
 * database column alike.
 */
const ACCEPTABLE = /^[A-Za-z0-9._:@\/+=-]{1,128}$/;

const ID = Symbol('tollgate.requestId');

type Carrier = IncomingMessage & { [ID]?: string };

/** The id a request arrived with (when acceptable), or a fresh one. Pure apart from the random fallback. */
export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && ACCEPTABLE.test(header) ? header : randomUUID();
}

/**
 * Gives the request its id once, at the first listener, and sets it on the response before any
 * handler writes (writeHead merges headers set earlier), so every answer carries it — those of
 * oidc-provider, Nest and the data plane alike. Returns the id.
 */
export function assignRequestId(req: IncomingMessage, res: ServerResponse): string {
  const known = (req as Carrier)[ID];
  if (known !== undefined) return known;
  const id = identifyRequest(req);
  res.setHeader(REQUEST_ID_HEADER, id);
  return id;
}

/**
 * Gives the request its id without touching the response: for a handler that writes its whole
 * head in one writeHead and puts the id there itself (a header set beforehand sends Node's
 * writeHead down its slower merging path, which the data plane's hottest answer does not need).
 */
export function identifyRequest(req: IncomingMessage): string {
  const carrier = req as Carrier;
  return (carrier[ID] ??= requestIdFrom(req.headers['x-request-id']));
}

/**
 * The id of a request being handled: passed explicitly, read from the request object (Express's
 * and Koa's `req` are the same IncomingMessage), rather than through AsyncLocalStorage, whose
 * promise hooks cost on every await of the hot path (Node 20).
 */
export function requestIdOf(req: unknown): string | undefined {
  return (req as Carrier | undefined)?.[ID];
}
