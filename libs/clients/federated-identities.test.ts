import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  claimAt,
  DEFAULT_MAX_LIFETIME,
  type FederatedIdentity,
  federatedIdentityProblems,
  globMatches,
  identityMismatch,
  isTenantWide,
  MAX_FEDERATED_IDENTITIES,
  normalizedIdentities,
  spiffeTrustDomainOf,
} from './federated-identities.js';

const GH = 'https://token.actions.githubusercontent.com';
const K8S = 'https://kubernetes.default.svc.cluster.local';
const TOLLGATE = 'https://tollgate.example.com';

describe('globMatches', () => {
  it('without a wildcard, is exact (case-sensitive, no prefix or suffix match)', () => {
    assert.equal(globMatches('repo:octo/app:ref:refs/heads/main', 'repo:octo/app:ref:refs/heads/main'), true);
    assert.equal(globMatches('repo:octo/app', 'repo:octo/app:ref:refs/heads/main'), false);
    assert.equal(globMatches('repo:octo/app', 'xrepo:octo/app'), false);
    assert.equal(globMatches('Repo:octo/app', 'repo:octo/app'), false);
  });

  it('* matches within one segment: not across / or :', () => {
    assert.equal(globMatches('repo:octo/*:ref:refs/heads/main', 'repo:octo/app:ref:refs/heads/main'), true);
    assert.equal(globMatches('repo:octo/*:ref:refs/heads/main', 'repo:octo/app/x:ref:refs/heads/main'), false);
    assert.equal(globMatches('repo:octo/*', 'repo:octo/app:ref:refs/heads/main'), false);
    assert.equal(globMatches('system:serviceaccount:payments:*', 'system:serviceaccount:payments:checkout'), true);
    assert.equal(globMatches('system:serviceaccount:payments:*', 'system:serviceaccount:payments:a:b'), false);
    assert.equal(globMatches('refs/heads/*', 'refs/heads/feature/x'), false);
  });

  it('* matches an empty run, and may sit inside a segment', () => {
    assert.equal(globMatches('release-*', 'release-'), true);
    assert.equal(globMatches('release-*', 'release-1.2'), true);
    assert.equal(globMatches('*-prod', 'eu-prod'), true);
    assert.equal(globMatches('a*c', 'abbbc'), true);
    assert.equal(globMatches('a*c', 'ab/c'), false);
  });

  it('** matches across segments, including none', () => {
    assert.equal(globMatches('spiffe://example.org/ns/payments/**', 'spiffe://example.org/ns/payments/sa/checkout'), true);
    assert.equal(globMatches('spiffe://example.org/ns/payments/**', 'spiffe://example.org/ns/payments/'), true);
    assert.equal(globMatches('spiffe://example.org/ns/payments/**', 'spiffe://example.org/ns/billing/sa/x'), false);
    assert.equal(globMatches('repo:octo/app:**', 'repo:octo/app:ref:refs/heads/feature/x'), true);
    assert.equal(globMatches('**', ''), true);
  });

  it('every other character is literal: regular-expression syntax means nothing', () => {
    assert.equal(globMatches('a.b', 'axb'), false);
    assert.equal(globMatches('a.b', 'a.b'), true);
    assert.equal(globMatches('(a|b)*', '(a|b)x'), true);
    assert.equal(globMatches('(a|b)*', 'a'), false);
    assert.equal(globMatches('a+?[x]{2}$^\\*', 'a+?[x]{2}$^\\z'), true);
    assert.equal(globMatches('a?', 'ab'), false);
  });

  it('matches the whole value, even with newlines in it', () => {
    assert.equal(globMatches('**', 'a\nb'), true);
    assert.equal(globMatches('a*', 'a\nb'), true);
    assert.equal(globMatches('main', 'main\n'), false);
    assert.equal(globMatches('*', 'x\n'), true);
  });
});

