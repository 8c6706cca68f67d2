// Issue 11: workload identity federation. A real issuer over loopback HTTPS (discovery, JWKS, a
// SPIFFE bundle endpoint), tokens shaped as Kubernetes, GitHub Actions and SPIRE issue them, and
// Tollgate's token endpoint authenticating workloads that have no registered key.
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import request from 'supertest';
import { createServer as createHttpServer } from 'node:http';
import { type RunningTollgate, startTollgate, tlsServerCertificate } from '#test-support';
import { federatedCallback, githubActionsToken, tokenFile, WorkloadClient } from '#workload-client';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const JWT_SPIFFE = 'urn:ietf:params:oauth:client-assertion-type:jwt-spiffe';
const RESOURCE = 'https://api.example.test/';
/** Names unique to this run: the suites share one database in CI, and issuers are unique by name. */
const RUN = randomUUID().slice(0, 8);
const TRUST_DOMAIN = `${RUN}.example.org`;

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
interface SigningKey {
  kid: string;
  alg: string;
  pair: KeyPair;
  jwk: JWK;
}

async function signingKey(alg: 'RS256' | 'ES256', kid: string = randomUUID()): Promise<SigningKey> {
  const pair = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, pair, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg, use: 'sig' } };
}

/**
 * One https server playing three platforms: a Kubernetes API server (/k8s: discovery and
 * /openid/v1/jwks), GitHub Actions' token service (/gh: discovery and /.well-known/jwks) and a
 * SPIRE bundle endpoint (/spire/bundle). `up` false closes every connection unanswered.
 */
class LoopbackIssuer {
  base = '';
  up = true;
  hits: Record<string, number> = {};
  k8sKeys: SigningKey[] = [];
  ghKeys: SigningKey[] = [];
  spireKeys: SigningKey[] = [];
  private server!: Server;

