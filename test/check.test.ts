import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { type Gateway, registerGateway, type RunningTollgate, startTollgate, Workload } from '#test-support';

const API = 'https://api.example.test';

let server: RunningTollgate;
let gateway: Gateway;
let gatewayAuth: string;
before(async () => {
  server = await startTollgate();
  gateway = await registerGateway(server);
  gatewayAuth = gateway.basic;
});
after(async () => {
  await server.close();
});

async function workload(options: Parameters<typeof Workload.register>[1] = {}) {
  const w = await Workload.register(server, { allowed_resources: [`${API}/`], ...options });
  return { w, token: await w.token() };
}

/** A check as NGINX sends it: bodyless GET, the original call in X-Original-*. */
async function nginxCheck(w: Workload, token: string, method: string, url: string, extra: Record<string, string> = {}, proofOptions = {}) {
  const proof = await w.proof(method, url.split('?')[0]!, { accessToken: token, ...proofOptions });
  return request(server.url)
    .get('/check')
    .set('X-Gateway-Authorization', gatewayAuth)
    .set('X-Original-Method', method)
    .set('X-Original-URL', url)
    .set('X-Real-IP', '203.0.113.10')
    .set('Authorization', `DPoP ${token}`)
    .set('DPoP', proof)
    .set(extra);
}

