import { hkdfSync } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import Provider, { errors } from 'oidc-provider';
import type { TollgateConfig } from '#config';
import type { ClientRecord } from '#clients';
import { type AuthenticationFailures, type AuthFailureReason, dpopChallenge, errorAnswer, InvalidClient, InvalidDpopProof, normalizeHtu, type OAuthAnswer, publicRefusal, unavailableAnswer } from '#credentials';
import type { ReplayStore } from '#hot-state';
import { requestIdOf } from '#operations';
import { isDependencyUnavailable, type PrismaClient } from '#persistence';
import { ACR, ACR_LEVELS, CLIENT_SIGNING_ALGS, ROUTES, SERVER_SIGNING_ALG, WORKLOAD_GRANT_TYPES } from '#protocol';
import type { Acr, Judgement, RiskJudge } from '#risk';
import type { FederatedAuthentication, PlatformTokens } from '#federation';
import type { ProvenLevel, StepUpChallenges } from '#step-up';
import type { FederatedAssertions } from './federated-assertions.js';
import { adapterFactory } from './provider-adapter.js';
import { registerStepUpGrant } from './step-up-grant.js';

/** RFC 9470 §3 at the token endpoint: the risk engine wants a higher assurance level first. */
class StepUpRequired extends errors.CustomOIDCProviderError {
  constructor(description: string) {
    super('insufficient_user_authentication', description);
    this.status = 401;
    this.statusCode = 401;
  }
}

/** docs/step-up.md §1: what every token that is not a step-up's proves (private_key_jwt + DPoP, now). */
const KEY_LEVEL = { acr: ACR.key, amr: ['swk'] };
/**
 * docs/federation.md: a workload that authenticated with a platform token and proved its DPoP key.
 * The same assurance level as a registered key; `fed` (Tollgate's amr value) says how, `pop`
 * (RFC 8176 §2) the DPoP proof.
 */
const FEDERATED_LEVEL = { acr: ACR.key, amr: ['fed', 'pop'] };

export interface ProviderDeps {
  config: TollgateConfig;
  prisma: PrismaClient;
  replay: ReplayStore;
  lookupClient(clientId: string): Promise<ClientRecord | null>;
  signingJwks(): { keys: object[] };
  /** Secret shared by all instances for stateless DPoP nonces (derived from the KEK). */
  nonceSecret: Buffer;
  logger?: { error(message: unknown): void; warn?(message: unknown): void };
  /** The risk judge, for every issuance; absent in unit setups. */
  judge?: Pick<RiskJudge, 'judge'>;
  /** Failed authentications, attributed to who caused them; absent in unit setups. */
  failures?: Pick<AuthenticationFailures, 'admit' | 'refuseIfSpent' | 'unauthenticated' | 'authenticated'>;
  /** The client's verification keys (inline, or fetched from jwks_uri through the egress guard). */
  keysFor?(client: ClientRecord, want?: { kid?: string }): Promise<{ keys: object[] }>;
  /** The step-up grant's checks (libs/step-up); absent in unit setups. */
  stepUp?: Pick<StepUpChallenges, 'answer'>;
  /** Counts each token endpoint answer by outcome and error code (tollgate_token_requests_total); absent in unit setups. */
  tokenAnswered?(status: number, error: string | undefined): void;
  /** Client authentication with platform tokens (docs/federation.md); absent in unit setups. */
  federation?: { tokens: Pick<PlatformTokens, 'verify'>; assertions: FederatedAssertions };
}

/** Where the token endpoint's OAuth error code is left on the response, for the count made when it is sent (ProviderHost). */
export const TOKEN_ERROR = Symbol('tollgate.tokenError');

const epoch = () => Math.floor(Date.now() / 1000);