  async start(tls: { cert: string; key: string }): Promise<void> {
    this.k8sKeys = [await signingKey('RS256')];
    this.ghKeys = [await signingKey('RS256')];
    this.spireKeys = [await signingKey('ES256')];
    this.server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      const full = (req.url ?? '').split('?')[0]!;
      const path = full.startsWith(`/${RUN}/`) ? full.slice(RUN.length + 1) : full;
      this.hits[path] = (this.hits[path] ?? 0) + 1;
      if (!this.up) return req.socket.destroy();
      const json = (body: unknown) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(body));
      };
      const publicOf = (keys: SigningKey[]) => keys.map((k) => k.jwk);
      switch (path) {
        case '/k8s/.well-known/openid-configuration':
          // As kube-apiserver serves it (Service Account Issuer Discovery).
          return json({ issuer: `${this.base}/k8s`, jwks_uri: `${this.base}/k8s/openid/v1/jwks`, response_types_supported: ['id_token'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'] });
        case '/k8s/openid/v1/jwks':
          return json({ keys: publicOf(this.k8sKeys) });
        case '/gh/.well-known/openid-configuration':
          return json({ issuer: `${this.base}/gh`, jwks_uri: `${this.base}/gh/.well-known/jwks`, subject_types_supported: ['public', 'pairwise'], response_types_supported: ['id_token'], claims_supported: ['sub', 'aud', 'exp', 'iat', 'iss', 'jti', 'nbf', 'ref', 'repository', 'repository_id', 'repository_owner', 'environment', 'job_workflow_ref'], id_token_signing_alg_values_supported: ['RS256'], scopes_supported: ['openid'] });
        case '/gh/.well-known/jwks':
          return json({ keys: publicOf(this.ghKeys) });
        case '/spire/bundle':
          // SPIFFE Trust Domain and Bundle §4: jwt-svid keys carry no alg; x509-svid entries are CAs.
          return json({
            keys: [
              ...this.spireKeys.map(({ jwk: { alg: _alg, use: _use, ...k } }) => ({ ...k, use: 'jwt-svid' })),
              { kty: 'EC', crv: 'P-256', x: this.spireKeys[0]!.jwk.x, y: this.spireKeys[0]!.jwk.y, use: 'x509-svid', x5c: ['MIIBfake'] },
            ],
            spiffe_sequence: 1,
            spiffe_refresh_hint: 300,
          });
        default:
          res.statusCode = 404;
          return json({ error: 'not found' });
      }
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `https://127.0.0.1:${(this.server.address() as { port: number }).port}/${RUN}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const now = () => Math.floor(Date.now() / 1000);

async function sign(key: SigningKey, payload: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.pair.privateKey);
}

/** A projected service-account token as the kubelet writes it (Kubernetes "Service account tokens", TokenRequest). */
function kubernetesClaims(issuer: string, audience: string, over: Record<string, unknown> = {}) {
  const iat = now();
  return {
    aud: [audience],
    exp: iat + 600,
    iat,
    iss: issuer,
    jti: randomUUID(),
    'kubernetes.io': {
      namespace: 'payments',
      node: { name: 'node-1', uid: randomUUID() },
      pod: { name: 'checkout-7d9f-abcde', uid: randomUUID() },
      serviceaccount: { name: 'checkout', uid: randomUUID() },
    },
    nbf: iat,
    sub: 'system:serviceaccount:payments:checkout',
    ...over,
  };
}

/** A GitHub Actions OIDC ID token (GitHub docs, "About security hardening with OpenID Connect"). */
function githubClaims(issuer: string, audience: string, over: Record<string, unknown> = {}) {
  const iat = now();
  return {
    jti: randomUUID(),
    sub: 'repo:octo-org/octo-repo:environment:prod',
    environment: 'prod',
    aud: audience,
    ref: 'refs/heads/main',
    sha: 'example-sha',
    repository: 'octo-org/octo-repo',
    repository_owner: 'octo-org',
    actor_id: '12',
    repository_visibility: 'private',
    repository_id: '74',
    repository_owner_id: '65',
    run_id: 'example-run-id',
    run_number: '10',
    run_attempt: '2',
    runner_environment: 'github-hosted',
    actor: 'octocat',
    workflow: 'example-workflow',
    head_ref: '',
    base_ref: '',
    event_name: 'workflow_dispatch',
    ref_type: 'branch',
    job_workflow_ref: 'octo-org/octo-automation/.github/workflows/oidc.yml@refs/heads/main',
    iss: issuer,
    nbf: iat - 5,
    exp: iat + 300,
    iat,
    ...over,
  };
}

/** A JWT-SVID as SPIRE's Workload API hands it out (SPIFFE JWT-SVID §3: sub, aud, exp; iat; no jti). */
function svidClaims(spiffeId: string, audience: string, over: Record<string, unknown> = {}) {
  const iat = now();
  return { aud: [audience], exp: iat + 300, iat, sub: spiffeId, ...over };
}

describe('workload identity federation (issue 11), with a loopback HTTPS issuer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-federation-'));
  const issuer = new LoopbackIssuer();
  let server: RunningTollgate;
  let k8sIssuer: string;
  let ghIssuer: string;
  const ids: Record<string, string> = {};

  const admin = () => request(server.url);
  const post = (path: string, body: object) => admin().post(path).set('Authorization', server.admin).send(body);
  const patch = (path: string, body: object) => admin().patch(path).set('Authorization', server.admin).send(body);

  /** A DPoP key and the proofs a workload makes with it (RFC 9449 §4). */
  async function dpopKey() {
    const pair = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(pair.publicKey);
    return {
      pair,
      jkt: createHash('sha256').update(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y })).digest('base64url'),
      proof: () => new SignJWT({ jti: randomUUID(), htm: 'POST', htu: `${server.issuer}/oauth/token`, iat: now() }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).sign(pair.privateKey),
    };
  }

  async function tokenRequest(clientId: string | undefined, assertion: string, type = JWT_BEARER, key?: Awaited<ReturnType<typeof dpopKey>>) {
    const dpop = key ?? (await dpopKey());
    return admin()
      .post('/oauth/token')
      .type('form')
      .set('DPoP', await dpop.proof())
      .send({ grant_type: 'client_credentials', ...(clientId ? { client_id: clientId } : {}), client_assertion_type: type, client_assertion: assertion });
  }

  async function federatedClient(rules: object[]): Promise<string> {
    const res = await post('/admin/clients', { client_name: 'federated workload', federated_identities: rules, scope: 'orders:read', allowed_resources: [RESOURCE] });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body.client_id;
  }

  async function reasonsOf(clientId: string): Promise<string[]> {
    const res = await admin().get('/admin/decisions').query({ client_id: clientId, decision: 'invalid', limit: '100' }).set('Authorization', server.admin);
    return res.body.decisions.map((d: { reasons: { code: string }[] }) => d.reasons[0]!.code);
  }

  /** Asserts a 401 invalid_client whose decision-log reason is `reason`. */
  async function refused(res: request.Response, clientId: string, reason: string) {
    assert.equal(res.status, 401, JSON.stringify(res.body));
    assert.equal(res.body.error, 'invalid_client');
    assert.ok((await reasonsOf(clientId)).includes(reason), `expected reason ${reason}, got ${await reasonsOf(clientId)}`);
  }

  let k8sClient: string;
  let ghClient: string;
  let spiffeClient: string;

  before(async () => {
    const tls = await tlsServerCertificate();
    writeFileSync(join(dir, 'ca.pem'), tls.ca);
    await issuer.start(tls);
    k8sIssuer = `${issuer.base}/k8s`;
    ghIssuer = `${issuer.base}/gh`;
    // Only the CA is configured: the loopback address is allowed per issuer (allowed_addresses).
    server = await startTollgate({ TOLLGATE_EGRESS_CA_FILE: join(dir, 'ca.pem') });
  });
  after(async () => {
    await server?.close();
    await issuer.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('trusted issuers: the admin API', () => {
    it('POST answers 201 with the id of an oidc issuer found by discovery (allowed_addresses for the loopback network)', async () => {
      const res = await post('/admin/trusted-issuers', { kind: 'oidc', issuer: k8sIssuer, allowed_addresses: ['127.0.0.1/32'], reusable_tokens: true });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.match(res.body.id, /^[0-9a-f-]{36}$/);
      assert.equal(res.body.issuer, k8sIssuer);
      assert.equal(res.body.reusable_tokens, true);
      ids.k8s = res.body.id;
      const gh = await post('/admin/trusted-issuers', { kind: 'oidc', issuer: ghIssuer, allowed_addresses: ['127.0.0.0/8'] });
      assert.equal(gh.status, 201, JSON.stringify(gh.body));
      ids.gh = gh.body.id;
    });

    it('registration does not need the issuer to be up: nothing is fetched until a token arrives', async () => {
      assert.equal(issuer.hits['/k8s/.well-known/openid-configuration'] ?? 0, 0);
      assert.equal(issuer.hits['/gh/.well-known/jwks'] ?? 0, 0);
    });

    it('a spiffe issuer with a bundle_endpoint; GET one and GET all; audited', async () => {
      const res = await post('/admin/trusted-issuers', { kind: 'spiffe', trust_domain: TRUST_DOMAIN, bundle_endpoint: `${issuer.base}/spire/bundle`, allowed_addresses: ['127.0.0.1/32'], reusable_tokens: true });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.trust_domain, TRUST_DOMAIN);
      assert.equal(res.body.bundle_endpoint, `${issuer.base}/spire/bundle`);
      ids.spiffe = res.body.id;
      const one = await admin().get(`/admin/trusted-issuers/${ids.spiffe}`).set('Authorization', server.admin);
      assert.equal(one.status, 200);
      assert.deepEqual(one.body, res.body);
      const all = await admin().get('/admin/trusted-issuers').set('Authorization', server.admin);
      const listed = all.body.trusted_issuers.map((t: { id: string }) => t.id);
      for (const id of [ids.k8s, ids.gh, ids.spiffe]) assert.ok(listed.includes(id), `${id} not listed`);
      const audit = await admin().get('/admin/audit').set('Authorization', server.admin);
      const actions = audit.body.events.filter((e: { action: string }) => e.action.startsWith('trusted_issuer.')).map((e: { action: string }) => e.action);
      assert.ok(actions.filter((a: string) => a === 'trusted_issuer.create').length >= 3, JSON.stringify(actions));
    });

    it('refuses bad fields with 400 naming them, and writes nothing', async () => {
      const before = (await admin().get('/admin/trusted-issuers').set('Authorization', server.admin)).body.trusted_issuers.length;
      const cases: Array<[object, string]> = [
        [{ kind: 'oidc', issuer: 'http://issuer.example.com' }, 'issuer'],
        [{ kind: 'oidc', issuer: 'https://issuer.example.com', allowed_addresses: ['10.0.0.0/33'] }, 'allowed_addresses[0]'],
        [{ kind: 'oidc', issuer: 'https://issuer.example.com', jwks_uri: 'http://issuer.example.com/keys' }, 'jwks_uri'],
        [{ kind: 'oidc', issuer: 'https://issuer.example.com', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, 'jwks.keys[0].kty'],
        [{ kind: 'oidc', issuer: 'https://127.0.0.1:1/' }, 'issuer'],
        [{ kind: 'spiffe', trust_domain: 'Example.ORG!', bundle_endpoint: 'https://bundle.example.com/' }, 'trust_domain'],
        [{ kind: 'spiffe', trust_domain: 'other.org' }, 'bundle'],
        [{ kind: 'spiffe', trust_domain: 'other.org', issuer: 'https://x.example.com', bundle_endpoint: 'https://bundle.example.com/' }, 'issuer'],
        [{ kind: 'saml', issuer: 'https://issuer.example.com' }, 'kind'],
        [{ kind: 'oidc', issuer: k8sIssuer, allowed_addresses: ['127.0.0.1/32'] }, 'issuer'],
        [{ kind: 'oidc', issuer: 'https://issuer.example.com', surprise: true }, 'surprise'],
      ];
      for (const [body, field] of cases) {
        const res = await post('/admin/trusted-issuers', body);
        assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.status} ${JSON.stringify(res.body)}`);
        assert.ok(res.body.fields.some((f: { field: string }) => f.field === field), `${JSON.stringify(body)}: ${JSON.stringify(res.body.fields)}`);
      }
      const all = await admin().get('/admin/trusted-issuers').set('Authorization', server.admin);
      assert.equal(all.body.trusted_issuers.length, before);
    });

    it('PATCH changes an issuer and DELETE removes it (404 after); unknown ids are 404; no admin token is 401', async () => {
      const created = await post('/admin/trusted-issuers', { kind: 'oidc', issuer: `https://gitlab-${RUN}.example.com`, jwks_uri: `https://gitlab-${RUN}.example.com/oauth/discovery/keys` });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const changed = await patch(`/admin/trusted-issuers/${created.body.id}`, { reusable_tokens: true, jwks_uri: null });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      assert.equal(changed.body.reusable_tokens, true);
      assert.equal(changed.body.jwks_uri, undefined);
      const bad = await patch(`/admin/trusted-issuers/${created.body.id}`, { bundle: { keys: [] } });
      assert.equal(bad.status, 400);
      assert.equal((await admin().delete(`/admin/trusted-issuers/${created.body.id}`).set('Authorization', server.admin)).status, 204);
      assert.equal((await admin().get(`/admin/trusted-issuers/${created.body.id}`).set('Authorization', server.admin)).status, 404);
      assert.equal((await admin().get('/admin/trusted-issuers/not-a-uuid').set('Authorization', server.admin)).status, 404);
      assert.equal((await admin().get('/admin/trusted-issuers')).status, 401);
    });
  });

  describe('federated identities on clients', () => {
    it('a client with only federated_identities is created with private_key_jwt, and shows its rules', async () => {
      k8sClient = await federatedClient([
        { issuer: k8sIssuer, subject: 'system:serviceaccount:payments:checkout', claims: { 'kubernetes.io.namespace': 'payments', 'kubernetes.io.serviceaccount.name': 'checkout' }, max_lifetime: 3600 },
      ]);
      const res = await admin().get(`/admin/clients/${k8sClient}`).set('Authorization', server.admin);
      assert.equal(res.body.token_endpoint_auth_method, 'private_key_jwt');
      assert.equal(res.body.jwks, undefined);
      assert.equal(res.body.federated_identities[0].issuer, k8sIssuer);
      ghClient = await federatedClient([{ issuer: ghIssuer, subject: 'repo:octo-org/octo-repo:environment:prod', claims: { ref: 'refs/heads/main', job_workflow_ref: 'octo-org/octo-automation/.github/workflows/*@refs/heads/main' }, max_lifetime: 600 }]);
      spiffeClient = await federatedClient([{ issuer: `spiffe://${TRUST_DOMAIN}`, subject: `spiffe://${TRUST_DOMAIN}/ns/payments/sa/*` }]);
    });

    it('refuses, with 400, a rule set that could match tokens of another tenant, at creation and at PATCH', async () => {
      for (const rule of [
        { issuer: ghIssuer },
        { issuer: ghIssuer, subject: '**' },
        { issuer: ghIssuer, subject: 'repo:*:*' },
        { issuer: k8sIssuer, subject: 'system:serviceaccount:*:*' },
        { issuer: k8sIssuer, subject: '*', claims: { 'kubernetes.io.namespace': '*' } },
      ]) {
        const res = await post('/admin/clients', { federated_identities: [rule], allowed_resources: [RESOURCE] });
        assert.equal(res.status, 400, `${JSON.stringify(rule)}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error, 'invalid_client_metadata');
        assert.equal(res.body.fields[0].field, 'federated_identities[0]');
      }
      const res = await patch(`/admin/clients/${k8sClient}`, { federated_identities: [{ issuer: k8sIssuer, subject: 'system:serviceaccount:**' }] });
      assert.equal(res.status, 400, JSON.stringify(res.body));
      // A pinned namespace makes a wildcard subject acceptable.
      const ok = await post('/admin/clients', { federated_identities: [{ issuer: k8sIssuer, subject: 'system:serviceaccount:*:*', claims: { 'kubernetes.io.namespace': 'payments' } }], allowed_resources: [RESOURCE] });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
    });

    it('RFC 7591 registration takes federated_identities, and refuses a tenant-wide rule', async () => {
      const res = await post('/oauth/register', { client_name: 'registered', federated_identities: [{ issuer: ghIssuer, subject: 'repo:octo-org/other:ref:refs/heads/main' }] });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.equal(res.body.federated_identities[0].subject, 'repo:octo-org/other:ref:refs/heads/main');
      const bad = await post('/oauth/register', { federated_identities: [{ issuer: ghIssuer, subject: 'repo:**' }] });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error, 'invalid_client_metadata');
    });
  });

  describe('client authentication with a platform token', () => {
    it('Kubernetes: a projected service-account token gets a DPoP-bound token; introspection names the identity', async () => {
      const key = await dpopKey();
      const token = await sign(issuer.k8sKeys[0]!, kubernetesClaims(k8sIssuer, server.issuer));
      const res = await tokenRequest(k8sClient, token, JWT_BEARER, key);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.token_type, 'DPoP');
      const claims = decodeJwt(res.body.access_token);
      assert.equal(claims.client_id, k8sClient);
      assert.deepEqual((claims.cnf as { jkt: string }).jkt, key.jkt);
      assert.deepEqual(claims.amr, ['fed', 'pop']);
      assert.equal(claims.acr, 'urn:tollgate:acr:key');
      assert.deepEqual(claims.federated_identity, { issuer: k8sIssuer, subject: 'system:serviceaccount:payments:checkout' });
      // Keys by discovery, fetched once.
      assert.equal(issuer.hits['/k8s/.well-known/openid-configuration'], 1);
      assert.equal(issuer.hits['/k8s/openid/v1/jwks'], 1);
      const gateway = await post('/admin/clients', { roles: ['gateway'] });
      const introspection = await admin()
        .post('/oauth/introspect')
        .type('form')
        .auth(gateway.body.client_id, gateway.body.client_secret)
        .send({ token: res.body.access_token });
      assert.equal(introspection.status, 200, JSON.stringify(introspection.body));
      assert.equal(introspection.body.active, true);
      assert.deepEqual(introspection.body.federated_identity, { issuer: k8sIssuer, subject: 'system:serviceaccount:payments:checkout' });
      assert.deepEqual(introspection.body.amr, ['fed', 'pop']);
    });

    it('the issuance decision in the decision log names the identity: issuer, subject and the claims the rule named', async () => {
      const res = await admin().get('/admin/decisions').query({ client_id: k8sClient, decision: 'allow', limit: '10' }).set('Authorization', server.admin);
      assert.equal(res.status, 200);
      const issuance = res.body.decisions.find((d: { kind: string }) => d.kind === 'issuance');
      assert.ok(issuance, JSON.stringify(res.body));
      assert.deepEqual(issuance.identity, {
        issuer: k8sIssuer,
        subject: 'system:serviceaccount:payments:checkout',
        claims: { 'kubernetes.io.namespace': 'payments', 'kubernetes.io.serviceaccount.name': 'checkout' },
      });
    });

    it('Kubernetes re-reads one projected token: with reusable_tokens the same token works again (a new DPoP proof each time)', async () => {
      const token = await sign(issuer.k8sKeys[0]!, kubernetesClaims(k8sIssuer, server.issuer));
      assert.equal((await tokenRequest(k8sClient, token)).status, 200);
      assert.equal((await tokenRequest(k8sClient, token)).status, 200);
    });

    it('GitHub Actions: an ID token for the repository and environment gets a DPoP-bound token', async () => {
      const token = await sign(issuer.ghKeys[0]!, githubClaims(ghIssuer, server.issuer), { typ: 'JWT', x5t: 'example-thumbprint' });
      const res = await tokenRequest(ghClient, token);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(decodeJwt(res.body.access_token).client_id, ghClient);
    });

    it('SPIRE: a JWT-SVID with client_assertion_type jwt-spiffe and client_id gets a DPoP-bound token (bundle keys say use jwt-svid)', async () => {
      const svid = await sign(issuer.spireKeys[0]!, svidClaims(`spiffe://${TRUST_DOMAIN}/ns/payments/sa/checkout`, server.issuer), { typ: 'JWT' });
      const res = await tokenRequest(spiffeClient, svid, JWT_SPIFFE);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const claims = decodeJwt(res.body.access_token);
      assert.deepEqual(claims.federated_identity, { issuer: `spiffe://${TRUST_DOMAIN}`, subject: `spiffe://${TRUST_DOMAIN}/ns/payments/sa/checkout` });
      // JWT-SVIDs carry no jti and SPIRE reuses them: the DPoP proof carries the freshness.
      assert.equal((await tokenRequest(spiffeClient, svid, JWT_SPIFFE)).status, 200);
    });

    it('revocation (RFC 7009) authenticates the workload with its platform token too', async () => {
      const platformToken = await sign(issuer.k8sKeys[0]!, kubernetesClaims(k8sIssuer, server.issuer));
      const issued = await tokenRequest(k8sClient, platformToken);
      assert.equal(issued.status, 200, JSON.stringify(issued.body));
      const res = await admin()
        .post('/oauth/revoke')
        .type('form')
        .send({ token: issued.body.access_token, client_id: k8sClient, client_assertion_type: JWT_BEARER, client_assertion: platformToken });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const gateway = await post('/admin/clients', { roles: ['gateway'] });
      const introspection = await admin().post('/oauth/introspect').type('form').auth(gateway.body.client_id, gateway.body.client_secret).send({ token: issued.body.access_token });
      assert.equal(introspection.body.active, false);
      // Another client's platform token cannot revoke it.
      const stranger = await sign(issuer.ghKeys[0]!, githubClaims(ghIssuer, server.issuer));
      const refusedRevoke = await admin().post('/oauth/revoke').type('form').send({ token: issued.body.access_token, client_id: k8sClient, client_assertion_type: JWT_BEARER, client_assertion: stranger });
      assert.equal(refusedRevoke.status, 401, JSON.stringify(refusedRevoke.body));
    });

    it('a step-up challenge (docs/step-up.md §3) is handed to a workload that authenticates with a JWT-SVID', async () => {
      const url = `${server.issuer}/step-up/challenges`;
      const pair = await generateKeyPair('ES256');
      const jwk = await exportJWK(pair.publicKey);
      const proof = await new SignJWT({ jti: randomUUID(), htm: 'POST', htu: url, iat: now() }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).sign(pair.privateKey);
      const svid = await sign(issuer.spireKeys[0]!, svidClaims(`spiffe://${TRUST_DOMAIN}/ns/payments/sa/checkout`, server.issuer));
      const res = await admin()
        .post('/step-up/challenges')
        .type('form')
        .set('DPoP', proof)
        .send({ acr_values: 'urn:tollgate:acr:live', client_id: spiffeClient, client_assertion_type: JWT_SPIFFE, client_assertion: svid });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      assert.match(res.body.nonce, /^[A-Za-z0-9_-]{43}$/);
    });

    it('a live step-up is answered with a fresh platform token and the challenge nonce in the DPoP proof', async () => {
      const pair = await generateKeyPair('ES256');
      const jwk = await exportJWK(pair.publicKey);
      const proofFor = (htu: string, nonce?: string) =>
        new SignJWT({ jti: randomUUID(), htm: 'POST', htu, iat: now(), ...(nonce ? { nonce } : {}) }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).sign(pair.privateKey);
      const svid = () => sign(issuer.spireKeys[0]!, svidClaims(`spiffe://${TRUST_DOMAIN}/ns/payments/sa/checkout`, server.issuer));
      const challengeFor = async () => {
        const res = await admin()
          .post('/step-up/challenges')
          .type('form')
          .set('DPoP', await proofFor(`${server.issuer}/step-up/challenges`))
          .send({ acr_values: 'urn:tollgate:acr:live', client_id: spiffeClient, client_assertion_type: JWT_SPIFFE, client_assertion: await svid() });
        assert.equal(res.status, 201, JSON.stringify(res.body));
        return res.body as { challenge_id: string; nonce: string };
      };
      const answer = async (challenge: { challenge_id: string; nonce: string }, nonce?: string) =>
        admin()
          .post('/oauth/token')
          .type('form')
          .set('DPoP', await proofFor(`${server.issuer}/oauth/token`, nonce))
          .send({ grant_type: 'urn:tollgate:params:oauth:grant-type:step-up', challenge_id: challenge.challenge_id, client_id: spiffeClient, client_assertion_type: JWT_SPIFFE, client_assertion: await svid() });

      const challenge = await challengeFor();
      const res = await answer(challenge, challenge.nonce);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const claims = decodeJwt(res.body.access_token);
      assert.equal(claims.acr, 'urn:tollgate:acr:live');
      assert.deepEqual(claims.amr, ['fed', 'pop']);
      // Without the challenge nonce in the proof, the platform token alone does not answer it.
      const other = await challengeFor();
      const refused = await answer(other);
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.equal(refused.body.error, 'invalid_dpop_proof');
    });

    it('by hand with oauth4webapi: a DPoP-bound token with a federated assertion', async () => {
      const as = await oauth.processDiscoveryResponse(new URL(server.issuer), await oauth.discoveryRequest(new URL(server.issuer), { [oauth.allowInsecureRequests]: true }));
      const client: oauth.Client = { client_id: ghClient };
      const platformToken = await sign(issuer.ghKeys[0]!, githubClaims(ghIssuer, server.issuer));
      // RFC 7523 §2.2 with the platform's token as the assertion (docs/federation.md).
      const federated: oauth.ClientAuth = (_as, c, body) => {
        body.set('client_id', c.client_id);
        body.set('client_assertion_type', JWT_BEARER);
        body.set('client_assertion', platformToken);
      };
      const pair = await generateKeyPair('ES256', { extractable: false });
      const DPoP = oauth.DPoP(client, pair);
      const response = await oauth.clientCredentialsGrantRequest(as, client, federated, { resource: RESOURCE }, { DPoP, [oauth.allowInsecureRequests]: true });
      const result = await oauth.processClientCredentialsResponse(as, client, response);
      assert.equal(result.token_type, 'dpop');
      assert.deepEqual(decodeJwt(result.access_token).federated_identity, { issuer: ghIssuer, subject: 'repo:octo-org/octo-repo:environment:prod' });
    });
  });

  describe('the SDK takes a federated credential source', () => {
    it('a token file the platform rotates (Kubernetes projected volume): read, and read again when it changes', async () => {
      const path = join(dir, 'token');
      const first = await sign(issuer.k8sKeys[0]!, kubernetesClaims(k8sIssuer, server.issuer));
      writeFileSync(path, `${first}\n`);
      const source = tokenFile(path);
      assert.equal(await source.token(), first);
      const client = new WorkloadClient({ issuer: server.issuer, clientId: k8sClient, federated: source, resource: RESOURCE });
      const token = await client.token();
      assert.deepEqual(decodeJwt(token).federated_identity, { issuer: k8sIssuer, subject: 'system:serviceaccount:payments:checkout' });
      assert.match((decodeJwt(token).cnf as { jkt: string }).jkt, /^[A-Za-z0-9_-]{43}$/);
      // The kubelet writes a new token: the next read sees it.
      await sleep(20);
      const second = await sign(issuer.k8sKeys[0]!, kubernetesClaims(k8sIssuer, server.issuer, { sub: 'system:serviceaccount:payments:other' }));
      writeFileSync(path, second);
      assert.equal(await source.token(), second);
    });

    it('the GitHub Actions ID-token request (ACTIONS_ID_TOKEN_REQUEST_URL / _TOKEN with an audience)', async () => {
      const requests: string[] = [];
      const actions = createHttpServer(async (req, res) => {
        const url = new URL(req.url ?? '/', 'http://x');
        requests.push(`${req.headers.authorization} ${url.searchParams.get('audience')}`);
        if (req.headers.authorization !== 'bearer runtime-token') return res.writeHead(401).end();
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ value: await sign(issuer.ghKeys[0]!, githubClaims(ghIssuer, url.searchParams.get('audience')!)) }));
      });
      await new Promise<void>((resolve) => actions.listen(0, '127.0.0.1', resolve));
      try {
        const env = { ACTIONS_ID_TOKEN_REQUEST_URL: `http://127.0.0.1:${(actions.address() as { port: number }).port}/token?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runtime-token' };
        const client = new WorkloadClient({ issuer: server.issuer, clientId: ghClient, federated: githubActionsToken({ audience: server.issuer, env }), resource: RESOURCE });
        const token = await client.token();
        assert.equal(decodeJwt(token).client_id, ghClient);
        // Each assertion is a new ID token (single use at Tollgate).
        await client.token({ scope: 'orders:read' });
        assert.deepEqual(requests, [`bearer runtime-token ${server.issuer}`, `bearer runtime-token ${server.issuer}`]);
        await assert.rejects(githubActionsToken({ audience: server.issuer, env: {} }).token(), /id-token: write/);
      } finally {
        actions.close();
      }
    });

    it('a callback returning a JWT-SVID (jwt-spiffe)', async () => {
      const client = new WorkloadClient({
        issuer: server.issuer,
        clientId: spiffeClient,
        federated: federatedCallback(() => sign(issuer.spireKeys[0]!, svidClaims(`spiffe://${TRUST_DOMAIN}/ns/payments/sa/checkout`, server.issuer)), { kind: 'jwt-spiffe' }),
        resource: RESOURCE,
      });
      assert.equal(decodeJwt(await client.token()).client_id, spiffeClient);
      // A live step-up: the SDK sends a fresh JWT-SVID and the challenge nonce in its DPoP proof.
      const stepped = await client.stepUp('urn:tollgate:acr:live');
      assert.equal(decodeJwt(stepped.access_token).acr, 'urn:tollgate:acr:live');
      assert.deepEqual(decodeJwt(stepped.access_token).amr, ['fed', 'pop']);
      assert.throws(() => new WorkloadClient({ issuer: server.issuer, clientId: spiffeClient }), /exactly one of clientKey and federated/);
    });
  });

  describe('refusals, each its own', () => {
    it('wrong audience', async () => {
      const token = await sign(issuer.ghKeys[0]!, githubClaims(ghIssuer, 'https://someone-else.example.com'));
      await refused(await tokenRequest(ghClient, token), ghClient, 'assertion_audience');
    });

    it('expired', async () => {
      const token = await sign(issuer.ghKeys[0]!, githubClaims(ghIssuer, server.issuer, { iat: now() - 400, nbf: now() - 400, exp: now() - 60 }));
      const res = await tokenRequest(ghClient, token);
      await refused(res, ghClient, 'assertion_lifetime');
      assert.match(res.body.error_description, /expired/);
    });

    it('not yet valid', async () => {
      const token = await sign(issuer.ghKeys[0]!, githubClaims(ghIssuer, server.issuer, { nbf: now() + 120 }));
      const res = await tokenRequest(ghClient, token);
      await refused(res, ghClient, 'assertion_lifetime');
      assert.match(res.body.error_description, /not yet valid/);
    });

    it("lifetime over the rule's maximum", async () => {
      const token = await sign(issuer.ghKeys[0]!, githubClaims(ghIssuer, server.issuer, { exp: now() + 3600 }));
      const res = await tokenRequest(ghClient, token);
      await refused(res, ghClient, 'assertion_lifetime');
      assert.match(res.body.error_description, /longer than this client's rule allows/);
    });

    it('untrusted issuer', async () => {
      const token = await sign(issuer.ghKeys[0]!, githubClaims('https://token.actions.githubusercontent.com', server.issuer));
      await refused(await tokenRequest(ghClient, token), ghClient, 'untrusted_issuer');
    });

    it('a claim that does not match', async () => {
      const token = await sign(issuer.ghKeys[0]!, githubClaims(ghIssuer, server.issuer, { ref: 'refs/heads/feature' }));
      await refused(await tokenRequest(ghClient, token), ghClient, 'identity_mismatch');
    });

    it('alg none', async () => {
      const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(githubClaims(ghIssuer, server.issuer))}.`;
      await refused(await tokenRequest(ghClient, token), ghClient, 'assertion_malformed');
      const withSignature = `${b64({ alg: 'none' })}.${b64(githubClaims(ghIssuer, server.issuer))}.AAAA`;
      await refused(await tokenRequest(ghClient, withSignature), ghClient, 'assertion_alg');
    });

    it('HS256 (an HMAC keyed with the issuer\'s public key)', async () => {
      const secret = new TextEncoder().encode(JSON.stringify(issuer.ghKeys[0]!.jwk));
      const token = await new SignJWT(githubClaims(ghIssuer, server.issuer)).setProtectedHeader({ alg: 'HS256', kid: issuer.ghKeys[0]!.kid }).sign(secret);
      await refused(await tokenRequest(ghClient, token), ghClient, 'assertion_alg');
    });

    it("a token of another client's identity", async () => {
      // A valid Kubernetes token, presented for the GitHub client: its rules do not name that issuer.
      const token = await sign(issuer.k8sKeys[0]!, kubernetesClaims(k8sIssuer, server.issuer));
      await refused(await tokenRequest(ghClient, token), ghClient, 'identity_mismatch');
      // And another repository's token for this client's issuer.
      const other = await sign(issuer.ghKeys[0]!, githubClaims(ghIssuer, server.issuer, { sub: 'repo:evil-org/octo-repo:environment:prod', repository: 'evil-org/octo-repo' }));
      await refused(await tokenRequest(ghClient, other), ghClient, 'identity_mismatch');
    });

    it('a replayed jti where the issuer sets one (reusable_tokens false)', async () => {
      const token = await sign(issuer.ghKeys[0]!, githubClaims(ghIssuer, server.issuer));
      assert.equal((await tokenRequest(ghClient, token)).status, 200);
      const res = await tokenRequest(ghClient, token);
      await refused(res, ghClient, 'assertion_replay');
      assert.match(res.body.error_description, /already used/);
    });

    it('a JWT-SVID from another trust domain', async () => {
      const svid = await sign(issuer.spireKeys[0]!, svidClaims('spiffe://evil.org/ns/payments/sa/checkout', server.issuer));
      await refused(await tokenRequest(spiffeClient, svid, JWT_SPIFFE), spiffeClient, 'untrusted_issuer');
    });

    it('a signature by a key the issuer does not have', async () => {
      const stranger = await signingKey('RS256', issuer.ghKeys[0]!.kid);
      const token = await sign(stranger, githubClaims(ghIssuer, server.issuer));
      await refused(await tokenRequest(ghClient, token), ghClient, 'assertion_signature');
    });

    it('a jwt-spiffe assertion without client_id', async () => {
      const svid = await sign(issuer.spireKeys[0]!, svidClaims(`spiffe://${TRUST_DOMAIN}/ns/payments/sa/checkout`, server.issuer));
      const res = await tokenRequest(undefined, svid, JWT_SPIFFE);
      assert.equal(res.status, 401, JSON.stringify(res.body));
      assert.equal(res.body.error, 'invalid_client');
    });
  });

  describe('keys: rotation and an issuer that is down', () => {
    it('a new kid at the issuer is picked up, and a removed key stops working', async () => {
      // The set was fetched by the tests above; an unknown kid refetches at most every 10 s.
      await sleep(10_500);
      const old = issuer.ghKeys[0]!;
      const next = await signingKey('RS256');
      issuer.ghKeys = [next];
      const fetches = issuer.hits['/gh/.well-known/jwks'] ?? 0;
      const res = await tokenRequest(ghClient, await sign(next, githubClaims(ghIssuer, server.issuer)));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(issuer.hits['/gh/.well-known/jwks'], fetches + 1);
      await refused(await tokenRequest(ghClient, await sign(old, githubClaims(ghIssuer, server.issuer))), ghClient, 'unknown_key');
    });

    it('while the issuer is down cached keys keep working; with no keys yet the answer is 503 with Retry-After', async () => {
      await sleep(10_500);
      issuer.up = false;
      try {
        // A kid the set lacks makes a refresh that fails: the cached keys stay in use.
        const unknown = await signingKey('RS256');
        await refused(await tokenRequest(k8sClient, await sign(unknown, kubernetesClaims(k8sIssuer, server.issuer))), k8sClient, 'unknown_key');
        const res = await tokenRequest(k8sClient, await sign(issuer.k8sKeys[0]!, kubernetesClaims(k8sIssuer, server.issuer)));
        assert.equal(res.status, 200, JSON.stringify(res.body));

        // An issuer never fetched from, unreachable: 503, not a 500.
        const gitlab = `${issuer.base}/gitlab`;
        const created = await post('/admin/trusted-issuers', { kind: 'oidc', issuer: gitlab, allowed_addresses: ['127.0.0.1/32'] });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const client = await federatedClient([{ issuer: gitlab, subject: 'project_path:group/project:ref_type:branch:ref:main' }]);
        const token = await sign(issuer.ghKeys[0]!, { iss: gitlab, sub: 'project_path:group/project:ref_type:branch:ref:main', aud: server.issuer, iat: now(), exp: now() + 300, jti: randomUUID() });
        const down = await tokenRequest(client, token);
        assert.equal(down.status, 503, JSON.stringify(down.body));
        assert.equal(down.body.error, 'temporarily_unavailable');
        assert.match(down.headers['retry-after'] ?? '', /^\d+$/);
      } finally {
        issuer.up = true;
      }
    });
  });

  it('risk: a federated identity never seen for the client is a signal like a new key (on_new_key)', async () => {
    const client = await federatedClient([{ issuer: k8sIssuer, subject: 'system:serviceaccount:payments:*', claims: { 'kubernetes.io.namespace': 'payments' } }]);
    const policy = await admin().put(`/admin/clients/${client}/policy`).set('Authorization', server.admin).send({ on_new_key: 'deny' });
    assert.equal(policy.status, 200, JSON.stringify(policy.body));
    // One DPoP key throughout, so that only the identity is new; the client learns for 20 issuances.
    const key = await dpopKey();
    const checkout = await sign(issuer.k8sKeys[0]!, kubernetesClaims(k8sIssuer, server.issuer));
    for (let i = 0; i < 21; i++) {
      const res = await tokenRequest(client, checkout, JWT_BEARER, key);
      assert.equal(res.status, 200, `${i}: ${JSON.stringify(res.body)}`);
    }
    const billing = await sign(issuer.k8sKeys[0]!, kubernetesClaims(k8sIssuer, server.issuer, { sub: 'system:serviceaccount:payments:billing' }));
    const res = await tokenRequest(client, billing, JWT_BEARER, key);
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error, 'access_denied');
    const decisions = await admin().get('/admin/decisions').query({ client_id: client, decision: 'deny', limit: '5' }).set('Authorization', server.admin);
    const denied = decisions.body.decisions[0];
    assert.deepEqual(denied.reasons.map((r: { code: string }) => r.code), ['new_federated_subject']);
    assert.equal(denied.identity.subject, 'system:serviceaccount:payments:billing');
    // The identity it knows still gets tokens.
    assert.equal((await tokenRequest(client, checkout, JWT_BEARER, key)).status, 200);
  });

  it('a deleted trusted issuer is no longer trusted on the next request', async () => {
    assert.equal((await admin().delete(`/admin/trusted-issuers/${ids.spiffe}`).set('Authorization', server.admin)).status, 204);
    const svid = await sign(issuer.spireKeys[0]!, svidClaims(`spiffe://${TRUST_DOMAIN}/ns/payments/sa/checkout`, server.issuer));
    await refused(await tokenRequest(spiffeClient, svid, JWT_SPIFFE), spiffeClient, 'untrusted_issuer');
  });
});
