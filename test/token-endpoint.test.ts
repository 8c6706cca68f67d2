import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader, generateKeyPair, SignJWT, exportJWK, calculateJwkThumbprint } from 'jose';
import request from 'supertest';
import { type RunningTollgate, startTollgate, Workload } from '#test-support';

let server: RunningTollgate;
before(async () => {
  server = await startTollgate();
});
after(async () => {
  await server.close();
});

describe('metadata (RFC 8414, RFC 7517)', () => {
  it('RFC 8414 §3 serves /.well-known/oauth-authorization-server with the issuer and endpoints', async () => {
    const res = await request(server.url).get('/.well-known/oauth-authorization-server').expect(200);
    assert.equal(res.body.issuer, server.url);
    assert.equal(res.body.token_endpoint, `${server.url}/oauth/token`);
    assert.equal(res.body.jwks_uri, `${server.url}/oauth/jwks`);
    assert.equal(res.body.introspection_endpoint, `${server.url}/oauth/introspect`);
    assert.equal(res.body.revocation_endpoint, `${server.url}/oauth/revoke`);
    assert.deepEqual(res.body.token_endpoint_auth_methods_supported, ['private_key_jwt']);
    assert.deepEqual(res.body.grant_types_supported, ['client_credentials']);
    assert.ok(res.body.dpop_signing_alg_values_supported.includes('ES256'));
    assert.equal(res.body.authorization_endpoint, undefined);
  });

  it('serves the same document at /.well-known/openid-configuration', async () => {
    const a = await request(server.url).get('/.well-known/openid-configuration').expect(200);
    const b = await request(server.url).get('/.well-known/oauth-authorization-server').expect(200);
    assert.deepEqual(a.body, b.body);
  });

  it('publishes public ES256 keys only in the JWKS', async () => {
    const res = await request(server.url).get('/oauth/jwks').expect(200);
    assert.ok(res.body.keys.length >= 1);
    for (const key of res.body.keys) {
      assert.equal(key.kty, 'EC');
      assert.equal(key.alg, 'ES256');
      assert.equal(key.d, undefined);
    }
  });
});

describe('client_credentials with private_key_jwt and DPoP', () => {
  for (const alg of ['ES256', 'EdDSA', 'PS256'] as const) {
    it(`issues an RFC 9068 DPoP-bound token to a ${alg} client (RFC 9449 §5, RFC 7523 §2.2)`, async () => {
      const w = await Workload.register(server, { alg });
      const res = await w.requestToken({ scope: 'orders:read' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.token_type, 'DPoP');
      assert.equal(res.body.expires_in, 300);
      assert.equal(res.headers['cache-control'], 'no-store');
      const header = decodeProtectedHeader(res.body.access_token);
      assert.equal(header.typ, 'at+jwt');
      assert.equal(header.alg, 'ES256');
      const claims = decodeJwt(res.body.access_token);
      assert.equal(claims.iss, server.url);
      assert.equal(claims.sub, w.clientId);
      assert.equal(claims.client_id, w.clientId);
      assert.equal(claims.aud, 'https://api.example.test/');
      assert.equal(claims.scope, 'orders:read');
      assert.equal(typeof claims.jti, 'string');
      assert.equal(claims.exp! - claims.iat!, 300);
      assert.deepEqual(claims.cnf, { jkt: await calculateJwkThumbprint(w.dpopJwk) });
    });
  }
});