/** Everything Tollgate asks of oidc-provider, in one place, with the RFC next to each knob. */
export function buildProvider(deps: ProviderDeps): Provider {
  const { config } = deps;
  const issuer = config.issuer;

  /**
   * The client of this token request: the record ProviderHost looked up when it screened the
   * request (one lookup per request), else from the registry's cache.
   */
  async function workload(clientId: string, ctx?: any): Promise<ClientRecord> {
    const screened = (ctx?.req?.tollgate as TokenRequestSource | undefined)?.client;
    const record = screened?.clientId === clientId ? screened : await deps.lookupClient(clientId);
    if (!record || record.status !== 'active') throw new errors.InvalidClient('client is not active');
    return record;
  }

  // RFC 8707 §2: without `resource`, a client with exactly one allowed resource gets it.
  function defaultResource(record: ClientRecord): string {
    if (record.allowedResources.length === 1) return record.allowedResources[0]!;
    throw new errors.InvalidTarget('resource parameter is required: this client may obtain tokens for several resources');
  }

  // RFC 8707 §2: the resource must be one the client is registered for; tokens are RFC 9068 JWTs.
  function resourceServerInfo(record: ClientRecord, resource: string) {
    if (!record.allowedResources.includes(resource)) {
      throw new errors.InvalidTarget('resource is not allowed for this client');
    }
    return {
      audience: resource,
      scope: record.scopes.join(' '),
      accessTokenTTL: Math.min(record.accessTokenTtl ?? config.accessTokenTtl, config.accessTokenTtlMax),
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: SERVER_SIGNING_ALG } },
    };
  }

  const provider = new Provider(issuer, {
    adapter: adapterFactory({ ...deps, ...(deps.federation ? { federationJwk: deps.federation.assertions.publicJwk } : {}) }) as any,
    // Only workloads reach oidc-provider, and they authenticate with private_key_jwt (RFC 7523);
    // `none` and shared secrets are not offered at the token endpoint.
    clientAuthMethods: ['private_key_jwt'],
    clientDefaults: {
      grant_types: [...WORKLOAD_GRANT_TYPES],
      response_types: [],
      token_endpoint_auth_method: 'private_key_jwt',
      id_token_signed_response_alg: SERVER_SIGNING_ALG,
    },
    enabledJWA: {
      clientAuthSigningAlgValues: [...CLIENT_SIGNING_ALGS],
      dPoPSigningAlgValues: [...CLIENT_SIGNING_ALGS],
      idTokenSigningAlgValues: [SERVER_SIGNING_ALG],
      userinfoSigningAlgValues: [SERVER_SIGNING_ALG],
      introspectionSigningAlgValues: [SERVER_SIGNING_ALG],
      authorizationSigningAlgValues: [SERVER_SIGNING_ALG],
    } as any,
    extraClientMetadata: { properties: ['require_dpop_nonce'] },
    clockTolerance: config.clockSkew,
    jwks: deps.signingJwks() as any,
    routes: { token: ROUTES.token, jwks: ROUTES.jwks },
    // The real lifetime comes from the resource server (getResourceServerInfo.accessTokenTTL).
    ttl: { ClientCredentials: (_ctx: any, token: any) => token?.resourceServer?.accessTokenTTL ?? config.accessTokenTtl },
    responseTypes: ['none'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // RFC 7662/7009 for RFC 9068 JWTs are Tollgate's own (oidc-provider refuses structured tokens there).
      introspection: { enabled: false },
      revocation: { enabled: false },
      // RFC 9449. requireNonce: globally (TOLLGATE_DPOP_REQUIRE_NONCE) or per client (require_dpop_nonce).
      dPoP: {
        enabled: true,
        nonceSecret: deps.nonceSecret,
        requireNonce: (ctx: any) => config.dpopRequireNonce || ctx.oidc?.client?.require_dpop_nonce === true,
        allowReplay: false,
      },
      // RFC 8707 resource indicators; tokens for a resource are RFC 9068 JWTs with that audience.
      resourceIndicators: {
        enabled: true,
        defaultResource: async (ctx: any) => defaultResource(await workload(ctx.oidc.client.clientId, ctx)),
        useGrantedResource: async () => false,
        getResourceServerInfo: async (ctx: any, resource: string, client: any) => resourceServerInfo(await workload(client.clientId, ctx), resource),
      },
    } as any,
    // RFC 7523 §3 and RFC 7523bis: iss = sub = client_id, short lifetime, and not older than
    // what the replay store remembers (so a replay-store restart does not reopen replays).
    // Their structure was checked before the client was looked up (ProviderHost, assertionShape);
    // oidc-provider calls this right after the signature verified, so from here on a failure is
    // one of a client that proved to be itself (except a replay, which oidc-provider checks next).
    assertJwtClientAuthClaimsAndHeader: async (ctx: any) => {
      ctx.state.assertionVerified = true;
    },
    // RFC 6749 §3.3 / RFC 9068 §2.2.3: a scope the client is not registered for is refused, not dropped.
    extraTokenClaims: async (ctx: any, token: any) => {
      const requested = String(ctx.oidc.params?.scope ?? '').split(' ').filter(Boolean);
      if (requested.length) {
        const record = await workload(ctx.oidc.client.clientId, ctx);
        const outside = requested.filter((s) => !record.scopes.includes(s));
        if (outside.length) throw new errors.InvalidScope('requested scope is not allowed for this client', outside.join(' '));
      }
      // docs/step-up.md §1: what this token proves. A step-up grant set its level; every other
      // token is private_key_jwt + DPoP, proven now.
      const now = epoch();
      const proven = ctx.state.stepUp as ProvenLevel | undefined;
      const federated = (ctx.req?.tollgate as TokenRequestSource | undefined)?.federated;
      const level = proven
        ? { acr: proven.acr, amr: proven.amr, auth_time: proven.authTime }
        : federated
          ? { ...FEDERATED_LEVEL, auth_time: now, federated_identity: { issuer: federated.issuer, subject: federated.subject } }
          : { ...KEY_LEVEL, auth_time: now };
      // Issue 3 §4: the risk engine judges every issuance; deny refuses, step-up names the acr.
      if (deps.judge) {
        const audience = token?.resourceServer?.audience;
        const verdict = await deps.judge.judge(
          {
            kind: 'issuance',
            now: Date.now(),
            clientId: ctx.oidc.client.clientId,
            ip: ctx.ip,
            scopes: requested.length ? requested : (await workload(ctx.oidc.client.clientId, ctx)).scopes,
            audience,
            dpopJkt: token?.jkt,
            ...(federated ? { federated: { issuer: federated.issuer, subject: federated.subject, claims: federated.claims } } : {}),
            ...(proven ? { proven: { acr: proven.acr as Acr, authTime: proven.authTime } } : {}),
          },
          { kind: 'issuance', method: 'POST', route: audience, requestId: requestIdOf(ctx.req) },
        );
        ctx.state.issuance = verdict;
        if (verdict.decision === 'deny') throw new errors.AccessDenied('the token request was denied by policy');
        if (verdict.decision === 'step_up') throw new StepUpRequired(`this token request needs ${verdict.acr}`);
      }
      return level;
    },
    formats: {
      customizers: {
        // RFC 6749 §3.3: a request without `scope` gets the pre-defined default, which for
        // Tollgate is every scope the client is registered for.
        jwt: async (ctx: any, token: any, jwt: { payload: Record<string, unknown> }) => {
          if (String(ctx?.oidc?.params?.scope ?? '') !== '' || jwt.payload.scope) return;
          const record = await workload(token.clientId, ctx);
          if (record.scopes.length) {
            token.scope = record.scopes.join(' ');
            jwt.payload.scope = token.scope;
          }
        },
      },
    },
    discovery: {
      introspection_endpoint: `${issuer}${ROUTES.introspection}`,
      introspection_endpoint_auth_methods_supported: ['client_secret_basic'],
      introspection_signing_alg_values_supported: [SERVER_SIGNING_ALG],
      revocation_endpoint: `${issuer}${ROUTES.revocation}`,
      // RFC 7591 §3 (Tollgate's own endpoint, backed by the client registry).
      registration_endpoint: `${issuer}${ROUTES.registration}`,
      // docs/step-up.md §8 (extension members, RFC 8414 §2 style).
      acr_values_supported: [...ACR_LEVELS],
      step_up_challenge_endpoint: `${issuer}${ROUTES.stepUpChallenges}`,
      step_up_authenticator_endpoint: `${issuer}${ROUTES.stepUpAuthenticators}`,
      revocation_endpoint_auth_methods_supported: ['private_key_jwt'],
      revocation_endpoint_auth_signing_alg_values_supported: [...CLIENT_SIGNING_ALGS],
    },
    renderError: async (ctx: any, out: any) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  } as any);

  // Behind a TLS-terminating proxy oidc-provider must read X-Forwarded-Proto/Host to know its own
  // URLs (DPoP htu); only then, because anyone can send those headers (TOLLGATE_TRUST_PROXY).
  provider.proxy = config.trustProxy;

  if (deps.stepUp) {
    registerStepUpGrant(provider, deps.stepUp, {
      async resourceServer(clientId, resource, ctx) {
        const record = await workload(clientId, ctx);
        resource ??= defaultResource(record);
        return { resource, info: resourceServerInfo(record, resource) };
      },
    }, `${issuer}${ROUTES.token}`);
  }
  // The caller is the last X-Forwarded-For entry (the one our proxy appended), not the first.
  (provider as any).maxIpsCount = 1;

  // oidc-provider reports DPoP replays and missing proofs as invalid_grant with the reason in
  // error_detail; RFC 9449 §5 asks for invalid_dpop_proof. Keep the error to rewrite it below.
  provider.on('grant.error', (ctx: any, error: any) => {
    ctx.state.grantError = error;
    if (!deps.failures) return;
    const failure = classifyGrantError(error, ctx.state.assertionVerified === true);
    if (failure === 'authenticated') {
      deps.failures.authenticated(ctx.oidc.client.clientId);
    } else if (failure) {
      // Recorded before the answer leaves (the middleware below awaits it): the decision log keeps `invalid` durably.
      ctx.state.authFailureReason = failure.reason;
      const screened = ctx.req.tollgate as TokenRequestSource | undefined;
      ctx.state.failureRecorded = deps.failures.unauthenticated({
        endpoint: 'token',
        method: 'POST',
        path: ROUTES.token,
        ip: screened?.ip ?? ctx.ip,
        clientId: screened?.clientId ?? ctx.oidc?.client?.clientId,
        reason: failure.reason,
        requestId: requestIdOf(ctx.req),
      });
    }
  });

  // oidc-provider renders every unexpected error as 500 server_error. An outage of the database
  // or Redis is not a bug: answer 503 with Retry-After so clients back off and retry (fail closed).
  provider.on('server_error', (ctx: any, error: any) => {
    if (isDependencyUnavailable(error)) {
      answer(ctx, unavailableAnswer());
    } else {
      deps.logger?.error({ message: 'token endpoint error', error: error?.name, detail: error?.message, request_id: requestIdOf(ctx.req) });
    }
  });

  // Outermost: whatever answered the token request, its error code is left for the count (ProviderHost).
  provider.use(async (ctx: any, next: () => Promise<void>) => {
    await next();
    if (ctx.path === ROUTES.token && ctx.method === 'POST') ctx.res[TOKEN_ERROR] = typeof ctx.body?.error === 'string' ? ctx.body.error : undefined;
  });

  provider.use(async (ctx: any, next: () => Promise<void>) => {
    if (ctx.path === ROUTES.token && ctx.method === 'POST') {
      try {
        await deps.replay.current();
      } catch {
        answer(ctx, unavailableAnswer(1));
        return;
      }
      const refusal = proofFreshnessProblem(ctx.get('DPoP'), config, deps.replay.notBefore());
      if (refusal) {
        // RFC 9449 §5: at the authorization server a bad proof is a 400.
        answer(ctx, errorAnswer(new InvalidDpopProof(refusal, 400)));
        return;
      }
    }
    await next();
    if (ctx.state.failureRecorded) {
      try {
        await ctx.state.failureRecorded;
      } catch (error) {
        // The refusal could not be committed to the decision log in time: fail closed, as for every decision (docs/operations.md).
        if (!isDependencyUnavailable(error)) throw error;
        answer(ctx, unavailableAnswer());
        return;
      }
    }
    const reason = ctx.state.authFailureReason as AuthFailureReason | undefined;
    if (reason && ctx.body?.error === 'invalid_client') ctx.body = { ...ctx.body, error_description: refusalDescription(reason, ctx.body.error_description) };
    const detail = ctx.state.grantError?.error_detail;
    if (ctx.path === ROUTES.token && ctx.body?.error === 'invalid_grant' && /^DPoP proof JWT (Replay detected|not provided)/.test(detail ?? '')) {
      ctx.body = {
        error: 'invalid_dpop_proof',
        error_description: detail.includes('Replay') ? 'DPoP proof jti was already used' : 'a DPoP proof is required for this client',
      };
    }
    const verdict = ctx.state.issuance as Judgement | undefined;
    if (ctx.path === ROUTES.token && verdict && ctx.body?.error) {
      ctx.body = { ...ctx.body, decision_id: verdict.decisionId };
      if (ctx.body.error === 'insufficient_user_authentication') {
        ctx.body.acr_values = verdict.acr;
        if (verdict.maxAge !== undefined) ctx.body.max_age = verdict.maxAge;
        ctx.set('WWW-Authenticate', dpopChallenge({ error: 'insufficient_user_authentication', error_description: ctx.body.error_description, acr_values: verdict.acr, max_age: verdict.maxAge }));
      }
    }
    if (ctx.path === ROUTES.discovery && ctx.status === 200 && ctx.body) {
      trimDiscovery(ctx.body);
    }
  });

  return provider;
}