describe('claimAt', () => {
  const k8s = {
    sub: 'system:serviceaccount:payments:checkout',
    'kubernetes.io': { namespace: 'payments', serviceaccount: { name: 'checkout', uid: 'u1' }, pod: { name: 'p' } },
  };

  it('reads a top-level claim', () => {
    assert.equal(claimAt(k8s, 'sub'), 'system:serviceaccount:payments:checkout');
  });

  it('reads under a claim name that holds dots (kubernetes.io), matched whole first', () => {
    assert.equal(claimAt(k8s, 'kubernetes.io.namespace'), 'payments');
    assert.equal(claimAt(k8s, 'kubernetes.io.serviceaccount.name'), 'checkout');
  });

  it('prefers a member named with the whole path over a nested one', () => {
    assert.equal(claimAt({ 'a.b': 'whole', a: { b: 'nested' } }, 'a.b'), 'whole');
  });

  it('prefers the longest dotted name, and falls back to shorter ones', () => {
    assert.equal(claimAt({ 'a.b': { c: 'long' }, a: { b: { c: 'short' } } }, 'a.b.c'), 'long');
    assert.equal(claimAt({ 'a.b': { x: 'long' }, a: { b: { c: 'short' } } }, 'a.b.c'), 'short');
  });

  it('is undefined for a missing path, a path through a scalar, or a non-object', () => {
    assert.equal(claimAt(k8s, 'kubernetes.io.node.name'), undefined);
    assert.equal(claimAt(k8s, 'sub.x'), undefined);
    assert.equal(claimAt('x', 'a'), undefined);
    assert.equal(claimAt(null, 'a'), undefined);
    assert.equal(claimAt({ a: ['x'] }, 'a.0'), undefined);
  });

  it('never reads inherited members', () => {
    assert.equal(claimAt({}, 'constructor'), undefined);
    assert.equal(claimAt({}, 'toString'), undefined);
    assert.equal(claimAt({ a: {} }, 'a.__proto__'), undefined);
  });
});

describe('isTenantWide', () => {
  it('a rule without a subject and without a pinned tenant claim', () => {
    assert.equal(isTenantWide({ issuer: GH }), true);
    assert.equal(isTenantWide({ issuer: GH, claims: { ref: 'refs/heads/main' } }), true);
  });

  it('a subject of wildcards, separators and platform format words only', () => {
    for (const subject of ['*', '**', '*:*', 'repo:*', 'repo:*:*', 'repo:**', 'system:serviceaccount:*:*', 'repo:*:ref:refs/heads/*', 'repo:*:environment:*']) {
      assert.equal(isTenantWide({ issuer: GH, subject }), true, subject);
    }
  });

  it('a SPIFFE rule whose subject names nothing below the trust domain', () => {
    assert.equal(isTenantWide({ issuer: 'spiffe://example.org', subject: 'spiffe://example.org/**' }), true);
    assert.equal(isTenantWide({ issuer: 'spiffe://example.org', subject: 'spiffe://example.org/*' }), true);
    assert.equal(isTenantWide({ issuer: 'spiffe://example.org', subject: 'spiffe://example.org/ns/payments/**' }), false);
  });

  it('not when the subject names an owner, repository, namespace or account', () => {
    assert.equal(isTenantWide({ issuer: GH, subject: 'repo:octo-org/*:ref:refs/heads/main' }), false);
    assert.equal(isTenantWide({ issuer: K8S, subject: 'system:serviceaccount:payments:*' }), false);
    assert.equal(isTenantWide({ issuer: K8S, subject: 'system:serviceaccount:*:checkout' }), false);
  });

  it('not when a tenant claim is pinned to a literal value, whatever the subject', () => {
    assert.equal(isTenantWide({ issuer: GH, subject: '**', claims: { repository_owner: 'octo-org' } }), false);
    assert.equal(isTenantWide({ issuer: GH, claims: { repository: 'octo-org/app' } }), false);
    assert.equal(isTenantWide({ issuer: K8S, subject: 'system:serviceaccount:*:*', claims: { 'kubernetes.io.namespace': 'payments' } }), false);
  });

  it('still when the tenant claim is itself a glob', () => {
    assert.equal(isTenantWide({ issuer: GH, subject: '**', claims: { repository_owner: '*' } }), true);
    assert.equal(isTenantWide({ issuer: GH, subject: '**', claims: { repository: 'octo-*/app' } }), true);
  });
});

