// Issue 9 §1, §5: failures are attributed only to who caused them, and are visible.
// Strangers send from other loopback addresses than the real client (127.0.0.1), as from
// another network.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { generateKeyPair } from 'jose';
import request from 'supertest';
import { JsonLogger } from '#operations';
import { registerGateway, type RunningTollgate, sendFrom, startTollgate, Workload } from '#test-support';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** A loopback address of its own per run (counters live a window in a shared Redis). */
const stranger = () => `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;

/** A token request for `w` sent from `source`, with `assertion` (default: a good one) and a fresh proof. */
async function tokenFrom(source: string, w: Workload, assertion?: string, proof?: string) {
  return sendFrom(source, `${w.server.url}/oauth/token`, {
    headers: { dpop: proof ?? (await w.proof('POST', w.tokenUrl)) },
    form: { grant_type: 'client_credentials', client_id: w.clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: assertion ?? (await w.assertion()) },
  });
}

/** An assertion naming `w`, signed by a key nobody registered: what anyone can send. */
const forged = async (w: Workload, claims: Record<string, unknown> = {}) => w.assertion(claims, await generateKeyPair('ES256'));

async function decisionsOf(server: RunningTollgate, clientId: string) {
  const res = await request(server.url).get('/admin/decisions').query({ client_id: clientId, limit: '200' }).set('Authorization', server.admin).expect(200);
  return res.body.decisions as { kind: string; decision: string; reasons: { code: string }[]; ip: string; client_id: string; route: string }[];
}

async function metric(server: RunningTollgate, name: string, labels: Record<string, string>): Promise<number> {
  const text = (await request(server.url).get('/metrics')).text;
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && wanted.every((w) => l.includes(w)));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('failures nobody proved never change how the real client is answered', () => {
  let server: RunningTollgate;
  const lines: string[] = [];
  before(async () => {
    server = await startTollgate({}, { logger: new JsonLogger('info', { write: (line) => lines.push(line) }) });
  });
  after(async () => server?.close());

  it('forged assertions naming a client do not push it into step-up (failed_auth_burst)', async () => {
    const w = await Workload.register(server);
    const attacker = stranger();
    for (let i = 0; i < 8; i++) {
      const res = await tokenFrom(attacker, w, await forged(w));
      assert.equal(res.status, 401, JSON.stringify(res.body));
      assert.equal(res.body.error, 'invalid_client');
    }
    const res = await w.requestToken();
    assert.equal(res.status, 200, `the real client is answered as before: ${JSON.stringify(res.body)}`);
    const issuance = (await decisionsOf(server, w.clientId)).filter((d) => d.kind === 'issuance' && d.decision !== 'invalid');
    assert.ok(issuance.length >= 1);
    assert.ok(issuance.every((d) => !d.reasons.some((r) => r.code === 'failed_auth_burst')), JSON.stringify(issuance));
  });

  it('a careless client (assertion lifetime too long, then typos) is told why, and is not put into step-up', async () => {
    const w = await Workload.register(server);
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 3; i++) {
      const res = await w.requestToken({}, undefined, await w.assertion({ exp: now + 3600 }));
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'invalid_client');
      assert.match(res.body.error_description, /lifetime is too long/);
    }
    for (let i = 0; i < 3; i++) {
      const res = await w.requestToken({}, undefined, await w.assertion({ aud: 'https://typo.example/' }));
      assert.equal(res.status, 401);
      assert.match(res.body.error_description, /aud claim is invalid/);
    }
    assert.equal((await w.requestToken()).status, 200);
    const codes = (await decisionsOf(server, w.clientId)).filter((d) => d.decision === 'invalid').map((d) => d.reasons[0]!.code);
    assert.deepEqual(codes.sort(), ['assertion_audience', 'assertion_audience', 'assertion_audience', 'assertion_lifetime', 'assertion_lifetime', 'assertion_lifetime']);
  });

  it('failures of a client that proved itself still count: bad DPoP proofs after a verified assertion', async () => {
    const w = await Workload.register(server);
    const other = await generateKeyPair('ES256');
    for (let i = 0; i < 5; i++) {
      // Signed by another key than the one in its header: invalid_dpop_proof (RFC 9449 §4.3 (6)).
      const badProof = await w.proof('POST', w.tokenUrl);
      const [h, p] = badProof.split('.');
      const resigned = (await w.proof('POST', w.tokenUrl, { key: other })).split('.')[2];
      const res = await w.requestToken({}, `${h}.${p}.${resigned}`);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error, 'invalid_dpop_proof');
    }
    const res = await w.requestToken();
    assert.equal(res.status, 401, JSON.stringify(res.body));
    assert.equal(res.body.error, 'insufficient_user_authentication');
    const stepUp = (await decisionsOf(server, w.clientId)).find((d) => d.kind === 'issuance' && d.decision === 'step_up');
    assert.ok(stepUp?.reasons.some((r) => r.code === 'failed_auth_burst'), JSON.stringify(stepUp));
  });

  it('an unknown client and a wrong signature read the same; the reason is in the decision log and the metrics', async () => {
    const w = await Workload.register(server);
    const source = stranger();
    const wrongKey = await tokenFrom(source, w, await forged(w));
    const ghost = Object.assign(Object.create(Workload.prototype) as Workload, w, { clientId: `tg_ghost${randomInt(1e9)}` });
    const unknown = await tokenFrom(source, ghost, await ghost.assertion({}, w.clientKey));
    assert.equal(wrongKey.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(wrongKey.body.error_description, unknown.body.error_description);
    const [entry] = (await decisionsOf(server, w.clientId)).filter((d) => d.decision === 'invalid');
    assert.equal(entry?.kind, 'issuance');
    assert.equal(entry?.ip, source);
    assert.equal(entry?.route, '/oauth/token');
    assert.deepEqual(entry?.reasons.map((r) => r.code), ['assertion_signature']);
    const [ghostEntry] = await decisionsOf(server, ghost.clientId);
    assert.deepEqual(ghostEntry?.reasons.map((r) => r.code), ['unknown_client']);
    assert.ok((await metric(server, 'tollgate_client_authentication_failures_total', { endpoint: 'token', reason: 'assertion_signature' })) >= 1);
    assert.ok((await metric(server, 'tollgate_client_authentication_failures_total', { endpoint: 'token', reason: 'unknown_client' })) >= 1);
    // A log line at info for each, with the reason and who was named, never the assertion.
    const logged = lines.map((l) => JSON.parse(l)).filter((e) => e.message === 'client authentication failed' && e.ip === source);
    assert.deepEqual(logged.map((e) => `${e.level} ${e.endpoint} ${e.reason} ${e.client_id}`).sort(), [`info token assertion_signature ${w.clientId}`, `info token unknown_client ${ghost.clientId}`].sort());
    assert.ok(logged.every((e) => typeof e.time === 'string' && !Number.isNaN(Date.parse(e.time))));
    assert.ok(!lines.some((l) => /eyJ[A-Za-z0-9_-]{10,}\./.test(l)), 'no JWT in any log line');
  });

  it('records failed authentications at revocation, step-up, introspection and check, by kind and reason', async () => {
    const w = await Workload.register(server);
    const gw = await registerGateway(server);
    const source = stranger();
    const assertionForm = async () => ({ client_id: w.clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: await forged(w) });
    const revoke = await sendFrom(source, `${server.url}/oauth/revoke`, { form: { ...(await assertionForm()), token: 'x' } });
    assert.equal(revoke.status, 401);
    const challenge = await sendFrom(source, `${server.url}/step-up/challenges`, { form: { ...(await assertionForm()), acr_values: 'urn:tollgate:acr:live' } });
    assert.equal(challenge.status, 401);
    const wrongSecret = `Basic ${Buffer.from(`${gw.id}:not-the-secret`).toString('base64')}`;
    const introspect = await sendFrom(source, `${server.url}/oauth/introspect`, { headers: { authorization: wrongSecret }, form: { token: 'x' } });
    assert.equal(introspect.status, 401);
    const check = await sendFrom(source, `${server.url}/check`, { headers: { 'x-gateway-authorization': wrongSecret } });
    assert.equal(check.status, 401);

    const mine = (await decisionsOf(server, w.clientId)).filter((d) => d.decision === 'invalid');
    assert.deepEqual(mine.map((d) => `${d.kind} ${d.route} ${d.reasons[0]!.code}`).sort(), ['revocation /oauth/revoke assertion_signature', 'step_up /step-up/challenges assertion_signature']);
    const gateway = (await decisionsOf(server, gw.id)).filter((d) => d.decision === 'invalid');
    assert.deepEqual(gateway.map((d) => `${d.kind} ${d.reasons[0]!.code} ${d.ip}`).sort(), [`check client_secret ${source}`, `introspection client_secret ${source}`]);
  });
});

describe('failure budgets: a flooding source is refused before any work (429, RFC 6585 §4)', () => {
  let server: RunningTollgate;
  before(async () => {
    server = await startTollgate({ TOLLGATE_AUTH_FAILURES_PER_SOURCE: '6', TOLLGATE_AUTH_FAILURES_PER_CLIENT: '3' });
  });
  after(async () => server?.close());

  it('per source and client id: the source is refused with Retry-After, the real client is not', async () => {
    const w = await Workload.register(server);
    const attacker = stranger();
    for (let i = 0; i < 3; i++) assert.equal((await tokenFrom(attacker, w, await forged(w))).status, 401);
    const before = (await decisionsOf(server, w.clientId)).length;
    const refused = await tokenFrom(attacker, w, await forged(w));
    assert.equal(refused.status, 429, JSON.stringify(refused.body));
    assert.equal(refused.body.error, 'slow_down');
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 61, `Retry-After ${refused.headers['retry-after']}`);
    // Refused before the client was looked up or any signature checked: nothing was recorded.
    const more = await Promise.all(Array.from({ length: 5 }, async () => tokenFrom(attacker, w, await forged(w))));
    assert.deepEqual(more.map((r) => r.status), [429, 429, 429, 429, 429]);
    assert.equal((await decisionsOf(server, w.clientId)).length, before);
    assert.ok((await metric(server, 'tollgate_failure_budget_refusals_total', { endpoint: 'token' })) >= 6);
    // The real client, from its own network, is answered as ever.
    assert.equal((await w.requestToken()).status, 200);
  });

  it('a burst of concurrent forged assertions costs at most the budget in verifications, not its size', async () => {
    const w = await Workload.register(server);
    const attacker = stranger();
    const burst = await Promise.all(Array.from({ length: 40 }, async () => tokenFrom(attacker, w, await forged(w))));
    const statuses = burst.map((r) => r.status);
    assert.equal(statuses.filter((s) => s === 401).length, 3, `exactly the budget was judged: ${statuses.join(' ')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 37);
    assert.equal((await decisionsOf(server, w.clientId)).filter((d) => d.decision === 'invalid').length, 3);
    // Many good requests at once from the real client's network just take their turns.
    const good = await Promise.all(Array.from({ length: 10 }, () => w.requestToken()));
    assert.deepEqual(good.map((r) => r.status), Array(10).fill(200));
  });

  it('per source: a source naming many client ids runs out too, for every endpoint', async () => {
    const attacker = stranger();
    const clients = await Promise.all([1, 2, 3].map(() => Workload.register(server)));
    let failures = 0;
    for (const w of clients) {
      for (let i = 0; i < 2; i++) {
        const res = await tokenFrom(attacker, w, await forged(w));
        assert.equal(res.status, 401);
        failures++;
      }
    }
    assert.equal(failures, 6);
    const next = await Workload.register(server);
    // Even a good assertion: the source has spent its budget, so nothing of it is verified now.
    assert.equal((await tokenFrom(attacker, next)).status, 429);
    const gw = await registerGateway(server);
    const check = await sendFrom(attacker, `${server.url}/check`, { headers: { 'x-gateway-authorization': gw.basic } });
    assert.equal(check.status, 429);
    assert.ok(Number(check.headers['retry-after']) >= 1);
    assert.equal((await sendFrom(attacker, `${server.url}/oauth/introspect`, { headers: { authorization: gw.basic }, form: { token: 'x' } })).status, 429);
    assert.equal((await next.requestToken()).status, 200);
  });

  it('wrong gateway secrets from one source are refused before the scrypt work', async () => {
    const gw = await registerGateway(server);
    const source = stranger();
    const wrong = `Basic ${Buffer.from(`${gw.id}:guess`).toString('base64')}`;
    for (let i = 0; i < 3; i++) assert.equal((await sendFrom(source, `${server.url}/oauth/introspect`, { headers: { authorization: wrong }, form: { token: 'x' } })).status, 401);
    const refused = await sendFrom(source, `${server.url}/oauth/introspect`, { headers: { authorization: wrong }, form: { token: 'x' } });
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error, 'slow_down');
    // The gateway itself, from its own address, still introspects.
    const ok = await request(server.url).post('/oauth/introspect').type('form').auth(gw.id, gw.secret).send({ token: 'x' });
    assert.equal(ok.status, 200);
  });
});