/** Sends one of the renderer's answers through Koa (oidc-provider's context). */
function answer(ctx: any, a: OAuthAnswer): void {
  ctx.status = a.status;
  for (const [name, value] of Object.entries(a.headers)) ctx.set(name, value);
  ctx.body = a.body;
}

/** What ProviderHost learned about a token request before oidc-provider saw it (on the Node request). */
export interface TokenRequestSource {
  ip?: string;
  clientId?: string;
  /** The client's record, once ProviderHost looked it up (the request's one lookup). */
  client?: ClientRecord;
  /** The platform token the client authenticated with, verified (docs/federation.md). */
  federated?: FederatedAuthentication;
}

/**
 * Who caused a token endpoint error (docs/risk.md): a failed client authentication nobody
 * proved (with its reason code), a failure of a client that had just proved itself (a bad DPoP
 * proof or step-up answer: failed_auth_burst), or neither (scope, resource, nonce requests, risk).
 */
export function classifyGrantError(error: any, assertionVerified: boolean): { reason: AuthFailureReason } | 'authenticated' | undefined {
  const code: string = error?.error ?? '';
  const detail = `${error?.error_detail ?? ''} ${error?.error_description ?? ''}`;
  if (code === 'invalid_client') {
    if (/only be used once|already used/i.test(detail)) return { reason: 'assertion_replay' };
    if (!assertionVerified) return { reason: providerAuthReason(detail) };
    return 'authenticated'; // the step-up grant's assertion nonce (libs/step-up)
  }
  if (!assertionVerified) return undefined;
  if (code === 'invalid_dpop_proof') return 'authenticated';
  if (code === 'invalid_grant' && !/DPoP proof JWT not provided/.test(detail)) return 'authenticated';
  return undefined;
}

