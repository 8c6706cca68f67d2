// A client's federated identities (docs/federation.md): who, holding a platform token from a
// trusted issuer, may authenticate as this client. Pure: shapes, validation and matching.
import type { FieldProblem } from '#admin';

/** One rule, as stored and as the admin API and RFC 7591 registration carry it. */
export interface FederatedIdentity {
  /** The token's `iss` (an https URL), or `spiffe://<trust domain>` for JWT-SVIDs. */
  issuer: string;
  /** The token's `sub`: exact, or a glob (`*` within a segment, `**` across segments). */
  subject?: string;
  /** Claim path → exact value or glob; a path is dot-separated, dotted names matched whole first. */
  claims?: Record<string, string>;
  /** The audience the token must carry; Tollgate's issuer when absent (RFC 7523 §3 item 3). */
  audience?: string;
  /** Longest token accepted, `exp − iat` in seconds. */
  max_lifetime?: number;
}

/** A rule without max_lifetime accepts tokens that live at most this long (seconds). */
export const DEFAULT_MAX_LIFETIME = 3600;
/** And no rule may accept longer-lived ones (a platform token is a short-lived credential). */
export const MAX_LIFETIME_CAP = 86_400;
export const MAX_FEDERATED_IDENTITIES = 20;
const MAX_CLAIM_RULES = 20;
const MAX_TEXT = 1000;

/**
 * Claims that scope a token to one tenant of a shared platform: a rule whose subject matches any
 * workload must pin one of these to a literal (no wildcard) value. GitHub Actions (repository,
 * repository_owner and their ids), GitLab CI (project_path, namespace_path and ids), Kubernetes
 * (the namespace, under `kubernetes.io`).
 */
export const TENANT_CLAIMS = Object.freeze([
  'repository',
  'repository_id',
  'repository_owner',
  'repository_owner_id',
  'project_path',
  'project_id',
  'namespace_path',
  'namespace_id',
  'kubernetes.io.namespace',
]);

/** Words that name a platform's subject format, not a tenant (`repo:…`, `system:serviceaccount:…`). */
const FORMAT_WORDS = new Set(['repo', 'system', 'serviceaccount', 'project', 'spiffe', 'ref', 'refs', 'heads', 'tags', 'environment', 'pull_request', 'job_workflow_ref']);

const hasWildcard = (value: string) => value.includes('*');

/** `spiffe://trust-domain` (SPIFFE ID §2.1: lower case letters, digits, `.`, `-`, `_`). */
const SPIFFE_ISSUER = /^spiffe:\/\/([a-z0-9._-]{1,255})$/;

export function spiffeTrustDomainOf(issuer: string): string | undefined {
  return SPIFFE_ISSUER.exec(issuer)?.[1];
}

/**
 * Whether a rule could match tokens of another tenant of the same issuer: its subject is absent
 * or, without wildcards, separators and format words, says nothing, and no tenant claim is pinned.
 */
