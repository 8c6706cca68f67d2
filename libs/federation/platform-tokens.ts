import { Inject, Injectable } from '@nestjs/common';
import { compactVerify, decodeJwt, decodeProtectedHeader, importJWK, type JWK, type JWTPayload, type ProtectedHeaderParameters } from 'jose';
import { type ClientRecord, type FederatedIdentity, identityMismatch, claimAt, spiffeTrustDomainOf } from '#clients';
import { CONFIG, type TollgateConfig } from '#config';
import { HOT_STATE, type HotState } from '#hot-state';
import { CLIENT_SIGNING_ALGS, JWT_BEARER_ASSERTION_TYPE, JWT_SPIFFE_ASSERTION_TYPE } from '#protocol';
import { IssuerKeys } from './issuer-keys.js';
import type { TrustedIssuer } from './trusted-issuer.js';
import { TrustedIssuers } from './trusted-issuers.js';

/** Why a platform token was refused; the codes are libs/credentials' AuthFailureReason values. */
export type PlatformTokenRefusal =
  | 'assertion_malformed'
  | 'assertion_typ'
  | 'assertion_alg'
  | 'assertion_lifetime'
  | 'assertion_audience'
  | 'assertion_stale'
  | 'assertion_replay'
  | 'untrusted_issuer'
  | 'unknown_key'
  | 'assertion_signature'
  | 'identity_mismatch';

export class PlatformTokenRefused extends Error {
  override readonly name = 'PlatformTokenRefused';
  constructor(readonly reason: PlatformTokenRefusal, message: string) {
    super(message);
  }
}

/** Who authenticated: the matched rule, the token's issuer and subject, and the claims the rule named. */
export interface FederatedAuthentication {
  trustedIssuerId: string;
  kind: TrustedIssuer['kind'];
  /** The rule's issuer: the token's `iss`, or spiffe://<trust domain>. */
  issuer: string;
  subject: string;
  /** The claims the matched rule named, as the token carried them (for the risk context and the decision log). */
  claims: Record<string, string>;
  /** How long the token lived (exp − iat), seconds. */
  lifetime: number;
  /** Whether a `jti` was consumed (single use); otherwise the DPoP proof carries the freshness. */
  singleUse: boolean;
}

const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
/** A Kubernetes token with a long bound-object chain is ~1.5 KB; RS4096 signatures add 700 bytes. */
const MAX_TOKEN_LENGTH = 16_384;
/** RFC 8725 §3.11: token types that must never double as a client credential. */
const CONFUSABLE_TYPES = new Set(['dpop+jwt', 'at+jwt', 'token-introspection+jwt']);

const refuse = (reason: PlatformTokenRefusal, message: string) => new PlatformTokenRefused(reason, message);

/** Whether a JWK can verify `alg` (kty and curve), and does not say another alg. */
function keyFits(key: JWK, alg: string): boolean {
  if (key.alg !== undefined && key.alg !== alg && !(alg === 'EdDSA' && key.alg === 'Ed25519') && !(alg === 'Ed25519' && key.alg === 'EdDSA')) return false;
  if (alg.startsWith('ES')) return key.kty === 'EC' && key.crv === { ES256: 'P-256', ES384: 'P-384' }[alg];
  if (alg === 'EdDSA' || alg === 'Ed25519') return key.kty === 'OKP' && key.crv === 'Ed25519';
  return key.kty === 'RSA';
}

/**
 * Verifies a platform token presented as a client assertion (RFC 7523 §2.2 with `jwt-bearer`, or
 * draft-ietf-oauth-spiffe-client-auth §4 with `jwt-spiffe`) against the client's federated
 * identities: a trusted issuer, an asymmetric signature by one of its keys, the time claims, one
 * rule that matches (subject, claims, audience, lifetime), and a `jti` used once unless the
 * issuer's tokens are reusable.
 */
@Injectable()
export class PlatformTokens {
  constructor(
    private readonly issuers: TrustedIssuers,
    private readonly keys: IssuerKeys,
    @Inject(HOT_STATE) private readonly hot: HotState,
    @Inject(CONFIG) private readonly config: TollgateConfig,
  ) {}

  /** Whether this assertion is a platform token for this request (and not the client's own RFC 7523 assertion). */
  static isFederated(assertionType: unknown, assertion: string, clientId: string | undefined): boolean {
    if (assertionType === JWT_SPIFFE_ASSERTION_TYPE) return true;
    if (assertionType !== JWT_BEARER_ASSERTION_TYPE || clientId === undefined) return false;
    // RFC 7523 §3: the client's own assertion has iss = client_id; a platform token has its issuer's.
    try {
      const { iss } = decodeJwt(assertion);
      return typeof iss === 'string' && iss !== clientId && iss.startsWith('https://');
    } catch {
      return false;
    }
  }

