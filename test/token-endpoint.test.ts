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
    assert.deepEqual(res.body.grant_types_supported, ['client_credentials', 'urn:tollgate:params:oauth:grant-type:step-up']);
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

/** An unsigned JWS (`alg: none`) built by hand. */
function unsignedProof(header: object, payload: object): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64(header)}.${b64(payload)}.`;
}

describe('client authentication (RFC 7523 §3, RFC 6749 §5.2)', () => {
  let w: Workload;
  before(async () => {
    w = await Workload.register(server);
  });

  const refused = (res: request.Response, error = 'invalid_client') => {
    assert.equal(res.body.error, error, JSON.stringify(res.body));
    assert.equal(res.status, error === 'invalid_client' ? 401 : 400);
    assert.ok(!JSON.stringify(res.body).includes('at '), 'no stack trace');
  };

  it('RFC 7523bis: accepts the token endpoint URL as the assertion audience', async () => {
    const res = await w.requestToken({}, undefined, await w.assertion({ aud: w.tokenUrl }));
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });

  it('RFC 7523 §3(3): refuses an assertion for another audience', async () => {
    refused(await w.requestToken({}, undefined, await w.assertion({ aud: 'https://elsewhere.example/' })));
  });

  it('RFC 7523 §3(7): refuses a replayed assertion jti', async () => {
    const assertion = await w.assertion();
    assert.equal((await w.requestToken({}, undefined, assertion)).status, 200);
    refused(await w.requestToken({}, undefined, assertion));
  });

  it('RFC 7523 §3(9): refuses an assertion signed by a key the client did not register', async () => {
    const other = await generateKeyPair('ES256');
    refused(await w.requestToken({}, undefined, await w.assertion({}, other)));
  });

  it('refuses an assertion that lives longer than 300 s', async () => {
    const now = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(w.clientId).setSubject(w.clientId).setAudience(server.url)
      .setIssuedAt(now).setExpirationTime(now + 3600)
      .sign(w.clientKey.privateKey);
    refused(await w.requestToken({}, undefined, assertion));
  });

  it('RFC 7523 §3(2): refuses an assertion whose sub is not the client_id sent', async () => {
    const res = await w.requestToken({}, undefined, await w.assertion({ sub: 'someone-else' }));
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_request');
    assert.equal(res.body.access_token, undefined);
  });

  it('refuses an unknown client', async () => {
    const res = await request(server.url).post('/oauth/token').type('form')
      .set('DPoP', await w.proof('POST', w.tokenUrl))
      .send({
        grant_type: 'client_credentials',
        client_id: 'tg_unknown',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: await w.assertion({ iss: 'tg_unknown', sub: 'tg_unknown' }),
      });
    refused(res);
  });

  it('refuses token_endpoint_auth_method none (a bare client_id)', async () => {
    const res = await request(server.url).post('/oauth/token').type('form')
      .set('DPoP', await w.proof('POST', w.tokenUrl))
      .send({ grant_type: 'client_credentials', client_id: w.clientId });
    refused(res);
  });

  it('refuses client_secret_basic at the token endpoint, even for a gateway', async () => {
    const gw = await request(server.url).post('/admin/clients').set('Authorization', server.admin).send({ roles: ['gateway'] }).expect(201);
    const res = await request(server.url).post('/oauth/token').type('form')
      .auth(gw.body.client_id, gw.body.client_secret)
      .set('DPoP', await w.proof('POST', w.tokenUrl))
      .send({ grant_type: 'client_credentials' });
    refused(res);
  });

  it('RFC 6749 §5.2: unsupported_grant_type for other grants', async () => {
    refused(await w.requestToken({ grant_type: 'password' }), 'unsupported_grant_type');
  });
});

describe('scope, resource and lifetime (RFC 6749 §3.3, RFC 8707 §2, RFC 9068)', () => {
  it('RFC 6749 §5.2: invalid_scope for a scope outside the registration (not silently dropped)', async () => {
    const w = await Workload.register(server);
    const res = await w.requestToken({ scope: 'orders:read admin:all' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_scope');
  });

  it('grants every registered scope requested', async () => {
    const w = await Workload.register(server);
    const claims = decodeJwt(await w.token({ scope: 'orders:read orders:write' }));
    assert.equal(claims.scope, 'orders:read orders:write');
  });

  it('RFC 8707 §2: invalid_target for a resource the client may not use', async () => {
    const w = await Workload.register(server);
    const res = await w.requestToken({ resource: 'https://other.example.test/' });
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_target');
  });

  it('RFC 8707 §2: resource selects the audience among several; absent it is invalid_target', async () => {
    const w = await Workload.register(server, { allowed_resources: ['https://a.example.test/', 'https://b.example.test/'] });
    assert.equal(decodeJwt(await w.token({ resource: 'https://b.example.test/' })).aud, 'https://b.example.test/');
    const res = await w.requestToken();
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_target');
  });

  it('honours a per-client access_token_ttl', async () => {
    const w = await Workload.register(server, { access_token_ttl: 60 });
    const res = await w.requestToken();
    assert.equal(res.body.expires_in, 60);
    const claims = decodeJwt(res.body.access_token);
    assert.equal(claims.exp! - claims.iat!, 60);
  });
});

describe('DPoP proofs at the token endpoint (RFC 9449 §4.3)', () => {
  let w: Workload;
  before(async () => {
    w = await Workload.register(server);
  });

  const invalidProof = (res: request.Response) => {
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error, 'invalid_dpop_proof', JSON.stringify(res.body));
  };

  it('RFC 9449 §5.2: a client with dpop_bound_access_tokens must send a proof', async () => {
    const res = await w.requestToken({}, null);
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_dpop_proof');
    assert.equal(res.body.access_token, undefined);
  });

  it('§4.3(8) refuses a proof for another method (htm)', async () => {
    invalidProof(await w.requestToken({}, await w.proof('GET', w.tokenUrl)));
  });

  it('§4.3(9) refuses a proof for another URL (htu)', async () => {
    invalidProof(await w.requestToken({}, await w.proof('POST', `${server.url}/other`)));
  });

  it('§4.3(11) refuses a proof whose iat is older than the configured window', async () => {
    invalidProof(await w.requestToken({}, await w.proof('POST', w.tokenUrl, { iat: Math.floor(Date.now() / 1000) - 120 })));
  });

  it('§4.3(11) refuses a proof from the future', async () => {
    invalidProof(await w.requestToken({}, await w.proof('POST', w.tokenUrl, { iat: Math.floor(Date.now() / 1000) + 120 })));
  });

  it('§4.3(12)/§11.1 refuses a replayed proof jti', async () => {
    const proof = await w.proof('POST', w.tokenUrl);
    assert.equal((await w.requestToken({}, proof)).status, 200);
    invalidProof(await w.requestToken({}, proof));
  });

  it('§4.3(5) refuses alg none', async () => {
    const proof = unsignedProof(
      { typ: 'dpop+jwt', alg: 'none', jwk: w.dpopJwk },
      { jti: crypto.randomUUID(), htm: 'POST', htu: w.tokenUrl, iat: Math.floor(Date.now() / 1000) },
    );
    invalidProof(await w.requestToken({}, proof));
  });

  it('§4.3(5) refuses a symmetric algorithm (HS256)', async () => {
    const proof = await new SignJWT({ jti: crypto.randomUUID(), htm: 'POST', htu: w.tokenUrl, iat: Math.floor(Date.now() / 1000) })
      .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: 'c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0' } as any })
      .sign(new TextEncoder().encode('secretsecretsecretsecretsecret!!'));
    invalidProof(await w.requestToken({}, proof));
  });

  it('§4.3(7) refuses a private key in the jwk header', async () => {
    const privateJwk = await exportJWK(w.dpopKey.privateKey);
    const proof = await new SignJWT({ jti: crypto.randomUUID(), htm: 'POST', htu: w.tokenUrl, iat: Math.floor(Date.now() / 1000) })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: privateJwk })
      .sign(w.dpopKey.privateKey);
    invalidProof(await w.requestToken({}, proof));
  });

  it('§4.3(4) refuses a proof with another typ', async () => {
    invalidProof(await w.requestToken({}, await w.proof('POST', w.tokenUrl, { typ: 'JWT' })));
  });

  it('§4.3(6) refuses a proof whose signature does not match its jwk', async () => {
    const other = await generateKeyPair('ES256');
    const proof = await new SignJWT({ jti: crypto.randomUUID(), htm: 'POST', htu: w.tokenUrl, iat: Math.floor(Date.now() / 1000) })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: w.dpopJwk })
      .sign(other.privateKey);
    invalidProof(await w.requestToken({}, proof));
  });
});

describe('DPoP server nonces (RFC 9449 §8)', () => {
  async function nonceDance(w: Workload) {
    const first = await w.requestToken();
    assert.equal(first.status, 400, JSON.stringify(first.body));
    assert.equal(first.body.error, 'use_dpop_nonce');
    const nonce = first.headers['dpop-nonce'];
    assert.ok(nonce, 'DPoP-Nonce header');
    const second = await w.requestToken({}, await w.proof('POST', w.tokenUrl, { nonce }));
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.equal(second.body.token_type, 'DPoP');
  }

  it('§8: a client with require_dpop_nonce gets use_dpop_nonce and a DPoP-Nonce, then a token', async () => {
    await nonceDance(await Workload.register(server, { require_dpop_nonce: true }));
  });

  it('§8: a client without it is not asked for a nonce', async () => {
    const w = await Workload.register(server);
    assert.equal((await w.requestToken()).status, 200);
  });

  it('§8: TOLLGATE_DPOP_REQUIRE_NONCE=true asks every client', async () => {
    const strict = await startTollgate({ TOLLGATE_DPOP_REQUIRE_NONCE: 'true' });
    try {
      await nonceDance(await Workload.register(strict));
    } finally {
      await strict.close();
    }
  });

  it('§8: refuses a made-up nonce with use_dpop_nonce', async () => {
    const w = await Workload.register(server, { require_dpop_nonce: true });
    const res = await w.requestToken({}, await w.proof('POST', w.tokenUrl, { nonce: 'not-a-server-nonce' }));
    assert.equal(res.body.error, 'use_dpop_nonce');
  });
});
