import type { Authenticator, CreationOptionsJSON, RequestOptionsJSON } from './authenticator.js';
import { clientAssertion, JWT_BEARER_ASSERTION } from './client-assertion.js';
import { DpopNonces, dpopProof } from './dpop.js';
import type { FederatedCredential } from './federated-credential.js';
import { StepUpError, TokenError } from './errors.js';
import { generateDpopSigner, type JwsSigner } from './jws.js';
import { authError } from './www-authenticate.js';

export const STEP_UP_GRANT = 'urn:tollgate:params:oauth:grant-type:step-up';

/** Where the client sends what (docs/step-up.md §8 lists the same in discovery). */
export interface WorkloadEndpoints {
  token: string;
  challenges: string;
  authenticators: string;
  authenticatorOptions: string;
}

export interface WorkloadClientOptions {
  /** The issuer identifier, exactly as Tollgate announces it: the client assertions' `aud`. */
  issuer: string;
  clientId: string;
  /** The key registered for the client (private_key_jwt, RFC 7523); or give `federated`. */
  clientKey?: JwsSigner;
  /**
   * Instead of a key: the platform token the client's federated identities accept
   * (docs/federation.md) — tokenFile(), githubActionsToken() or federatedCallback().
   */
  federated?: FederatedCredential;
  /** The DPoP key tokens are bound to (RFC 9449). Default: a fresh ES256 key per client. */
  dpopKey?: JwsSigner;
  /** RFC 8707 resource for token() and fetch(). */
  resource?: string;
  scope?: string;
  /** Needed for `urn:tollgate:acr:attested` step-ups and for enrolment. */
  authenticator?: Authenticator;
  fetch?: typeof fetch;
  /** Renew a cached token this long before it expires. Default 30. */
  renewBeforeSeconds?: number;
  /** Override endpoint URLs (default: the fixed paths under the issuer). */
  endpoints?: Partial<WorkloadEndpoints>;
}

export interface TokenRequest {
  resource?: string;
  scope?: string;
}

/** RFC 6749 §5.1. */
export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in?: number;
  scope?: string;
  [member: string]: unknown;
}

/** docs/step-up.md §3. */
export interface StepUpChallenge {
  challenge_id: string;
  nonce: string;
  expires_in: number;
  acr_values: string;
  methods: string[];
  webauthn?: RequestOptionsJSON;
}

/** docs/step-up.md §5.2. */
export interface EnrolledAuthenticator {
  authenticator_id: string;
  credential_id: string;
  format: string;
  aaguid: string;
  attestation: 'basic' | 'self' | 'none' | string;
  chain_verified: boolean;
  name?: string;
  created_at: string;
  [member: string]: unknown;
}

interface CachedToken {
  response: TokenResponse;
  /** Epoch milliseconds; 0 when unknown (never reused). */
  expiresAt: number;
  /** The acr_values of the step-up that produced it. */
  acrValues?: string;
}

type Fields = Record<string, string | undefined>;
type FetchInput = Parameters<typeof fetch>[0];
type Body = RequestInit['body'];

interface Posted {
  response: Response;
  body: Record<string, unknown> | undefined;
}

const cacheKey = (target: TokenRequest) => JSON.stringify([target.resource ?? null, target.scope ?? null]);

async function readJson(response: Response): Promise<Record<string, unknown> | undefined> {
  try {
    const body = JSON.parse(await response.text());
    return body && typeof body === 'object' && !Array.isArray(body) ? body : undefined;
  } catch {
    return undefined;
  }
}

const text = (value: unknown) => (typeof value === 'string' ? value : undefined);

/** The RFC 6749 §5.2 error of a response, or a stand-in when it has none. */
function oauthError(posted: Posted): [error: string, status: number, description: string | undefined] {
  const header = authError(posted.response.headers.get('www-authenticate'));
  const error = text(posted.body?.error) ?? header?.error ?? 'invalid_response';
  return [error, posted.response.status, text(posted.body?.error_description) ?? header?.errorDescription];
}

function isTokenResponse(body: Record<string, unknown> | undefined): body is TokenResponse {
  return typeof body?.access_token === 'string' && typeof body.token_type === 'string';
}

/** When a token stops being usable: `expires_in` (RFC 6749 §5.1), else the JWT's `exp` (RFC 9068 §2.2). */
function expiresAt(response: TokenResponse): number {
  if (typeof response.expires_in === 'number') return Date.now() + response.expires_in * 1000;
  try {
    const exp = JSON.parse(Buffer.from(response.access_token.split('.')[1] ?? '', 'base64url').toString('utf8'))?.exp;
    if (typeof exp === 'number') return exp * 1000;
  } catch {
    // Opaque token without expires_in: not cached.
  }
  return 0;
}

