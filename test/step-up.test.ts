import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { calculateJwkThumbprint, decodeJwt, generateKeyPair } from 'jose';
import request from 'supertest';
import { DecisionLog } from '#audit';
import { startTollgate, type RunningTollgate, Workload } from '#test-support';
import { signerFromCryptoKey, WorkloadClient } from '#workload-client';

const LIVE = 'urn:tollgate:acr:live';
const KEY = 'urn:tollgate:acr:key';
const STEP_UP = 'urn:tollgate:params:oauth:grant-type:step-up';

/** docs/step-up.md §3–§4 on the wire: challenges and the step-up grant for `live`. */
describe('step-up: challenges and the step-up grant (docs/step-up.md §3, §4)', () => {
  let server: RunningTollgate;
  let w: Workload;

  before(async () => {
    server = await startTollgate();
    w = await Workload.register(server);
  });
  after(() => server?.close());

  it('every client_credentials token records its level: acr key, amr swk, auth_time (RFC 9470 §2, RFC 8176)', async () => {
    const before = Math.floor(Date.now() / 1000);
    const claims = decodeJwt(await w.token());
    assert.equal(claims.acr, KEY);
    assert.deepEqual(claims.amr, ['swk']);
    assert.ok(typeof claims.auth_time === 'number' && claims.auth_time >= before - 1 && claims.auth_time <= claims.iat! + 1);
  });

  it('issues a challenge bound to the client and DPoP key: 201, no-store, nonce, expires_in, methods', async () => {
    const res = await w.requestChallenge(LIVE);
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.match(res.body.challenge_id, /^[A-Za-z0-9_-]{16,}$/);
    assert.match(res.body.nonce, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(res.body.expires_in, 120);
    assert.equal(res.body.acr_values, LIVE);
    assert.deepEqual(res.body.methods, ['private_key_jwt', 'dpop']);
    assert.equal(res.body.webauthn, undefined);
  });

  it('answering it gives a DPoP-bound token with acr live, amr swk+pop and a fresh auth_time', async () => {
    const challenge = (await w.requestChallenge(LIVE)).body;
    const res = await w.answerChallenge(challenge);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.token_type, 'DPoP');
    assert.equal(res.headers['cache-control'], 'no-store');
    const claims = decodeJwt(res.body.access_token);
    assert.equal(claims.acr, LIVE);
    assert.deepEqual(claims.amr, ['swk', 'pop']);
    assert.ok(Math.abs((claims.auth_time as number) - Date.now() / 1000) < 5);
    assert.equal((claims.cnf as { jkt: string }).jkt, await calculateJwkThumbprint(w.dpopJwk));
    assert.equal(claims.scope, 'orders:read orders:write');
    assert.equal(claims.aud, 'https://api.example.test/');
  });

  it('the step-up token honours scope and resource like client_credentials', async () => {
    const challenge = (await w.requestChallenge(LIVE)).body;
    const res = await w.answerChallenge(challenge, { form: { scope: 'orders:read', resource: 'https://api.example.test/' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.scope, 'orders:read');
    const other = (await w.requestChallenge(LIVE)).body;
    const refused = await w.answerChallenge(other, { form: { scope: 'payments:write' } });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error, 'invalid_scope');
    const wrongResource = await w.answerChallenge(other, { form: { resource: 'https://elsewhere.example/' } });
    assert.equal(wrongResource.status, 400);
    assert.equal(wrongResource.body.error, 'invalid_target');
    // A request mistake is not an answer: the challenge is still there.
    assert.equal((await w.answerChallenge(other)).status, 200);
  });

  it('401 invalid_client at the challenge endpoint carries no Basic challenge (form authentication, RFC 6749 §5.2)', async () => {
    const stranger = await generateKeyPair('ES256', { extractable: true });
    const res = await w.requestChallenge(LIVE, { assertion: await w.assertion({}, stranger) });
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], undefined);
  });

  it('a challenge can be answered once: the second answer is invalid_grant', async () => {
    const challenge = (await w.requestChallenge(LIVE)).body;
    assert.equal((await w.answerChallenge(challenge)).status, 200);
    const again = await w.answerChallenge(challenge);
    assert.equal(again.status, 400);
    assert.equal(again.body.error, 'invalid_grant');
  });

  it('a wrong nonce in the DPoP proof is invalid_dpop_proof, and spends the challenge', async () => {
    const challenge = (await w.requestChallenge(LIVE)).body;
    const res = await w.answerChallenge(challenge, { proofNonce: 'A'.repeat(43) });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_dpop_proof');
    assert.equal((await w.answerChallenge(challenge)).body.error, 'invalid_grant');
  });

  it('a DPoP proof without the nonce is invalid_dpop_proof', async () => {
    const challenge = (await w.requestChallenge(LIVE)).body;
    const res = await w.answerChallenge(challenge, { proofNonce: null });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_dpop_proof');
  });

  it('a client assertion without (or with a wrong) nonce is invalid_client (re-authentication failed)', async () => {
    for (const assertionNonce of [null, 'B'.repeat(43)]) {
      const challenge = (await w.requestChallenge(LIVE)).body;
      const res = await w.answerChallenge(challenge, { assertionNonce });
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'invalid_client');
    }
  });

  it('a proof by another DPoP key than the challenge was issued to is invalid_dpop_proof', async () => {
    const challenge = (await w.requestChallenge(LIVE)).body;
    const res = await w.answerChallenge(challenge, { key: await generateKeyPair('ES256', { extractable: true }) });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_dpop_proof');
    assert.match(res.body.error_description, /key/);
  });

  it("another client's challenge is invalid_grant and stays answerable by its owner", async () => {
    const challenge = (await w.requestChallenge(LIVE)).body;
    const thief = await Workload.register(server);
    const res = await thief.answerChallenge(challenge);
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_grant');
    assert.match(res.body.error_description, /another client/);
    assert.equal((await w.answerChallenge(challenge)).status, 200);
  });

  it('an unknown challenge, or none, is refused (invalid_grant, invalid_request)', async () => {
    assert.equal((await w.answerChallenge({ challenge_id: 'nope', nonce: 'x'.repeat(43) })).body.error, 'invalid_grant');
    const missing = await w.answerChallenge({ nonce: 'x'.repeat(43) });
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error, 'invalid_request');
  });

  it('the challenge endpoint refuses bad client authentication, a bad proof and a bad acr_values', async () => {
    const stranger = await generateKeyPair('ES256', { extractable: true });
    const badAuth = await w.requestChallenge(LIVE, { assertion: await w.assertion({}, stranger) });
    assert.equal(badAuth.status, 401);
    assert.equal(badAuth.body.error, 'invalid_client');
    const noProof = await w.requestChallenge(LIVE, { proof: null });
    assert.equal(noProof.status, 400);
    assert.equal(noProof.body.error, 'invalid_dpop_proof');
    const wrongHtu = await w.requestChallenge(LIVE, { proof: await w.proof('POST', w.tokenUrl) });
    assert.equal(wrongHtu.body.error, 'invalid_dpop_proof');
    for (const acr of ['', KEY, 'urn:other']) {
      const res = await w.requestChallenge(acr);
      assert.equal(res.status, 400);
      assert.equal(res.body.error, 'invalid_request');
    }
    const attested = await w.requestChallenge('urn:tollgate:acr:attested');
    assert.equal(attested.status, 400);
    assert.match(attested.body.error_description, /no authenticator/);
  });

  it('a replayed client assertion is refused at the challenge endpoint and then at the token endpoint', async () => {
    const assertion = await w.assertion();
    assert.equal((await w.requestChallenge(LIVE, { assertion })).status, 201);
    assert.equal((await w.requestChallenge(LIVE, { assertion })).body.error, 'invalid_client');
    const res = await w.requestToken({}, undefined, assertion);
    assert.equal(res.status, 401);
    assert.equal(res.body.error, 'invalid_client');
  });

  it('metadata names the grant, the levels and the step-up endpoints (RFC 8414 §2, extension members)', async () => {
    const res = await request(server.url).get('/.well-known/oauth-authorization-server');
    assert.deepEqual(res.body.grant_types_supported, ['client_credentials', STEP_UP]);
    assert.deepEqual(res.body.acr_values_supported, [KEY, LIVE, 'urn:tollgate:acr:attested']);
    assert.equal(res.body.step_up_challenge_endpoint, `${server.issuer}/step-up/challenges`);
    assert.equal(res.body.step_up_authenticator_endpoint, `${server.issuer}/step-up/authenticators`);
  });

  it('at the token endpoint, a risk step-up is answered by the step-up grant (issuance judged with the proven level)', async () => {
    const x = await Workload.register(server);
    const policy = await request(server.url)
      .put(`/admin/clients/${x.clientId}/policy`)
      .set('Authorization', server.admin)
      .send({ thresholds: { step_up: 0, deny: 100 } });
    assert.equal(policy.status, 200, JSON.stringify(policy.body));
    const asked = await x.requestToken();
    assert.equal(asked.status, 401);
    assert.equal(asked.body.error, 'insufficient_user_authentication');
    assert.equal(asked.body.acr_values, LIVE);
    const challenge = (await x.requestChallenge(asked.body.acr_values)).body;
    const res = await x.answerChallenge(challenge);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(decodeJwt(res.body.access_token).acr, LIVE);
  });

  it('the SDK answers a token-endpoint step-up by itself, also for a client that must use DPoP server nonces', async () => {
    const x = await Workload.register(server, { require_dpop_nonce: true });
    const policy = await request(server.url)
      .put(`/admin/clients/${x.clientId}/policy`)
      .set('Authorization', server.admin)
      .send({ thresholds: { step_up: 0, deny: 100 } });
    assert.equal(policy.status, 200, JSON.stringify(policy.body));
    const client = new WorkloadClient({ issuer: server.issuer, clientId: x.clientId, clientKey: signerFromCryptoKey(x.clientKey.privateKey, 'ES256', 'k1') });
    const claims = decodeJwt(await client.token());
    assert.equal(claims.acr, LIVE);
    assert.deepEqual(claims.amr, ['swk', 'pop']);
    // Nonces were asked for and supplied at the challenge endpoint: the step-up went through.
    const plain = await x.requestChallenge(LIVE);
    assert.equal(plain.status, 400);
    assert.equal(plain.body.error, 'use_dpop_nonce');
    assert.ok(plain.headers['dpop-nonce']);
  });

  it('records every answer in the decision log (kind step_up): proven with its level, refused with its error', async () => {
    const x = await Workload.register(server);
    const good = (await x.requestChallenge(LIVE)).body;
    assert.equal((await x.answerChallenge(good)).status, 200);
    const bad = (await x.requestChallenge(LIVE)).body;
    assert.equal((await x.answerChallenge(bad, { proofNonce: null })).status, 400);
    await server.tollgate.app.get(DecisionLog).flush();
    const res = await request(server.url).get(`/admin/decisions?client_id=${x.clientId}`).set('Authorization', server.admin).expect(200);
    const stepUps = res.body.decisions.filter((d: { kind: string }) => d.kind === 'step_up');
    assert.deepEqual(
      stepUps.map((d: { decision: string; reasons: { code: string; detail?: string }[] }) => [d.decision, d.reasons[0]!.code]).sort(),
      [['allow', 'step_up_proven'], ['invalid', 'invalid_dpop_proof']],
    );
    assert.equal(stepUps.find((d: { decision: string }) => d.decision === 'allow').reasons[0].detail, LIVE);
  });

  it('a client gets at most 1000 challenges per challenge lifetime: then 429 with Retry-After', async () => {
    const x = await Workload.register(server);
    for (let i = 0; i < 1000; i += 50) {
      const batch = await Promise.all(Array.from({ length: 50 }, () => x.requestChallenge(LIVE)));
      assert.ok(batch.every((r) => r.status === 201));
    }
    const res = await x.requestChallenge(LIVE);
    assert.equal(res.status, 429);
    assert.equal(res.body.error, 'invalid_request');
    assert.equal(res.headers['retry-after'], '120');
    assert.equal((await w.requestChallenge(LIVE)).status, 201, 'other clients are not affected');
  });

  it('a suspended client can neither ask for nor answer a challenge', async () => {
    const x = await Workload.register(server);
    const challenge = (await x.requestChallenge(LIVE)).body;
    const suspend = await request(server.url).patch(`/admin/clients/${x.clientId}`).set('Authorization', server.admin).send({ status: 'suspended' });
    assert.equal(suspend.status, 200, JSON.stringify(suspend.body));
    assert.equal((await x.requestChallenge(LIVE)).status, 401);
    assert.equal((await x.answerChallenge(challenge)).status, 401);
  });
});

describe('step-up: an expired challenge (TOLLGATE_STEP_UP_CHALLENGE_TTL)', () => {
  let server: RunningTollgate;
  before(async () => {
    server = await startTollgate({ TOLLGATE_STEP_UP_CHALLENGE_TTL: '5' });
  });
  after(() => server?.close());

  it('is invalid_grant once its lifetime is over', async () => {
    const w = await Workload.register(server);
    const challenge = (await w.requestChallenge(LIVE)).body;
    assert.equal(challenge.expires_in, 5);
    await sleep(5_500);
    const res = await w.answerChallenge(challenge);
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_grant');
  });
});
