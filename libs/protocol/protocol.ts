// The protocol's constants, each defined once and used by every library: routes, assurance
// levels, algorithms, URNs and limits. Pure values, no imports: the lowest library of all.

/** Tollgate's HTTP routes (docs: README "Endpoints"). oidc-provider serves token, jwks and discovery. */
export const ROUTES = Object.freeze({
  token: '/oauth/token',
  jwks: '/oauth/jwks',
  introspection: '/oauth/introspect',
  revocation: '/oauth/revoke',
  registration: '/oauth/register',
  /** RFC 8414 §3 metadata, and the same document where OpenID discovery looks for it. */
  metadata: '/.well-known/oauth-authorization-server',
  discovery: '/.well-known/openid-configuration',
  /** The gateway check endpoint; Envoy ext_authz appends the original path (`/check/<path>`). */
  check: '/check',
  /** docs/step-up.md §3, §5. */
  stepUpChallenges: '/step-up/challenges',
  stepUpAuthenticators: '/step-up/authenticators',
  stepUpAuthenticatorOptions: '/step-up/authenticators/options',
  admin: '/admin',
  /** RFC 9728 §3: a protected API's metadata, at the API's own origin (its gateway routes it here). */
  protectedResourceMetadata: '/.well-known/oauth-protected-resource',
  /** OpenID AuthZEN Authorization API 1.0: the PDP's metadata and its evaluation endpoints. */
  authzenMetadata: '/.well-known/authzen-configuration',
  accessEvaluation: '/access/v1/evaluation',
  accessEvaluations: '/access/v1/evaluations',
} as const);

/**
 * RFC 9728 §3.1: the metadata URL of a resource: the well-known path inserted between the host
 * and the resource's path, a terminating slash of that path removed; no query or fragment.
 */
export function protectedResourceMetadataUrl(resource: URL): string {
  const path = resource.pathname === '/' ? '' : resource.pathname.replace(/\/$/, '');
  return `${resource.origin}${ROUTES.protectedResourceMetadata}${path}`;
}

/** Whether a path is the check endpoint's (`/check` or `/check/<original path>`). */
export function isCheckPath(path: string): boolean {
  return path === ROUTES.check || path.startsWith(`${ROUTES.check}/`);
}

/** docs/step-up.md §1: assurance levels, lowest first; a higher level satisfies a lower one. */
export const ACR = Object.freeze({
  key: 'urn:tollgate:acr:key',
  live: 'urn:tollgate:acr:live',
  attested: 'urn:tollgate:acr:attested',
} as const);
export const ACR_LEVELS = [ACR.key, ACR.live, ACR.attested] as const;
export type Acr = (typeof ACR_LEVELS)[number];

/** JWS algorithms accepted for client keys and assertions (RFC 7523) and DPoP proofs (RFC 9449 §4.2). */
export const CLIENT_SIGNING_ALGS = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'PS384', 'RS256'] as const;
export type ClientSigningAlg = (typeof CLIENT_SIGNING_ALGS)[number];
/** What Tollgate signs its access tokens (RFC 9068) and introspection responses (RFC 9701) with. */
export const SERVER_SIGNING_ALG = 'ES256';

/** The response header naming the decision-log entry of a check's answer (docs/gateways.md). */
export const DECISION_ID_HEADER = 'X-Tollgate-Decision-Id';

/** RFC 6749 §4.4 and docs/step-up.md §4: the grants a workload may use. */
export const CLIENT_CREDENTIALS_GRANT = 'client_credentials';
export const STEP_UP_GRANT_TYPE = 'urn:tollgate:params:oauth:grant-type:step-up';
export const WORKLOAD_GRANT_TYPES = [CLIENT_CREDENTIALS_GRANT, STEP_UP_GRANT_TYPE] as const;

/** RFC 7523 §2.2. */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** draft-ietf-oauth-spiffe-client-auth §4: a JWT-SVID as the client assertion (docs/federation.md). */
export const JWT_SPIFFE_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-spiffe';
/** RFC 7523bis: client assertions are short-lived; one that lives longer is refused (seconds). */
export const MAX_ASSERTION_LIFETIME = 300;

/** What the HTTP latency histogram groups requests by (bounded: never a raw path). */
export type Endpoint = 'token' | 'introspection' | 'revocation' | 'check' | 'authzen' | 'admin' | 'other';

/**
 * The endpoint class of a request path, for metrics. Nest's routes match case-insensitively and
 * with a trailing slash, so the path is normalised first.
 */
export function endpointOf(url: string): Endpoint {
  let path = url.split('?', 1)[0]!.toLowerCase();
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  switch (path) {
    case ROUTES.token:
      return 'token';
    case ROUTES.introspection:
      return 'introspection';
    case ROUTES.revocation:
      return 'revocation';
    case ROUTES.accessEvaluation:
    case ROUTES.accessEvaluations:
      return 'authzen';
  }
  if (isCheckPath(path)) return 'check';
  if (path === ROUTES.admin || path.startsWith(`${ROUTES.admin}/`)) return 'admin';
  return 'other';
}