/** A body fetch can send twice. Streams (and async iterables) are consumed by the first send. */
function resendable(body: Body): boolean {
  if (body === undefined || body === null) return true;
  if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) return false;
  return !(typeof body === 'object' && Symbol.asyncIterator in body);
}

/**
 * A workload talking to Tollgate and to the APIs Tollgate's tokens are for: private_key_jwt
 * (RFC 7523), DPoP-bound tokens (RFC 9449) and step-up (RFC 9470, docs/step-up.md).
 */
export class WorkloadClient {
  readonly issuer: string;
  readonly clientId: string;
  readonly endpoints: WorkloadEndpoints;
  /** The WebAuthn relying party's origin (docs/step-up.md §5). */
  readonly issuerOrigin: string;

  private readonly clientKey: JwsSigner | undefined;
  private readonly federated: FederatedCredential | undefined;
  private dpopSigner: Promise<JwsSigner> | undefined;
  private readonly resource: string | undefined;
  private readonly scope: string | undefined;
  private readonly authenticator: Authenticator | undefined;
  private readonly transport: typeof fetch;
  private readonly renewBeforeMs: number;
  private readonly nonces = new DpopNonces();
  private readonly cache = new Map<string, CachedToken>();
  private readonly issuing = new Map<string, Promise<TokenResponse>>();
  private readonly steppingUp = new Map<string, Promise<TokenResponse>>();

  constructor(options: WorkloadClientOptions) {
    // Tollgate's issuer has no trailing slash (RFC 8414 §2); `aud` must match it exactly.
    this.issuer = options.issuer.replace(/\/+$/, '');
    this.issuerOrigin = new URL(this.issuer).origin;
    this.clientId = options.clientId;
    if (!options.clientKey === !options.federated) throw new TypeError('give exactly one of clientKey and federated');
    this.clientKey = options.clientKey;
    this.federated = options.federated;
    if (options.dpopKey) {
      if (!options.dpopKey.publicJwk) throw new TypeError('dpopKey needs its publicJwk');
      this.dpopSigner = Promise.resolve(options.dpopKey);
    }
    this.resource = options.resource;
    this.scope = options.scope;
    this.authenticator = options.authenticator;
    this.transport = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.renewBeforeMs = (options.renewBeforeSeconds ?? 30) * 1000;
    this.endpoints = {
      token: `${this.issuer}/oauth/token`,
      challenges: `${this.issuer}/step-up/challenges`,
      authenticators: `${this.issuer}/step-up/authenticators`,
      authenticatorOptions: `${this.issuer}/step-up/authenticators/options`,
      ...options.endpoints,
    };
  }

  /** The DPoP key, generated on first use when none was given. */
  dpopKey(): Promise<JwsSigner> {
    this.dpopSigner ??= generateDpopSigner();
    return this.dpopSigner;
  }

  private target(options: TokenRequest): TokenRequest {
    const resource = options.resource ?? this.resource;
    const scope = options.scope ?? this.scope;
    return { ...(resource !== undefined ? { resource } : {}), ...(scope !== undefined ? { scope } : {}) };
  }

  /** A DPoP-bound access token for `resource` and `scope`, from the cache while it is fresh enough. */
  async token(options: TokenRequest = {}): Promise<string> {
    return (await this.tokenResponse(options)).access_token;
  }

  /** As token(), with the whole token response. */
  tokenResponse(options: TokenRequest = {}): Promise<TokenResponse> {
    const target = this.target(options);
    const key = cacheKey(target);
    const cached = this.cache.get(key);
    if (cached && cached.expiresAt - Date.now() > this.renewBeforeMs) return Promise.resolve(cached.response);
    return this.once(this.issuing, key, () => this.issue(target));
  }

  /** Forgets the cached token for `options` (only if it is still `accessToken`, when given). */
  forget(options: TokenRequest = {}, accessToken?: string): void {
    const key = cacheKey(this.target(options));
    if (accessToken === undefined || this.cache.get(key)?.response.access_token === accessToken) this.cache.delete(key);
  }

  /** One request in flight per key: concurrent callers share it. */
  private once<T>(pending: Map<string, Promise<T>>, key: string, start: () => Promise<T>): Promise<T> {
    let promise = pending.get(key);
    if (!promise) {
      promise = start().finally(() => pending.delete(key));
      pending.set(key, promise);
    }
    return promise;
  }

