import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { NGINX, type ProtectedApi, type RunningTollgate, sendFrom, startRoutedApi, type Workload } from '#test-support';

/**
 * Issue 3 §8: a real NGINX (Debian's, with auth_request) in front of a small upstream, asking
 * Tollgate's /check about every call, with the configuration from docs/gateways.md.
 */
describe('NGINX auth_request in front of an API', { skip: !NGINX && 'nginx is not installed (.ci/run installs it)' }, () => {
  let stack: ProtectedApi;
  let tollgate: RunningTollgate;
  let w: Workload;
  let token: string;
  let api: string;

  before(async () => {
    ({ stack, tollgate, api, w, token } = await startRoutedApi('nginx'));
  });

  after(() => stack?.close());

  it('allows a call with a valid DPoP-bound token and proof; the upstream gets the identity headers, not forged ones', async () => {
    const res = await w.call('GET', `${api}/orders/42?expand=1`, token, {
      headers: { 'x-tollgate-client-id': 'forged', 'x-tollgate-acr': 'urn:tollgate:acr:attested' },
    });
    assert.equal(res.status, 200, stack.errorLog());
    const seen = (await res.json()) as { url: string; headers: Record<string, string> };
    assert.equal(seen.url, '/orders/42?expand=1');
    assert.equal(seen.headers['x-tollgate-client-id'], w.clientId);
    assert.equal(seen.headers['x-tollgate-scope'], 'orders:read orders:write');
    assert.equal(seen.headers['x-tollgate-acr'], 'urn:tollgate:acr:key');
    assert.match(seen.headers['x-tollgate-risk']!, /^\d+$/);
    assert.match(seen.headers['x-tollgate-decision-id']!, /^[0-9a-f-]{36}$/);
    assert.equal(seen.headers['x-gateway-authorization'], undefined);
  });

  it('challenges a route that needs urn:tollgate:acr:live (RFC 9470 §3 via WWW-Authenticate, DPoP-Nonce for the retry)', async () => {
    const res = await w.call('GET', `${api}/admin/users`, token);
    assert.equal(res.status, 401);
    const challenge = res.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^DPoP /);
    assert.match(challenge, /error="insufficient_user_authentication"/);
    assert.match(challenge, /acr_values="urn:tollgate:acr:live"/);
    assert.ok(res.headers.get('dpop-nonce'), 'DPoP-Nonce reaches the client');
    assert.match(res.headers.get('x-tollgate-decision-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  it('denies a route whose scope the token lacks (403)', async () => {
    const res = await w.call('POST', `${api}/payments/7`, token);
    assert.equal(res.status, 403);
    assert.match(res.headers.get('x-tollgate-decision-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  it('cannot dodge a route rule with dot segments or percent-encoding in the raw request target', async () => {
    for (const rawPath of ['/orders/../admin/users', '/orders/%2e%2e/admin/users']) {
      const url = `${api}${rawPath}`;
      // The proof names the URL the client claims; nginx passes $request_uri as sent.
      const proof = await w.proof('GET', new URL(url).href, { accessToken: token });
      const { status } = await sendFrom('127.0.0.1', api, { rawPath, headers: { authorization: `DPoP ${token}`, dpop: proof } });
      assert.notEqual(status, 200, rawPath);
    }
  });

  it('refuses a call without a token, with a bad proof, or with a replayed proof (401)', async () => {
    const none = await fetch(`${api}/orders/1`);
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^DPoP /);

    const wrongUrl = await w.proof('GET', `${api}/orders/2`, { accessToken: token });
    const bad = await fetch(`${api}/orders/1`, { headers: { authorization: `DPoP ${token}`, dpop: wrongUrl } });
    assert.equal(bad.status, 401);
    assert.match(bad.headers.get('www-authenticate') ?? '', /error="invalid_dpop_proof"/);

    const proof = await w.proof('GET', `${api}/orders/3`, { accessToken: token });
    const first = await fetch(`${api}/orders/3`, { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    assert.equal(first.status, 200);
    const again = await fetch(`${api}/orders/3`, { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    assert.equal(again.status, 401);
  });

  it('records every decision, queryable by client', async () => {
    const res = await request(tollgate.url).get(`/admin/decisions?client_id=${w.clientId}&limit=200`).set('Authorization', tollgate.admin).expect(200);
    const kinds = new Set(res.body.decisions.map((d: { decision: string }) => d.decision));
    for (const d of ['allow', 'step_up', 'deny', 'invalid']) assert.ok(kinds.has(d), `a ${d} decision was recorded`);
  });

  it('fails closed when Tollgate is down (nginx answers 500)', async () => {
    await tollgate.close();
    const res = await w.call('GET', `${api}/orders/9`, token);
    assert.equal(res.status, 500);
  });
});
