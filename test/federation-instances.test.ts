// Issue 11 §1: a change to the trusted issuers reaches every instance on its next request (the
// change notice through Redis), not after a cache lifetime. Two instances, one PostgreSQL, one Redis.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import request from 'supertest';
import { type RunningTollgate, startTollgate } from '#test-support';

const shared = Boolean(process.env.DATABASE_URL && process.env.REDIS_URL);
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

describe('trusted issuers across two instances', { skip: !shared && 'needs DATABASE_URL and REDIS_URL' }, () => {
  let a: RunningTollgate;
  let b: RunningTollgate;
  const platform = `https://token.${randomUUID().slice(0, 8)}.example.test`;
  let key: Awaited<ReturnType<typeof generateKeyPair>>;
  let clientId: string;
  let issuerId: string;

  before(async () => {
    // A client and issuer cache far longer than the test: only the change notice can explain what B sees.
    a = await startTollgate({ TOLLGATE_CLIENT_CACHE_TTL: '3600' });
    b = await startTollgate({ TOLLGATE_CLIENT_CACHE_TTL: '3600', TOLLGATE_ISSUER: a.issuer, TOLLGATE_ADMIN_TOKEN: a.adminToken });
    key = await generateKeyPair('ES256', { extractable: true });
    const created = await request(a.url)
      .post('/admin/trusted-issuers')
      .set('Authorization', a.admin)
      .send({ kind: 'oidc', issuer: platform, jwks: { keys: [{ ...(await exportJWK(key.publicKey)), kid: 'p1', alg: 'ES256', use: 'sig' }] } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    issuerId = created.body.id;
    const client = await request(a.url)
      .post('/admin/clients')
      .set('Authorization', a.admin)
      .send({ federated_identities: [{ issuer: platform, subject: 'repo:octo-org/app:environment:prod' }], allowed_resources: ['https://api.example.test/'] });
    assert.equal(client.status, 201, JSON.stringify(client.body));
    clientId = client.body.client_id;
  });
  after(async () => {
    await b?.close();
    await a?.close();
  });

  async function tokenAt(at: RunningTollgate) {
    const now = Math.floor(Date.now() / 1000);
    const platformToken = await new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'p1' })
      .setIssuer(platform)
      .setSubject('repo:octo-org/app:environment:prod')
      .setAudience(a.issuer)
      .setIssuedAt(now)
      .setExpirationTime(now + 300)
      .sign(key.privateKey);
    const dpop = await generateKeyPair('ES256');
    const jwk = await exportJWK(dpop.publicKey);
    const proof = await new SignJWT({ jti: randomUUID(), htm: 'POST', htu: `${a.issuer}/oauth/token`, iat: now }).setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).sign(dpop.privateKey);
    // The issuer's host, as behind a load balancer (RFC 9449 htu).
    return request(at.url)
      .post('/oauth/token')
      .type('form')
      .set('Host', new URL(a.issuer).host)
      .set('DPoP', proof)
      .send({ grant_type: 'client_credentials', client_id: clientId, client_assertion_type: JWT_BEARER, client_assertion: platformToken });
  }

  it('an issuer trusted at one instance authenticates at the other; removed at one, it is refused at the other on the next request', async () => {
    const first = await tokenAt(b);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const removed = await request(a.url).delete(`/admin/trusted-issuers/${issuerId}`).set('Authorization', a.admin);
    assert.equal(removed.status, 204);
    const refused = await tokenAt(b);
    assert.equal(refused.status, 401, JSON.stringify(refused.body));
    assert.equal(refused.body.error, 'invalid_client');
    assert.match(refused.body.error_description, /not from a trusted issuer/);
  });
});