  private remember(target: TokenRequest, response: TokenResponse, acrValues?: string): void {
    this.cache.set(cacheKey(target), { response, expiresAt: expiresAt(response), ...(acrValues !== undefined ? { acrValues } : {}) });
  }

  /** client_credentials (RFC 6749 §4.4); a step-up when the token endpoint asks for one (docs/step-up.md §2). */
  private async issue(target: TokenRequest): Promise<TokenResponse> {
    const posted = await this.post(this.endpoints.token, { grant_type: 'client_credentials', ...target });
    if (posted.response.status === 200 && isTokenResponse(posted.body)) {
      this.remember(target, posted.body);
      return posted.body;
    }
    const [error, status, description] = oauthError(posted);
    if (status === 401 && error === 'insufficient_user_authentication') {
      const acrValues = text(posted.body?.acr_values) ?? authError(posted.response.headers.get('www-authenticate'))?.acrValues;
      if (acrValues) return this.stepUp(acrValues, target);
    }
    throw new TokenError('token request refused', error, status, description);
  }

  /**
   * Proves `acrValues` now (docs/step-up.md §3, §4) and caches the token it yields for
   * `resource`/`scope`, so later calls carry the higher level.
   */
  stepUp(acrValues: string, options: TokenRequest = {}): Promise<TokenResponse> {
    const target = this.target(options);
    return this.once(this.steppingUp, `${cacheKey(target)} ${acrValues}`, () => this.performStepUp(acrValues, target));
  }

  private async performStepUp(acrValues: string, target: TokenRequest): Promise<TokenResponse> {
    const challenge = await this.challenge(acrValues);
    let webauthnResponse: string | undefined;
    if (challenge.methods.includes('webauthn')) {
      if (!this.authenticator) throw new StepUpError('step-up needs an authenticator', 'authenticator_required');
      if (!challenge.webauthn) throw new StepUpError('step-up challenge has no webauthn options', 'invalid_response');
      webauthnResponse = JSON.stringify(await this.authenticator.authenticate(challenge.webauthn, this.issuerOrigin));
    }
    // The challenge nonce goes into both a new assertion and the DPoP proof: re-authentication
    // and possession in one answer. No DPoP-Nonce retry: any answer spends the challenge.
    const posted = await this.post(
      this.endpoints.token,
      { grant_type: STEP_UP_GRANT, challenge_id: challenge.challenge_id, ...target, webauthn_response: webauthnResponse },
      { nonce: challenge.nonce },
    );
    if (posted.response.status === 200 && isTokenResponse(posted.body)) {
      this.remember(target, posted.body, acrValues);
      return posted.body;
    }
    throw new StepUpError('step-up grant refused', ...oauthError(posted));
  }

  /** POST /step-up/challenges (docs/step-up.md §3). */
  async challenge(acrValues: string): Promise<StepUpChallenge> {
    const posted = await this.post(this.endpoints.challenges, { acr_values: acrValues });
    const body = posted.body;
    if (posted.response.status !== 201) throw new StepUpError('step-up challenge refused', ...oauthError(posted));
    if (typeof body?.challenge_id !== 'string' || typeof body.nonce !== 'string' || !Array.isArray(body.methods)) {
      throw new StepUpError('step-up challenge unreadable', 'invalid_response', posted.response.status);
    }
    return body as unknown as StepUpChallenge;
  }

  /** Enrols the configured authenticator for this client (docs/step-up.md §5). */
  async enrolAuthenticator(name?: string): Promise<EnrolledAuthenticator> {
    if (!this.authenticator) throw new StepUpError('enrolment needs an authenticator', 'authenticator_required');
    const options = await this.post(this.endpoints.authenticatorOptions, { name });
    if (options.response.status !== 200 || !options.body) throw new StepUpError('authenticator creation options refused', ...oauthError(options));
    const registration = await this.authenticator.register(options.body as unknown as CreationOptionsJSON, this.issuerOrigin);
    const enrolled = await this.post(this.endpoints.authenticators, { registration_response: JSON.stringify(registration), name });
    if (enrolled.response.status !== 201 || !enrolled.body) throw new StepUpError('authenticator enrolment refused', ...oauthError(enrolled));
    return enrolled.body as EnrolledAuthenticator;
  }

