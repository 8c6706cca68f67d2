// Issue 9 §2: one guarded key fetch for every endpoint. Keys from jwks_uri are as safe as inline
// keys, jwks_uri cannot point Tollgate at its own network, and fetching costs the caller, not us.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import request from 'supertest';
import { type RunningTollgate, startTollgate, tlsServerCertificate, Workload } from '#test-support';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** An https server answering GET with whatever `body` holds now; counts the requests it saw. */
interface KeyServer {
  url: string;
  hits: number;
  body: () => string;
  server: Server;
}

async function keyServer(tls: { cert: string; key: string }): Promise<KeyServer> {
  const ks: KeyServer = { url: '', hits: 0, body: () => '{"keys":[]}', server: undefined as unknown as Server };
  ks.server = createServer({ cert: tls.cert, key: tls.key }, (_req, res) => {
    ks.hits++;
    res.setHeader('content-type', 'application/json');
    res.end(ks.body());
  });
  await new Promise<void>((resolve) => ks.server.listen(0, '127.0.0.1', resolve));
  ks.url = `https://127.0.0.1:${(ks.server.address() as { port: number }).port}/jwks`;
  return ks;
}

/** A workload whose keys live at `uri` (registered inline, then moved to jwks_uri by the admin API). */
async function remoteWorkload(server: RunningTollgate, uri: string): Promise<Workload> {
  const w = await Workload.register(server);
  const res = await request(server.url).patch(`/admin/clients/${w.clientId}`).set('Authorization', server.admin).send({ jwks_uri: uri });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.jwks_uri, uri);
  return w;
}

const publicKeySet = async (w: Workload, kid = 'k1') => JSON.stringify({ keys: [{ ...(await exportJWK(w.clientKey.publicKey)), kid, alg: 'ES256', use: 'sig' }] });

/**
 * An RSA "key" with e = 1 and an RS256 assertion forged for it without any private key: with
 * e = 1 the signature is the padded message itself (RFC 8017 §8.2.2, EMSA-PKCS1-v1_5).
 */
