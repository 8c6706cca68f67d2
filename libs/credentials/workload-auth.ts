import { Inject, Injectable } from '@nestjs/common';
import { ClientKeySets, ClientKeysUnavailable, ClientRegistry, type ClientRecord } from '#clients';
import { CONFIG, type TollgateConfig } from '#config';
import { type FederatedAuthentication, IssuerKeysUnavailable, PlatformTokenRefused, PlatformTokens } from '#federation';
import { HOT_STATE, type HotState } from '#hot-state';
import { AuthenticationFailures } from './authentication-failures.js';
import { type AssertionExpectations, assertionShape, NOT_VERIFIED, publicRefusal, unverifiedAssertionIssuer, verifyClientAssertion, type VerifiedAssertion } from './client-assertion.js';
import { DPOP_NONCES, type DpopNonces } from './dpop-nonce.js';
import { verifyDpopProof, type VerifiedProof } from './dpop-proof.js';
import { asAuthorizationServerError, InvalidClient, InvalidDpopProof, InvalidRequest, TemporarilyUnavailable } from './oauth-error.js';
import { CLIENT_SIGNING_ALGS, MAX_ASSERTION_LIFETIME, ROUTES } from '#protocol';

type Form = Record<string, unknown>;

/** RFC 6749 §3.1: parameters must not repeat; returns the single string value or undefined. */
export function formParam(form: Form, name: string): string | undefined {
  const value = form?.[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new InvalidRequest(`${name} must be given once`);
  return value;
}

export interface AuthenticatedWorkload {
  client: ClientRecord;
  /** The client's own RFC 7523 assertion, when it authenticated with one. */
  assertion?: VerifiedAssertion;
  /** The platform token it authenticated with instead (docs/federation.md). */
  federated?: FederatedAuthentication;
}

/** The client's keys (ClientKeySets), a failure to have them as the `client_keys` refusal. */
export async function clientKeys(keySets: Pick<ClientKeySets, 'keysFor'>, client: ClientRecord, kid?: unknown) {
  try {
    return await keySets.keysFor(client, { kid: typeof kid === 'string' ? kid : undefined });
  } catch (error) {
    if (error instanceof ClientKeysUnavailable) throw new InvalidClient(NOT_VERIFIED, 'client_keys');
    throw error;
  }
}

/** One of our own endpoints where workloads authenticate (not the token endpoint, which is oidc-provider's). */
export interface WorkloadEndpoint {
  kind: 'revocation' | 'step_up';
  /** Its path (for the decision log) and its URL (an accepted assertion `aud`, the DPoP `htu`). */
  path: string;
  url: string;
  /** The request (X-Request-Id), for the decision log and the log line of a failure. */
  requestId?: string;
}

/**
 * private_key_jwt (RFC 7523 §2.2) at Tollgate's own workload endpoints (revocation, step-up),
 * with the same rules as the token endpoint, and DPoP proofs (RFC 9449 §4.3) for endpoints that
 * bind what they hand out to the workload's DPoP key. Failures are attributed to who caused
 * them (AuthenticationFailures).
 */
@Injectable()
export class WorkloadAuthenticator {
  constructor(
    @Inject(CONFIG) private readonly config: TollgateConfig,
    @Inject(HOT_STATE) private readonly hot: HotState,
    @Inject(DPOP_NONCES) private readonly nonces: DpopNonces,
    private readonly clients: ClientRegistry,
    private readonly keySets: ClientKeySets,
    private readonly failures: AuthenticationFailures,
    private readonly platformTokens: PlatformTokens,
  ) {}

  /** The assertion rules of every endpoint that accepts client assertions; `endpoint` is also an accepted `aud`. */
  expectations(clientId: string, endpoint: string): AssertionExpectations {
    const issuer = this.config.issuer;
    return {
      clientId,
      audiences: [issuer, `${issuer}/`, `${issuer}${ROUTES.token}`, endpoint],
      algorithms: CLIENT_SIGNING_ALGS,
      clockSkewSeconds: this.config.clockSkew,
      maxLifetimeSeconds: MAX_ASSERTION_LIFETIME,
      notBefore: this.hot.replay.notBefore(),
    };
  }

  /**
   * Verifies the client assertion in `form`: the source's failure budget first (memory), then the
   * assertion's shape, then the client and its keys, then the signature and the replay claim.
   */
  async authenticate(form: Form, endpoint: WorkloadEndpoint, ip: string | undefined): Promise<AuthenticatedWorkload> {
    const named = formParam(form, 'client_id');
    const assertion = formParam(form, 'client_assertion');
    const type = formParam(form, 'client_assertion_type');
    const clientId = named ?? (assertion ? unverifiedAssertionIssuer(assertion) : undefined);
    const release = await this.failures.admit(endpoint.kind, ip, clientId);
    try {
      if (!assertion) throw new InvalidClient('client authentication with private_key_jwt (RFC 7523) is required', 'no_credentials');
      await this.hot.replay.current();
      if (PlatformTokens.isFederated(type, assertion, named)) return await this.federated(assertion, type!, named);
      const expect = this.expectations(clientId ?? '', endpoint.url);
      const { header } = assertionShape(assertion, type, expect);
      const client = await this.clients.lookup(expect.clientId);
      if (!client || client.status !== 'active' || !client.roles.includes('workload')) throw new InvalidClient(NOT_VERIFIED, 'unknown_client');
      if (client.tokenEndpointAuthMethod !== 'private_key_jwt') throw new InvalidClient(NOT_VERIFIED, 'auth_method');
      const keys = await clientKeys(this.keySets, client, header.kid);
      const verified = await verifyClientAssertion(assertion, type, keys, expect, this.hot.replay);
      return { client, assertion: verified };
    } catch (err) {
      if (!(err instanceof InvalidClient)) throw err;
      await this.failures.unauthenticated({ endpoint: endpoint.kind, method: 'POST', path: endpoint.path, ip, clientId, reason: err.reason, requestId: endpoint.requestId });
      throw publicRefusal(err);
    } finally {
      release();
    }
  }

  /**
   * A platform token as the client assertion (docs/federation.md), with `client_id` alongside:
   * verified against the client's federated identities, as at the token endpoint (ProviderHost).
   */
  private async federated(assertion: string, type: string, clientId: string | undefined): Promise<AuthenticatedWorkload> {
    if (clientId === undefined) throw new InvalidClient('client_id is required with a platform token', 'assertion_issuer');
    const client = await this.clients.lookup(clientId);
    if (!client || client.status !== 'active' || !client.roles.includes('workload') || client.federatedIdentities.length === 0) {
      throw new InvalidClient(NOT_VERIFIED, 'unknown_client');
    }
    try {
      return { client, federated: await this.platformTokens.verify(assertion, type, client) };
    } catch (error) {
      if (error instanceof PlatformTokenRefused) throw new InvalidClient(`client authentication failed: ${error.message}`, error.reason);
      if (error instanceof IssuerKeysUnavailable) throw new TemporarilyUnavailable("the platform token's issuer cannot be reached now; retry later", error.retryAfter);
      throw error;
    }
  }

  /**
   * RFC 9449 §4.3 for a request to one of our endpoints (`POST endpoint`), answered as the
   * authorization server answers (400s, §5 and §8). A server nonce is required as at the token
   * endpoint: when TOLLGATE_DPOP_REQUIRE_NONCE or the client's require_dpop_nonce says so. The
   * client has authenticated, so a bad proof counts towards its failed_auth_burst.
   */
  async proof(proof: unknown, endpoint: string, client: ClientRecord): Promise<VerifiedProof> {
    const required = this.config.dpopRequireNonce || client.requireDpopNonce;
    try {
      return await verifyDpopProof(
        proof as string | undefined,
        {
          method: 'POST',
          url: endpoint,
          notBefore: this.hot.replay.notBefore(),
          // Unrequired, a nonce is not checked: it may be the token endpoint's (oidc-provider issues its own).
          ...(required ? { nonce: this.nonces.expectation(true) } : {}),
        },
        { algorithms: CLIENT_SIGNING_ALGS, maxAgeSeconds: this.config.dpopProofMaxAge, clockSkewSeconds: this.config.clockSkew },
        this.hot.replay,
      );
    } catch (err) {
      if (err instanceof InvalidDpopProof) this.failures.authenticated(client.clientId);
      throw asAuthorizationServerError(err);
    }
  }
}