  /**
   * A form POST authenticated with a fresh client assertion and a DPoP proof. Without `nonce`,
   * the proof carries the server's DPoP-Nonce and a `use_dpop_nonce` refusal (RFC 9449 §8) is
   * retried once; with it, the proof and the assertion carry that challenge nonce.
   */
  private async post(url: string, fields: Fields, challenge?: { nonce: string }): Promise<Posted> {
    const dpopKey = await this.dpopKey();
    for (let attempt = 0; ; attempt++) {
      const form = new URLSearchParams({ client_id: this.clientId, ...(await this.credentials(challenge)) });
      for (const [name, value] of Object.entries(fields)) if (value !== undefined) form.set(name, value);
      const nonce = challenge?.nonce ?? this.nonces.get(url);
      const proof = await dpopProof(dpopKey, 'POST', url, nonce !== undefined ? { nonce } : {});
      const response = await this.transport(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', dpop: proof },
        body: form.toString(),
      });
      const gotNonce = this.nonces.remember(url, response);
      const posted: Posted = { response, body: await readJson(response) };
      if (!challenge && attempt === 0 && gotNonce && oauthError(posted)[0] === 'use_dpop_nonce') continue;
      return posted;
    }
  }

  /** The client authentication members of a request: the client's own assertion, or its platform token. */
  private async credentials(challenge?: { nonce: string }): Promise<Record<string, string>> {
    if (this.federated) {
      // A platform token cannot carry a step-up challenge's nonce: the DPoP proof carries it (docs/federation.md).
      return { client_assertion_type: this.federated.assertionType, client_assertion: await this.federated.token() };
    }
    return { client_assertion_type: JWT_BEARER_ASSERTION, client_assertion: await clientAssertion(this.clientKey!, this.clientId, this.issuer, challenge?.nonce) };
  }

  /**
   * fetch() with this client's token for its resource: `Authorization: DPoP`, and a fresh proof
   * for the method and URL (RFC 9449 §7.1). Retries once (never more) after a 401 that asks for
   * a DPoP nonce (§9), a step-up (RFC 9470 §3; a failed step-up throws StepUpError) or a new
   * token (`invalid_token`). A ReadableStream or async-iterable body cannot be sent twice: such
   * a call is never retried and its 401 is returned as is. A Request's body is read into memory.
   */
  async fetch(input: FetchInput, init: RequestInit = {}): Promise<Response> {
    const request = input instanceof Request ? input : undefined;
    const url = request ? request.url : input instanceof URL ? input.href : String(input);
    const method = (init.method ?? request?.method ?? 'GET').toUpperCase();
    const body: Body = init.body !== undefined ? init.body : request?.body ? await request.arrayBuffer() : undefined;
    const headers = new Headers(request?.headers);
    new Headers(init.headers).forEach((value, name) => headers.set(name, value));
    const base: RequestInit = {
      ...(request ? { signal: request.signal, redirect: request.redirect } : {}),
      ...init,
      method,
      ...(body !== undefined ? { body } : {}),
    };
    const target = this.target({});
    const dpopKey = await this.dpopKey();

    const send = async (accessToken: string) => {
      const sent = new Headers(headers);
      sent.set('authorization', `DPoP ${accessToken}`);
      const nonce = this.nonces.get(url);
      sent.set('dpop', await dpopProof(dpopKey, method, url, { accessToken, ...(nonce !== undefined ? { nonce } : {}) }));
      const response = await this.transport(url, { ...base, headers: sent });
      return { response, gotNonce: this.nonces.remember(url, response) };
    };

    const used = await this.token();
    const { response, gotNonce } = await send(used);
    if (response.status !== 401 || !resendable(body)) return response;
    const refusal = authError(response.headers.get('www-authenticate'));
    let next: string;
    if (refusal?.error === 'use_dpop_nonce' && gotNonce) {
      next = used;
    } else if (refusal?.error === 'insufficient_user_authentication' && refusal.acrValues) {
      next = await this.stepUpToken(target, refusal.acrValues, used);
    } else if (refusal?.error === 'invalid_token') {
      this.forget(target, used);
      next = await this.token();
    } else {
      return response;
    }
    await response.body?.cancel().catch(() => undefined);
    return (await send(next)).response;
  }

  /** A token at `acrValues`: one a concurrent call just stepped up to, else a new step-up. */
  private async stepUpToken(target: TokenRequest, acrValues: string, refused: string): Promise<string> {
    const cached = this.cache.get(cacheKey(target));
    if (cached && cached.response.access_token !== refused && cached.acrValues === acrValues && cached.expiresAt - Date.now() > this.renewBeforeMs) {
      return cached.response.access_token;
    }
    return (await this.stepUp(acrValues, target)).access_token;
  }
}
