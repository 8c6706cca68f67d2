import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import request from 'supertest';
import { type RunningTollgate, startTollgate, Workload } from '#test-support';

let server: RunningTollgate;
before(async () => {
  server = await startTollgate();
});
after(async () => {
  await server.close();
});

async function publicJwks() {
  const { publicKey } = await generateKeyPair('ES256');
  return { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
}

const register = async (body: Record<string, unknown>, auth = server.admin) =>
  request(server.url).post('/oauth/register').set('Authorization', auth).send(body);

describe('dynamic client registration (RFC 7591)', () => {
  it('is advertised as registration_endpoint (RFC 8414 §2)', async () => {
    const res = await request(server.url).get('/.well-known/oauth-authorization-server').expect(200);
    assert.equal(res.body.registration_endpoint, `${server.url}/oauth/register`);
  });

  it('§3: requires the initial access token (the admin token)', async () => {
    const body = { jwks: await publicJwks(), allowed_resources: ['https://api.example.test/'] };
    assert.equal((await request(server.url).post('/oauth/register').send(body)).status, 401);
    assert.equal((await register(body, 'Bearer wrong-token-wrong-token-wrong-token')).status, 401);
  });

  it('§3.2.1: registers a workload, answers 201 with client information and a registration access token; §2 unknown metadata is ignored', async () => {
    const res = await register({
      client_name: 'registered',
      jwks: await publicJwks(),
      scope: 'orders:read',
      allowed_resources: ['https://api.example.test/'],
      grant_types: ['client_credentials'],
      software_id: 'ignored-extension',
    });
    assert.equal(res.status, 201, JSON.stringify(res.body));
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.match(res.body.client_id, /^tg_/);
    assert.equal(typeof res.body.client_id_issued_at, 'number');
    assert.equal(res.body.token_endpoint_auth_method, 'private_key_jwt');
    assert.deepEqual(res.body.grant_types, ['client_credentials', 'urn:tollgate:params:oauth:grant-type:step-up']);
    assert.equal(res.body.registration_client_uri, `${server.url}/oauth/register/${res.body.client_id}`);
    assert.ok(res.body.registration_access_token.length >= 40);
    assert.equal(res.body.software_id, undefined);
    // The same record the admin API manages.
    const admin = await request(server.url).get(`/admin/clients/${res.body.client_id}`).set('Authorization', server.admin).expect(200);
    assert.equal(admin.body.client_name, 'registered');
    assert.equal(admin.body.scope, 'orders:read');
  });

  it('§3.2.2: invalid_client_metadata for bad metadata, and nothing is created', async () => {
    const lastEvent = async () => (await request(server.url).get('/admin/audit?limit=1').set('Authorization', server.admin)).body.events[0]?.id;
    const before = await lastEvent();
    for (const body of [
      { jwks: await publicJwks(), allowed_resources: ['https://api.example.test/'], grant_types: ['authorization_code'] },
      { jwks: await publicJwks(), allowed_resources: ['https://api.example.test/'], redirect_uris: ['https://app.example/cb'] },
      { jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }, allowed_resources: ['https://api.example.test/'] },
      { jwks: await publicJwks(), allowed_resources: ['https://api.example.test/'], token_endpoint_auth_method: 'none' },
    ]) {
      const res = await register(body);
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error, 'invalid_client_metadata');
      assert.equal(typeof res.body.error_description, 'string');
    }
    assert.equal(await lastEvent(), before, 'no client was created (no audit event)');
  });
});

