import { Injectable, Logger } from '@nestjs/common';
import type { JWK } from 'jose';
import { fetchCheckedJwks, JwksBreaksKeyRules } from '#clients';
import { type EgressPolicy, EgressRefused, egressUrlProblem, FetchedKeySets, fetchJson, JWKS_FETCH_LIMITS, KeySetUnavailable } from '#egress';
import { issuerEgressPolicy, keyUses, type TrustedIssuer, verificationKeys } from './trusted-issuer.js';
import { TrustedIssuers } from './trusted-issuers.js';

/**
 * The refresh rules (docs/federation.md, "Keys"): a good set is used 60 s, so a key removed
 * at a reachable issuer stops being accepted within about 60 s (120 s promised); a token naming a
 * kid the set lacks refetches at most every 10 s per issuer; a failed fetch is retried after 5 s;
 * while the issuer is unreachable the last good keys keep working for 10 minutes after they were
 * fetched, then tokens are answered 503 until it is back.
 */
const REFRESH = Object.freeze({ freshMs: 60_000, retryMs: 5_000, kidCooldownMs: 10_000, keepGoodMs: 600_000 });

/** No keys to verify with (never fetched, or too long unreachable): answer 503 and retry after `retryAfter` s. */
export class IssuerKeysUnavailable extends Error {
  override readonly name = 'IssuerKeysUnavailable';
  constructor(readonly retryAfter: number, message: string) {
    super(message);
  }
}

/** The issuer's discovery document said something we cannot use. */
class DiscoveryRefused extends Error {}

/**
 * A trusted issuer's verification keys: static (`jwks`, `bundle`), or fetched through the egress
 * guard (its `jwks_uri` / `bundle_endpoint`, or OpenID discovery's `jwks_uri`) with the issuer's
 * `allowed_addresses` added to the operator's allow list, held to the client key rules, lazily on
 * first use. The cache is libs/egress' FetchedKeySets (owner: this class; bound 10,000 sets),
 * keyed by the issuer's id and version so that an admin change applies at once.
 */
@Injectable()
export class IssuerKeys {
  private readonly sets = new FetchedKeySets<{ keys: JWK[] }>(REFRESH);
  private readonly logger = new Logger('federation');

  constructor(private readonly issuers: TrustedIssuers) {}

  async keysFor(issuer: TrustedIssuer, want: { kid?: string } = {}): Promise<{ keys: JWK[] }> {
    if (issuer.jwks) return issuer.jwks;
    try {
      return await this.sets.get(`${issuer.id}@${issuer.version}`, () => this.fetch(issuer), want);
    } catch (error) {
      if (!(error instanceof KeySetUnavailable)) throw error;
      const retryAfter = Math.max(1, Math.ceil((error.retryAt - Date.now()) / 1000));
      throw new IssuerKeysUnavailable(retryAfter, `the keys of ${issuer.issuer} cannot be had now (${error.cause.message})`);
    }
  }

  private async fetch(issuer: TrustedIssuer): Promise<{ keys: JWK[] }> {
    const policy = issuerEgressPolicy(issuer, this.issuers.egress);
    try {
      const uri = issuer.jwksUri ?? (await this.discoveredJwksUri(issuer.issuer, policy));
      return await fetchCheckedJwks(uri, policy, { uses: keyUses(issuer.kind), select: (body) => verificationKeys(issuer.kind, body) });
    } catch (error) {
      const reason = error instanceof EgressRefused ? error.reason : error instanceof JwksBreaksKeyRules ? 'key_rules' : error instanceof DiscoveryRefused ? 'discovery' : 'fetch';
      // Once per retry period per issuer: what was refused and why (never the response body).
      this.logger.warn({ message: 'trusted issuer keys refused', issuer: issuer.issuer, reason, detail: (error as Error).message });
      throw error instanceof Error ? error : new Error('the keys could not be fetched');
    }
  }

  /** OpenID Connect Discovery 1.0 §4: the issuer's configuration names its jwks_uri; §4.3: its issuer must be ours exactly. */
  private async discoveredJwksUri(issuer: string, policy: EgressPolicy): Promise<string> {
    const document = (await fetchJson(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`, JWKS_FETCH_LIMITS, policy)) as Record<string, unknown> | null;
    if (typeof document !== 'object' || document === null || document.issuer !== issuer) {
      throw new DiscoveryRefused('the discovery document does not name this issuer');
    }
    const uri = document.jwks_uri;
    if (typeof uri !== 'string') throw new DiscoveryRefused('the discovery document has no jwks_uri');
    const problem = egressUrlProblem(uri, policy);
    if (problem) throw new DiscoveryRefused(`the discovery document's jwks_uri is refused (${problem})`);
    return uri;
  }
}