describe('the gateway check endpoint', () => {
  it('allows a good call and names the client, scope, acr, risk and decision for the upstream', async () => {
    const { w, token } = await workload();
    const res = await nginxCheck(w, token, 'GET', `${API}/orders/1`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.headers['x-tollgate-client-id'], w.clientId);
    assert.equal(res.headers['x-tollgate-acr'], 'urn:tollgate:acr:key');
    assert.equal(res.headers['x-tollgate-decision-id'], res.body.decision_id);
    assert.equal(res.body.decision, 'allow');
    assert.equal(typeof res.body.risk_score, 'number');
    assert.ok(Array.isArray(res.body.reasons));
  });

  it('accepts the Traefik/Caddy forward_auth headers and the Envoy path prefix', async () => {
    const { w, token } = await workload();
    const fa = await request(server.url)
      .get('/check')
      .set('X-Gateway-Authorization', gatewayAuth)
      .set('X-Forwarded-Method', 'POST')
      .set('X-Forwarded-Proto', 'https')
      .set('X-Forwarded-Host', 'api.example.test')
      .set('X-Forwarded-Uri', '/orders?x=1')
      .set('Authorization', `DPoP ${token}`)
      .set('DPoP', await w.proof('POST', `${API}/orders`, { accessToken: token }));
    assert.equal(fa.status, 200, JSON.stringify(fa.body));
    const envoy = await request(server.url)
      .delete('/check/orders/5')
      .set('X-Gateway-Authorization', gatewayAuth)
      .set('Host', 'api.example.test')
      .set('X-Forwarded-Proto', 'https')
      .set('Authorization', `DPoP ${token}`)
      .set('DPoP', await w.proof('DELETE', `${API}/orders/5`, { accessToken: token }));
    assert.equal(envoy.status, 200, JSON.stringify(envoy.body));
  });

  it('401 invalid_client for a missing or wrong gateway credential, revealing nothing about the token', async () => {
    const { w, token } = await workload();
    for (const credential of [undefined, 'Basic Zm9vOmJhcg==', `Bearer ${token}`]) {
      const req = request(server.url).get('/check').set('X-Original-Method', 'GET').set('X-Original-URL', `${API}/orders/1`)
        .set('Authorization', `DPoP ${token}`).set('DPoP', await w.proof('GET', `${API}/orders/1`, { accessToken: token }));
      if (credential) req.set('X-Gateway-Authorization', credential);
      const res = await req;
      assert.equal(res.status, 401);
      assert.deepEqual(Object.keys(res.body).sort(), ['decision', 'error', 'error_description']);
      assert.equal(res.body.error, 'invalid_client');
      assert.equal(res.headers['x-tollgate-client-id'], undefined);
    }
  });

  it('RFC 6750 §3.1: 401 with a bare DPoP challenge when no token is sent', async () => {
    const res = await request(server.url).get('/check').set('X-Gateway-Authorization', gatewayAuth)
      .set('X-Original-Method', 'GET').set('X-Original-URL', `${API}/orders/1`);
    assert.equal(res.status, 401);
    assert.match(res.headers['www-authenticate'], /^DPoP algs="/);
    assert.doesNotMatch(res.headers['www-authenticate'], /error=/);
    assert.equal(res.body.decision, 'invalid');
  });

  it('RFC 9449 §7.1: invalid_token for a token of another resource, a malformed token, or a bound token sent as Bearer', async () => {
    const { w, token } = await workload();
    const other = await nginxCheck(w, token, 'GET', 'https://other.example.test/orders/1');
    assert.equal(other.status, 401);
    assert.match(other.headers['www-authenticate'], /error="invalid_token"/);
    const garbage = await nginxCheck(w, 'not.a.token', 'GET', `${API}/orders/1`);
    assert.match(garbage.headers['www-authenticate'], /error="invalid_token"/);
    const bearer = await nginxCheck(w, token, 'GET', `${API}/orders/1`, { Authorization: `Bearer ${token}` });
    assert.equal(bearer.status, 401);
    assert.match(bearer.headers['www-authenticate'], /error="invalid_token"/);
  });

  it('RFC 9449 §4.3 against the original call: wrong htm, wrong htu, missing ath, replay → invalid_dpop_proof', async () => {
    const { w, token } = await workload();
    const url = `${API}/orders/1`;
    const htm = await request(server.url).get('/check').set('X-Gateway-Authorization', gatewayAuth)
      .set('X-Original-Method', 'POST').set('X-Original-URL', url).set('Authorization', `DPoP ${token}`)
      .set('DPoP', await w.proof('GET', url, { accessToken: token }));
    assert.match(htm.headers['www-authenticate'], /error="invalid_dpop_proof"/);
    const htu = await request(server.url).get('/check').set('X-Gateway-Authorization', gatewayAuth)
      .set('X-Original-Method', 'GET').set('X-Original-URL', url).set('Authorization', `DPoP ${token}`)
      .set('DPoP', await w.proof('GET', `${API}/orders/2`, { accessToken: token }));
    assert.match(htu.headers['www-authenticate'], /error="invalid_dpop_proof"/);
    const noAth = await request(server.url).get('/check').set('X-Gateway-Authorization', gatewayAuth)
      .set('X-Original-Method', 'GET').set('X-Original-URL', url).set('Authorization', `DPoP ${token}`)
      .set('DPoP', await w.proof('GET', url));
    assert.match(noAth.headers['www-authenticate'], /error="invalid_dpop_proof"/);
    const proof = await w.proof('GET', url, { accessToken: token });
    const send = () => request(server.url).get('/check').set('X-Gateway-Authorization', gatewayAuth)
      .set('X-Original-Method', 'GET').set('X-Original-URL', url).set('Authorization', `DPoP ${token}`).set('DPoP', proof);
    assert.equal((await send()).status, 200);
    assert.match((await send()).headers['www-authenticate'], /error="invalid_dpop_proof"/);
  });

  it('RFC 9449 §9: use_dpop_nonce with a DPoP-Nonce for a client that requires nonces, then allow', async () => {
    const w = await Workload.register(server, { allowed_resources: [`${API}/`], require_dpop_nonce: true });
    // The token request needs the authorization server's nonce first (RFC 9449 §8).
    const dance = await w.requestToken();
    assert.equal(dance.body.error, 'use_dpop_nonce');
    const token = await w.token({}, await w.proof('POST', w.tokenUrl, { nonce: dance.headers['dpop-nonce'] }));
    const first = await nginxCheck(w, token, 'GET', `${API}/orders/1`);
    assert.equal(first.status, 401);
    assert.match(first.headers['www-authenticate'], /error="use_dpop_nonce"/);
    const nonce = first.headers['dpop-nonce'];
    assert.ok(nonce);
    const second = await nginxCheck(w, token, 'GET', `${API}/orders/1`, {}, { nonce });
    assert.equal(second.status, 200, JSON.stringify(second.body));
  });

  it('a revoked token or a suspended client is refused on the next call', async () => {
    const { w, token } = await workload();
    assert.equal((await nginxCheck(w, token, 'GET', `${API}/orders/1`)).status, 200);
    await request(server.url).patch(`/admin/clients/${w.clientId}`).set('Authorization', server.admin).send({ status: 'suspended' }).expect(200);
    const res = await nginxCheck(w, token, 'GET', `${API}/orders/1`);
    assert.equal(res.status, 401);
    assert.match(res.headers['www-authenticate'], /error="invalid_token"/);
  });
});

describe('route rules (issue 3 §3)', () => {
  let w: Workload;
  let token: string;
  before(async () => {
    ({ w, token } = await workload({ scope: 'orders:read' }));
    await request(server.url)
      .put(`/admin/clients/${w.clientId}/policy`)
      .set('Authorization', server.admin)
      .send({
        routes: [
          { path: '/admin/**', acr: 'urn:tollgate:acr:live', max_age: 300 },
          { methods: ['DELETE'], path: '/orders/**', scopes: ['orders:delete'] },
          { path: '/orders/**', scopes: ['orders:read'] },
        ],
      })
      .expect(200);
  });

  it('allows a call the rules permit', async () => {
    assert.equal((await nginxCheck(w, token, 'GET', `${API}/orders/9`)).status, 200);
  });

  it('RFC 9470 §3: step-up with acr_values and max_age when the route needs a higher level', async () => {
    const res = await nginxCheck(w, token, 'GET', `${API}/admin/users`);
    assert.equal(res.status, 401);
    const challenge = res.headers['www-authenticate'];
    assert.match(challenge, /error="insufficient_user_authentication"/);
    assert.match(challenge, /acr_values="urn:tollgate:acr:live"/);
    assert.match(challenge, /max_age=300/);
    assert.ok(res.headers['dpop-nonce']);
    assert.equal(res.body.decision, 'step_up');
    assert.equal(res.body.acr_values, 'urn:tollgate:acr:live');
    assert.ok(res.body.reasons.some((r: { code: string }) => r.code === 'route_requires_acr'));
  });

  it('RFC 6750 §3.1: 403 insufficient_scope when a route needs a scope the token lacks', async () => {
    const res = await nginxCheck(w, token, 'DELETE', `${API}/orders/9`);
    assert.equal(res.status, 403);
    assert.match(res.headers['www-authenticate'], /error="insufficient_scope"/);
    assert.equal(res.body.decision, 'deny');
  });

  it('matches rules on the normalised path: dot segments and encoded dots do not dodge them', async () => {
    for (const target of ['/orders/../admin/users', '/orders/%2e%2e/admin/users', '//admin//users']) {
      const res = await nginxCheck(w, token, 'GET', `${API}${target}`);
      assert.notEqual(res.status, 200, target);
    }
    const encodedSlash = await nginxCheck(w, token, 'GET', `${API}/orders%2f..%2fadmin`);
    assert.notEqual(encodedSlash.status, 200);
  });

  it('a policy change takes effect on the next call', async () => {
    await request(server.url).put(`/admin/clients/${w.clientId}/policy`).set('Authorization', server.admin)
      .send({ routes: [{ path: '/orders/**', scopes: ['orders:admin'] }] }).expect(200);
    assert.equal((await nginxCheck(w, token, 'GET', `${API}/orders/9`)).status, 403);
    await request(server.url).put(`/admin/clients/${w.clientId}/policy`).set('Authorization', server.admin)
      .send({ routes: [] }).expect(200);
    assert.equal((await nginxCheck(w, token, 'GET', `${API}/orders/9`)).status, 200);
  });
});

describe('signals end to end', () => {
  it('network_not_allowed: a call from outside the allowed networks is denied', async () => {
    const { w, token } = await workload();
    // Taken before the policy: the token endpoint itself is called from 127.0.0.1, outside 10/8.
    const fresh = await w.token();
    await request(server.url).put(`/admin/clients/${w.clientId}/policy`).set('Authorization', server.admin)
      .send({ allowed_networks: ['10.0.0.0/8'] }).expect(200);
    const res = await nginxCheck(w, token, 'GET', `${API}/orders/1`);
    assert.equal(res.status, 403);
    assert.ok(res.body.reasons.some((r: { code: string }) => r.code === 'network_not_allowed'));
    // Another token: the first one was already seen from another network (a signal of its own).
    const inside = await nginxCheck(w, fresh, 'GET', `${API}/orders/1`, { 'X-Real-IP': '10.1.2.3' });
    assert.equal(inside.status, 200, JSON.stringify(inside.body));
  });

  it('rate_limit_exceeded: calls above the per-minute limit are denied', async () => {
    const { w, token } = await workload();
    await request(server.url).put(`/admin/clients/${w.clientId}/policy`).set('Authorization', server.admin)
      .send({ rate_limit_per_minute: 3 }).expect(200);
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await nginxCheck(w, token, 'GET', `${API}/orders/${i}`)).status);
    assert.deepEqual(statuses.slice(0, 3), [200, 200, 200]);
    assert.deepEqual(statuses.slice(3), [403, 403]);
  });

  it('country_not_allowed: offline IP-to-country data decides', async () => {
    const { w, token } = await workload();
    await request(server.url).put(`/admin/clients/${w.clientId}/policy`).set('Authorization', server.admin)
      .send({ allowed_countries: ['DE'] }).expect(200);
    const us = await nginxCheck(w, token, 'GET', `${API}/orders/1`, { 'X-Real-IP': '8.8.8.8' });
    assert.equal(us.status, 403);
    assert.ok(us.body.reasons.some((r: { code: string; detail?: string }) => r.code === 'country_not_allowed'));
  });
});

