import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { calculateJwkThumbprint, createLocalJWKSet, decodeJwt, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import request from 'supertest';
import { type Gateway, registerGateway, type RunningTollgate, startTollgate, Workload } from '#test-support';

let server: RunningTollgate;
let gateway: Gateway;
before(async () => {
  server = await startTollgate();
  gateway = await registerGateway(server, 'edge');
});
after(async () => {
  await server.close();
});

const introspect = (form: Record<string, string>, auth: { id: string; secret: string } | null = gateway) => {
  const req = request(server.url).post('/oauth/introspect').type('form');
  if (auth) req.auth(auth.id, auth.secret);
  return req.send(form);
};

describe('introspection (RFC 7662)', () => {
  it('§2.2 describes an active DPoP-bound token to a gateway', async () => {
    const w = await Workload.register(server);
    const token = await w.token({ scope: 'orders:read' });
    const res = await introspect({ token }).expect(200);
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(res.body.active, true);
    assert.equal(res.body.client_id, w.clientId);
    assert.equal(res.body.scope, 'orders:read');
    assert.equal(res.body.aud, 'https://api.example.test/');
    assert.equal(res.body.token_type, 'DPoP');
    assert.equal(res.body.iss, server.url);
    assert.equal(res.body.cnf.jkt, await calculateJwkThumbprint(w.dpopJwk));
    const claims = decodeJwt(token);
    assert.equal(res.body.exp, claims.exp);
    assert.equal(res.body.iat, claims.iat);
  });

  it('§2.1 token_type_hint does not change the answer', async () => {
    const w = await Workload.register(server);
    const token = await w.token();
    assert.equal((await introspect({ token, token_type_hint: 'refresh_token' })).body.active, true);
  });

  it('§4: a workload client cannot introspect (401 invalid_client)', async () => {
    const w = await Workload.register(server);
    const token = await w.token();
    const res = await introspect({ token }, { id: w.clientId, secret: 'anything' });
    assert.equal(res.status, 401);
    assert.equal(res.body.error, 'invalid_client');
    assert.match(res.headers['www-authenticate'], /^Basic/);
  });

  it('§2.1: a gateway with a wrong secret gets 401 invalid_client', async () => {
    const res = await introspect({ token: 'x' }, { id: gateway.id, secret: 'wrong' });
    assert.equal(res.status, 401);
    assert.equal(res.body.error, 'invalid_client');
  });

  it('§2.1: no client authentication → 401 invalid_client', async () => {
    const res = await introspect({ token: 'x' }, null);
    assert.equal(res.status, 401);
    assert.equal(res.body.error, 'invalid_client');
  });

  it('§2.1: a missing token parameter → 400 invalid_request', async () => {
    const res = await introspect({});
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'invalid_request');
  });

  it('§2.2: malformed and unknown tokens are inactive', async () => {
    assert.deepEqual((await introspect({ token: 'not-a-jwt' })).body, { active: false });
    const stranger = await generateKeyPair('ES256');
    const forged = await new SignJWT({ client_id: 'x', jti: 'j', scope: 'orders:read' })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'unknown' })
      .setIssuer(server.url).setAudience('https://api.example.test/').setIssuedAt().setExpirationTime('5m')
      .sign(stranger.privateKey);
    assert.deepEqual((await introspect({ token: forged })).body, { active: false });
  });

  it('§2.2: an expired token is inactive', async () => {
    const w = await Workload.register(server);
    const now = Math.floor(Date.now() / 1000);
    // Signed by the server's real key, with an expiry in the past.
    const expired = await server.tollgate.runtime.keys.sign(
      { iss: server.url, sub: w.clientId, client_id: w.clientId, aud: 'https://api.example.test/', jti: crypto.randomUUID(), iat: now - 600, exp: now - 300 },
      'at+jwt',
    );
    assert.deepEqual((await introspect({ token: expired })).body, { active: false });
  });

  it('§2.2: tokens of a suspended client are inactive, and active again after reactivation', async () => {
    const w = await Workload.register(server);
    const token = await w.token();
    await request(server.url).patch(`/admin/clients/${w.clientId}`).set('Authorization', server.admin).send({ status: 'suspended' }).expect(200);
    assert.deepEqual((await introspect({ token })).body, { active: false });
    await request(server.url).patch(`/admin/clients/${w.clientId}`).set('Authorization', server.admin).send({ status: 'active' }).expect(200);
    assert.equal((await introspect({ token })).body.active, true);
  });

  it('§2.2: tokens of a deleted client are inactive', async () => {
    const w = await Workload.register(server);
    const token = await w.token();
    await request(server.url).delete(`/admin/clients/${w.clientId}`).set('Authorization', server.admin).expect(204);
    assert.deepEqual((await introspect({ token })).body, { active: false });
  });

  it('RFC 9701 §5: answers with a signed JWT for Accept: application/token-introspection+jwt', async () => {
    const w = await Workload.register(server);
    const token = await w.token();
    const res = await introspect({ token }).set('Accept', 'application/token-introspection+jwt').buffer(true).parse((r, cb) => {
      let data = '';
      r.on('data', (c: Buffer) => (data += c));
      r.on('end', () => cb(null, data));
    });
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^application\/token-introspection\+jwt/);
    const jwks = (await request(server.url).get('/oauth/jwks')).body;
    const { payload, protectedHeader } = await jwtVerify(res.body as string, createLocalJWKSet(jwks), {
      issuer: server.url,
      audience: gateway.id,
      typ: 'token-introspection+jwt',
    });
    assert.equal(protectedHeader.alg, 'ES256');
    const inner = payload.token_introspection as Record<string, unknown>;
    assert.equal(inner.active, true);
    assert.equal(inner.client_id, w.clientId);
  });
});

