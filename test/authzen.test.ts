import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import request from 'supertest';
import { type Gateway, registerGateway, type RunningTollgate, sendFrom, startTollgate, Workload } from '#test-support';
import { signerFromCryptoKey, WorkloadClient } from '#workload-client';

// OpenID AuthZEN Authorization API 1.0 as a face of the call assessment (docs/gateways.md "AuthZEN").
const API = 'https://api.example.test';

let server: RunningTollgate;
let gateway: Gateway;
before(async () => {
  server = await startTollgate();
  gateway = await registerGateway(server, 'authzen pep');
});
after(async () => {
  await server.close();
});

async function workload(options: Parameters<typeof Workload.register>[1] = {}) {
  const w = await Workload.register(server, { allowed_resources: [`${API}/`], ...options });
  return { w, token: await w.token() };
}

/** The AuthZEN subject of a workload presenting `token` with a fresh proof for `method url`. */
async function subject(w: Workload, token: string, method: string, url: string, id = w.clientId) {
  return { type: 'workload', id, properties: { access_token: token, dpop_proof: await w.proof(method, url, { accessToken: token }) } };
}

async function tuple(w: Workload, token: string, method: string, url: string, ip = '203.0.113.7') {
  return { subject: await subject(w, token, method, url), action: { name: method }, resource: { type: 'url', id: url }, context: { ip } };
}

function evaluate(body: unknown, path = '/access/v1/evaluation') {
  return request(server.url).post(path).set('Authorization', gateway.basic).set('Content-Type', 'application/json').send(JSON.stringify(body));
}

describe('AuthZEN: the PDP and its metadata', () => {
  it('publishes its metadata at /.well-known/authzen-configuration, and a PEP that follows it gets a decision', async () => {
    const meta = await request(server.url).get('/.well-known/authzen-configuration');
    assert.equal(meta.status, 200);
    assert.match(meta.headers['content-type'], /^application\/json/);
    assert.deepEqual(meta.body, {
      policy_decision_point: server.issuer,
      access_evaluation_endpoint: `${server.issuer}/access/v1/evaluation`,
      access_evaluations_endpoint: `${server.issuer}/access/v1/evaluations`,
    });
    // A PEP as the spec describes one: the endpoint from the metadata, its credential, the 4-tuple, X-Request-ID.
    const { w, token } = await workload();
    const endpoint = new URL(meta.body.access_evaluation_endpoint);
    const res = await request(endpoint.origin).post(endpoint.pathname).set('Authorization', gateway.basic)
      .set('X-Request-ID', 'pep-req-0001').type('json').send(await tuple(w, token, 'GET', `${API}/orders/1`));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.match(res.headers['content-type'], /^application\/json/);
    // AuthZEN "Request Identification in a Response": the same identifier comes back.
    assert.equal(res.headers['x-request-id'], 'pep-req-0001');
    assert.equal(res.body.decision, true);
    assert.equal(res.body.context.decision, 'allow');
    assert.equal(res.body.context.client_id, w.clientId);
    assert.equal(res.body.context.acr, 'urn:tollgate:acr:key');
    assert.equal(typeof res.body.context.decision_id, 'string');
    assert.ok(Array.isArray(res.body.context.reasons));
    // The decision is logged under the request's id.
    const log = await request(server.url).get('/admin/decisions').query({ client_id: w.clientId }).set('Authorization', server.admin);
    const entry = log.body.decisions.find((d: { decision_id: string }) => d.decision_id === res.body.context.decision_id);
    assert.equal(entry?.request_id, 'pep-req-0001', JSON.stringify(log.body));
    assert.equal(entry.kind, 'check');
    assert.equal(entry.ip, '203.0.113.7');
  });

  it('401 for a PEP that does not authenticate as a gateway (Basic challenge), or with a workload credential', async () => {
    const { w, token } = await workload();
    const body = await tuple(w, token, 'GET', `${API}/orders/1`);
    const none = await request(server.url).post('/access/v1/evaluation').type('json').send(body);
    assert.equal(none.status, 401);
    assert.equal(none.body.error, 'invalid_client');
    assert.match(none.headers['www-authenticate'], /^Basic realm="tollgate"/);
    assert.equal(none.body.decision, undefined);
    const wrong = await request(server.url).post('/access/v1/evaluation').auth(gateway.id, 'not-the-secret').type('json').send(body);
    assert.equal(wrong.status, 401);
    const bearer = await request(server.url).post('/access/v1/evaluations').set('Authorization', `DPoP ${token}`).type('json').send(body);
    assert.equal(bearer.status, 401);
  });
});