export function isTenantWide(rule: FederatedIdentity): boolean {
  const pinned = Object.entries(rule.claims ?? {}).some(([path, value]) => TENANT_CLAIMS.includes(path) && value !== '' && !hasWildcard(value));
  if (pinned) return false;
  if (rule.subject === undefined) return true;
  let subject = rule.subject;
  const trustDomain = spiffeTrustDomainOf(rule.issuer);
  if (trustDomain && subject.startsWith(`spiffe://${trustDomain}`)) subject = subject.slice(`spiffe://${trustDomain}`.length);
  const words = subject
    .split(/[/:]+/)
    .map((segment) => segment.replace(/\*+/g, ''))
    .filter((segment) => segment !== '' && !FORMAT_WORDS.has(segment.toLowerCase()));
  return words.length === 0;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Every problem with a client's `federated_identities`, by field (`federated_identities[0].subject`).
 * `value` is what the request carried (unchecked JSON).
 */
export function federatedIdentityProblems(value: unknown): FieldProblem[] {
  const problems: FieldProblem[] = [];
  if (!Array.isArray(value)) return [{ field: 'federated_identities', message: 'must be an array of rules' }];
  if (value.length > MAX_FEDERATED_IDENTITIES) return [{ field: 'federated_identities', message: `at most ${MAX_FEDERATED_IDENTITIES} rules` }];
  value.forEach((rule: unknown, index) => {
    const at = `federated_identities[${index}]`;
    const add = (field: string, message: string) => problems.push({ field: `${at}${field}`, message });
    if (!isRecord(rule)) return add('', 'must be an object');
    for (const member of Object.keys(rule)) {
      if (!['issuer', 'subject', 'claims', 'audience', 'max_lifetime'].includes(member)) add(`.${member}`, 'is not a rule member');
    }
    const { issuer, subject, claims, audience, max_lifetime: maxLifetime } = rule;
    if (typeof issuer !== 'string' || issuer === '' || issuer.length > MAX_TEXT) {
      add('.issuer', 'must be the issuer URL (https) or spiffe://<trust domain>');
    } else if (!spiffeTrustDomainOf(issuer)) {
      const url = URL.parse(issuer);
      if (!url || url.protocol !== 'https:' || url.search || url.hash || url.username || url.password) {
        add('.issuer', 'must be an https URL without query or fragment, or spiffe://<trust domain>');
      }
    }
    if (subject !== undefined) {
      if (typeof subject !== 'string' || subject === '' || subject.length > MAX_TEXT) add('.subject', 'must be a non-empty string');
      else if (/\*{3,}/.test(subject)) add('.subject', 'use * (one segment) or ** (any segments), not ***');
      else if (typeof issuer === 'string' && spiffeTrustDomainOf(issuer) && !subject.startsWith(`${issuer}/`)) {
        add('.subject', `a SPIFFE ID in the issuer's trust domain (${issuer}/...)`);
      }
    }
    if (claims !== undefined) {
      if (!isRecord(claims)) add('.claims', 'must be an object of claim path → value or glob');
      else {
        const entries = Object.entries(claims);
        if (entries.length > MAX_CLAIM_RULES) add('.claims', `at most ${MAX_CLAIM_RULES} claims`);
        for (const [path, expected] of entries) {
          if (path === '' || path.length > 200 || path.split('.').some((part) => part === '')) add(`.claims.${path}`, 'a claim path is dot-separated names');
          else if (['iss', 'aud', 'exp', 'iat', 'nbf', 'jti'].includes(path)) add(`.claims.${path}`, 'is checked by the rule itself (issuer, audience, max_lifetime)');
          if (typeof expected !== 'string' || expected === '' || expected.length > MAX_TEXT) add(`.claims.${path}`, 'must be a non-empty string (exact value or glob)');
          else if (/\*{3,}/.test(expected)) add(`.claims.${path}`, 'use * (one segment) or ** (any segments), not ***');
        }
      }
    }
    if (audience !== undefined && (typeof audience !== 'string' || audience === '' || audience.length > MAX_TEXT)) add('.audience', 'must be a non-empty string');
    if (maxLifetime !== undefined && (!Number.isInteger(maxLifetime) || (maxLifetime as number) < 1 || (maxLifetime as number) > MAX_LIFETIME_CAP)) {
      add('.max_lifetime', `must be an integer number of seconds, 1 to ${MAX_LIFETIME_CAP}`);
    }
    if (problems.some((p) => p.field.startsWith(at))) return;
    if (isTenantWide(rule as unknown as FederatedIdentity)) {
      add('', `could match tokens of any tenant of ${issuer as string}: give a subject that names the workload, or pin one of ${TENANT_CLAIMS.join(', ')}`);
    }
  });
  return problems;
}

/** A copy holding exactly the rule members (what is stored). */
export function normalizedIdentities(rules: readonly FederatedIdentity[]): FederatedIdentity[] {
  return rules.map((r) => ({
    issuer: r.issuer,
    ...(r.subject !== undefined ? { subject: r.subject } : {}),
    ...(r.claims !== undefined ? { claims: { ...r.claims } } : {}),
    ...(r.audience !== undefined ? { audience: r.audience } : {}),
    ...(r.max_lifetime !== undefined ? { max_lifetime: r.max_lifetime } : {}),
  }));
}

const compiledGlobs = new Map<string, RegExp>();

/**
 * Whether `value` matches `pattern`: `*` is any run of characters within one segment (no `/` or
 * `:`), `**` any run at all; everything else is literal. Exact when there is no `*`.
 */
export function globMatches(pattern: string, value: string): boolean {
  if (!hasWildcard(pattern)) return pattern === value;
  let re = compiledGlobs.get(pattern);
  if (!re) {
    const source = pattern
      .split('**')
      .map((part) => part.split('*').map((literal) => literal.replace(/[\\^$.|?+()[\]{}]/g, '\\$&')).join('[^/:]*'))
      .join('[\\s\\S]*');
    re = new RegExp(`^${source}$`);
    // Bounded: patterns come from stored rules only, never from requests.
    if (compiledGlobs.size >= 10_000) compiledGlobs.clear();
    compiledGlobs.set(pattern, re);
  }
  return re.test(value);
}

/**
 * The claim at a dot-separated path. A name that itself holds dots (`kubernetes.io`) is matched
 * whole first: at each level the longest prefix of the remaining path that is a member wins.
 */
export function claimAt(claims: unknown, path: string): unknown {
  if (!isRecord(claims)) return undefined;
  if (Object.hasOwn(claims, path)) return claims[path];
  for (let end = path.lastIndexOf('.'); end > 0; end = path.lastIndexOf('.', end - 1)) {
    const name = path.slice(0, end);
    if (Object.hasOwn(claims, name)) {
      const found = claimAt(claims[name], path.slice(end + 1));
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** Why a verified token's claims do not satisfy a rule (first failure), or undefined when they do. */
export function identityMismatch(
  rule: FederatedIdentity,
  token: { iss?: unknown; sub?: unknown; aud?: unknown; iat?: unknown; exp?: unknown; [claim: string]: unknown },
  context: { issuer: string; defaultAudience: string },
): string | undefined {
  if (rule.issuer !== context.issuer) return 'issuer';
  if (typeof token.sub !== 'string') return 'subject';
  if (rule.subject !== undefined && !globMatches(rule.subject, token.sub)) return 'subject';
  const audience = rule.audience ?? context.defaultAudience;
  const audiences = Array.isArray(token.aud) ? token.aud : [token.aud];
  if (!audiences.includes(audience)) return 'audience';
  if (typeof token.exp !== 'number' || typeof token.iat !== 'number' || token.exp - token.iat > (rule.max_lifetime ?? DEFAULT_MAX_LIFETIME)) return 'lifetime';
  for (const [path, expected] of Object.entries(rule.claims ?? {})) {
    const actual = claimAt(token, path);
    if (typeof actual !== 'string' || !globMatches(expected, actual)) return `claim ${path}`;
  }
  return undefined;
}
