import type { NextFunction, Request, Response } from 'express';
import { buildProvider, OAUTH_ROUTES, type ProviderDeps } from './provider.js';

const PROVIDER_PATHS = new Set(['/.well-known/openid-configuration', OAUTH_ROUTES.token, OAUTH_ROUTES.jwks]);

/**
 * Holds the running oidc-provider and rebuilds it when the signing keys change (oidc-provider
 * reads its keystore once, at construction). Requests in flight finish on the old instance.
 */
export class ProviderHost {
  private handler!: (req: unknown, res: unknown) => void;

  constructor(private readonly deps: ProviderDeps) {
    this.rebuild();
  }

  rebuild(): void {
    this.handler = buildProvider(this.deps).callback();
  }

  /** Express middleware: the provider's paths go to oidc-provider, the rest to Nest. */
  middleware() {
    return (req: Request, res: Response, next: NextFunction) => {
      const path = req.path;
      if (path === '/.well-known/oauth-authorization-server') {
        // RFC 8414 §3: same document as OpenID discovery for an issuer without a path.
        req.url = req.url.replace('/.well-known/oauth-authorization-server', '/.well-known/openid-configuration');
        return this.handler(req, res);
      }
      if (PROVIDER_PATHS.has(path)) return this.handler(req, res);
      next();
    };
  }
}