describe('AuthZEN: one evaluation is the /check judgement', () => {
  it('decision false with context when no token is presented (as /check: no error code, a challenge)', async () => {
    const { w } = await workload();
    const res = await evaluate({ subject: { type: 'workload', id: w.clientId }, action: { name: 'GET' }, resource: { type: 'url', id: `${API}/orders/1` } });
    assert.equal(res.status, 200);
    assert.equal(res.body.decision, false);
    assert.equal(res.body.context.decision, 'invalid');
    assert.equal(res.body.context.status, 401);
    assert.deepEqual(res.body.context.reasons.map((r: { code: string }) => r.code), ['no_token']);
    assert.match(res.body.context.www_authenticate, /^DPoP algs="/);
  });

  it('the subject must be the client the token was issued to', async () => {
    const { w, token } = await workload();
    const { w: other } = await workload();
    const body = await tuple(w, token, 'GET', `${API}/orders/1`);
    body.subject.id = other.clientId;
    const res = await evaluate(body);
    assert.equal(res.body.decision, false);
    assert.equal(res.body.context.error, 'invalid_token');
    assert.deepEqual(res.body.context.reasons.map((r: { code: string }) => r.code), ['subject_mismatch']);
  });

  it('a replayed proof is refused (RFC 9449 §11.1), as at /check', async () => {
    const { w, token } = await workload();
    const body = await tuple(w, token, 'GET', `${API}/orders/1`);
    assert.equal((await evaluate(body)).body.decision, true);
    const again = await evaluate(body);
    assert.equal(again.body.decision, false);
    assert.equal(again.body.context.error, 'invalid_dpop_proof');
  });

  it('step-up: decision false with acr_values, max_age, a DPoP nonce and the challenge a gateway would send', async () => {
    const { w, token } = await workload();
    await request(server.url).put(`/admin/clients/${w.clientId}/policy`).set('Authorization', server.admin)
      .send({ routes: [{ path: '/admin/**', acr: 'urn:tollgate:acr:live', max_age: 300 }] }).expect(200);
    const res = await evaluate(await tuple(w, token, 'POST', `${API}/admin/users`));
    assert.equal(res.status, 200);
    assert.equal(res.body.decision, false);
    const c = res.body.context;
    assert.equal(c.decision, 'step_up');
    assert.equal(c.status, 401);
    assert.equal(c.error, 'insufficient_user_authentication');
    assert.equal(c.acr_values, 'urn:tollgate:acr:live');
    assert.equal(c.max_age, 300);
    assert.match(c.dpop_nonce, /^[A-Za-z0-9_-]+$/);
    assert.match(c.www_authenticate, /error="insufficient_user_authentication"/);
    assert.match(c.www_authenticate, /acr_values="urn:tollgate:acr:live"/);
    assert.match(c.www_authenticate, /resource_metadata="https:\/\/api\.example\.test\/\.well-known\/oauth-protected-resource"/);
    assert.ok(c.reasons.some((r: { code: string }) => r.code === 'route_requires_acr'));
  });
});

describe('AuthZEN: evaluations (boxcarred), defaults and the three semantics', () => {
  let w: Workload;
  let token: string;
  before(async () => {
    ({ w, token } = await workload({ scope: 'orders:read' }));
    await request(server.url).put(`/admin/clients/${w.clientId}/policy`).set('Authorization', server.admin)
      .send({ routes: [{ methods: ['DELETE'], path: '/orders/**', scopes: ['orders:delete'] }] }).expect(200);
  });

  /** allow, deny, allow: the resource is a top-level default; each item its own subject (its proof) and action. */
  async function batch(semantic?: string) {
    const url = `${API}/orders/7`;
    const item = async (method: string) => ({ subject: await subject(w, token, method, url), action: { name: method } });
    return evaluate(
      {
        resource: { type: 'url', id: url },
        context: { ip: '203.0.113.9' },
        ...(semantic ? { options: { evaluations_semantic: semantic } } : {}),
        evaluations: [await item('GET'), await item('DELETE'), await item('GET')],
      },
      '/access/v1/evaluations',
    );
  }

  it('execute_all (the default): every evaluation, in order', async () => {
    const res = await batch();
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.evaluations.map((e: { decision: boolean }) => e.decision), [true, false, true]);
    assert.equal(res.body.evaluations[1].context.decision, 'deny');
    assert.equal(res.body.evaluations[1].context.error, 'insufficient_scope');
    assert.equal(res.body.decision, undefined);
    assert.deepEqual((await batch('execute_all')).body.evaluations.map((e: { decision: boolean }) => e.decision), [true, false, true]);
  });

  it('deny_on_first_deny stops after the first false; permit_on_first_permit after the first true', async () => {
    assert.deepEqual((await batch('deny_on_first_deny')).body.evaluations.map((e: { decision: boolean }) => e.decision), [true, false]);
    assert.deepEqual((await batch('permit_on_first_permit')).body.evaluations.map((e: { decision: boolean }) => e.decision), [true]);
  });

  it('without an evaluations array, /evaluations answers as /evaluation does', async () => {
    const res = await evaluate(await tuple(w, token, 'GET', `${API}/orders/8`), '/access/v1/evaluations');
    assert.equal(res.status, 200);
    assert.equal(res.body.decision, true);
    assert.equal(res.body.evaluations, undefined);
  });
});