describe('federatedIdentityProblems', () => {
  const fields = (value: unknown) => federatedIdentityProblems(value).map((p) => p.field);

  it('accepts GitHub, Kubernetes and SPIFFE rules', () => {
    assert.deepEqual(
      federatedIdentityProblems([
        { issuer: GH, subject: 'repo:octo-org/app:environment:prod', claims: { job_workflow_ref: 'octo-org/ci/.github/workflows/*@refs/heads/main' }, max_lifetime: 600 },
        { issuer: K8S, subject: 'system:serviceaccount:payments:checkout', audience: 'https://tollgate.internal' },
        { issuer: 'spiffe://example.org', subject: 'spiffe://example.org/ns/payments/sa/*' },
      ]),
      [],
    );
    assert.deepEqual(federatedIdentityProblems([]), []);
  });

  it('refuses what is not an array of objects, and too many rules', () => {
    assert.deepEqual(fields({}), ['federated_identities']);
    assert.deepEqual(fields('x'), ['federated_identities']);
    assert.deepEqual(fields([1]), ['federated_identities[0]']);
    assert.deepEqual(fields([null]), ['federated_identities[0]']);
    const many = Array.from({ length: MAX_FEDERATED_IDENTITIES + 1 }, (_, i) => ({ issuer: GH, subject: `repo:o/r${i}:ref:main` }));
    assert.deepEqual(fields(many), ['federated_identities']);
  });

  it('refuses an issuer that is neither https nor spiffe://<trust domain>', () => {
    for (const issuer of ['http://issuer.example.com', 'issuer.example.com', '', 'https://i.example.com/?q=1', 'https://i.example.com/#f', 'https://u:p@i.example.com', 'spiffe://Example.org', 'spiffe://example.org/path', 7]) {
      assert.deepEqual(fields([{ issuer, subject: 'repo:octo/app:ref:main' }]), ['federated_identities[0].issuer'], String(issuer));
    }
  });

  it('refuses a SPIFFE subject outside the trust domain', () => {
    assert.deepEqual(fields([{ issuer: 'spiffe://example.org', subject: 'spiffe://evil.org/ns/payments/sa/x' }]), ['federated_identities[0].subject']);
    assert.deepEqual(fields([{ issuer: 'spiffe://example.org', subject: 'spiffe://example.organisation/ns/x' }]), ['federated_identities[0].subject']);
  });

  it('refuses bad subjects, claims, audiences and lifetimes, by member', () => {
    assert.deepEqual(fields([{ issuer: GH, subject: '' }]), ['federated_identities[0].subject']);
    assert.deepEqual(fields([{ issuer: GH, subject: 'repo:***' }]), ['federated_identities[0].subject']);
    assert.deepEqual(fields([{ issuer: GH, subject: 'repo:o/r:ref:main', claims: [] }]), ['federated_identities[0].claims']);
    assert.deepEqual(fields([{ issuer: GH, subject: 'repo:o/r:ref:main', claims: { ref: 1 } }]), ['federated_identities[0].claims.ref']);
    assert.deepEqual(fields([{ issuer: GH, subject: 'repo:o/r:ref:main', claims: { 'a..b': 'x' } }]), ['federated_identities[0].claims.a..b']);
    assert.deepEqual(fields([{ issuer: GH, subject: 'repo:o/r:ref:main', claims: { aud: 'x' } }]), ['federated_identities[0].claims.aud']);
    assert.deepEqual(fields([{ issuer: GH, subject: 'repo:o/r:ref:main', audience: '' }]), ['federated_identities[0].audience']);
    for (const max of [0, -1, 1.5, 86_401, '600']) {
      assert.deepEqual(fields([{ issuer: GH, subject: 'repo:o/r:ref:main', max_lifetime: max }]), ['federated_identities[0].max_lifetime'], String(max));
    }
    assert.deepEqual(fields([{ issuer: GH, subject: 'repo:o/r:ref:main', extra: 1 }]), ['federated_identities[0].extra']);
  });

  it('refuses a tenant-wide rule, naming the rule, and only once its members are sound', () => {
    const problems = federatedIdentityProblems([{ issuer: GH, subject: 'repo:o/r:ref:main' }, { issuer: GH, subject: 'repo:*:*' }]);
    assert.deepEqual(problems.map((p) => p.field), ['federated_identities[1]']);
    assert.match(problems[0]!.message, /any tenant/);
    assert.deepEqual(fields([{ issuer: 'http://x', subject: '*' }]), ['federated_identities[0].issuer']);
  });
});

