import type { JWK } from 'jose';
import type { FieldProblem } from '#admin';
import { checkClientJwks, spiffeTrustDomainOf } from '#clients';
import { type EgressPolicy, egressUrlProblem, parseEgressAllow } from '#egress';

export type TrustedIssuerKind = 'oidc' | 'spiffe';

/**
 * An issuer of platform tokens that workloads may authenticate with (docs/federation.md). For
 * `spiffe`, `issuer` is `spiffe://<trust domain>`, `jwks` the static bundle and `jwksUri` the
 * bundle endpoint.
 */
export interface TrustedIssuer {
  id: string;
  kind: TrustedIssuerKind;
  issuer: string;
  jwks: { keys: JWK[] } | null;
  jwksUri: string | null;
  allowedAddresses: string[];
  reusableTokens: boolean;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

/** SPIFFE Trust Domain and Bundle §4.2.1: JWT-SVID keys say `"use": "jwt-svid"`. */
export const SPIFFE_KEY_USES = ['jwt-svid'] as const;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The keys that may verify this kind of issuer's tokens, selected by `use` (jose's key-set
 * helpers would skip `jwt-svid` keys): a SPIFFE bundle's `jwt-svid` keys only (its `x509-svid`
 * entries are CA certificates), an OIDC set's keys without `use` or with `sig` (RFC 7517 §4.2).
 * What is not a set is handed on as it is, for the key rules to name.
 */
export function verificationKeys(kind: TrustedIssuerKind, set: unknown): unknown {
  if (!isRecord(set) || !Array.isArray(set.keys)) return set;
  const keep = kind === 'spiffe' ? (use: unknown) => use === 'jwt-svid' : (use: unknown) => use === undefined || use === 'sig';
  return { keys: set.keys.filter((k: unknown) => !isRecord(k) || keep(k.use)) };
}

/** The `use` values the key rules accept for this kind of issuer. */
export const keyUses = (kind: TrustedIssuerKind): readonly string[] => (kind === 'spiffe' ? SPIFFE_KEY_USES : ['sig']);

/** The admin API's view: the fields as they were given. */
export function trustedIssuerView(t: TrustedIssuer) {
  const spiffe = t.kind === 'spiffe';
  return {
    id: t.id,
    kind: t.kind,
    ...(spiffe ? { trust_domain: spiffeTrustDomainOf(t.issuer) } : { issuer: t.issuer }),
    ...(t.jwks ? { [spiffe ? 'bundle' : 'jwks']: t.jwks } : {}),
    ...(t.jwksUri ? { [spiffe ? 'bundle_endpoint' : 'jwks_uri']: t.jwksUri } : {}),
    allowed_addresses: t.allowedAddresses,
    reusable_tokens: t.reusableTokens,
    created_at: t.createdAt.toISOString(),
    updated_at: t.updatedAt.toISOString(),
  };
}

/** The egress policy for this issuer's fetches: the operator's allow list plus its own addresses. */
export function issuerEgressPolicy(t: Pick<TrustedIssuer, 'allowedAddresses'>, base: EgressPolicy): EgressPolicy {
  return { ...base, allow: t.allowedAddresses.length ? [...base.allow, ...t.allowedAddresses] : base.allow };
}

export type TrustedIssuerShape = Pick<TrustedIssuer, 'kind' | 'issuer' | 'jwks' | 'jwksUri' | 'allowedAddresses'>;

/** Every problem with a complete issuer (after a create, or a patch merged), named by its API field. */
export async function trustedIssuerProblems(t: TrustedIssuerShape, base: EgressPolicy): Promise<FieldProblem[]> {
  const problems: FieldProblem[] = [];
  const add = (field: string, message: string) => problems.push({ field, message });
  const spiffe = t.kind === 'spiffe';
  const keysField = spiffe ? 'bundle' : 'jwks';
  const uriField = spiffe ? 'bundle_endpoint' : 'jwks_uri';
  t.allowedAddresses.forEach((cidr, i) => {
    try {
      if (parseEgressAllow(cidr).length !== 1 || !cidr.includes('/')) add(`allowed_addresses[${i}]`, 'must be a CIDR (10.0.0.0/8, fd00::/8)');
    } catch {
      add(`allowed_addresses[${i}]`, 'must be a CIDR (10.0.0.0/8, fd00::/8)');
    }
  });
  const policy = issuerEgressPolicy(t, base);
  if (spiffe) {
    if (!spiffeTrustDomainOf(t.issuer)) add('trust_domain', 'must be a SPIFFE trust domain name (lower case letters, digits, ".", "-", "_")');
    if (!t.jwks === !t.jwksUri) add('bundle', 'exactly one of bundle or bundle_endpoint is required');
  } else {
    const url = URL.parse(t.issuer);
    if (!url || url.protocol !== 'https:' || url.search || url.hash || url.username || url.password) {
      add('issuer', 'must be an https URL without query or fragment (the tokens\' iss)');
    } else if (!t.jwks && !t.jwksUri) {
      // Keys by discovery (OpenID Connect Discovery 1.0 §4): the issuer itself is fetched.
      const problem = egressUrlProblem(t.issuer, policy);
      if (problem) add('issuer', problem);
    }
    if (t.jwks && t.jwksUri) add('jwks', 'send either jwks or jwks_uri, not both');
  }
  if (t.jwks) {
    for (const p of await checkClientJwks(t.jwks, { uses: keyUses(t.kind) })) add(p.field.replace(/^jwks/, keysField), p.message);
  }
  if (t.jwksUri) {
    const problem = egressUrlProblem(t.jwksUri, policy);
    if (problem) add(uriField, problem);
  }
  return problems;
}