describe('AuthZEN: bad input is a 400 naming the member, never a decision', () => {
  it('names the member at fault', async () => {
    const { w, token } = await workload();
    const good = await tuple(w, token, 'GET', `${API}/orders/1`);
    const cases: [unknown, RegExp, string?][] = [
      [{ ...good, subject: { ...good.subject, type: 'user' } }, /^subject\.type: must be "workload"/],
      [{ ...good, subject: { ...good.subject, id: 7 } }, /^subject\.id: /],
      [{ ...good, action: {} }, /^action\.name: /],
      [{ ...good, action: { name: 'GET /x' } }, /^action\.name: must be an HTTP method/],
      [{ ...good, resource: { type: 'url', id: '/orders/1' } }, /^resource\.id: must be an absolute http\(s\) URL/],
      [{ ...good, resource: { type: 'document', id: `${API}/x` } }, /^resource\.type: must be "url"/],
      [{ ...good, context: { ip: 'not an address' } }, /^context\.ip: must be an IPv4 or IPv6 address/],
      [{ ...good, subject: { ...good.subject, properties: { access_token: 5 } } }, /^subject\.properties\.access_token: /],
      [[good], /the request body must be a JSON object/],
      [{ evaluations: {} }, /^evaluations: must be an array/, '/access/v1/evaluations'],
      [{ ...good, evaluations: [good, { resource: { type: 'url', id: 'nope' } }] }, /^evaluations\[1\]\.resource\.id: /, '/access/v1/evaluations'],
      [{ ...good, options: { evaluations_semantic: 'first' }, evaluations: [good] }, /^options\.evaluations_semantic: must be one of/, '/access/v1/evaluations'],
      [{ evaluations: Array.from({ length: 65 }, () => good) }, /^evaluations: at most 64/, '/access/v1/evaluations'],
    ];
    for (const [body, message, path] of cases) {
      const res = await evaluate(body, path);
      assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 80)} → ${res.status} ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error, 'invalid_request');
      assert.match(res.body.error_description, message);
      assert.equal(res.headers['cache-control'], 'no-store');
    }
  });

  it('415 for a body that is not JSON; 400 for JSON that does not parse', async () => {
    const form = await request(server.url).post('/access/v1/evaluation').set('Authorization', gateway.basic).type('form').send({ subject: 'x' });
    assert.equal(form.status, 415);
    assert.equal(form.body.error, 'invalid_request');
    const broken = await request(server.url).post('/access/v1/evaluation').set('Authorization', gateway.basic).set('Content-Type', 'application/json').send('{"subject":');
    assert.equal(broken.status, 400);
    assert.equal(broken.body.error, 'invalid_request');
  });
});

