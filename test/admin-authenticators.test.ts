import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { attestationChain, type RunningTollgate, startTollgate, Workload } from '#test-support';
import { SoftwareAuthenticator } from '#workload-client';

/** docs/step-up.md §6: attestation policies and authenticators over the admin API. */
describe('admin: attestation policies and authenticators (docs/step-up.md §6)', () => {
  let server: RunningTollgate;
  let origin: string;
  const created: string[] = [];

  before(async () => {
    server = await startTollgate();
    origin = new URL(server.issuer).origin;
  });
  after(async () => {
    for (const id of created) await admin('delete', `/admin/clients/${id}`);
    await server?.close();
  });

  function admin(method: 'get' | 'put' | 'delete', path: string, body?: object, auth: string | null = server.admin) {
    let req = request(server.url)[method](path);
    if (auth !== null) req = req.set('Authorization', auth);
    return body ? req.send(body) : req;
  }

  async function workload() {
    const w = await Workload.register(server);
    created.push(w.clientId);
    return w;
  }

  /** Enrolment through the workload endpoints (§5), to have something to list and revoke. */
  async function enrol(w: Workload, name: string) {
    const options = await w.postStepUp('/step-up/authenticators/options', { name });
    assert.equal(options.status, 200, JSON.stringify(options.body));
    const response = await new SoftwareAuthenticator().register(options.body, origin);
    const res = await w.postStepUp('/step-up/authenticators', { registration_response: JSON.stringify(response) });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body;
  }

  it('requires the admin token on every route', async () => {
    const w = await workload();
    const paths: ['get' | 'put' | 'delete', string][] = [
      ['get', `/admin/clients/${w.clientId}/attestation-policy`],
      ['put', `/admin/clients/${w.clientId}/attestation-policy`],
      ['delete', `/admin/clients/${w.clientId}/attestation-policy`],
      ['get', `/admin/clients/${w.clientId}/authenticators`],
      ['delete', `/admin/clients/${w.clientId}/authenticators/00000000-0000-4000-8000-000000000000`],
    ];
    for (const [method, path] of paths) {
      const res = await admin(method, path, method === 'put' ? { formats: ['packed'] } : undefined, null);
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal((await admin(method, path, undefined, 'Bearer wrong')).status, 401);
    }
  });

  it('PUT sets the policy (normalised, defaults filled in, version bumped), GET returns it, DELETE removes it', async () => {
    const w = await workload();
    const path = `/admin/clients/${w.clientId}/attestation-policy`;
    const missing = await admin('get', path);
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error, 'not_found');

    const { caPem } = await attestationChain('08987058-cadc-4b81-b6e1-30de50dcbe96');
    const put = await admin('put', path, { formats: ['packed', 'tpm'], aaguids: ['08987058-CADC-4B81-B6E1-30DE50DCBE96'], trust_anchors: [caPem] });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.headers['cache-control'], 'no-store');
    assert.equal(put.body.client_id, w.clientId);
    assert.equal(put.body.version, 1);
    assert.deepEqual(put.body.policy, {
      formats: ['packed', 'tpm'],
      aaguids: ['08987058-cadc-4b81-b6e1-30de50dcbe96'],
      trust_anchors: [caPem.trim()],
      allow_software: false,
      max_authenticators: 1,
    });
    const again = await admin('put', path, { formats: ['none'], allow_software: true, max_authenticators: 4 });
    assert.equal(again.body.version, 2);

    const got = await admin('get', path);
    assert.equal(got.status, 200);
    assert.equal(got.headers['cache-control'], 'no-store');
    assert.deepEqual(got.body.policy, { formats: ['none'], aaguids: [], trust_anchors: [], allow_software: true, max_authenticators: 4 });

    const deleted = await admin('delete', path);
    assert.equal(deleted.status, 204);
    assert.equal((await admin('get', path)).status, 404);
    assert.equal((await admin('delete', path)).status, 204, 'deleting what is not there is not an error');

    // Enrolment is closed now.
    assert.equal((await w.postStepUp('/step-up/authenticators/options', {})).status, 403);

    const audit = await admin('get', `/admin/audit?client_id=${w.clientId}`);
    const actions = audit.body.events.map((e: { action: string }) => e.action);
    assert.deepEqual(actions.filter((a: string) => a.startsWith('attestation_policy.')), ['attestation_policy.deleted', 'attestation_policy.set', 'attestation_policy.set']);
    assert.ok(!JSON.stringify(audit.body).includes('BEGIN CERTIFICATE'), 'anchors are counted, not copied, in the audit log');
  });

  it('refuses an invalid policy with 400 naming every field, and writes nothing', async () => {
    const w = await workload();
    const path = `/admin/clients/${w.clientId}/attestation-policy`;
    const res = await admin('put', path, {
      formats: ['none', 'u2f'],
      aaguids: ['nope'],
      trust_anchors: ['-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----'],
      max_authenticators: 0,
      colour: 'blue',
    });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_request');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.deepEqual(res.body.fields.map((f: { field: string }) => f.field).sort(), ['aaguids[0]', 'colour', 'formats', 'formats[1]', 'max_authenticators', 'trust_anchors[0]']);
    assert.ok(!JSON.stringify(res.body).includes('MIGHAgEA'), 'the key is not echoed');
    assert.equal((await admin('get', path)).status, 404, 'nothing was stored');

    const form = await request(server.url).put(path).set('Authorization', server.admin).type('form').send({ formats: 'packed' });
    assert.equal(form.status, 415);
    const notObject = await request(server.url).put(path).set('Authorization', server.admin).set('Content-Type', 'application/json').send('["packed"]');
    assert.equal(notObject.status, 400);
    assert.deepEqual(notObject.body.fields, [{ field: '(body)', message: 'must be a JSON object' }]);
  });

  it('404 for an unknown client on every route', async () => {
    const path = '/admin/clients/wl_does_not_exist';
    assert.equal((await admin('put', `${path}/attestation-policy`, { formats: ['packed'] })).status, 404);
    assert.equal((await admin('get', `${path}/attestation-policy`)).status, 404);
    assert.equal((await admin('delete', `${path}/attestation-policy`)).status, 404);
    assert.equal((await admin('get', `${path}/authenticators`)).status, 404);
    assert.equal((await admin('delete', `${path}/authenticators/00000000-0000-4000-8000-000000000000`)).status, 404);
  });

  it('lists authenticators (never the public key), revokes one at once (204), revoked ones stay listed with revoked_at', async () => {
    const w = await workload();
    assert.equal((await admin('put', `/admin/clients/${w.clientId}/attestation-policy`, { formats: ['packed'], allow_software: true, max_authenticators: 2 })).status, 200);
    const empty = await admin('get', `/admin/clients/${w.clientId}/authenticators`);
    assert.equal(empty.status, 200);
    assert.equal(empty.headers['cache-control'], 'no-store');
    assert.deepEqual(empty.body, { authenticators: [] });

    const first = await enrol(w, 'first');
    const second = await enrol(w, 'second');
    const listed = (await admin('get', `/admin/clients/${w.clientId}/authenticators`)).body.authenticators;
    assert.deepEqual(listed.map((a: { authenticator_id: string }) => a.authenticator_id), [first.authenticator_id, second.authenticator_id]);
    assert.deepEqual(Object.keys(listed[0]).sort(), [
      'aaguid',
      'attestation',
      'authenticator_id',
      'chain_verified',
      'counter',
      'created_at',
      'credential_id',
      'format',
      'last_used_at',
      'name',
      'revoked_at',
      'transports',
    ]);
    assert.equal(listed[0].name, 'first');
    assert.equal(listed[0].attestation, 'self');
    assert.equal(listed[0].revoked_at, null);

    // Another client's authenticator id, or no id at all, is not found here.
    const other = await workload();
    assert.equal((await admin('delete', `/admin/clients/${other.clientId}/authenticators/${first.authenticator_id}`)).status, 404);
    assert.equal((await admin('delete', `/admin/clients/${w.clientId}/authenticators/not-a-uuid`)).status, 404);
    assert.equal((await admin('delete', `/admin/clients/${w.clientId}/authenticators/00000000-0000-4000-8000-000000000000`)).status, 404);

    const revoked = await admin('delete', `/admin/clients/${w.clientId}/authenticators/${first.authenticator_id}`);
    assert.equal(revoked.status, 204);
    assert.equal(revoked.headers['cache-control'], 'no-store');
    assert.equal((await admin('delete', `/admin/clients/${w.clientId}/authenticators/${first.authenticator_id}`)).status, 204, 'revoking twice is not an error');

    const after = (await admin('get', `/admin/clients/${w.clientId}/authenticators`)).body.authenticators;
    assert.equal(after.length, 2);
    assert.ok(Date.parse(after[0].revoked_at) > 0);
    assert.equal(after[1].revoked_at, null);

    // The revoked one is out of the step-up options at once.
    const challenge = await w.requestChallenge('urn:tollgate:acr:attested');
    assert.equal(challenge.status, 201, JSON.stringify(challenge.body));
    assert.deepEqual(challenge.body.webauthn.allowCredentials.map((c: { id: string }) => c.id), [second.credential_id]);

    const audit = (await admin('get', `/admin/audit?client_id=${w.clientId}`)).body.events;
    const revocations = audit.filter((e: { action: string }) => e.action === 'authenticator.revoked');
    assert.equal(revocations.length, 1);
    assert.equal(revocations[0].actor, 'admin-token');
    assert.equal(revocations[0].details.authenticator_id, first.authenticator_id);
    const enrolments = audit.filter((e: { action: string }) => e.action === 'authenticator.enrolled');
    assert.equal(enrolments.length, 2);
    assert.equal(enrolments[0].actor, `client:${w.clientId}`);
  });

  it('deleting the client removes its policy and authenticators', async () => {
    const w = await Workload.register(server);
    assert.equal((await admin('put', `/admin/clients/${w.clientId}/attestation-policy`, { formats: ['packed'], allow_software: true })).status, 200);
    await enrol(w, 'gone');
    assert.equal((await admin('delete', `/admin/clients/${w.clientId}`)).status, 204);
    const rows = await server.tollgate.runtime.db.prisma.authenticator.count({ where: { clientId: w.clientId } });
    assert.equal(rows, 0);
    assert.equal(await server.tollgate.runtime.db.prisma.attestationPolicy.count({ where: { clientId: w.clientId } }), 0);
  });
});
