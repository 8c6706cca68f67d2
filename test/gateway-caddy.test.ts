import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { CADDY } from './support/caddy.js';
import { type ProtectedApi, type RunningTollgate, startProtectedApi, Workload } from '#test-support';

/** Caddy's forward_auth with its stock X-Forwarded-* headers, configured as in docs/gateways.md. */
describe('Caddy forward_auth in front of an API', { skip: !CADDY && 'caddy is not installed (.ci/run installs it)' }, () => {
  let stack: ProtectedApi;
  let tollgate: RunningTollgate;
  let w: Workload;
  let token: string;
  let api: string;

  before(async () => {
    stack = await startProtectedApi('caddy');
    ({ tollgate, api } = stack);
    w = await Workload.register(tollgate, { allowed_resources: [`${api}/`], scope: 'orders:read' });
    await request(tollgate.url).put(`/admin/clients/${w.clientId}/policy`).set('Authorization', tollgate.admin)
      .send({ routes: [{ path: '/admin/**', acr: 'urn:tollgate:acr:live' }, { path: '/payments/**', scopes: ['payments:write'] }] })
      .expect(200);
    token = await w.token();
  });

  after(() => stack?.close());

  it('allows a good call; the upstream gets the identity headers, not forged ones, and not the gateway credential', async () => {
    const res = await w.call('POST', `${api}/orders/1?x=1`, token, { headers: { 'x-tollgate-client-id': 'forged', 'x-tollgate-acr': 'urn:tollgate:acr:attested' } });
    assert.equal(res.status, 200);
    const seen = (await res.json()) as { method: string; url: string; headers: Record<string, string> };
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, '/orders/1?x=1');
    assert.equal(seen.headers['x-tollgate-client-id'], w.clientId);
    assert.equal(seen.headers['x-tollgate-acr'], 'urn:tollgate:acr:key');
    assert.equal(seen.headers['x-gateway-authorization'], undefined);
  });

  it('passes the step-up challenge to the workload unchanged (401, WWW-Authenticate, DPoP-Nonce, JSON body)', async () => {
    const res = await w.call('GET', `${api}/admin/users`, token);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /error="insufficient_user_authentication".*acr_values="urn:tollgate:acr:live"/);
    assert.ok(res.headers.get('dpop-nonce'));
    const body = (await res.json()) as { decision: string };
    assert.equal(body.decision, 'step_up');
  });

  it('denies with 403 insufficient_scope, and refuses a replayed proof', async () => {
    const denied = await w.call('GET', `${api}/payments/1`, token);
    assert.equal(denied.status, 403);
    assert.match(denied.headers.get('www-authenticate') ?? '', /insufficient_scope/);
    const proof = await w.proof('GET', `${api}/orders/5`, { accessToken: token });
    const headers = { authorization: `DPoP ${token}`, dpop: proof };
    assert.equal((await fetch(`${api}/orders/5`, { headers })).status, 200);
    const again = await fetch(`${api}/orders/5`, { headers });
    assert.equal(again.status, 401);
    assert.match(again.headers.get('www-authenticate') ?? '', /invalid_dpop_proof/);
  });

  it('a client cannot smuggle the other header family past Caddy', async () => {
    // The client claims, through X-Original-*, to be calling a harmless URL while calling /admin.
    const res = await w.call('GET', `${api}/admin/users`, token, {
      headers: { 'x-original-method': 'GET', 'x-original-url': `${api}/orders/1` },
    });
    assert.notEqual(res.status, 200);
  });
});
