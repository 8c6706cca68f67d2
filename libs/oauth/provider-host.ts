import { parse as parseForm, stringify as stringifyForm } from 'node:querystring';
import type { NextFunction, Request, Response } from 'express';
import type { ClientRecord } from '#clients';
import { BodyTooLarge, readBody } from '#inbound';
import { isDependencyUnavailable } from '#persistence';
import { assertionShape, callerAddress, errorAnswer, InvalidClient, NOT_VERIFIED, publicRefusal, send, SlowDown, unavailableAnswer, unexpectedAnswer, type OAuthAnswer } from '#credentials';
import { IssuerKeysUnavailable, PlatformTokenRefused, PlatformTokens } from '#federation';
import { CLIENT_SIGNING_ALGS, JWT_BEARER_ASSERTION_TYPE, MAX_ASSERTION_LIFETIME, ROUTES } from '#protocol';
import { requestIdOf } from '#operations';
import { buildProvider, type ProviderDeps, TOKEN_ERROR, type TokenRequestSource } from './provider.js';

const PROVIDER_PATHS = new Set<string>([ROUTES.discovery, ROUTES.token, ROUTES.jwks]);
/** oidc-provider's own limit for form bodies (lib/shared/selective_body.js). */
const TOKEN_REQUEST_MAX_BYTES = 56 * 1024;