function forgedRs256(clientId: string, audience: string): { jwk: JWK; assertion: string } {
  const k = 256;
  const n = randomBytes(k);
  n[0]! |= 0x80;
  n[k - 1]! |= 1;
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'RS256', kid: 'evil' })}.${b64({ iss: clientId, sub: clientId, aud: audience, jti: randomBytes(8).toString('hex'), iat: now, exp: now + 60 })}`;
  const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(input).digest()]);
  const em = Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(k - 3 - digestInfo.length, 0xff), Buffer.from([0]), digestInfo]);
  return { jwk: { kty: 'RSA', n: n.toString('base64url'), e: 'AQ', kid: 'evil', alg: 'RS256' }, assertion: `${input}.${em.toString('base64url')}` };
}

async function reasonsOf(server: RunningTollgate, clientId: string): Promise<string[]> {
  const res = await request(server.url).get('/admin/decisions').query({ client_id: clientId, decision: 'invalid', limit: '100' }).set('Authorization', server.admin);
  return res.body.decisions.map((d: { kind: string; reasons: { code: string }[] }) => `${d.kind} ${d.reasons[0]!.code}`).sort();
}

describe('jwks_uri keys, fetched through the egress guard (operator allows 127.0.0.1 and trusts the test CA)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-jwks-'));
  let server: RunningTollgate;
  let tls: { ca: string; cert: string; key: string };
  let keys: KeyServer;
  before(async () => {
    tls = await tlsServerCertificate();
    writeFileSync(join(dir, 'ca.pem'), tls.ca);
    server = await startTollgate({ TOLLGATE_EGRESS_ALLOW: '127.0.0.1/32', TOLLGATE_EGRESS_CA_FILE: join(dir, 'ca.pem') });
    keys = await keyServer(tls);
  });
  after(async () => {
    keys?.server.closeAllConnections();
    keys?.server.close();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the token endpoint, revocation and step-up use the same fetched keys: one fetch, then the cache', async () => {
    const w = await remoteWorkload(server, keys.url);
    const set = await publicKeySet(w);
    keys.body = () => set;
    keys.hits = 0;
    const token = await w.token();
    const revoked = await request(server.url).post('/oauth/revoke').type('form').send({ token, client_assertion_type: ASSERTION_TYPE, client_assertion: await w.assertion() });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    const challenge = await w.requestChallenge('urn:tollgate:acr:live');
    assert.equal(challenge.status, 201, JSON.stringify(challenge.body));
    const stepped = await w.answerChallenge(challenge.body);
    assert.equal(stepped.status, 200, JSON.stringify(stepped.body));
    assert.equal(keys.hits, 1, 'oidc-provider does not fetch on its own; our endpoints share the cached set');
  });

  it('an RSA key with e = 1 at jwks_uri: the forged assertion is refused at the token endpoint, revocation and step-up', async () => {
    const w = await remoteWorkload(server, keys.url);
    const forge = () => forgedRs256(w.clientId, server.issuer);
    keys.body = () => JSON.stringify({ keys: [forge().jwk] });
    const token = await request(server.url).post('/oauth/token').type('form').set('DPoP', await w.proof('POST', w.tokenUrl)).send({
      grant_type: 'client_credentials', client_id: w.clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: forge().assertion,
    });
    assert.equal(token.status, 401, JSON.stringify(token.body));
    const revoke = await request(server.url).post('/oauth/revoke').type('form').send({ token: 'x', client_id: w.clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: forge().assertion });
    assert.equal(revoke.status, 401, JSON.stringify(revoke.body));
    const challenge = await w.requestChallenge('urn:tollgate:acr:live', { assertion: forge().assertion });
    assert.equal(challenge.status, 401, JSON.stringify(challenge.body));
    assert.deepEqual(await reasonsOf(server, w.clientId), ['issuance client_keys', 'revocation client_keys', 'step_up client_keys']);
    // The same key is refused inline, as it always was.
    const inline = await request(server.url).patch(`/admin/clients/${w.clientId}`).set('Authorization', server.admin).send({ jwks: { keys: [forge().jwk] } });
    assert.equal(inline.status, 400);
    assert.ok(inline.body.fields.some((f: { field: string }) => f.field === 'jwks.keys[0].e'), JSON.stringify(inline.body));
  });

  it('a key set that fails the rules is fetched once for 20 parallel requests; assertions of the wrong shape fetch nothing', async () => {
    const w = await remoteWorkload(server, keys.url);
    keys.body = () => JSON.stringify({ keys: [forgedRs256(w.clientId, server.issuer).jwk] });
    keys.hits = 0;
    const shaped = await Promise.all(Array.from({ length: 20 }, async () => w.requestToken()));
    assert.ok(shaped.every((r) => r.status === 401));
    assert.equal(keys.hits, 1, 'single flight, and the refusal is remembered');

    const fresh = await remoteWorkload(server, keys.url);
    keys.hits = 0;
    const now = Math.floor(Date.now() / 1000);
    const wrong = await Promise.all(Array.from({ length: 20 }, async (_, i) => fresh.requestToken({}, undefined, await fresh.assertion(i % 2 ? { exp: now - 60 } : { aud: 'https://elsewhere.example/' }))));
    assert.ok(wrong.every((r) => r.status === 401 && /exp|expired|aud/.test(r.body.error_description)), JSON.stringify(wrong[0]!.body));
    assert.equal(keys.hits, 0, 'the assertion is judged before any fetch');
  });

  it('a 10 MB key set is cut at the size cap and refused, once', async () => {
    const w = await remoteWorkload(server, keys.url);
    const big = JSON.stringify({ keys: [{ kty: 'EC', x: 'a'.repeat(10 * 1024 * 1024) }] });
    keys.body = () => big;
    keys.hits = 0;
    const results = await Promise.all(Array.from({ length: 20 }, () => w.requestToken()));
    assert.ok(results.every((r) => r.status === 401));
    assert.equal(keys.hits, 1);
  });

  it('a key rotated at jwks_uri is picked up by its new kid (at most one refetch per 10 s)', async () => {
    const w = await remoteWorkload(server, keys.url);
    keys.body = await publicKeySet(w, 'k1').then((set) => () => set);
    assert.equal((await w.requestToken()).status, 200);
    const next = await generateKeyPair('ES256', { extractable: true });
    const rotated = JSON.stringify({ keys: [{ ...(await exportJWK(next.publicKey)), kid: 'k2', alg: 'ES256' }] });
    keys.body = () => rotated;
    const signedK2 = async () => {
      const a = await w.assertion({}, next);
      // Workload.assertion names kid k1; re-sign with kid k2.
      const { SignJWT, decodeJwt } = await import('jose');
      return new SignJWT(decodeJwt(a)).setProtectedHeader({ alg: 'ES256', kid: 'k2' }).sign(next.privateKey);
    };
    keys.hits = 0;
    assert.equal((await w.requestToken({}, undefined, await signedK2())).status, 401, 'within the cooldown the cached set answers');
    assert.equal(keys.hits, 0);
    await sleep(10_500);
    const res = await w.requestToken({}, undefined, await signedK2());
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(keys.hits, 1);
  });
});

describe('jwks_uri cannot reach our own network (SSRF): refused at registration, RFC 7592 updates and every fetch', () => {
  let server: RunningTollgate;
  let keys: KeyServer;
  before(async () => {
    server = await startTollgate({ TOLLGATE_CLIENT_CACHE_TTL: '0' });
    keys = await keyServer(await tlsServerCertificate());
  });
  after(async () => {
    keys?.server.closeAllConnections();
    keys?.server.close();
    await server?.close();
  });

  const internal = () => [
    'https://127.0.0.1:6379/',
    'https://localhost:5432/',
    'https://[::1]/jwks',
    `https://127.0.0.1:${new URL(server.url).port}/admin/clients`,
    'https://169.254.169.254/latest/meta-data/',
    'https://10.0.0.7/jwks',
    'https://[fd00:ec2::254]/',
    'http://keys.example.test/jwks',
  ];

  it('the admin API, RFC 7591 registration and RFC 7592 update refuse them, naming jwks_uri', async () => {
    const w = await Workload.register(server);
    const reg = await request(server.url).post('/oauth/register').set('Authorization', server.admin).send({ jwks: w.record.jwks });
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    for (const uri of internal()) {
      const admin = await request(server.url).post('/admin/clients').set('Authorization', server.admin).send({ jwks_uri: uri, allowed_resources: ['https://api.example.test/'] });
      assert.equal(admin.status, 400, `${uri}: ${JSON.stringify(admin.body)}`);
      assert.ok(admin.body.fields.some((f: { field: string }) => f.field === 'jwks_uri'), uri);
      const patch = await request(server.url).patch(`/admin/clients/${w.clientId}`).set('Authorization', server.admin).send({ jwks_uri: uri });
      assert.equal(patch.status, 400, uri);
      const dynamic = await request(server.url).post('/oauth/register').set('Authorization', server.admin).send({ jwks_uri: uri });
      assert.equal(dynamic.status, 400, uri);
      // RFC 7592 §2.2: the client itself, holding only its registration access token.
      const update = await request(server.url)
        .put(`/oauth/register/${reg.body.client_id}`)
        .set('Authorization', `Bearer ${reg.body.registration_access_token}`)
        .send({ client_id: reg.body.client_id, jwks_uri: uri });
      assert.equal(update.status, 400, `${uri}: ${JSON.stringify(update.body)}`);
    }
    // Nothing was changed by the refused update: the registration access token still works.
    const read = await request(server.url).get(`/oauth/register/${reg.body.client_id}`).set('Authorization', `Bearer ${reg.body.registration_access_token}`);
    assert.equal(read.status, 200);
    assert.equal(read.body.jwks_uri, undefined);
  });

  it('a stored jwks_uri that points inside (from before this check) is refused on the resolved address when fetched', async () => {
    const w = await Workload.register(server);
    await server.tollgate.runtime.db.prisma.$executeRaw`UPDATE clients SET jwks = NULL, jwks_uri = ${keys.url} WHERE client_id = ${w.clientId}`;
    keys.hits = 0;
    const token = await w.requestToken();
    assert.equal(token.status, 401, JSON.stringify(token.body));
    const revoke = await request(server.url).post('/oauth/revoke').type('form').send({ token: 'x', client_id: w.clientId, client_assertion_type: ASSERTION_TYPE, client_assertion: await w.assertion() });
    assert.equal(revoke.status, 401);
    assert.equal(keys.hits, 0, 'no connection was made');
    assert.deepEqual(await reasonsOf(server, w.clientId), ['issuance client_keys', 'revocation client_keys']);
  });
});