describe('identityMismatch', () => {
  const context = { issuer: GH, defaultAudience: TOLLGATE };
  const iat = 1_700_000_000;
  const token = (over: Record<string, unknown> = {}) => ({
    iss: GH,
    sub: 'repo:octo-org/app:environment:prod',
    aud: TOLLGATE,
    iat,
    exp: iat + 300,
    repository: 'octo-org/app',
    ref: 'refs/heads/main',
    environment: 'prod',
    ...over,
  });
  const rule: FederatedIdentity = { issuer: GH, subject: 'repo:octo-org/*:environment:prod', claims: { ref: 'refs/heads/main' } };

  it('matches a token that satisfies every part', () => {
    assert.equal(identityMismatch(rule, token(), context), undefined);
  });

  it('another issuer', () => {
    assert.equal(identityMismatch(rule, token(), { ...context, issuer: K8S }), 'issuer');
  });

  it('a subject that does not match, or none', () => {
    assert.equal(identityMismatch(rule, token({ sub: 'repo:evil-org/app:environment:prod' }), context), 'subject');
    assert.equal(identityMismatch(rule, token({ sub: undefined }), context), 'subject');
    assert.equal(identityMismatch(rule, token({ sub: 5 }), context), 'subject');
  });

  it('the audience: Tollgate by default, the rule\'s when given; a list must contain it', () => {
    assert.equal(identityMismatch(rule, token({ aud: 'https://other.example.com' }), context), 'audience');
    assert.equal(identityMismatch(rule, token({ aud: ['https://other.example.com', TOLLGATE] }), context), undefined);
    assert.equal(identityMismatch({ ...rule, audience: 'sts.tollgate' }, token(), context), 'audience');
    assert.equal(identityMismatch({ ...rule, audience: 'sts.tollgate' }, token({ aud: 'sts.tollgate' }), context), undefined);
    assert.equal(identityMismatch(rule, token({ aud: undefined }), context), 'audience');
  });

  it('the lifetime: exp − iat at most the rule\'s maximum (default one hour), and iat is needed', () => {
    assert.equal(identityMismatch(rule, token({ exp: iat + DEFAULT_MAX_LIFETIME }), context), undefined);
    assert.equal(identityMismatch(rule, token({ exp: iat + DEFAULT_MAX_LIFETIME + 1 }), context), 'lifetime');
    assert.equal(identityMismatch({ ...rule, max_lifetime: 60 }, token(), context), 'lifetime');
    assert.equal(identityMismatch(rule, token({ iat: undefined }), context), 'lifetime');
  });

  it('a claim that does not match, is missing, or is not a string', () => {
    assert.equal(identityMismatch(rule, token({ ref: 'refs/heads/dev' }), context), 'claim ref');
    assert.equal(identityMismatch(rule, token({ ref: undefined }), context), 'claim ref');
    assert.equal(identityMismatch(rule, token({ ref: ['refs/heads/main'] }), context), 'claim ref');
  });

  it('nested claims under a dotted name (Kubernetes)', () => {
    const k8sRule: FederatedIdentity = { issuer: K8S, subject: 'system:serviceaccount:payments:*', claims: { 'kubernetes.io.namespace': 'payments', 'kubernetes.io.serviceaccount.name': 'check*' } };
    const k8sToken = { iss: K8S, sub: 'system:serviceaccount:payments:checkout', aud: [TOLLGATE], iat, exp: iat + 600, 'kubernetes.io': { namespace: 'payments', serviceaccount: { name: 'checkout' } } };
    const ctx = { issuer: K8S, defaultAudience: TOLLGATE };
    assert.equal(identityMismatch(k8sRule, k8sToken, ctx), undefined);
    assert.equal(identityMismatch(k8sRule, { ...k8sToken, 'kubernetes.io': { namespace: 'billing', serviceaccount: { name: 'checkout' } } }, ctx), 'claim kubernetes.io.namespace');
  });

  it('a rule without a subject relies on its claims', () => {
    const bySubjectless: FederatedIdentity = { issuer: GH, claims: { repository: 'octo-org/app' } };
    assert.equal(identityMismatch(bySubjectless, token(), context), undefined);
    assert.equal(identityMismatch(bySubjectless, token({ repository: 'octo-org/other' }), context), 'claim repository');
  });
});

describe('spiffeTrustDomainOf and normalizedIdentities', () => {
  it('names the trust domain of spiffe://<trust domain> only', () => {
    assert.equal(spiffeTrustDomainOf('spiffe://example.org'), 'example.org');
    assert.equal(spiffeTrustDomainOf('spiffe://example.org/x'), undefined);
    assert.equal(spiffeTrustDomainOf('https://example.org'), undefined);
  });

  it('keeps exactly the rule members', () => {
    const rules = normalizedIdentities([{ issuer: GH, subject: 's', extra: 1 } as unknown as FederatedIdentity]);
    assert.deepEqual(rules, [{ issuer: GH, subject: 's' }]);
  });
});
