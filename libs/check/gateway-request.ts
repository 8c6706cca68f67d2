/**
 * What the gateway tells us about the call it is guarding, per gateway family, as their stock
 * configurations send it (docs/gateways.md):
 * - NGINX auth_request: a bodyless GET with `X-Original-URL` (full URL) or `X-Original-Method` +
 *   `X-Original-URI` (path and query, host from `Host`/`X-Forwarded-Host`);
 * - Traefik ForwardAuth / Caddy forward_auth: `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri`;
 * - Envoy ext_authz (HTTP): the original method, `/check/<original path>` and the original `Host`.
 * A request carrying both the X-Original-* and the X-Forwarded-Method/Uri families is refused
 * when they disagree: a stock config sets only one, so the client may have supplied the other.
 */
export interface OriginalCall {
  family: 'nginx' | 'forward_auth' | 'envoy' | 'envoy_grpc';
  method: string;
  /** Absolute URL as the client called it, parsed once (the DPoP htu is checked against it). */
  url: URL;
  /** Raw path and query as received (for route matching after normalisation). */
  target: string;
  /** The caller's address as the gateway saw it. */
  ip?: string;
}

export type Headers = Record<string, string | string[] | undefined>;

export class GatewayRequestError extends Error {}

const METHOD = /^[A-Z]{1,16}$/;
const HTTP_SCHEME = /^https?:$/;

function single(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  if (Array.isArray(value)) throw new GatewayRequestError(`${name} must be sent once`);
  return value === undefined || value === '' ? undefined : value;
}

function absolute(url: string, what: string): URL {
  const parsed = URL.parse(url);
  if (!parsed || !HTTP_SCHEME.test(parsed.protocol)) throw new GatewayRequestError(`${what} must be an absolute http(s) URL`);
  return parsed;
}

function targetOf(url: URL): string {
  return `${url.pathname}${url.search}`;
}

/**
 * @param method the method of the request to /check itself
 * @param path   the path of the request to /check itself (Envoy puts the original path after /check)
 */
export function originalCall(method: string, path: string, headers: Headers, scheme: string): OriginalCall {
  const ip = clientIp(headers);
  const originalUrl = single(headers, 'x-original-url');
  const originalMethod = single(headers, 'x-original-method');
  const originalUri = single(headers, 'x-original-uri');
  const fwdMethod = single(headers, 'x-forwarded-method');
  const fwdUri = single(headers, 'x-forwarded-uri');
  const fwdHost = single(headers, 'x-forwarded-host');
  const fwdProto = single(headers, 'x-forwarded-proto');
  const host = single(headers, 'host');

  let nginx: OriginalCall | undefined;
  if (originalUrl || originalMethod || originalUri) {
    const m = (originalMethod ?? '').toUpperCase();
    if (!METHOD.test(m)) throw new GatewayRequestError('X-Original-Method is required');
    let url: URL;
    if (originalUrl) {
      url = absolute(originalUrl, 'X-Original-URL');
      if (originalUri && originalUri !== targetOf(url)) throw new GatewayRequestError('X-Original-URI disagrees with X-Original-URL');
    } else {
      if (!originalUri?.startsWith('/')) throw new GatewayRequestError('X-Original-URI must be a path');
      const h = fwdHost ?? host;
      if (!h) throw new GatewayRequestError('the original host is unknown');
      url = absolute(`${fwdProto ?? scheme}://${h}${originalUri}`, 'the original URL');
    }
    nginx = { family: 'nginx', method: m, url, target: originalUrl ? rawTarget(originalUrl) : originalUri!, ip };
  }

  let forwardAuth: OriginalCall | undefined;
  if (fwdMethod || fwdUri) {
    const m = (fwdMethod ?? '').toUpperCase();
    if (!METHOD.test(m)) throw new GatewayRequestError('X-Forwarded-Method is required');
    if (!fwdUri?.startsWith('/')) throw new GatewayRequestError('X-Forwarded-Uri must be a path');
    if (!fwdHost) throw new GatewayRequestError('X-Forwarded-Host is required');
    const url = absolute(`${fwdProto ?? scheme}://${fwdHost}${fwdUri}`, 'the forwarded URL');
    forwardAuth = { family: 'forward_auth', method: m, url, target: fwdUri, ip };
  }

  if (nginx && forwardAuth) {
    if (nginx.method !== forwardAuth.method || nginx.url.href !== forwardAuth.url.href) {
      throw new GatewayRequestError('X-Original-* and X-Forwarded-* describe different calls');
    }
    return nginx;
  }
  if (nginx) return nginx;
  if (forwardAuth) return forwardAuth;

  // Envoy ext_authz HTTP service: path_prefix "/check" + original path, original method and Host.
  if (path.startsWith('/check/')) {
    if (!host) throw new GatewayRequestError('Host is required');
    const target = path.slice('/check'.length);
    const url = absolute(`${fwdProto ?? scheme}://${host}${target}`, 'the original URL');
    return { family: 'envoy', method: method.toUpperCase(), url, target, ip };
  }
  throw new GatewayRequestError('the original request is not described (X-Original-*, X-Forwarded-* or /check/<path>)');
}

/**
 * Envoy ext_authz over gRPC: `attributes.request.http` carries the call in parts (method, scheme,
 * host, and `path` as the request target, query included) and `attributes.source` the caller's
 * address. No headers to choose between, so nothing a client can smuggle in beside them.
 */
export function describedCall(parts: { method: string; scheme?: string; host?: string; path?: string; ip?: string }, scheme: string): OriginalCall {
  const method = parts.method.toUpperCase();
  if (!METHOD.test(method)) throw new GatewayRequestError('attributes.request.http.method is required');
  if (!parts.host) throw new GatewayRequestError('attributes.request.http.host is required');
  const target = parts.path ?? '';
  if (!target.startsWith('/')) throw new GatewayRequestError('attributes.request.http.path must be a path');
  const url = absolute(`${parts.scheme || scheme}://${parts.host}${target}`, 'the original URL');
  return { family: 'envoy_grpc', method, url, target, ip: parts.ip || undefined };
}

/** The path and query exactly as sent inside a full URL (URL parsing would resolve dot segments). */
export function rawTarget(url: string): string {
  const afterScheme = url.indexOf('//');
  const slash = url.indexOf('/', afterScheme + 2);
  return slash === -1 ? '/' : url.slice(slash).split('#')[0]!;
}

/**
 * The caller's address: `X-Real-IP` when the gateway sets it, else the LAST entry of
 * `X-Forwarded-For` (the one the gateway appended; earlier entries came from the client).
 */
export function clientIp(headers: Headers): string | undefined {
  const real = headers['x-real-ip'];
  if (typeof real === 'string' && real.trim()) return real.trim();
  const forwarded = headers['x-forwarded-for'];
  const list = (Array.isArray(forwarded) ? forwarded.join(',') : forwarded ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return list.at(-1);
}