describe('wrong admin tokens spend the failure budget (docs/risk.md "Failure budgets")', () => {
  /** GET /admin/clients with a bearer token, from a loopback address of the test's choosing. */
  const adminFrom = (localAddress: string, url: string, token: string) =>
    sendFrom(localAddress, `${url}/admin/clients?limit=1`, { headers: { authorization: `Bearer ${token}` } });

  it('past the budget, admin requests from that source get 429 with Retry-After, the right token too; another source is not affected', async () => {
    const server = await startTollgate({ TOLLGATE_AUTH_FAILURES_PER_SOURCE: '3', TOLLGATE_AUTH_FAILURES_PER_CLIENT: '3' });
    // The budgets' counters are shared (Redis in CI) and count per window: a fresh source per run.
    const guesser = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
    try {
      assert.equal((await adminFrom(guesser, server.url, server.adminToken)).status, 200, 'the right token is not charged');
      for (let i = 0; i < 3; i++) assert.equal((await adminFrom(guesser, server.url, `wrong-${i}`)).status, 401);
      const throttled = await adminFrom(guesser, server.url, server.adminToken);
      assert.equal(throttled.status, 429);
      assert.equal(throttled.body.error, 'slow_down');
      assert.match(throttled.body.error_description, /admin tokens/);
      assert.ok(Number(throttled.headers['retry-after']) >= 1);
      assert.equal((await adminFrom('127.0.0.1', server.url, server.adminToken)).status, 200);
    } finally {
      await server.close();
    }
  });
});
