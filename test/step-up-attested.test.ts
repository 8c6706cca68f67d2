import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, generateKeyPair } from 'jose';
import request from 'supertest';
import { attestationChain, startTollgate, type RunningTollgate, Workload } from '#test-support';
import { SOFTWARE_AUTHENTICATOR_AAGUID, SoftwareAuthenticator } from '#workload-client';

const ATTESTED = 'urn:tollgate:acr:attested';
const SOFTWARE = { formats: ['packed', 'none'], allow_software: true };

/** docs/step-up.md §5–§6 on the wire: enrolment under the attestation policy, and attested step-ups. */
describe('step-up: authenticators and the attested level (docs/step-up.md §5, §6)', () => {
  let server: RunningTollgate;
  let origin: string;

  before(async () => {
    server = await startTollgate();
    origin = new URL(server.issuer).origin;
  });
  after(() => server?.close());

  const admin = (method: 'get' | 'put' | 'delete', path: string, body?: object) => {
    const req = request(server.url)[method](path).set('Authorization', server.admin);
    return body ? req.send(body) : req;
  };

  async function workload(policy: object | null = SOFTWARE) {
    const w = await Workload.register(server);
    if (policy) {
      const res = await admin('put', `/admin/clients/${w.clientId}/attestation-policy`, policy);
      assert.equal(res.status, 200, JSON.stringify(res.body));
    }
    return w;
  }

  /** §5.1 + §5.2 by hand: creation options, the authenticator's registration, its submission. */
  async function enrol(w: Workload, authenticator: SoftwareAuthenticator, tamper: (options: any) => any = (o) => o) {
    const options = await w.postStepUp('/step-up/authenticators/options', { name: 'test' });
    assert.equal(options.status, 200, JSON.stringify(options.body));
    const tampered = tamper(options.body);
    const response = await authenticator.register(tampered, tampered.__origin ?? origin);
    return w.postStepUp('/step-up/authenticators', { registration_response: JSON.stringify(response) });
  }

  /** §3 + §4 by hand for `attested`. */
  async function stepUp(w: Workload, authenticator: SoftwareAuthenticator, tamper: (response: any) => any = (r) => r) {
    const challenge = await w.requestChallenge(ATTESTED);
    assert.equal(challenge.status, 201, JSON.stringify(challenge.body));
    const response = tamper(await authenticator.authenticate(challenge.body.webauthn, origin));
    return w.answerChallenge(challenge.body, { form: { webauthn_response: JSON.stringify(response) } });
  }

  it('enrols a software authenticator (packed self attestation) and steps up to attested: amr swk pop mfa', async () => {
    const w = await workload();
    const a = new SoftwareAuthenticator();
    const enrolled = await enrol(w, a);
    assert.equal(enrolled.status, 201, JSON.stringify(enrolled.body));
    assert.equal(enrolled.headers['cache-control'], 'no-store');
    assert.equal(enrolled.body.format, 'packed');
    assert.equal(enrolled.body.attestation, 'self');
    assert.equal(enrolled.body.chain_verified, false);
    assert.equal(enrolled.body.aaguid, SOFTWARE_AUTHENTICATOR_AAGUID);
    assert.equal(enrolled.body.name, 'test');

    const challenge = (await w.requestChallenge(ATTESTED)).body;
    assert.deepEqual(challenge.methods, ['private_key_jwt', 'dpop', 'webauthn']);
    assert.equal(challenge.webauthn.challenge, challenge.nonce);
    assert.equal(challenge.webauthn.rpId, new URL(server.issuer).hostname);
    assert.deepEqual(challenge.webauthn.allowCredentials.map((c: { id: string }) => c.id), [enrolled.body.credential_id]);

    const res = await stepUp(w, a);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const claims = decodeJwt(res.body.access_token);
    assert.equal(claims.acr, ATTESTED);
    assert.deepEqual(claims.amr, ['swk', 'pop', 'mfa']);

    const listed = await admin('get', `/admin/clients/${w.clientId}/authenticators`);
    assert.equal(listed.status, 200);
    assert.equal(listed.body.authenticators.length, 1);
    assert.ok(listed.body.authenticators[0].last_used_at, 'use is recorded');
    assert.equal(listed.body.authenticators[0].public_key, undefined);
  });

  it('an attestation chained to a trust anchor of the policy is basic, chain_verified, and earns hwk', async () => {
    const aaguid = '08987058-cadc-4b81-b6e1-30de50dcbe96';
    const chain = await attestationChain(aaguid);
    const w = await workload({ formats: ['packed'], aaguids: [aaguid], trust_anchors: [chain.caPem] });
    const a = new SoftwareAuthenticator({ aaguid, attestation: { certificates: [chain.leafDer], privateKey: chain.leafKey } });
    const enrolled = await enrol(w, a);
    assert.equal(enrolled.status, 201, JSON.stringify(enrolled.body));
    assert.equal(enrolled.body.attestation, 'basic');
    assert.equal(enrolled.body.chain_verified, true);
    const res = await stepUp(w, a);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(decodeJwt(res.body.access_token).amr, ['swk', 'pop', 'mfa', 'hwk']);
  });

  it('refuses what the policy forbids: a format, an AAGUID, an untrusted chain, software without allow_software', async () => {
    const aaguid = '08987058-cadc-4b81-b6e1-30de50dcbe96';
    const trusted = await attestationChain(aaguid);
    const other = await attestationChain(aaguid);
    const cases: [object, SoftwareAuthenticator][] = [
      [{ formats: ['tpm'], allow_software: true }, new SoftwareAuthenticator()],
      [{ formats: ['packed'], aaguids: ['6a3c8f9e-1b2d-4e5f-8a7b-9c0d1e2f3a4b'], allow_software: true }, new SoftwareAuthenticator()],
      [{ formats: ['packed'], trust_anchors: [trusted.caPem] }, new SoftwareAuthenticator({ aaguid, attestation: { certificates: [other.leafDer], privateKey: other.leafKey } })],
      [{ formats: ['packed'] }, new SoftwareAuthenticator()],
    ];
    for (const [policy, a] of cases) {
      const res = await enrol(await workload(policy), a);
      assert.equal(res.status, 400, JSON.stringify(policy));
      assert.equal(res.body.error, 'invalid_attestation', JSON.stringify(res.body));
    }
  });

  it('refuses a registration for another origin or RP ID (invalid_attestation)', async () => {
    const w = await workload();
    const wrongOrigin = await enrol(w, new SoftwareAuthenticator(), (o) => ({ ...o, __origin: `http://evil.example:${new URL(origin).port}`, rp: { ...o.rp, id: 'evil.example' } }));
    assert.equal(wrongOrigin.body.error, 'invalid_attestation');
  });

  it('without an attestation policy, or at max_authenticators, enrolment is access_denied (403)', async () => {
    const none = await workload(null);
    const res = await none.postStepUp('/step-up/authenticators/options', {});
    assert.equal(res.status, 403);
    assert.equal(res.body.error, 'access_denied');
    const one = await workload();
    assert.equal((await enrol(one, new SoftwareAuthenticator())).status, 201);
    const second = await one.postStepUp('/step-up/authenticators/options', {});
    assert.equal(second.status, 403);
    assert.equal(second.body.error, 'access_denied');
  });

  it('an enrolment challenge is single use, bound to its client and its DPoP key', async () => {
    const w = await workload({ ...SOFTWARE, max_authenticators: 3 });
    const options = (await w.postStepUp('/step-up/authenticators/options', {})).body;
    const response = JSON.stringify(await new SoftwareAuthenticator().register(options, origin));
    // Another client: refused, and the challenge stays usable by its owner.
    const thief = await workload();
    assert.equal((await thief.postStepUp('/step-up/authenticators', { registration_response: response })).body.error, 'invalid_attestation');
    // Another DPoP key: refused (and spent).
    const otherKey = await generateKeyPair('ES256', { extractable: true });
    const wrongKey = await w.postStepUp('/step-up/authenticators', { registration_response: response }, { key: otherKey });
    assert.equal(wrongKey.status, 400);
    assert.equal(wrongKey.body.error, 'invalid_dpop_proof');
    assert.equal((await w.postStepUp('/step-up/authenticators', { registration_response: response })).body.error, 'invalid_attestation');
    // Once used, never again.
    const fresh = (await w.postStepUp('/step-up/authenticators/options', {})).body;
    const ok = JSON.stringify(await new SoftwareAuthenticator().register(fresh, origin));
    assert.equal((await w.postStepUp('/step-up/authenticators', { registration_response: ok })).status, 201);
    assert.equal((await w.postStepUp('/step-up/authenticators', { registration_response: ok })).body.error, 'invalid_attestation');
  });

  it('refuses attested answers: no webauthn_response, another challenge signed, a revoked or foreign authenticator, a clone', async () => {
    const w = await workload();
    const a = new SoftwareAuthenticator();
    const enrolled = (await enrol(w, a)).body;

    const challenge = (await w.requestChallenge(ATTESTED)).body;
    const missing = await w.answerChallenge(challenge);
    assert.equal(missing.status, 400);
    assert.equal(missing.body.error, 'invalid_request');

    // An assertion over another challenge's nonce.
    const first = (await w.requestChallenge(ATTESTED)).body;
    const second = (await w.requestChallenge(ATTESTED)).body;
    const signedForSecond = await a.authenticate(second.webauthn, origin);
    const crossed = await w.answerChallenge(first, { form: { webauthn_response: JSON.stringify(signedForSecond) } });
    assert.equal(crossed.status, 400);
    assert.equal(crossed.body.error, 'invalid_grant');

    // Another client's authenticator answering this client's challenge.
    const other = await workload();
    const otherAuthenticator = new SoftwareAuthenticator();
    assert.equal((await enrol(other, otherAuthenticator)).status, 201);
    const mine = (await w.requestChallenge(ATTESTED)).body;
    const foreign = await otherAuthenticator.authenticate({ ...mine.webauthn, allowCredentials: undefined }, origin);
    assert.equal((await w.answerChallenge(mine, { form: { webauthn_response: JSON.stringify(foreign) } })).body.error, 'invalid_grant');

    // A clone: same credential, counter behind the original's.
    const clone = SoftwareAuthenticator.fromState(a.exportState());
    assert.equal((await stepUp(w, a)).status, 200);
    const cloned = await stepUp(w, clone);
    assert.equal(cloned.status, 400);
    assert.equal(cloned.body.error, 'invalid_grant');
    assert.match(cloned.body.error_description, /counter/);

    // Revoked between the challenge and the answer.
    const pending = (await w.requestChallenge(ATTESTED)).body;
    const answer = await a.authenticate(pending.webauthn, origin);
    assert.equal((await admin('delete', `/admin/clients/${w.clientId}/authenticators/${enrolled.authenticator_id}`)).status, 204);
    const revoked = await w.answerChallenge(pending, { form: { webauthn_response: JSON.stringify(answer) } });
    assert.equal(revoked.status, 400);
    assert.equal(revoked.body.error, 'invalid_grant');
    assert.equal((await w.requestChallenge(ATTESTED)).body.error, 'invalid_request', 'no active authenticator left');

    const audit = await admin('get', `/admin/audit?client_id=${w.clientId}`);
    const actions = audit.body.events.map((e: { action: string }) => e.action);
    for (const action of ['authenticator.enrolled', 'authenticator.counter_regression', 'authenticator.revoked']) assert.ok(actions.includes(action), action);
  });
});
