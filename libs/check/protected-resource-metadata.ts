import type { IncomingHttpHeaders } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { ResourceCatalog } from '#clients';
import { CONFIG, type TollgateConfig } from '#config';
import type { OAuthAnswer } from '#credentials';
import { CLIENT_SIGNING_ALGS, ROUTES } from '#protocol';

/** What the metadata endpoint reads of a request: no framework, so any listener can serve it. */
export interface MetadataRequest {
  method: string;
  /** The path of the request as it reached Tollgate (without the query). */
  path: string;
  headers: IncomingHttpHeaders;
}

const WELL_KNOWN = ROUTES.protectedResourceMetadata;
const HTTP_SCHEME = /^https?$/;
/** A host and optional port (RFC 3986 §3.2.2, IPv6 in brackets): nothing that would move the path or the user info. */
const HOST = /^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;
/** Clients and proxies may keep the document a minute; a client change reaches them after that. */
const CACHE = 'public, max-age=60';

export function isProtectedResourceMetadataPath(path: string): boolean {
  return path === WELL_KNOWN || path.startsWith(`${WELL_KNOWN}/`);
}

class Refusal extends Error {}

function single(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (Array.isArray(value)) throw new Refusal(`${name} must be sent once`);
  return value === undefined || value === '' ? undefined : value;
}

/**
 * RFC 9728 protected-resource metadata, for the APIs behind Tollgate's gateways. The metadata of
 * a resource lives at its own origin (§3.1: `https://api.example/.well-known/oauth-protected-resource/path`);
 * the gateway routes that path to Tollgate, which reads the API's origin from the forwarded
 * headers /check accepts (`X-Original-URL`; `X-Forwarded-Host`/`-Proto`/`-Uri`; else `Host`) and
 * answers for a resource some active workload may ask tokens for (RFC 8707 `allowed_resources`).
 * Any other resource is a 404: Tollgate does not speak for APIs it does not protect.
 */
@Injectable()
export class ProtectedResourceMetadata {
  private readonly scheme: string;

  constructor(
    @Inject(CONFIG) private readonly config: TollgateConfig,
    private readonly catalog: ResourceCatalog,
  ) {
    this.scheme = new URL(config.issuer).protocol.replace(':', '');
  }

  async answer(req: MetadataRequest): Promise<OAuthAnswer> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return { status: 405, headers: { Allow: 'GET, HEAD', 'Cache-Control': 'no-store' }, body: { error: 'invalid_request', error_description: 'use GET' } };
    }
    let identifiers: string[];
    try {
      identifiers = this.candidates(req);
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      return { status: 400, headers: { 'Cache-Control': 'no-store' }, body: { error: 'invalid_request', error_description: error.message } };
    }
    await this.catalog.current();
    const found = identifiers.map((id) => this.catalog.find(id)).find((r) => r !== undefined);
    if (!found) {
      return {
        status: 404,
        headers: { 'Cache-Control': 'no-store' },
        body: { error: 'not_found', error_description: `no protected resource ${identifiers[0]} is registered with this authorization server` },
      };
    }
    // RFC 9728 §2 metadata; §3.2 the response is a JSON object, and §3.3 `resource` is the identifier the client derived the URL from.
    return {
      status: 200,
      headers: { 'Cache-Control': CACHE },
      body: {
        resource: found.resource,
        authorization_servers: [this.config.issuer],
        ...(found.scopes.length ? { scopes_supported: found.scopes } : {}),
        // RFC 6750 §2.1: the token goes in the Authorization header only (never a form body or query).
        bearer_methods_supported: ['header'],
        dpop_signing_alg_values_supported: [...CLIENT_SIGNING_ALGS],
        dpop_bound_access_tokens_required: found.dpopBoundOnly,
      },
    };
  }

  /**
   * The resource identifiers the requested metadata URL may stand for (§3.1 removed a
   * terminating slash, so both spellings are looked up), from the original URL the gateway names.
   */
  private candidates(req: MetadataRequest): string[] {
    const headers = req.headers;
    const originalUrl = single(headers, 'x-original-url');
    let url: URL | null;
    if (originalUrl) {
      url = URL.parse(originalUrl);
      if (!url || !/^https?:$/.test(url.protocol)) throw new Refusal('X-Original-URL must be an absolute http(s) URL');
    } else {
      const host = single(headers, 'x-forwarded-host') ?? single(headers, 'host');
      if (!host) throw new Refusal('the original host is unknown (X-Forwarded-Host or Host)');
      const proto = (single(headers, 'x-forwarded-proto') ?? this.scheme).toLowerCase();
      if (!HTTP_SCHEME.test(proto)) throw new Refusal('X-Forwarded-Proto must be http or https');
      const path = single(headers, 'x-forwarded-uri') ?? req.path;
      if (!path.startsWith('/')) throw new Refusal('X-Forwarded-Uri must be a path');
      if (!HOST.test(host)) throw new Refusal('the original host is not a host name');
      url = URL.parse(`${proto}://${host}${path}`);
      if (!url) throw new Refusal('the original URL is not a URL');
    }
    if (!isProtectedResourceMetadataPath(url.pathname)) throw new Refusal(`the original path is not under ${WELL_KNOWN}`);
    const path = url.pathname.slice(WELL_KNOWN.length);
    const base = `${url.origin}${path}`;
    return path === '' ? [`${url.origin}/`, url.origin] : [base, `${base}/`];
  }
}