  /** Rejects with PlatformTokenRefused, or IssuerKeysUnavailable (answer 503). */
  async verify(assertion: string, assertionType: string, client: ClientRecord, now = Date.now() / 1000): Promise<FederatedAuthentication> {
    if (assertion.length > MAX_TOKEN_LENGTH || !JWS_COMPACT.test(assertion)) throw refuse('assertion_malformed', 'the platform token is not a signed JWT');
    let header: ProtectedHeaderParameters;
    let payload: JWTPayload;
    try {
      header = decodeProtectedHeader(assertion);
      payload = decodeJwt(assertion);
    } catch {
      throw refuse('assertion_malformed', 'the platform token is not a signed JWT');
    }
    // RFC 7523 §3 (9), RFC 8725 §3.1: only the asymmetric algorithms we accept; never `none` or HS*.
    if (typeof header.alg !== 'string' || !(CLIENT_SIGNING_ALGS as readonly string[]).includes(header.alg)) {
      throw refuse('assertion_alg', `the platform token's alg is not accepted (allowed: ${CLIENT_SIGNING_ALGS.join(', ')})`);
    }
    if (typeof header.typ === 'string' && CONFUSABLE_TYPES.has(header.typ.toLowerCase())) throw refuse('assertion_typ', 'the platform token has a typ that is not a platform identity');
    if (header.crit !== undefined) throw refuse('assertion_malformed', 'the platform token has critical header parameters we do not understand');

    const name = this.issuerName(assertionType, payload);
    const trusted = name ? await this.issuers.byName(name) : undefined;
    if (!trusted || trusted.kind !== (assertionType === JWT_SPIFFE_ASSERTION_TYPE ? 'spiffe' : 'oidc')) {
      throw refuse('untrusted_issuer', 'the platform token is not from a trusted issuer');
    }
    // Cheap before any key is fetched: the client must trust this issuer at all.
    const rules = client.federatedIdentities.filter((r) => r.issuer === trusted.issuer);
    if (rules.length === 0) throw refuse('identity_mismatch', 'the platform token does not match a federated identity of this client');

    const skew = this.config.clockSkew;
    const { exp, nbf, iat } = payload;
    if (typeof exp !== 'number') throw refuse('assertion_lifetime', 'the platform token has no exp');
    if (exp <= now - skew) throw refuse('assertion_lifetime', 'the platform token has expired');
    if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + skew)) throw refuse('assertion_lifetime', 'the platform token is not yet valid (nbf)');
    if (iat !== undefined && (typeof iat !== 'number' || iat > now + skew)) throw refuse('assertion_lifetime', 'the platform token was issued in the future (iat)');

    await this.verifySignature(assertion, header, trusted);

    const context = { issuer: trusted.issuer, defaultAudience: this.config.issuer };
    const token = { ...payload, iat: iat ?? undefined };
    let matched: FederatedIdentity | undefined;
    let mismatch = 'subject';
    for (const rule of rules) {
      const why = identityMismatch(rule, token, context);
      if (!why) {
        matched = rule;
        break;
      }
      // Report the failure of the rule that came closest (its subject matched).
      if (why !== 'subject' || mismatch === 'subject') mismatch = why;
    }
    if (!matched) {
      if (mismatch === 'audience') throw refuse('assertion_audience', `the platform token's audience is not the one this client's rule requires`);
      if (mismatch === 'lifetime') throw refuse('assertion_lifetime', `the platform token lives longer than this client's rule allows (exp − iat), or has no iat`);
      throw refuse('identity_mismatch', 'the platform token does not match a federated identity of this client');
    }

    // Issue 11 §3: a jti is single use unless the issuer's tokens are meant to be re-read.
    const jti = payload.jti;
    const singleUse = typeof jti === 'string' && jti !== '' && !trusted.reusableTokens;
    if (singleUse) {
      // A store that forgot (restarted) cannot say whether this jti was seen: refuse older tokens.
      await this.hot.replay.current();
      if ((iat as number) < this.hot.replay.notBefore()) throw refuse('assertion_stale', 'the platform token predates the replay store; get a new one');
      const ttl = Math.max(1, Math.ceil(exp - now + skew));
      if (!(await this.hot.replay.claim(`federated:${trusted.id}:${jti}`, ttl, iat as number))) throw refuse('assertion_replay', 'the platform token jti was already used');
    }
    const claims: Record<string, string> = {};
    for (const path of Object.keys(matched.claims ?? {})) claims[path] = claimAt(payload, path) as string;
    return {
      trustedIssuerId: trusted.id,
      kind: trusted.kind,
      issuer: trusted.issuer,
      subject: payload.sub as string,
      claims,
      lifetime: exp - (iat as number),
      singleUse,
    };
  }

  /** The trusted issuer's name this token claims: its `iss`, or the trust domain of its SPIFFE ID `sub`. */
  private issuerName(assertionType: string, payload: JWTPayload): string | undefined {
    if (assertionType === JWT_SPIFFE_ASSERTION_TYPE) {
      // draft-ietf-oauth-spiffe-client-auth §4.1: the JWT-SVID's sub is the SPIFFE ID; iss is optional.
      const match = typeof payload.sub === 'string' ? /^spiffe:\/\/([^/]+)\//.exec(payload.sub) : null;
      const name = match ? `spiffe://${match[1]}` : undefined;
      return name && spiffeTrustDomainOf(name) ? name : undefined;
    }
    return typeof payload.iss === 'string' ? payload.iss : undefined;
  }

  private async verifySignature(assertion: string, header: ProtectedHeaderParameters, trusted: TrustedIssuer): Promise<void> {
    const alg = header.alg!;
    const kid = typeof header.kid === 'string' ? header.kid : undefined;
    const set = await this.keys.keysFor(trusted, { kid });
    const candidates = set.keys.filter((k) => (kid === undefined || k.kid === kid) && keyFits(k, alg));
    if (candidates.length === 0) throw refuse('unknown_key', 'no key of the trusted issuer can verify the platform token');
    for (const jwk of candidates) {
      try {
        const { use: _use, key_ops: _ops, ...material } = jwk;
        await compactVerify(assertion, await importJWK({ ...material, alg }, alg), { algorithms: [alg] });
        return;
      } catch {
        // Next candidate (a kid-less token against several keys).
      }
    }
    throw refuse('assertion_signature', 'the platform token signature does not verify');
  }
}
