import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { JsonLogger } from '#operations';
import { type Gateway, registerGateway, type RunningTollgate, startTollgate, Workload } from '#test-support';

// docs/operations.md: tollgate_build_info, token-endpoint outcomes by error code, request ids.
const API = 'https://api.example.test';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The value of one sample in Prometheus text format, matching every label given (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return 0;
}

type Entry = Record<string, unknown>;
const lines: string[] = [];
const logged = () => lines.map((line) => JSON.parse(line) as Entry);

let server: RunningTollgate;
let gateway: Gateway;
before(async () => {
  server = await startTollgate({}, { logger: new JsonLogger('debug', { write: (line) => lines.push(line) }) });
  gateway = await registerGateway(server);
});
after(() => server.close());

const scrape = async () => (await request(server.url).get('/metrics').expect(200)).text;
const decisionsOf = async (clientId: string) =>
  (await request(server.url).get('/admin/decisions').query({ client_id: clientId }).set('Authorization', server.admin).expect(200)).body.decisions as Entry[];

describe('metrics', () => {
  it('tollgate_build_info names the version and the runtime, always 1', async () => {
    const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
    const text = await scrape();
    assert.match(text, /# TYPE tollgate_build_info gauge/);
    assert.equal(sample(text, 'tollgate_build_info', { version, node: process.version, platform: process.platform, arch: process.arch }), 1);
  });

  it('tollgate_token_requests_total counts issued tokens and refusals by OAuth error code', async () => {
    const w = await Workload.register(server, { allowed_resources: [`${API}/`] });
    const count = (text: string, outcome: string, error: string) => sample(text, 'tollgate_token_requests_total', { outcome, error });
    const before = await scrape();
    assert.equal((await w.requestToken()).status, 200);
    assert.equal((await w.requestToken()).status, 200);
    // Refused while screening (ProviderHost): an assertion for another audience.
    assert.equal((await w.requestToken({}, undefined, await w.assertion({ aud: 'https://elsewhere.test' }))).body.error, 'invalid_client');
    // Refused by oidc-provider: a grant type it does not know, a token request without a DPoP proof… answered by the
    // client's binding rules, and a proof for another URL.
    assert.equal((await w.requestToken({ grant_type: 'password' })).body.error, 'unsupported_grant_type');
    assert.equal((await w.requestToken({}, await w.proof('POST', 'https://elsewhere.test/token'))).body.error, 'invalid_dpop_proof');
    const after = await scrape();
    assert.equal(count(after, 'issued', 'none') - count(before, 'issued', 'none'), 2);
    assert.equal(count(after, 'refused', 'invalid_client') - count(before, 'refused', 'invalid_client'), 1);
    assert.equal(count(after, 'refused', 'unsupported_grant_type') - count(before, 'refused', 'unsupported_grant_type'), 1);
    assert.equal(count(after, 'refused', 'invalid_dpop_proof') - count(before, 'refused', 'invalid_dpop_proof'), 1);
  });
});

describe('request ids', () => {
  it('every answer carries X-Request-Id: the caller\'s when acceptable, else a fresh one', async () => {
    const answers = {
      check: request(server.url).get('/check'),
      // Answered by oidc-provider (Koa) itself.
      token: request(server.url).post('/oauth/token').type('form').send({ grant_type: 'client_credentials' }),
      nest: request(server.url).get('/admin/clients').set('Authorization', server.admin),
      refusedByNest: request(server.url).get('/admin/clients'),
      notFound: request(server.url).get('/nowhere'),
      metrics: request(server.url).get('/metrics'),
      discovery: request(server.url).get('/.well-known/oauth-authorization-server'),
      badBody: request(server.url).post('/admin/clients').set('Authorization', server.admin).set('Content-Type', 'application/json').send('{'),
    };
    for (const [name, pending] of Object.entries(answers)) {
      const mine = `req-${name}.1:2@3`;
      const res = await pending.set('X-Request-Id', mine);
      assert.equal(res.headers['x-request-id'], mine, `${name} (${res.status})`);
    }
    for (const refused of ['', 'x'.repeat(129), 'two words', 'semi;colon', 'quote"d', 'ünicode']) {
      const res = await request(server.url).get('/metrics').set('X-Request-Id', refused);
      assert.match(res.headers['x-request-id'], UUID, JSON.stringify(refused));
    }
    const none = await request(server.url).get('/metrics');
    assert.match(none.headers['x-request-id'], UUID);
    // A header sent twice reaches Node joined ("a, b"): not a request id either.
    const twice = await request(server.url).get('/metrics').set('X-Request-Id', 'a, b');
    assert.match(twice.headers['x-request-id'], UUID, 'a repeated header is not a request id');
  });

  it('the id is stored with each decision (check, issuance, failed authentication) and on the log line', async () => {
    const w = await Workload.register(server, { allowed_resources: [`${API}/`] });
    const issued = await w.requestToken();
    assert.equal(issued.status, 200);
    const token = issued.body.access_token as string;
    const issuedId = issued.headers['x-request-id'];
    const url = `${API}/orders/1`;
    const checked = await request(server.url).get('/check').set('X-Request-Id', 'trace-check-1').set('X-Gateway-Authorization', gateway.basic)
      .set('X-Original-Method', 'GET').set('X-Original-URL', url).set('Authorization', `DPoP ${token}`).set('DPoP', await w.proof('GET', url, { accessToken: token }));
    assert.equal(checked.status, 200, JSON.stringify(checked.body));
    const failed = await w.requestToken({}, undefined, await w.assertion({ aud: 'https://elsewhere.test' }));
    assert.equal(failed.status, 401);
    const failedId = failed.headers['x-request-id'];

    const stored = await decisionsOf(w.clientId);
    const byRequest = (id: string) => stored.filter((d) => d.request_id === id).map((d) => `${d.kind}/${d.decision}`);
    assert.deepEqual(byRequest(issuedId), ['issuance/allow']);
    assert.deepEqual(byRequest('trace-check-1'), ['check/allow']);
    assert.equal(stored.find((d) => d.request_id === 'trace-check-1')?.decision_id, checked.body.decision_id);
    assert.deepEqual(byRequest(failedId), ['issuance/invalid']);
    // Our own endpoints (Nest) too: a revocation whose assertion is for another audience.
    const revoked = await request(server.url).post('/oauth/revoke').type('form').set('X-Request-Id', 'trace-revoke-1').send({
      token,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await w.assertion({ aud: 'https://elsewhere.test' }),
    });
    assert.equal(revoked.status, 401);
    assert.deepEqual((await decisionsOf(w.clientId)).filter((d) => d.request_id === 'trace-revoke-1').map((d) => `${d.kind}/${d.decision}`), ['revocation/invalid']);
    // The log line written while refusing that request carries its id.
    const line = logged().find((e) => e.message === 'client authentication failed' && e.request_id === failedId);
    assert.ok(line, JSON.stringify(logged().filter((e) => e.message === 'client authentication failed')));
    assert.equal(line.client_id, w.clientId);
  });

  it('a gateway that fails to authenticate at /check: its answer, its decision and its log line share the id', async () => {
    const res = await request(server.url).get('/check').set('X-Request-Id', 'bad-gateway-7').set('X-Gateway-Authorization', `Basic ${Buffer.from(`${gateway.id}:wrong`).toString('base64')}`)
      .set('X-Original-Method', 'GET').set('X-Original-URL', `${API}/x`);
    assert.equal(res.status, 401);
    assert.equal(res.headers['x-request-id'], 'bad-gateway-7');
    const stored = await decisionsOf(gateway.id);
    assert.ok(stored.some((d) => d.request_id === 'bad-gateway-7' && d.decision === 'invalid'), JSON.stringify(stored));
    assert.ok(logged().some((e) => e.message === 'client authentication failed' && e.request_id === 'bad-gateway-7' && e.endpoint === 'check'));
  });
});
