import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeJwt, generateKeyPair } from 'jose';
import request from 'supertest';
import { NGINX, type ProtectedApi, type RunningTollgate, startProtectedApi, Workload } from '#test-support';
import { SoftwareAuthenticator, signerFromCryptoKey, WorkloadClient } from '#workload-client';

const LIVE = 'urn:tollgate:acr:live';
const ATTESTED = 'urn:tollgate:acr:attested';

interface Echo {
  url: string;
  headers: Record<string, string>;
}

/**
 * Issue 4: the whole loop through a real NGINX (auth_request → /check) with the workload SDK:
 * a route that needs `live` and one that needs `attested` are challenged, the SDK steps up
 * (challenge, step-up grant, WebAuthn for attested) and the retry passes.
 */
describe('step-up through NGINX with the workload SDK', { skip: !NGINX && 'nginx is not installed (.ci/run installs it)' }, () => {
  let stack: ProtectedApi;
  let tollgate: RunningTollgate;
  let api: string;

  /** A workload registered for the API behind NGINX, with the route rules of the README example. */
  async function workload(policy: object = { formats: ['packed'], allow_software: true }) {
    const w = await Workload.register(tollgate, { allowed_resources: [`${api}/`] });
    const rules = await request(tollgate.url)
      .put(`/admin/clients/${w.clientId}/policy`)
      .set('Authorization', tollgate.admin)
      .send({
        routes: [
          { path: '/ops/**', acr: LIVE, max_age: 300 },
          { path: '/keys/**', acr: ATTESTED, max_age: 300 },
        ],
      });
    assert.equal(rules.status, 200, JSON.stringify(rules.body));
    const attestation = await request(tollgate.url).put(`/admin/clients/${w.clientId}/attestation-policy`).set('Authorization', tollgate.admin).send(policy);
    assert.equal(attestation.status, 200, JSON.stringify(attestation.body));
    return w;
  }

  async function sdk(w: Workload, authenticator?: SoftwareAuthenticator) {
    return new WorkloadClient({
      issuer: tollgate.issuer,
      clientId: w.clientId,
      clientKey: await signerFromCryptoKey(w.clientKey.privateKey, 'ES256', 'k1'),
      resource: `${api}/`,
      ...(authenticator ? { authenticator } : {}),
    });
  }

  before(async () => {
    // Short-lived challenges, so that an expired one can be shown without a long wait.
    stack = await startProtectedApi('nginx', { TOLLGATE_STEP_UP_CHALLENGE_TTL: '5' });
    ({ tollgate, api } = stack);
  });

  after(() => stack?.close());

  it('an ordinary route passes with a key-level token', async () => {
    const client = await sdk(await workload());
    const res = await client.fetch(`${api}/orders/1`);
    assert.equal(res.status, 200, stack.errorLog());
    const seen = (await res.json()) as Echo;
    assert.equal(seen.headers['x-tollgate-acr'], 'urn:tollgate:acr:key');
  });

  it('a route that needs live: challenged, the SDK steps up, the retry passes with acr live', async () => {
    const w = await workload();
    const client = await sdk(w);
    // Without the SDK: the gateway asks for live (RFC 9470 §3).
    const token = await w.token({ resource: `${api}/` });
    const asked = await w.call('POST', `${api}/ops/restart`, token);
    assert.equal(asked.status, 401);
    assert.match(asked.headers.get('www-authenticate') ?? '', /acr_values="urn:tollgate:acr:live"/);
    // With it: one call, answered.
    const res = await client.fetch(`${api}/ops/restart`, { method: 'POST', body: 'now', headers: { 'content-type': 'text/plain' } });
    assert.equal(res.status, 200, stack.errorLog());
    const seen = (await res.json()) as Echo;
    assert.equal(seen.url, '/ops/restart');
    assert.equal(seen.headers['x-tollgate-acr'], LIVE);
    // The stepped-up token is kept: the next call needs no new challenge, and ordinary routes take it too.
    assert.equal((await client.fetch(`${api}/ops/status`, { method: 'POST' })).status, 200);
    assert.equal(((await (await client.fetch(`${api}/orders/2`)).json()) as Echo).headers['x-tollgate-acr'], LIVE);
  });

  it('every wrong answer to the gateway\'s challenge is refused and the call stays refused; the right one lets it through', async () => {
    const w = await workload();
    const token = await w.token({ resource: `${api}/` });
    const asked = await w.call('POST', `${api}/ops/restart`, token);
    assert.equal(asked.status, 401);
    const acr = /acr_values="([^"]+)"/.exec(asked.headers.get('www-authenticate') ?? '')?.[1];
    assert.equal(acr, LIVE);
    const ask = async () => {
      const res = await w.requestChallenge(acr!);
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body as { challenge_id: string; nonce: string };
    };
    const otherKey = await generateKeyPair('ES256', { extractable: true });
    const stranger = await workload();
    const expired = await ask();
    const refusals: [string, () => Promise<{ status: number; body: { error?: string } }>, string][] = [
      ['wrong nonce', async () => w.answerChallenge(await ask(), { proofNonce: 'A'.repeat(43) }), 'invalid_dpop_proof'],
      ['another DPoP key', async () => w.answerChallenge(await ask(), { key: otherKey }), 'invalid_dpop_proof'],
      ["another client's challenge", async () => stranger.answerChallenge(await ask()), 'invalid_grant'],
      ['expired challenge', async () => (await sleep(5_500), w.answerChallenge(expired)), 'invalid_grant'],
    ];
    for (const [what, answer, error] of refusals) {
      const res = await answer();
      assert.equal(res.body.error, error, what);
      assert.equal((await w.call('POST', `${api}/ops/restart`, token)).status, 401, `${what}: still refused at the gateway`);
    }
    const challenge = await ask();
    const answered = await w.answerChallenge(challenge);
    assert.equal(answered.status, 200, JSON.stringify(answered.body));
    const passed = await w.call('POST', `${api}/ops/restart`, answered.body.access_token);
    assert.equal(passed.status, 200, stack.errorLog());
    assert.equal(((await passed.json()) as Echo).headers['x-tollgate-acr'], LIVE);
    const replayed = await w.answerChallenge(challenge);
    assert.equal(replayed.body.error, 'invalid_grant', 'replayed challenge');
  });

  it('a route that needs attested: the SDK enrols a software authenticator, steps up with WebAuthn, the retry passes', async () => {
    const w = await workload();
    const authenticator = new SoftwareAuthenticator();
    const client = await sdk(w, authenticator);
    const enrolled = await client.enrolAuthenticator('build-agent');
    assert.equal(enrolled.format, 'packed');
    assert.equal(enrolled.attestation, 'self');
    assert.equal(enrolled.chain_verified, false);
    const res = await client.fetch(`${api}/keys/rotate`, { method: 'POST' });
    assert.equal(res.status, 200, stack.errorLog());
    assert.equal(((await res.json()) as Echo).headers['x-tollgate-acr'], ATTESTED);
    // The token records what was proven: a self-attested authenticator is mfa, not hwk.
    const token = await client.token();
    const claims = decodeJwt(typeof token === 'string' ? token : (token as { access_token: string }).access_token);
    assert.equal(claims.acr, ATTESTED);
    assert.deepEqual(claims.amr, ['swk', 'pop', 'mfa']);
  });

  it('a revoked authenticator cannot step up any more: the call stays refused', async () => {
    const w = await workload();
    const authenticator = new SoftwareAuthenticator();
    const client = await sdk(w, authenticator);
    const enrolled = await client.enrolAuthenticator();
    assert.equal((await client.fetch(`${api}/keys/a`, { method: 'POST' })).status, 200);
    const revoke = await request(tollgate.url)
      .delete(`/admin/clients/${w.clientId}/authenticators/${enrolled.authenticator_id}`)
      .set('Authorization', tollgate.admin);
    assert.equal(revoke.status, 204);
    const fresh = await sdk(w, authenticator);
    await assert.rejects(fresh.fetch(`${api}/keys/b`, { method: 'POST' }), (err: { error?: string }) => err.error === 'invalid_request' || err.error === 'invalid_grant');
  });

  it('a cloned authenticator (counter regression) is refused', async () => {
    const w = await workload();
    const original = new SoftwareAuthenticator();
    const client = await sdk(w, original);
    await client.enrolAuthenticator();
    const clone = SoftwareAuthenticator.fromState(original.exportState());
    assert.equal((await client.fetch(`${api}/keys/a`, { method: 'POST' })).status, 200);
    assert.equal((await (await sdk(w, original)).fetch(`${api}/keys/b`, { method: 'POST' })).status, 200);
    // The clone's counter is behind the original's: its assertion is refused (invalid_grant).
    await assert.rejects((await sdk(w, clone)).fetch(`${api}/keys/c`, { method: 'POST' }), (err: { error?: string }) => err.error === 'invalid_grant');
    const audit = await request(tollgate.url).get(`/admin/audit?client_id=${w.clientId}`).set('Authorization', tollgate.admin);
    assert.ok(audit.body.events.some((e: { action: string }) => e.action === 'authenticator.counter_regression'));
  });

  it('an authenticator in a format the policy forbids cannot be enrolled (invalid_attestation)', async () => {
    const w = await workload({ formats: ['packed', 'tpm'], allow_software: false });
    const client = await sdk(w, new SoftwareAuthenticator());
    await assert.rejects(client.enrolAuthenticator(), (err: { error?: string }) => err.error === 'invalid_attestation');
    const none = await workload({ formats: ['tpm'], allow_software: true });
    await assert.rejects((await sdk(none, new SoftwareAuthenticator({ format: 'none' }))).enrolAuthenticator(), (err: { error?: string }) => err.error === 'invalid_attestation');
  });
});
