import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { HAPROXY, type ProtectedApi, type RunningTollgate, sendFrom, startRoutedApi, type Workload } from '#test-support';
import { signerFromCryptoKey, WorkloadClient } from '#workload-client';

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
}

/**
 * Issue 12 §2: Debian's HAProxy in front of a small upstream with the Lua action shipped in
 * examples/haproxy (core.httpclient → /check), configured as in docs/gateways.md.
 */
describe('HAProxy (Lua core.httpclient) in front of an API', { skip: !HAPROXY && 'haproxy is not installed (.ci/run installs it)' }, () => {
  let stack: ProtectedApi;
  let tollgate: RunningTollgate;
  let w: Workload;
  let token: string;
  let api: string;

  before(async () => {
    ({ stack, tollgate, api, w, token } = await startRoutedApi('haproxy'));
  });

  after(() => stack?.close());

  it('allows a good call; the upstream gets the identity headers, not forged ones, and not the gateway credential', async () => {
    const res = await w.call('POST', `${api}/orders/42?expand=1`, token, {
      headers: { 'x-tollgate-client-id': 'forged', 'x-tollgate-acr': 'urn:tollgate:acr:attested', 'x-tollgate-extra': 'forged', 'x-gateway-authorization': 'Basic forged' },
    });
    assert.equal(res.status, 200, stack.errorLog());
    const seen = (await res.json()) as Echo;
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, '/orders/42?expand=1');
    assert.equal(seen.headers['x-tollgate-client-id'], w.clientId);
    assert.equal(seen.headers['x-tollgate-scope'], 'orders:read orders:write');
    assert.equal(seen.headers['x-tollgate-acr'], 'urn:tollgate:acr:key');
    assert.match(seen.headers['x-tollgate-risk']!, /^\d+$/);
    assert.match(seen.headers['x-tollgate-decision-id']!, /^[0-9a-f-]{36}$/);
    assert.equal(seen.headers['x-tollgate-extra'], undefined, 'a forged x-tollgate-* header the check does not set is removed');
    assert.equal(seen.headers['x-gateway-authorization'], undefined);
  });

  it('passes the step-up challenge to the workload (401, WWW-Authenticate, DPoP-Nonce, JSON body)', async () => {
    const res = await w.call('GET', `${api}/admin/users`, token);
    assert.equal(res.status, 401);
    const challenge = res.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /^DPoP /);
    assert.match(challenge, /error="insufficient_user_authentication".*acr_values="urn:tollgate:acr:live"/);
    assert.ok(res.headers.get('dpop-nonce'), 'DPoP-Nonce reaches the client');
    assert.match(res.headers.get('x-tollgate-decision-id') ?? '', /^[0-9a-f-]{36}$/);
    const body = (await res.json()) as { decision: string; acr_values: string };
    assert.equal(body.decision, 'step_up');
    assert.equal(body.acr_values, 'urn:tollgate:acr:live');
  });

  it('step-up answered by the workload SDK through HAProxy: challenged, stepped up, the retry passes with acr live', async () => {
    const client = new WorkloadClient({
      issuer: tollgate.issuer,
      clientId: w.clientId,
      clientKey: await signerFromCryptoKey(w.clientKey.privateKey, 'ES256', 'k1'),
      resource: `${api}/`,
      scope: 'orders:read',
    });
    const res = await client.fetch(`${api}/admin/users`, { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } });
    assert.equal(res.status, 200, stack.errorLog());
    const seen = (await res.json()) as Echo;
    assert.equal(seen.url, '/admin/users');
    assert.equal(seen.headers['x-tollgate-acr'], 'urn:tollgate:acr:live');
  });

  it('denies a route whose scope the token lacks (403 insufficient_scope, with the body)', async () => {
    const res = await w.call('POST', `${api}/payments/7`, token);
    assert.equal(res.status, 403);
    assert.match(res.headers.get('www-authenticate') ?? '', /insufficient_scope/);
    assert.equal(((await res.json()) as { decision: string }).decision, 'deny');
  });

  it('cannot dodge a route rule with dot segments or percent-encoding in the raw request target', async () => {
    for (const rawPath of ['/orders/../admin/users', '/orders/%2e%2e/admin/users']) {
      const proof = await w.proof('GET', new URL(`${api}${rawPath}`).href, { accessToken: token });
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
    assert.equal(first.status, 200, stack.errorLog());
    const again = await fetch(`${api}/orders/3`, { headers: { authorization: `DPoP ${token}`, dpop: proof } });
    assert.equal(again.status, 401);
    assert.match(again.headers.get('www-authenticate') ?? '', /invalid_dpop_proof/);
  });

  it('a repeated DPoP header reaches /check whole and is refused', async () => {
    const proof = await w.proof('GET', `${api}/orders/4`, { accessToken: token });
    // Two header lines (node sends an array that way), each a good proof on its own.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        { host: '127.0.0.1', port: Number(new URL(api).port), path: '/orders/4', headers: { authorization: `DPoP ${token}`, dpop: [proof, proof] } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 401);
  });

  it('a client cannot smuggle a description of another call past HAProxy', async () => {
    const res = await w.call('GET', `${api}/admin/users`, token, {
      headers: { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/orders/1', 'x-forwarded-host': new URL(api).host },
    });
    assert.notEqual(res.status, 200);
  });

  it('counts the checks by face and decision (the HTTP face)', async () => {
    const metrics = (await request(tollgate.url).get('/metrics').expect(200)).text;
    for (const decision of ['allow', 'step_up', 'deny', 'invalid']) {
      assert.match(metrics, new RegExp(`tollgate_checks_total\\{face="http",decision="${decision}"\\} [1-9]`), decision);
    }
  });

  it('fails closed when Tollgate is down (HAProxy answers 503)', async () => {
    await tollgate.close();
    const res = await w.call('GET', `${api}/orders/9`, token);
    assert.equal(res.status, 503);
  });
});