describe('introspection with the presentation context (RFC 9449 §7.1, Tollgate extension)', () => {
  const api = 'https://api.example.test/orders';

  it('active when the proof is by the bound key, for that call, with ath', async () => {
    const w = await Workload.register(server);
    const token = await w.token();
    const proof = await w.proof('GET', api, { accessToken: token });
    const res = await introspect({ token, dpop_proof: proof, htm: 'GET', htu: api });
    assert.equal(res.body.active, true, JSON.stringify(res.body));
  });

  it('a token bound to key A presented with a proof by key B is inactive', async () => {
    const w = await Workload.register(server);
    const token = await w.token();
    const keyB = await generateKeyPair('ES256', { extractable: true });
    const proof = await w.proof('GET', api, { accessToken: token, key: keyB });
    const res = await introspect({ token, dpop_proof: proof, htm: 'GET', htu: api });
    assert.equal(res.body.active, false);
    assert.equal(res.body.decision, 'invalid');
    assert.equal(res.body.decision_error, 'invalid_dpop_proof');
  });

  it('a proof for another method or URL, without ath, or replayed is inactive', async () => {
    const w = await Workload.register(server);
    const token = await w.token();
    const wrongMethod = await w.proof('POST', api, { accessToken: token });
    assert.equal((await introspect({ token, dpop_proof: wrongMethod, htm: 'GET', htu: api })).body.active, false);
    const wrongUrl = await w.proof('GET', 'https://api.example.test/admin', { accessToken: token });
    assert.equal((await introspect({ token, dpop_proof: wrongUrl, htm: 'GET', htu: api })).body.active, false);
    const noAth = await w.proof('GET', api);
    assert.equal((await introspect({ token, dpop_proof: noAth, htm: 'GET', htu: api })).body.active, false);
    const good = await w.proof('GET', api, { accessToken: token });
    assert.equal((await introspect({ token, dpop_proof: good, htm: 'GET', htu: api })).body.active, true);
    assert.equal((await introspect({ token, dpop_proof: good, htm: 'GET', htu: api })).body.active, false, 'replayed proof');
  });
});

describe('revocation (RFC 7009)', () => {
  const revoke = async (w: Workload, token: string, assertion?: string) =>
    request(server.url).post('/oauth/revoke').type('form').send({
      token,
      client_id: w.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion ?? (await w.assertion({ aud: `${server.url}/oauth/revoke` })),
    });

  it('§2.2: the owner revokes its token; introspection then says inactive', async () => {
    const w = await Workload.register(server);
    const token = await w.token();
    assert.equal((await introspect({ token })).body.active, true);
    const res = await revoke(w, token);
    assert.equal(res.status, 200);
    assert.deepEqual((await introspect({ token })).body, { active: false });
  });

  it('§2.2: an unknown or malformed token still answers 200', async () => {
    const w = await Workload.register(server);
    assert.equal((await revoke(w, 'garbage')).status, 200);
  });

  it('§2.1: another client cannot revoke the token', async () => {
    const owner = await Workload.register(server);
    const other = await Workload.register(server);
    const token = await owner.token();
    const res = await revoke(other, token);
    assert.equal(res.status, 400);
    assert.equal(res.body.error, 'unauthorized_client');
    assert.equal((await introspect({ token })).body.active, true);
  });

  it('§2.1: unauthenticated or badly authenticated requests get 401 invalid_client and revoke nothing', async () => {
    const w = await Workload.register(server);
    const token = await w.token();
    const none = await request(server.url).post('/oauth/revoke').type('form').send({ token, client_id: w.clientId });
    assert.equal(none.status, 401);
    assert.equal(none.body.error, 'invalid_client');
    const stranger = await generateKeyPair('ES256');
    const forged = await revoke(w, token, await w.assertion({ aud: server.url }, stranger));
    assert.equal(forged.status, 401);
    const replayed = await w.assertion({ aud: server.url });
    assert.equal((await revoke(w, 'garbage', replayed)).status, 200);
    assert.equal((await revoke(w, token, replayed)).status, 401, 'assertion jti is single use');
    assert.equal((await introspect({ token })).body.active, true);
  });

  it('a revocation reaches a second instance on the same database and Redis', { skip: !process.env.DATABASE_URL && 'needs DATABASE_URL (the embedded database is per process)' }, async () => {
    const second = await startTollgate({ TOLLGATE_ISSUER: server.url });
    try {
      const w = await Workload.register(server);
      const kept = await w.token();
      const revoked = await w.token();
      const at = (token: string) => request(second.url).post('/oauth/introspect').type('form').auth(gateway.id, gateway.secret).send({ token });
      assert.equal((await at(revoked)).body.active, true);
      await revoke(w, revoked);
      assert.deepEqual((await at(revoked)).body, { active: false });
      assert.equal((await at(kept)).body.active, true);
    } finally {
      await second.close();
    }
  });
});
