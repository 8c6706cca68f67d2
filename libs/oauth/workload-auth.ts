import { Inject, Injectable } from '@nestjs/common';
import { ClientRegistry, type ClientRecord } from '#clients';
import { CONFIG, type TollgateConfig } from '#config';
import { HOT_STATE, type HotState } from '#hot-state';
import { unverifiedAssertionIssuer, verifyClientAssertion, type VerifiedAssertion } from './client-assertion.js';
import { ClientKeySets } from './client-key-sets.js';
import { DPOP_NONCES, type DpopNonces } from './dpop-nonce.js';
import { verifyDpopProof, type VerifiedProof } from './dpop-proof.js';
import { asAuthorizationServerError, InvalidClient, InvalidRequest } from './oauth-error.js';
import { CLIENT_SIGNING_ALGS, MAX_ASSERTION_LIFETIME, OAUTH_ROUTES } from './provider.js';

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
  assertion: VerifiedAssertion;
}

/**
 * private_key_jwt (RFC 7523 §2.2) at Tollgate's own workload endpoints (revocation, step-up),
 * with the same rules as oidc-provider applies at the token endpoint, and DPoP proofs (RFC 9449
 * §4.3) for endpoints that bind what they hand out to the workload's DPoP key.
 */
@Injectable()
export class WorkloadAuthenticator {
  constructor(
    @Inject(CONFIG) private readonly config: TollgateConfig,
    @Inject(HOT_STATE) private readonly hot: HotState,
    @Inject(DPOP_NONCES) private readonly nonces: DpopNonces,
    private readonly clients: ClientRegistry,
    private readonly keySets: ClientKeySets,
  ) {}

  /** Verifies the client assertion in `form`; `endpoint` is this endpoint's URL (an accepted `aud`). */
  async authenticate(form: Form, endpoint: string): Promise<AuthenticatedWorkload> {
    const assertion = formParam(form, 'client_assertion');
    const type = formParam(form, 'client_assertion_type');
    if (!assertion) throw new InvalidClient('client authentication with private_key_jwt (RFC 7523) is required');
    const named = formParam(form, 'client_id');
    const clientId = named ?? unverifiedAssertionIssuer(assertion);
    const client = clientId ? await this.clients.lookup(clientId) : null;
    if (!client || client.status !== 'active' || client.tokenEndpointAuthMethod !== 'private_key_jwt' || !client.roles.includes('workload')) {
      throw new InvalidClient('client authentication failed');
    }
    const keys = await this.keySets.keysFor(client);
    const issuer = this.config.issuer;
    await this.hot.replay.current();
    const verified = await verifyClientAssertion(
      assertion,
      type,
      keys,
      {
        clientId: client.clientId,
        audiences: [issuer, `${issuer}/`, `${issuer}${OAUTH_ROUTES.token}`, endpoint],
        algorithms: CLIENT_SIGNING_ALGS,
        clockSkewSeconds: this.config.clockSkew,
        maxLifetimeSeconds: MAX_ASSERTION_LIFETIME,
      },
      this.hot.replay,
    );
    // As at the token endpoint: an assertion older than the replay store's memory could be a replay.
    if ((verified.iat ?? verified.exp - MAX_ASSERTION_LIFETIME) < this.hot.replay.notBefore()) {
      throw new InvalidClient('client assertion predates the replay store; create a new one');
    }
    return { client, assertion: verified };
  }

  /**
   * RFC 9449 §4.3 for a request to one of our endpoints (`POST endpoint`), answered as the
   * authorization server answers (400s, §5 and §8). A server nonce is required as at the token
   * endpoint: when TOLLGATE_DPOP_REQUIRE_NONCE or the client's require_dpop_nonce says so.
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
      throw asAuthorizationServerError(err);
    }
  }
}