describe('client configuration endpoint (RFC 7592)', () => {
  async function registered() {
    const res = await register({ client_name: 'managed', jwks: await publicJwks(), allowed_resources: ['https://api.example.test/'], scope: 'a b' });
    assert.equal(res.status, 201);
    return res.body as Record<string, string>;
  }

  it('§2.1: reads the client with its registration access token and issues a new one (§3)', async () => {
    const c = await registered();
    const res = await request(server.url).get(`/oauth/register/${c.client_id}`).set('Authorization', `Bearer ${c.registration_access_token}`).expect(200);
    assert.equal(res.body.client_name, 'managed');
    assert.notEqual(res.body.registration_access_token, c.registration_access_token);
    // The previous token is spent.
    await request(server.url).get(`/oauth/register/${c.client_id}`).set('Authorization', `Bearer ${c.registration_access_token}`).expect(401);
    await request(server.url).get(`/oauth/register/${c.client_id}`).set('Authorization', `Bearer ${res.body.registration_access_token}`).expect(200);
  });

  it('§2.1: a wrong token, the admin token, another client\'s token or an unknown client get 401', async () => {
    const a = await registered();
    const b = await registered();
    for (const [id, auth] of [
      [a.client_id, 'Bearer nope'],
      [a.client_id, server.admin],
      [a.client_id, `Bearer ${b.registration_access_token}`],
      ['tg_unknown', `Bearer ${a.registration_access_token}`],
      [a.client_id, undefined],
    ] as const) {
      const req = request(server.url).get(`/oauth/register/${id}`);
      if (auth) req.set('Authorization', auth);
      const res = await req;
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'invalid_token');
    }
  });

  it('§2.2: PUT replaces the metadata; omitted fields fall back to defaults', async () => {
    const c = await registered();
    const jwks = await publicJwks();
    const res = await request(server.url)
      .put(`/oauth/register/${c.client_id}`)
      .set('Authorization', `Bearer ${c.registration_access_token}`)
      .send({ client_id: c.client_id, jwks, allowed_resources: ['https://api.example.test/'] })
      .expect(200);
    assert.equal(res.body.client_name, undefined);
    assert.equal(res.body.scope, '');
    assert.deepEqual(res.body.jwks, jwks);
  });

  it('§2.2: PUT with a mismatched client_id or invalid metadata is refused and changes nothing', async () => {
    const c = await registered();
    const auth = `Bearer ${c.registration_access_token}`;
    const wrongId = await request(server.url).put(`/oauth/register/${c.client_id}`).set('Authorization', auth).send({ client_id: 'tg_other', jwks: await publicJwks(), allowed_resources: ['https://api.example.test/'] });
    assert.equal(wrongId.status, 400);
    assert.equal(wrongId.body.error, 'invalid_client_metadata');
    const noKeys = await request(server.url).put(`/oauth/register/${c.client_id}`).set('Authorization', auth).send({ client_id: c.client_id, allowed_resources: ['https://api.example.test/'] });
    assert.equal(noKeys.status, 400);
    const admin = await request(server.url).get(`/admin/clients/${c.client_id}`).set('Authorization', server.admin).expect(200);
    assert.equal(admin.body.client_name, 'managed');
    assert.equal(admin.body.scope, 'a b');
  });

  it('§2.3: DELETE deprovisions the client: 204, then its tokens stop working', async () => {
    const w = await Workload.register(server);
    // A workload registered through RFC 7591 behaves like one from the admin API.
    const reg = await register({ jwks: w.record.jwks, allowed_resources: ['https://api.example.test/'] });
    w.clientId = reg.body.client_id;
    assert.equal((await w.requestToken()).status, 200);
    await request(server.url).delete(`/oauth/register/${w.clientId}`).set('Authorization', `Bearer ${reg.body.registration_access_token}`).expect(204);
    assert.equal((await w.requestToken()).body.error, 'invalid_client');
    await request(server.url).get(`/admin/clients/${w.clientId}`).set('Authorization', server.admin).expect(404);
  });

  it('admin-created clients have no registration access token', async () => {
    const w = await Workload.register(server);
    const res = await request(server.url).get(`/oauth/register/${w.clientId}`).set('Authorization', 'Bearer anything');
    assert.equal(res.status, 401);
  });
});

describe('a standard client registers with RFC 7591 metadata only, and gets a token (openid-client)', () => {
  it('§2 metadata alone (jwks, token_endpoint_auth_method, grant_types, scope): 201, then client_credentials with private_key_jwt and DPoP', async () => {
    const oidc = await import('openid-client');
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'std-1', alg: 'ES256', use: 'sig' };
    const config = await oidc.dynamicClientRegistration(
      new URL(server.issuer),
      { jwks: { keys: [jwk] }, token_endpoint_auth_method: 'private_key_jwt', grant_types: ['client_credentials'], scope: 'reports:read' },
      oidc.PrivateKeyJwt({ key: privateKey, kid: 'std-1' }),
      { initialAccessToken: server.adminToken, execute: [oidc.allowInsecureRequests] },
    );
    const metadata = config.clientMetadata();
    assert.ok(String(metadata.client_id).startsWith('tg_'));
    // docs/configuration.md: no allowed_resources sent, so the server's default (TOLLGATE_DEFAULT_RESOURCES: the issuer).
    assert.deepEqual(metadata.allowed_resources, [server.issuer]);
    const dpop = oidc.getDPoPHandle(config, await oidc.randomDPoPKeyPair());
    const tokens = await oidc.clientCredentialsGrant(config, { scope: 'reports:read' }, { DPoP: dpop });
    assert.equal(tokens.token_type, 'dpop');
    const claims = JSON.parse(Buffer.from(tokens.access_token.split('.')[1]!, 'base64url').toString());
    assert.equal(claims.aud, server.issuer);
    assert.equal(claims.scope, 'reports:read');
    assert.equal(claims.client_id, metadata.client_id);
  });

  it('TOLLGATE_DEFAULT_RESOURCES names what such clients may ask for; allowed_resources, when sent, still wins', async () => {
    const other = await startTollgate({ TOLLGATE_DEFAULT_RESOURCES: 'https://orders.example.test/, https://billing.example.test/' });
    try {
      const bare = await request(other.url).post('/oauth/register').set('Authorization', other.admin).send({ jwks: await publicJwks(), scope: 'a' });
      assert.equal(bare.status, 201, JSON.stringify(bare.body));
      assert.deepEqual(bare.body.allowed_resources, ['https://orders.example.test/', 'https://billing.example.test/']);
      const explicit = await request(other.url).post('/oauth/register').set('Authorization', other.admin).send({ jwks: await publicJwks(), allowed_resources: ['https://x.example.test/'] });
      assert.deepEqual(explicit.body.allowed_resources, ['https://x.example.test/']);
    } finally {
      await other.close();
    }
  });
});