/** What a token endpoint refusal of client authentication says (oidc-provider's own words are generic). */
function refusalDescription(reason: AuthFailureReason, given: string): string {
  if (reason === 'assertion_replay') return 'client assertion jti was already used';
  if (reason === 'assertion_stale') return 'client assertion predates the replay store; create a new one';
  return publicRefusal(new InvalidClient(given, reason)).error_description;
}

/** oidc-provider's client authentication refusals (lib/shared/client_auth.js, jwt_client_auth.js) as our reason codes. */
function providerAuthReason(detail: string): AuthFailureReason {
  if (/client not found/i.test(detail)) return 'unknown_client';
  if (/authentication mechanism does not match|no client authentication mechanism/i.test(detail)) return 'auth_method';
  if (/alg mismatch/i.test(detail)) return 'assertion_alg';
  if (/no matching key|no applicable key|JWKSNoMatchingKey/i.test(detail)) return 'unknown_key';
  if (/signature/i.test(detail)) return 'assertion_signature';
  if (/predates the replay store/i.test(detail)) return 'assertion_stale';
  if (/expired|in the future|not active yet|expiration/i.test(detail)) return 'assertion_lifetime';
  if (/\baud\b|audience/i.test(detail)) return 'assertion_audience';
  if (/\biss\b|\bsub\b|issuer|subject/i.test(detail)) return 'assertion_issuer';
  if (/\bjti\b/i.test(detail)) return 'assertion_jti';
  return 'assertion_invalid';
}

