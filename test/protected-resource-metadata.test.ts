import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as oauth from 'oauth4webapi';
import request from 'supertest';
import { type Gateway, NGINX, type ProtectedApi, registerGateway, type RunningTollgate, startProtectedApi, startTollgate, Workload } from '#test-support';

// RFC 9728: a protected API's metadata at its own origin, answered by Tollgate through the gateway.
const WELL_KNOWN = '/.well-known/oauth-protected-resource';

/** A host of its own for each case: suites share the database when DATABASE_URL is set. */
const host = () => `api-${randomBytes(4).toString('hex')}.example.test`;

function metadata(server: RunningTollgate, apiHost: string, path = WELL_KNOWN, headers: Record<string, string> = {}) {
  return request(server.url).get(path).set('X-Forwarded-Host', apiHost).set('X-Forwarded-Proto', 'https').set(headers);
}

describe('RFC 9728 metadata, answered from the forwarded host and path', () => {
  let server: RunningTollgate;
  let gateway: Gateway;
  before(async () => {
    server = await startTollgate();
    gateway = await registerGateway(server);
  });
  after(() => server.close());

  it('§3.2: for the origin a workload may call: resource, authorization_servers, scopes, DPoP', async () => {
    const api = host();
    await Workload.register(server, { allowed_resources: [`https://${api}/`], scope: 'orders:read orders:write' });
    await Workload.register(server, { allowed_resources: [`https://${api}/`], scope: 'orders:read reports:read' });
    const res = await metadata(server, api);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.match(res.headers['content-type'], /^application\/json/);
    assert.deepEqual(res.body, {
      resource: `https://${api}/`,
      authorization_servers: [server.issuer],
      scopes_supported: ['orders:read', 'orders:write', 'reports:read'],
      bearer_methods_supported: ['header'],
      dpop_signing_alg_values_supported: ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'PS384', 'RS256'],
      dpop_bound_access_tokens_required: true,
    });
    // What oidc-provider publishes for the issuer named there: a client can go on to the token endpoint.
    const as = await request(server.url).get('/.well-known/oauth-authorization-server');
    assert.equal(as.body.issuer, res.body.authorization_servers[0]);
  });

  it('§3.1: a resource with a path has its metadata under the well-known path plus that path', async () => {
    const api = host();
    await Workload.register(server, { allowed_resources: [`https://${api}/billing`], scope: 'billing:read', dpop_bound_access_tokens: false });
    const res = await metadata(server, api, `${WELL_KNOWN}/billing`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.resource, `https://${api}/billing`);
    assert.deepEqual(res.body.scopes_supported, ['billing:read']);
    // A workload allowed it gets bearer tokens: DPoP is not required of every token for it.
    assert.equal(res.body.dpop_bound_access_tokens_required, false);
    assert.equal((await metadata(server, api)).status, 404, 'the origin itself is not a registered resource');
  });

  it('accepts the X-Original-URL family /check accepts', async () => {
    const api = host();
    await Workload.register(server, { allowed_resources: [`https://${api}/`] });
    const res = await request(server.url).get(WELL_KNOWN).set('X-Original-URL', `https://${api}${WELL_KNOWN}`);
    assert.equal(res.status, 200);
    assert.equal(res.body.resource, `https://${api}/`);
  });

  it('404 for a resource no active workload may use, before and after', async () => {
    const api = host();
    const unknown = await metadata(server, api);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error, 'not_found');
    const w = await Workload.register(server, { allowed_resources: [`https://${api}/`] });
    assert.equal((await metadata(server, api)).status, 200);
    await request(server.url).patch(`/admin/clients/${w.clientId}`).set('Authorization', server.admin).send({ status: 'suspended' }).expect(200);
    assert.equal((await metadata(server, api)).status, 404, 'a suspended workload no longer makes a resource known');
  });

  it('a resource is known to the next request after its workload is registered, even while the catalog is reloading', async () => {
    // Each registration starts a reload in the background; the next one lands while it runs, and
    // its metadata must not be answered from a load that read the database before it.
    for (let i = 0; i < 25; i++) {
      const api = host();
      await Workload.register(server, { allowed_resources: [`https://${api}/`] });
      const res = await metadata(server, api);
      assert.equal(res.status, 200, `registration ${i}: ${JSON.stringify(res.body)}`);
    }
  });

  it('400 naming the problem for a host that is not one; 405 for anything but GET and HEAD', async () => {
    const bad = await request(server.url).get(WELL_KNOWN).set('X-Forwarded-Host', 'evil.test/path@x');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, 'invalid_request');
    assert.match(bad.body.error_description, /host/);
    const post = await request(server.url).post(WELL_KNOWN).set('X-Forwarded-Host', host());
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });

  it("§5.1: /check's 401s name the metadata URL of the resource covering the call, in the one challenge", async () => {
    const api = host();
    const w = await Workload.register(server, { allowed_resources: [`https://${api}/`, `https://${api}/billing`] });
    const check = (url: string, token?: string) => {
      const req = request(server.url).get('/check').set('X-Gateway-Authorization', gateway.basic).set('X-Original-Method', 'GET').set('X-Original-URL', url);
      return token ? req.set('Authorization', `Bearer ${token}`) : req;
    };
    // The catalog follows client changes in the background (ResourceCatalog); the metadata endpoint waits for it.
    assert.equal((await metadata(server, api)).status, 200);
    const none = await check(`https://${api}/orders/1`);
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], `DPoP algs="ES256 ES384 EdDSA Ed25519 PS256 PS384 RS256", resource_metadata="https://${api}${WELL_KNOWN}"`);
    const billing = await check(`https://${api}/billing/invoices/3`, 'not-a-token');
    assert.match(billing.headers['www-authenticate'], new RegExp(`error="invalid_token".*resource_metadata="https://${api}${WELL_KNOWN}/billing"`));
    // An API no workload may call gets no resource_metadata (there is no metadata to point to).
    const stranger = await check(`https://${host()}/x`);
    assert.equal(stranger.status, 401);
    assert.doesNotMatch(stranger.headers['www-authenticate'], /resource_metadata/);
    assert.ok(w.clientId);
  });
});