/** One form parameter, when given exactly once. */
const single = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/**
 * Holds the running oidc-provider and rebuilds it when the signing keys change (oidc-provider
 * reads its keystore once, at construction). Requests in flight finish on the old instance.
 *
 * Token requests are screened here before oidc-provider sees them (docs/risk.md): the source's
 * failure budget, the client assertion's structure, the client and its keys. What is refused
 * here costs no signature work and no key fetch, and is recorded as a failed authentication;
 * oidc-provider then verifies the signature and the replay, and issues the token.
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
      if (path === ROUTES.metadata) {
        // RFC 8414 §3: same document as OpenID discovery for an issuer without a path.
        req.url = req.url.replace(ROUTES.metadata, ROUTES.discovery);
        return this.handler(req, res);
      }
      if (!PROVIDER_PATHS.has(path)) return next();
      if (path === ROUTES.token && req.method === 'POST' && this.deps.tokenAnswered) {
        const counted = res as Response & { [TOKEN_ERROR]?: string };
        res.once('finish', () => this.deps.tokenAnswered!(res.statusCode, counted[TOKEN_ERROR]));
      }
      if (path !== ROUTES.token || req.method !== 'POST' || !this.deps.failures) return this.handler(req, res);
      const refuse = (answer: OAuthAnswer) => {
        (res as Response & { [TOKEN_ERROR]?: unknown })[TOKEN_ERROR] = answer.body.error;
        send(res, answer);
      };
      this.screen(req, res).then(
        (refusal) => (refusal ? refuse(refusal) : this.handler(req, res)),
        (error: unknown) => {
          // As the token endpoint answers a dependency outage (provider.ts): 503, retry later; never a 500 with details.
          if (isDependencyUnavailable(error)) return refuse(unavailableAnswer(1));
          this.deps.logger?.error({ message: 'token request screening failed', error: (error as Error)?.name, detail: (error as Error)?.message, request_id: requestIdOf(req) });
          refuse(unexpectedAnswer());
        },
      );
    };
  }

  /** The screening of a token request; resolves to the refusal to send, or undefined to hand it on. */
  private async screen(req: Request, res: Response): Promise<OAuthAnswer | undefined> {
    const { config, failures } = this.deps;
    const ip = callerAddress(req, config.trustProxy);
    try {
      await failures!.refuseIfSpent('token', ip);
    } catch (error) {
      if (error instanceof SlowDown) return errorAnswer(error);
      throw error;
    }
    let body: Buffer;
    try {
      body = await readBody(req, TOKEN_REQUEST_MAX_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLarge) {
        return {
          status: 413,
          headers: { 'Cache-Control': 'no-store', Connection: 'close' },
          body: { error: 'invalid_request', error_description: `the request body is larger than ${TOKEN_REQUEST_MAX_BYTES} bytes` },
        };
      }
      throw error;
    }
    // oidc-provider reads a body read before it from req.body (lib/shared/selective_body.js),
    // parsing it exactly as it would have; it prints one warning about it per process.
    (req as unknown as { body: Buffer }).body = body;
    if (!req.is('application/x-www-form-urlencoded')) return undefined;
    const form = parseForm(body.toString('utf8'));
    const assertion = single(form.client_assertion);
    // No assertion, or a repeated parameter: oidc-provider answers that (invalid_client / invalid_request).
    if (assertion === undefined || (form.client_id !== undefined && single(form.client_id) === undefined)) return undefined;
    const assertionType = single(form.client_assertion_type);
    if (this.deps.federation && PlatformTokens.isFederated(assertionType, assertion, single(form.client_id))) {
      return this.screenFederated(req, res, form, assertion, assertionType!, ip);
    }
    const subject = unverifiedSubject(assertion);
    // RFC 6749 §2.3: client_id and the assertion name two clients: oidc-provider answers invalid_request.
    if (form.client_id !== undefined && subject !== undefined && form.client_id !== subject) return undefined;
    const clientId = single(form.client_id) ?? subject;
    const source = await this.takeTurn(req, res, ip, clientId);
    if ('status' in source) return source;
    try {
      await this.deps.replay.current();
      const issuer = config.issuer;
      const { header } = assertionShape(assertion, single(form.client_assertion_type), {
        clientId: clientId ?? '',
        audiences: [issuer, `${issuer}${ROUTES.token}`],
        algorithms: CLIENT_SIGNING_ALGS,
        clockSkewSeconds: config.clockSkew,
        maxLifetimeSeconds: MAX_ASSERTION_LIFETIME,
        notBefore: this.deps.replay.notBefore(),
      });
      const client = await this.deps.lookupClient(clientId!);
      if (!client || client.status !== 'active' || !client.roles.includes('workload')) throw new InvalidClient(NOT_VERIFIED, 'unknown_client');
      if (client.tokenEndpointAuthMethod !== 'private_key_jwt') throw new InvalidClient(NOT_VERIFIED, 'auth_method');
      source.client = client;
      // Fetched keys are ready (and refreshed for a kid they lack) before oidc-provider asks the adapter for them.
      await this.deps.keysFor?.(client as ClientRecord, { kid: typeof header.kid === 'string' ? header.kid : undefined });
      return undefined;
    } catch (error) {
      if (!(error instanceof InvalidClient)) throw error;
      await failures!.unauthenticated({ endpoint: 'token', method: 'POST', path: ROUTES.token, ip, clientId, reason: error.reason, requestId: requestIdOf(req) });
      return errorAnswer(publicRefusal(error));
    }
  }

  /**
   * Records who the token request says it is (read again by provider.ts to charge a failure) and
   * waits for its turn in the failure budget, which lasts until its answer is sent: oidc-provider
   * judges the signature and the replay, and a failure it finds is charged before the answer
   * leaves. Past the budget, the 429 to send instead.
   */
  private async takeTurn(req: Request, res: Response, ip: string | undefined, clientId: string | undefined): Promise<TokenRequestSource | OAuthAnswer> {
    const source: TokenRequestSource = { ip, clientId };
    (req as unknown as { tollgate: TokenRequestSource }).tollgate = source;
    try {
      res.once('close', await this.deps.failures!.admit('token', ip, clientId));
    } catch (error) {
      if (error instanceof SlowDown) return errorAnswer(error);
      throw error;
    }
    return source;
  }

  /**
   * A token request whose client assertion is a platform token (docs/federation.md): RFC 7523
   * `jwt-bearer` with another issuer than the client, or `jwt-spiffe`, with `client_id` alongside.
   * The token is verified here against the client's federated identities; then the request's
   * assertion is replaced by a hand-over assertion of the client (FederatedAssertions), and
   * oidc-provider authenticates the client with it and issues the token as for any workload.
   */
  private async screenFederated(
    req: Request,
    res: Response,
    form: Record<string, unknown>,
    assertion: string,
    assertionType: string,
    ip: string | undefined,
  ): Promise<OAuthAnswer | undefined> {
    const { config, failures, federation } = this.deps;
    const clientId = single(form.client_id);
    const source = await this.takeTurn(req, res, ip, clientId);
    if ('status' in source) return source;
    try {
      // draft-ietf-oauth-spiffe-client-auth §4.1: the platform token does not name the client; client_id does.
      if (clientId === undefined) throw new InvalidClient('client_id is required with a platform token', 'assertion_issuer');
      await this.deps.replay.current();
      const client = await this.deps.lookupClient(clientId);
      if (!client || client.status !== 'active' || !client.roles.includes('workload') || client.federatedIdentities.length === 0) {
        throw new InvalidClient(NOT_VERIFIED, 'unknown_client');
      }
      if (client.tokenEndpointAuthMethod !== 'private_key_jwt') throw new InvalidClient(NOT_VERIFIED, 'auth_method');
      let verified;
      try {
        verified = await federation!.tokens.verify(assertion, assertionType, client);
      } catch (error) {
        if (error instanceof PlatformTokenRefused) throw federatedRefusal(error);
        if (error instanceof IssuerKeysUnavailable) {
          this.deps.logger?.warn?.({ message: 'platform token not verifiable now', client_id: clientId, detail: error.message });
          return unavailableAnswer(error.retryAfter);
        }
        throw error;
      }
      source.client = client;
      source.federated = verified;
      const handOver = await federation!.assertions.mint(client.clientId, config.issuer);
      const body = Buffer.from(stringifyForm({ ...form, client_assertion_type: JWT_BEARER_ASSERTION_TYPE, client_assertion: handOver } as Record<string, string>));
      (req as unknown as { body: Buffer }).body = body;
      req.headers['content-length'] = String(body.length);
      return undefined;
    } catch (error) {
      if (!(error instanceof InvalidClient)) throw error;
      await failures!.unauthenticated({ endpoint: 'token', method: 'POST', path: ROUTES.token, ip, clientId, reason: error.reason, requestId: requestIdOf(req) });
      return errorAnswer(publicRefusal(error));
    }
  }
}

/** The refusal a platform token earns: its reason code, and its own words unless they would tell whether the client exists. */
function federatedRefusal(error: PlatformTokenRefused): InvalidClient {
  return publicRefusal(new InvalidClient(`client authentication failed: ${error.message}`, error.reason));
}

/** As oidc-provider reads it (lib/shared/client_auth.js): the client id of an assertion is its `sub`. UNVERIFIED. */
function unverifiedSubject(assertion: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(assertion.split('.')[1] ?? '', 'base64url').toString('utf8'));
    return typeof payload?.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
  } catch {
    return undefined;
  }
}