/**
 * RFC 9449 §4.3 step 11 and §11.1 with Tollgate's configurable window: oidc-provider accepts
 * proofs up to 300 s old; we hold them to TOLLGATE_DPOP_PROOF_MAX_AGE (± TOLLGATE_CLOCK_SKEW),
 * and refuse proofs made before the replay store could remember them. A nonce-bearing proof is
 * fresh by its nonce (§8). Only refusals are decided here, before the signature is checked;
 * oidc-provider verifies everything else.
 */
export function proofFreshnessProblem(proof: string | undefined, config: TollgateConfig, notBefore: number): string | undefined {
  if (!proof) return undefined;
  let iat: unknown;
  let nonce: unknown;
  let htu: unknown;
  try {
    decodeProtectedHeader(proof);
    ({ iat, nonce, htu } = decodeJwt(proof));
  } catch {
    return undefined; // malformed: oidc-provider answers with its own invalid_dpop_proof
  }
  // §4.3 step 9 against the configured issuer, not the Host or X-Forwarded-* headers the
  // caller sent (oidc-provider derives its expected htu from those).
  try {
    if (typeof htu !== 'string' || normalizeHtu(htu) !== normalizeHtu(`${config.issuer}${ROUTES.token}`)) {
      return 'DPoP proof htu mismatch';
    }
  } catch {
    return 'DPoP proof htu mismatch';
  }
  if (typeof iat !== 'number') return undefined;
  const now = epoch();
  if (iat > now + config.clockSkew) return 'DPoP proof iat is in the future';
  if (nonce === undefined && iat < now - config.dpopProofMaxAge - config.clockSkew) return 'DPoP proof iat is not recent enough';
  // No skew here: a proof made before the store's memory began could be a replay.
  if (iat < notBefore) return 'DPoP proof predates the replay store; create a new proof';
  return undefined;
}

/** Remove what a client_credentials-only server does not serve from the metadata (RFC 8414 §2). */
function trimDiscovery(body: Record<string, unknown>): void {
  for (const key of [
    'authorization_endpoint',
    'response_modes_supported',
    'response_types_supported',
    'claims_parameter_supported',
    'claims_supported',
    'code_challenge_methods_supported',
    'subject_types_supported',
    'id_token_signing_alg_values_supported',
    'request_parameter_supported',
    'request_uri_parameter_supported',
    'require_request_uri_registration',
    'authorization_response_iss_parameter_supported',
    'userinfo_endpoint',
    'userinfo_signing_alg_values_supported',
    'end_session_endpoint',
    'claim_types_supported',
    'scopes_supported',
    'pushed_authorization_request_endpoint',
    'require_pushed_authorization_requests',
  ]) {
    delete body[key];
  }
  body.grant_types_supported = [...WORKLOAD_GRANT_TYPES];
}

/** Derives the nonce secret from the KEK so every instance that shares the KEK issues compatible nonces. */
export function deriveNonceSecret(kek: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), 'tollgate dpop nonce', 32));
}