describe('an RFC 9728 client follows a 401 through NGINX to the metadata', { skip: !NGINX && 'nginx is not installed (.ci/run installs it)' }, () => {
  let stack: ProtectedApi;
  before(async () => {
    stack = await startProtectedApi('nginx');
  });
  after(() => stack?.close());

  it('oauth4webapi: the call is refused with resource_metadata, the metadata names the issuer, and the token from there works', async () => {
    const { tollgate, api } = stack;
    const w = await Workload.register(tollgate, { allowed_resources: [`${api}/`], scope: 'orders:read' });
    const insecure = { [oauth.allowInsecureRequests]: true };
    // The catalog behind resource_metadata follows client changes in the background (ResourceCatalog);
    // the metadata endpoint waits for it, so this makes the new workload's resource known first.
    await request(tollgate.url).get(WELL_KNOWN).set('X-Forwarded-Host', new URL(api).host).set('X-Forwarded-Proto', 'http').expect(200);
    // 1. A call without a valid token: the challenge names the metadata (RFC 9728 §5.1).
    let challenges: oauth.WWWAuthenticateChallenge[] | undefined;
    try {
      await oauth.protectedResourceRequest('not-a-token', 'GET', new URL(`${api}/orders/1`), undefined, undefined, insecure);
    } catch (error) {
      if (!(error instanceof oauth.WWWAuthenticateChallengeError)) throw error;
      challenges = error.cause;
    }
    const dpop = challenges?.find((c) => c.scheme === 'dpop');
    assert.ok(dpop, stack.errorLog());
    assert.equal(dpop.parameters.error, 'invalid_token');
    const metadataUrl = dpop.parameters.resource_metadata;
    assert.equal(metadataUrl, `${api}${WELL_KNOWN}`);
    // 2. Discovery for that resource, validated as the library validates it (§3.3: `resource` is the identifier).
    const resource = new URL(`${api}/`);
    const response = await oauth.resourceDiscoveryRequest(resource, insecure);
    assert.equal(response.url, metadataUrl);
    const rs = await oauth.processResourceDiscoveryResponse(resource, response);
    assert.deepEqual(rs.authorization_servers, [tollgate.issuer]);
    assert.equal(rs.dpop_bound_access_tokens_required, true);
    assert.ok(rs.dpop_signing_alg_values_supported?.includes('ES256'));
    // 3. The authorization server it names issues a token that the same API accepts.
    const as = await oauth.processDiscoveryResponse(new URL(rs.authorization_servers![0]!), await oauth.discoveryRequest(new URL(rs.authorization_servers![0]!), { ...insecure, algorithm: 'oauth2' }));
    assert.equal(as.token_endpoint, `${tollgate.issuer}/oauth/token`);
    const token = await w.token({ scope: 'orders:read' });
    const ok = await w.call('GET', `${api}/orders/1`, token);
    assert.equal(ok.status, 200, stack.errorLog());
  });
});
