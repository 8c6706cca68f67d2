import { readFile, stat } from 'node:fs/promises';

/** RFC 7523 §2.2: a platform's OIDC-style token as the client assertion (docs/federation.md). */
export const JWT_BEARER_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** draft-ietf-oauth-spiffe-client-auth §4: a SPIFFE JWT-SVID as the client assertion. */
export const JWT_SPIFFE_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-spiffe';

/**
 * Where a workload without a registered key gets the platform token it authenticates with
 * (docs/federation.md): sent as `client_assertion`, with `client_id` alongside.
 */
export interface FederatedCredential {
  /** JWT_BEARER_ASSERTION_TYPE, or JWT_SPIFFE_ASSERTION_TYPE for a JWT-SVID. */
  readonly assertionType: string;
  /** The platform token to send now. */
  token(): Promise<string>;
}

export interface FederatedCredentialOptions {
  /** `jwt-spiffe` for a JWT-SVID (spiffe-helper's file); default `jwt-bearer`. */
  kind?: 'jwt-bearer' | 'jwt-spiffe';
}

const typeOf = (kind: FederatedCredentialOptions['kind']) => (kind === 'jwt-spiffe' ? JWT_SPIFFE_ASSERTION_TYPE : JWT_BEARER_ASSERTION_TYPE);

/**
 * A token file the platform rotates — a Kubernetes projected service-account token, a JWT-SVID
 * written by spiffe-helper. Read on first use and again whenever the file changed (its inode,
 * size or modification time: the kubelet swaps a symlink, spiffe-helper rewrites the file).
 */
export function tokenFile(path: string, options: FederatedCredentialOptions = {}): FederatedCredential {
  let cached: { version: string; token: string } | undefined;
  return {
    assertionType: typeOf(options.kind),
    async token() {
      const info = await stat(path);
      const version = `${info.ino}:${info.size}:${info.mtimeMs}`;
      if (cached?.version !== version) {
        const token = (await readFile(path, 'utf8')).trim();
        if (!token) throw new Error(`the token file ${path} is empty`);
        cached = { version, token };
      }
      return cached.token;
    },
  };
}

export interface GitHubActionsOptions {
  /** The audience Tollgate's rule expects (by default Tollgate's issuer). */
  audience: string;
  /** Default: process.env (ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN). */
  env?: Record<string, string | undefined>;
  fetch?: typeof fetch;
}

/**
 * GitHub Actions' OIDC ID token, requested for every assertion (Tollgate accepts each `jti` once):
 * `GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=…` with `Authorization: bearer
 * $ACTIONS_ID_TOKEN_REQUEST_TOKEN`, answered `{"value": "<jwt>"}`. The job needs
 * `permissions: id-token: write`.
 */
export function githubActionsToken(options: GitHubActionsOptions): FederatedCredential {
  const env = options.env ?? process.env;
  const transport = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  return {
    assertionType: JWT_BEARER_ASSERTION_TYPE,
    async token() {
      const url = env.ACTIONS_ID_TOKEN_REQUEST_URL;
      const bearer = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
      if (!url || !bearer) throw new Error('ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set (does the job have permissions: id-token: write?)');
      const target = new URL(url);
      target.searchParams.set('audience', options.audience);
      const response = await transport(target, { headers: { authorization: `bearer ${bearer}`, accept: 'application/json' } });
      if (!response.ok) throw new Error(`the GitHub Actions ID token request answered ${response.status}`);
      const body = (await response.json()) as { value?: unknown };
      if (typeof body?.value !== 'string' || !body.value) throw new Error('the GitHub Actions ID token response has no value');
      return body.value;
    },
  };
}

/** Any other source: a function that returns the current platform token. */
export function federatedCallback(token: () => string | Promise<string>, options: FederatedCredentialOptions = {}): FederatedCredential {
  return { assertionType: typeOf(options.kind), token: async () => token() };
}