describe('introspection with context (issue 3 §5)', () => {
  it('returns the decision and risk with the RFC 7662 answer', async () => {
    const { w, token } = await workload();
    const url = `${API}/orders/1`;
    const res = await request(server.url).post('/oauth/introspect').type('form').auth(gateway.id, gateway.secret)
      .send({ token, dpop_proof: await w.proof('GET', url, { accessToken: token }), htm: 'GET', htu: url, client_ip: '203.0.113.5' });
    assert.equal(res.status, 200);
    assert.equal(res.body.active, true);
    assert.equal(res.body.decision, 'allow');
    assert.equal(typeof res.body.risk_score, 'number');
    assert.match(res.body.decision_id, /^[0-9a-f-]{36}$/);
  });

  it('RFC 9701: the signed JWT answer carries the decision too; a step-up names the acr', async () => {
    const { w, token } = await workload();
    await request(server.url).put(`/admin/clients/${w.clientId}/policy`).set('Authorization', server.admin)
      .send({ routes: [{ path: '/admin/**', acr: 'urn:tollgate:acr:live' }] }).expect(200);
    const url = `${API}/admin/users`;
    const res = await request(server.url).post('/oauth/introspect').type('form').auth(gateway.id, gateway.secret)
      .set('Accept', 'application/token-introspection+jwt').buffer(true)
      .parse((r, cb) => {
        let data = '';
        r.on('data', (c: Buffer) => (data += c));
        r.on('end', () => cb(null, data));
      })
      .send({ token, dpop_proof: await w.proof('GET', url, { accessToken: token }), htm: 'GET', htu: url });
    assert.equal(res.status, 200);
    const claims = JSON.parse(Buffer.from((res.body as string).split('.')[1]!, 'base64url').toString());
    assert.equal(claims.token_introspection.active, true);
    assert.equal(claims.token_introspection.decision, 'step_up');
    assert.equal(claims.token_introspection.acr_values, 'urn:tollgate:acr:live');
    assert.equal(claims.token_introspection.decision_error, 'insufficient_user_authentication');
  });
});

describe('risk at issuance (issue 3 §4)', () => {
  it('a deny refuses the token with access_denied; a step-up names the acr', async () => {
    const w = await Workload.register(server, { allowed_resources: [`${API}/`] });
    await request(server.url).put(`/admin/clients/${w.clientId}/policy`).set('Authorization', server.admin)
      .send({ allowed_networks: ['10.0.0.0/8'] }).expect(200);
    const denied = await w.requestToken();
    assert.equal(denied.status, 400, JSON.stringify(denied.body));
    assert.equal(denied.body.error, 'access_denied');
    assert.equal(denied.body.access_token, undefined);

    await request(server.url).put(`/admin/clients/${w.clientId}/policy`).set('Authorization', server.admin)
      .send({ thresholds: { step_up: 0, deny: 900 } }).expect(200);
    const stepUp = await w.requestToken();
    assert.equal(stepUp.status, 401, JSON.stringify(stepUp.body));
    assert.equal(stepUp.body.error, 'insufficient_user_authentication');
    assert.equal(stepUp.body.acr_values, 'urn:tollgate:acr:live');
    assert.match(stepUp.headers['www-authenticate'], /acr_values="urn:tollgate:acr:live"/);
  });
});