describe('AuthZEN: the PEP shares /check’s failure budget', () => {
  let limited: RunningTollgate;
  before(async () => {
    limited = await startTollgate({ TOLLGATE_AUTH_FAILURES_PER_SOURCE: '3', TOLLGATE_AUTH_FAILURES_PER_CLIENT: '3' });
  });
  after(async () => limited?.close());

  it('a PEP that keeps failing to authenticate is refused with 429 slow_down and Retry-After, before its secret is checked', async () => {
    const pep = await registerGateway(limited, 'flooding pep');
    // From an address of its own: with Redis the budgets are shared by every server of the run.
    const source = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
    const wrong = () =>
      sendFrom(source, `${limited.url}/access/v1/evaluation`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`${pep.id}:wrong`).toString('base64')}` },
      });
    for (let i = 0; i < 3; i++) assert.equal((await wrong()).status, 401);
    const refused = await wrong();
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.equal(refused.body.error, 'slow_down');
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    // The failures were recorded as the gateway's, under the check endpoint's budget.
    const log = await request(limited.url).get('/admin/decisions').query({ client_id: pep.id }).set('Authorization', limited.admin);
    assert.equal(log.body.decisions.filter((d: { reasons: { code: string }[] }) => d.reasons[0]?.code === 'client_secret').length, 3);
  });
});

/**
 * A policy enforcement point in front of an API, as small as one can be: it asks Tollgate over
 * AuthZEN about every call and enforces the answer, passing on the status, challenge and nonce
 * from `context` on a refusal (docs/gateways.md "AuthZEN"), the identity on an allow.
 */
async function startPep(tollgate: RunningTollgate, pep: Gateway): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    void (async () => {
      const url = `http://${req.headers.host}${req.url}`;
      const match = /^DPoP (.+)$/.exec(req.headers.authorization ?? '');
      // AuthZEN asks for the subject's id: the PEP reads the token's client_id (RFC 9068 §2.2, unverified); Tollgate checks it.
      const token = match?.[1];
      const id = token ? String(decodeJwt(token).client_id) : 'anonymous';
      const answer = await request(tollgate.url).post('/access/v1/evaluation').set('Authorization', pep.basic).type('json').send({
        subject: { type: 'workload', id, properties: { ...(token ? { access_token: token } : {}), ...(req.headers.dpop ? { dpop_proof: req.headers.dpop } : {}) } },
        action: { name: req.method },
        resource: { type: 'url', id: url },
        context: { ip: '203.0.113.50' },
      });
      const { decision, context } = answer.body;
      if (decision) {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ client_id: context.client_id, acr: context.acr }));
        return;
      }
      const headers: Record<string, string> = { 'Content-Type': 'application/json' };
      if (context?.www_authenticate) headers['WWW-Authenticate'] = context.www_authenticate;
      if (context?.dpop_nonce) headers['DPoP-Nonce'] = context.dpop_nonce;
      res.writeHead(context?.status ?? 403, headers).end(JSON.stringify(context ?? answer.body));
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

describe('AuthZEN: a PEP in front of an API, and the workload SDK stepping up through it', () => {
  let pep: { url: string; server: Server };
  before(async () => {
    pep = await startPep(server, gateway);
  });
  after(() => pep?.server.close());

  it('an ordinary call passes; a call that needs live is challenged, the SDK steps up, the retry passes', async () => {
    const w = await Workload.register(server, { allowed_resources: [`${pep.url}/`] });
    await request(server.url).put(`/admin/clients/${w.clientId}/policy`).set('Authorization', server.admin)
      .send({ routes: [{ path: '/ops/**', acr: 'urn:tollgate:acr:live', max_age: 300 }] }).expect(200);
    const client = new WorkloadClient({ issuer: server.issuer, clientId: w.clientId, clientKey: await signerFromCryptoKey(w.clientKey.privateKey, 'ES256', 'k1'), resource: `${pep.url}/` });
    const plain = await client.fetch(`${pep.url}/orders/1`);
    assert.equal(plain.status, 200);
    assert.deepEqual(await plain.json(), { client_id: w.clientId, acr: 'urn:tollgate:acr:key' });
    // Without the SDK's step-up: the PEP passes on Tollgate's challenge (RFC 9470 §3) and names the metadata (RFC 9728 §5.1),
    // once the resource catalog has this new workload's resource (it reloads in the background; the metadata endpoint waits).
    await request(server.url).get('/.well-known/oauth-protected-resource').set('X-Forwarded-Host', new URL(pep.url).host).set('X-Forwarded-Proto', 'http').expect(200);
    const token = await w.token({ resource: `${pep.url}/` });
    const challenged = await w.call('POST', `${pep.url}/ops/restart`, token);
    assert.equal(challenged.status, 401);
    assert.match(challenged.headers.get('www-authenticate') ?? '', /error="insufficient_user_authentication", .*acr_values="urn:tollgate:acr:live"/);
    assert.match(challenged.headers.get('www-authenticate') ?? '', new RegExp(`resource_metadata="${pep.url}/\\.well-known/oauth-protected-resource"`));
    assert.ok(challenged.headers.get('dpop-nonce'));
    // The SDK reads the same challenge, steps up and retries.
    const stepped = await client.fetch(`${pep.url}/ops/restart`, { method: 'POST' });
    assert.equal(stepped.status, 200);
    assert.deepEqual(await stepped.json(), { client_id: w.clientId, acr: 'urn:tollgate:acr:live' });
  });
});
